import type { MediaDeviceSlot, MediaDevicesSelection } from '../common/media-engine.ts';

/*
 * The device lists a user chooses from, made from what enumerateDevices() returns. Kept free of
 * the DOM so the rules (numbered names before permission, which choice is gone) are testable
 * anywhere.
 */

export type MediaDeviceOptionKind = 'audioinput' | 'videoinput' | 'audiooutput';

/** One device the user can pick. */
export interface MediaDeviceOption {
  kind: MediaDeviceOptionKind;
  deviceId: string;
  /** The device's own name, or "Microphone 2" etc. while the browser hides names (no permission yet). */
  label: string;
}

/** The part of a MediaDeviceInfo the lists need. */
export interface MediaDeviceInfoLike {
  kind: string;
  deviceId: string;
  label: string;
}

/** Which enumerateDevices kind a selection slot takes its ids from. */
export const DEVICE_SLOT_KIND: Readonly<Record<MediaDeviceSlot, MediaDeviceOptionKind>> = {
  audioInput: 'audioinput',
  videoInput: 'videoinput',
  audioOutput: 'audiooutput',
};

const GENERIC_NAME: Readonly<Record<MediaDeviceOptionKind, string>> = {
  audioinput: 'Microphone',
  videoinput: 'Camera',
  audiooutput: 'Speaker',
};

/**
 * Options to show, in the browser's order. Entries without an id (what a browser lists before
 * the user allowed any capture) cannot be chosen and are left out; duplicates are dropped.
 */
export function describeMediaDevices(infos: Iterable<MediaDeviceInfoLike>): MediaDeviceOption[] {
  const options: MediaDeviceOption[] = [];
  const seen = new Set<string>();
  const counts: Record<MediaDeviceOptionKind, number> = { audioinput: 0, videoinput: 0, audiooutput: 0 };
  for (const info of infos) {
    if (!isOptionKind(info.kind)) continue;
    counts[info.kind]++;
    if (!info.deviceId || seen.has(`${info.kind}/${info.deviceId}`)) continue;
    seen.add(`${info.kind}/${info.deviceId}`);
    const label = typeof info.label === 'string' && info.label.trim() !== '' ? info.label.trim() : `${GENERIC_NAME[info.kind]} ${counts[info.kind]}`;
    options.push({ kind: info.kind, deviceId: info.deviceId, label });
  }
  return options;
}

/** True when the browser hides device names or ids (the user has not allowed a capture yet). */
export function devicesNeedPermission(infos: Iterable<MediaDeviceInfoLike>): boolean {
  for (const info of infos) if (isOptionKind(info.kind) && (!info.deviceId || !info.label)) return true;
  return false;
}

/** The slots of `selection` whose device is not in `options` (unplugged, or an id from another browser profile). */
export function missingDevices(selection: MediaDevicesSelection | undefined, options: readonly MediaDeviceOption[]): MediaDeviceSlot[] {
  if (!selection) return [];
  return (Object.keys(DEVICE_SLOT_KIND) as MediaDeviceSlot[]).filter((slot) => {
    const id = selection[slot];
    return typeof id === 'string' && id !== '' && !options.some((o) => o.kind === DEVICE_SLOT_KIND[slot] && o.deviceId === id);
  });
}

/** The user-facing words for a slot ("microphone"), for notices. */
export function deviceSlotName(slot: MediaDeviceSlot): string {
  return GENERIC_NAME[DEVICE_SLOT_KIND[slot]].toLowerCase();
}

function isOptionKind(kind: string): kind is MediaDeviceOptionKind {
  return kind === 'audioinput' || kind === 'videoinput' || kind === 'audiooutput';
}
