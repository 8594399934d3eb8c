import { computed, inject, onScopeDispose, ref, shallowRef, type InjectionKey } from 'vue';
import { describeMediaDevices, devicesNeedPermission, type MediaDeviceInfoLike, type MediaDeviceOption } from '@discordopus/plugin-calls/renderer';
import { errorText } from './error-text.ts';

/** The part of `navigator.mediaDevices` the device lists use. */
export interface MediaDevicesSource {
  enumerateDevices(): Promise<MediaDeviceInfoLike[]>;
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  addEventListener(type: 'devicechange', listener: () => void): void;
  removeEventListener(type: 'devicechange', listener: () => void): void;
}

/** Lets a spec or another host give the devices to list; by default the browser's. */
export const MediaDevicesKey: InjectionKey<MediaDevicesSource> = Symbol('MediaDevicesSource');

/**
 * The microphones, cameras and speakers to choose from, kept current (`devicechange`: plugged
 * in, unplugged, or names revealed once a capture was allowed) while the calling component lives.
 */
export function useCallDevices() {
  const source = inject(MediaDevicesKey, undefined) ?? (typeof navigator !== 'undefined' ? (navigator.mediaDevices as MediaDevicesSource | undefined) : undefined);
  const devices = shallowRef<MediaDeviceOption[]>([]);
  const needsPermission = ref(false);
  const error = ref<string | undefined>();
  // Chromium and Electron can route a media element to a chosen speaker; other browsers cannot.
  const speakerSelectable = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
  let generation = 0;

  async function refresh(): Promise<void> {
    if (!source) return;
    const mine = ++generation;
    try {
      const infos = await source.enumerateDevices();
      // Two refreshes in flight (a burst of devicechange events): the last one wins.
      if (mine !== generation) return;
      devices.value = describeMediaDevices(infos);
      needsPermission.value = devicesNeedPermission(infos);
    } catch (e) {
      error.value = errorText(e);
    }
  }

  /** Asks for microphone and camera once (then stops them) so the browser reveals device names. */
  async function allowAccess(): Promise<void> {
    if (!source) return;
    error.value = undefined;
    try {
      const stream = await source.getUserMedia({ audio: true, video: true });
      for (const track of stream.getTracks()) track.stop();
    } catch (e) {
      error.value = `The devices could not be opened (${errorText(e)}). Allow the microphone and camera in the system or browser settings.`;
    }
    await refresh();
  }

  const onChange = () => void refresh();
  source?.addEventListener('devicechange', onChange);
  onScopeDispose(() => source?.removeEventListener('devicechange', onChange));
  void refresh();

  return {
    /** False where the window has no media devices at all (a test DOM, an insecure page). */
    available: source !== undefined,
    devices,
    microphones: computed(() => devices.value.filter((d) => d.kind === 'audioinput')),
    cameras: computed(() => devices.value.filter((d) => d.kind === 'videoinput')),
    speakers: computed(() => devices.value.filter((d) => d.kind === 'audiooutput')),
    needsPermission,
    speakerSelectable,
    error,
    refresh,
    allowAccess,
  };
}
