import { inject, type InjectionKey } from 'vue';
import type { BridgeClient } from '../../common/bridge-protocol.ts';

/** Components reach the host only through this injected bridge; they never know the transport. */
export const BridgeKey: InjectionKey<BridgeClient> = Symbol('BridgeClient');

export function useBridge(): BridgeClient {
  const bridge = inject(BridgeKey);
  if (!bridge) throw new Error('useBridge: no BridgeClient provided; provide one with app.provide(BridgeKey, ...)');
  return bridge;
}
