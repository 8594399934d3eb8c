import { inject, onBeforeUnmount, onMounted, ref, shallowRef, type InjectionKey } from 'vue';
import type { Disposable } from '@discordopus/sdk';
import { attachRendererEngine, RendererMediaEngine, type LocalMediaState, type RendererMediaSession } from '@discordopus/plugin-calls/renderer';
import { useBridge } from '../bridge/use-bridge.ts';
import { errorText } from './error-text.ts';
import { useClientApi } from './use-client-api.ts';

/** Lets a test or another host give the window its engine; by default each overlay makes one. */
export const CallEngineKey: InjectionKey<RendererMediaEngine> = Symbol('RendererMediaEngine');

/**
 * Makes this window the media engine of the profile's calls (Chromium's WebRTC, echo
 * cancellation, the user's devices) while the calling component is mounted. Without WebRTC (a
 * test DOM) it does not attach, and the plugin keeps its default engine.
 */
export function useCallEngine() {
  const bridge = useBridge();
  const api = useClientApi();
  // Each call starts with the devices chosen in Settings as they are at that moment.
  const engine = inject(CallEngineKey, undefined) ?? new RendererMediaEngine({ devices: async () => (await api.hostSettings()).callDevices });
  const attached = ref(false);
  const error = ref<string | undefined>();
  let handle: Disposable | undefined;
  let unmounted = false;

  onMounted(async () => {
    if (typeof RTCPeerConnection === 'undefined' || !navigator.mediaDevices) return;
    try {
      const attachment = await attachRendererEngine(engine, bridge);
      if (unmounted) attachment.dispose();
      else {
        handle = attachment;
        attached.value = true;
      }
    } catch (e) {
      error.value = errorText(e);
    }
  });
  onBeforeUnmount(() => {
    unmounted = true;
    handle?.dispose();
    void engine.closeAll();
  });
  return { engine, attached, error };
}

/** The media of one call in this window's engine: streams for the video tiles and the local controls. */
export function useCallMedia(engine: RendererMediaEngine) {
  const session = shallowRef<RendererMediaSession | undefined>();
  const local = shallowRef<MediaStream | undefined>();
  const remote = shallowRef<MediaStream | undefined>();
  const localState = ref<LocalMediaState | undefined>();
  const remoteVersion = ref(0);
  let subs: Disposable[] = [];
  let callId: string | undefined;

  function bind(): void {
    subs.forEach((s) => s.dispose());
    subs = [];
    const next = callId ? engine.session(callId) : undefined;
    session.value = next;
    local.value = next?.localStream;
    remote.value = next?.remoteStream;
    localState.value = next?.localState;
    if (next) {
      subs.push(next.onLocalState((state) => { localState.value = state; }));
      // The same MediaStream object gains tracks: bump a counter so tiles re-check for video.
      subs.push(next.onRemoteTrack(() => { remoteVersion.value++; }));
    }
  }

  const change = engine.onDidChangeSessions((id) => {
    if (id === callId) bind();
  });
  onBeforeUnmount(() => {
    change.dispose();
    subs.forEach((s) => s.dispose());
  });

  return {
    session, local, remote, localState, remoteVersion,
    /** Follows the media of `id` (or none). */
    follow(id: string | undefined): void {
      callId = id;
      bind();
    },
  };
}
