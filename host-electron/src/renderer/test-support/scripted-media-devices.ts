import type { MediaDeviceInfoLike } from '@discordopus/plugin-calls/renderer';
import type { MediaDevicesSource } from '../composables/use-call-devices.ts';

/**
 * Devices for component specs (a test DOM has no navigator.mediaDevices): a list the spec
 * changes, with `devicechange` fired as a browser does. Names stay hidden, as before a real
 * browser's permission prompt, until `getUserMedia` is called or `hideNames` is false. The real
 * thing is driven in test/calls-renderer-devices.test.ts (Chromium's fake devices).
 */
export class ScriptedMediaDevices extends EventTarget implements MediaDevicesSource {
  captures = 0;

  constructor(private list: MediaDeviceInfoLike[], private hideNames = false) {
    super();
  }

  async enumerateDevices(): Promise<MediaDeviceInfoLike[]> {
    return this.list.map((d) => ({ ...d, label: this.hideNames ? '' : d.label }));
  }

  async getUserMedia(): Promise<MediaStream> {
    this.captures++;
    this.hideNames = false;
    this.dispatchEvent(new Event('devicechange'));
    return new MediaStream();
  }

  /** Replaces the list (a device plugged in or out) and tells listeners. */
  set(list: MediaDeviceInfoLike[]): void {
    this.list = list;
    this.dispatchEvent(new Event('devicechange'));
  }
}

/** What Chromium lists with --use-fake-device-for-media-stream (ids shortened). */
export const FAKE_DEVICES: MediaDeviceInfoLike[] = [
  { kind: 'audioinput', deviceId: 'default', label: 'Fake Default Audio Input' },
  { kind: 'audioinput', deviceId: 'mic-1', label: 'Fake Audio Input 1' },
  { kind: 'audioinput', deviceId: 'mic-2', label: 'Fake Audio Input 2' },
  { kind: 'videoinput', deviceId: 'cam-0', label: 'fake_device_0' },
  { kind: 'audiooutput', deviceId: 'default', label: 'Fake Default Audio Output' },
  { kind: 'audiooutput', deviceId: 'spk-1', label: 'Fake Audio Output 1' },
];
