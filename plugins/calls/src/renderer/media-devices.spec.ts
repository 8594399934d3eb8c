import { describe, expect, it } from 'vitest';
import { describeMediaDevices, deviceSlotName, devicesNeedPermission, missingDevices } from './media-devices.ts';

// What Chromium's enumerateDevices() returns with --use-fake-device-for-media-stream, after a capture was allowed...
const ALLOWED = [
  { kind: 'audioinput', deviceId: 'default', label: 'Fake Default Audio Input' },
  { kind: 'audioinput', deviceId: 'fb5ff258', label: 'Fake Audio Input 1' },
  { kind: 'videoinput', deviceId: '26580af3', label: 'fake_device_0' },
  { kind: 'audiooutput', deviceId: 'default', label: 'Fake Default Audio Output' },
  { kind: 'audiooutput', deviceId: '5f741a3f', label: 'Fake Audio Output 1' },
];
// ...and what browsers list before any permission: ids and names hidden, or names only hidden.
const HIDDEN = [
  { kind: 'audioinput', deviceId: '', label: '' },
  { kind: 'videoinput', deviceId: '', label: '' },
  { kind: 'audiooutput', deviceId: '', label: '' },
];
const NAMELESS = [
  { kind: 'audioinput', deviceId: 'a1', label: '' },
  { kind: 'audioinput', deviceId: 'a2', label: '   ' },
  { kind: 'videoinput', deviceId: 'v1', label: '' },
  { kind: 'audiooutput', deviceId: 's1', label: '' },
];

describe('describeMediaDevices', () => {
  it('keeps the browser order and the devices own names', () => {
    expect(describeMediaDevices(ALLOWED)).toEqual(ALLOWED);
    expect(devicesNeedPermission(ALLOWED)).toBe(false);
  });

  it('numbers devices per kind while their names are hidden', () => {
    expect(describeMediaDevices(NAMELESS).map((d) => d.label)).toEqual(['Microphone 1', 'Microphone 2', 'Camera 1', 'Speaker 1']);
    expect(devicesNeedPermission(NAMELESS)).toBe(true);
  });

  it('leaves out what cannot be chosen: no id, duplicates, unknown kinds', () => {
    expect(describeMediaDevices(HIDDEN)).toEqual([]);
    expect(devicesNeedPermission(HIDDEN)).toBe(true);
    expect(describeMediaDevices([...ALLOWED.slice(0, 2), ALLOWED[1]!, { kind: 'midi', deviceId: 'x', label: 'Synth' }])).toEqual(ALLOWED.slice(0, 2));
    expect(devicesNeedPermission([])).toBe(false);
  });
});

describe('missingDevices', () => {
  const options = describeMediaDevices(ALLOWED);

  it('names the chosen devices that are not connected', () => {
    expect(missingDevices({ audioInput: 'fb5ff258', videoInput: 'unplugged', audioOutput: 'gone' }, options)).toEqual(['videoInput', 'audioOutput']);
  });

  it('matches ids within their own kind only', () => {
    // "default" is a microphone and a speaker id, never a camera's.
    expect(missingDevices({ audioInput: 'default', videoInput: 'default', audioOutput: 'default' }, options)).toEqual(['videoInput']);
  });

  it('has nothing missing without a choice', () => {
    expect(missingDevices(undefined, options)).toEqual([]);
    expect(missingDevices({}, options)).toEqual([]);
    expect(missingDevices({ audioInput: '' }, [])).toEqual([]);
  });

  it('says which device in words', () => {
    expect([deviceSlotName('audioInput'), deviceSlotName('videoInput'), deviceSlotName('audioOutput')]).toEqual(['microphone', 'camera', 'speaker']);
  });
});
