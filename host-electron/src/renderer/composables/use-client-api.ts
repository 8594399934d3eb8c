import { ClientApi } from '../../common/client-api.ts';
import { useBridge } from '../bridge/use-bridge.ts';

export function useClientApi(): ClientApi {
  return new ClientApi(useBridge());
}
