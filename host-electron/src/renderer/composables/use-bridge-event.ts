import { onScopeDispose } from 'vue';
import type { BridgeEvent } from '../../common/bridge-protocol.ts';
import { useBridge } from '../bridge/use-bridge.ts';

/** Runs `handler` for host events whose topic matches, until the calling component unmounts. */
export function useBridgeEvent(topics: string[], handler: (event: BridgeEvent) => void): void {
  const stop = useBridge().onEvent((event) => {
    if (topics.includes(event.topic)) handler(event);
  });
  onScopeDispose(stop);
}
