import { computed, onMounted, ref } from 'vue';
import { CALLS_RPC, CALLS_TOPICS, type CallView, type MediaKind } from '@discordopus/plugin-calls/common';
import { useBridge } from '../bridge/use-bridge.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';

/**
 * The calls the kernel's calls plugin reports (`calls.list`, then `calls.state` events) and the
 * actions on them. Each component that uses it keeps its own copy, fed by the same events.
 */
export function useCallState() {
  const bridge = useBridge();
  const calls = ref<CallView[]>([]);
  const error = ref<string | undefined>();

  function upsert(call: CallView): void {
    const rest = calls.value.filter((c) => c.callId !== call.callId);
    calls.value = call.state === 'ended' ? rest : [...rest, call];
  }

  useBridgeEvent([CALLS_TOPICS.state], (event) => {
    const call = (event.payload as { call?: CallView } | null)?.call;
    if (call && typeof call.callId === 'string') upsert(call);
  });

  onMounted(async () => {
    try {
      const list = await bridge.call<CallView[]>(CALLS_RPC.list, {});
      for (const call of list) upsert(call);
    } catch {
      // No calls plugin in this profile: the call UI stays hidden.
    }
  });

  async function run(method: string, params: Record<string, unknown>): Promise<void> {
    try {
      error.value = undefined;
      const view = await bridge.call<CallView>(method, params);
      if (view && typeof view.callId === 'string') upsert(view);
    } catch (e) {
      error.value = errorText(e);
    }
  }

  return {
    calls,
    error,
    incoming: computed(() => calls.value.find((c) => c.direction === 'in' && c.state === 'ringing')),
    /** The call shown in the in-call view: the accepted or outgoing one. */
    current: computed(() => calls.value.find((c) => !(c.direction === 'in' && c.state === 'ringing'))),
    start: (contact: string, video: boolean) => run(CALLS_RPC.call, { contact, video }),
    accept: (callId: string, video: boolean) => run(CALLS_RPC.accept, { callId, video }),
    decline: (callId: string) => run(CALLS_RPC.decline, { callId }),
    hangUp: (callId: string) => run(CALLS_RPC.hangUp, { callId }),
    setMuted: (callId: string, kind: MediaKind, muted: boolean) => run(CALLS_RPC.setMuted, { callId, kind, muted }),
    setCamera: (callId: string, on: boolean) => run(CALLS_RPC.setCamera, { callId, on }),
    setScreenShare: (callId: string, on: boolean) => run(on ? CALLS_RPC.startScreenShare : CALLS_RPC.stopScreenShare, { callId }),
  };
}
