import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_HOST_SETTINGS } from '../common/host-settings.ts';
import { HOST_SETTINGS_FILE, HostSettingsStore } from './host-settings-store.ts';
import { profileDirFor, profilesRoot } from './profile-paths.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'host-settings-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HostSettingsStore', () => {
  it('starts with defaults and persists updates', async () => {
    const store = new HostSettingsStore(path.join(dir, 'p'));
    expect(await store.read()).toEqual(DEFAULT_HOST_SETTINGS);
    await store.update({ theme: 'light', stunServers: ['stun:stun.example.org:3478'] });
    expect(await new HostSettingsStore(path.join(dir, 'p')).read()).toEqual({ ...DEFAULT_HOST_SETTINGS, theme: 'light', stunServers: ['stun:stun.example.org:3478'] });
  });

  it.each([
    [{ serverUrl: 'ftp://x' }, 'serverUrl'],
    [{ stunServers: ['not a stun url'] }, 'stunServers'],
    [{ theme: 'pink' }, 'theme'],
    [{ notifications: 'yes' }, 'notifications'],
    [{ unknown: 1 }, 'settings'],
    [{ callDevices: { audioInput: 'has space' } }, 'callDevices.audioInput'],
    [{ callDevices: { videoInput: '' } }, 'callDevices.videoInput'],
    [{ callDevices: { audioOutput: 'x'.repeat(257) } }, 'callDevices.audioOutput'],
    [{ callDevices: { speaker: 'default' } }, 'callDevices'],
    [{ callDevices: 'default' }, 'callDevices'],
  ])('refuses %j with settings/invalid naming the field', async (patch, field) => {
    const store = new HostSettingsStore(dir);
    await expect(store.update(patch)).rejects.toMatchObject({ code: 'settings/invalid', message: expect.stringContaining(field) });
    expect(await store.read()).toEqual(DEFAULT_HOST_SETTINGS);
  });

  it('keeps the default call devices, and replaces them as a whole', async () => {
    const store = new HostSettingsStore(dir);
    expect((await store.read()).callDevices).toEqual({});
    const chromiumId = '26580af3c6309117b9b425a3862b7ec8982463278f648b0c9453e2e1c3d997ae';
    await store.update({ callDevices: { audioInput: 'default', videoInput: chromiumId, audioOutput: 'communications' } });
    expect((await new HostSettingsStore(dir).read()).callDevices).toEqual({ audioInput: 'default', videoInput: chromiumId, audioOutput: 'communications' });
    // Back to the system default for the microphone and speaker: those keys are simply absent.
    await store.update({ callDevices: { videoInput: chromiumId } });
    expect((await new HostSettingsStore(dir).read()).callDevices).toEqual({ videoInput: chromiumId });
  });

  it('keeps the valid keys of a damaged or hand-edited file', async () => {
    await writeFile(path.join(dir, HOST_SETTINGS_FILE), JSON.stringify({ theme: 'light', serverUrl: 42 }));
    expect(await new HostSettingsStore(dir).read()).toEqual({ ...DEFAULT_HOST_SETTINGS, theme: 'light' });
    await writeFile(path.join(dir, HOST_SETTINGS_FILE), '{oops');
    expect(await new HostSettingsStore(dir).read()).toEqual(DEFAULT_HOST_SETTINGS);
  });
});

describe('profile paths', () => {
  it('puts profiles under $DISCORDOPUS_HOME/profiles', () => {
    expect(profilesRoot({ DISCORDOPUS_HOME: '/h' })).toBe(path.join('/h', 'profiles'));
    expect(profileDirFor('alice', { DISCORDOPUS_HOME: '/h' })).toBe(path.join('/h', 'profiles', 'alice'));
    expect(profilesRoot({})).toBe(path.join(os.homedir(), '.discordopus', 'profiles'));
  });

  it.each(['', '../x', 'a/b', '.hidden', 'x'.repeat(33), 'sp ace'])('refuses the profile name %j', (name) => {
    expect(() => profileDirFor(name, { DISCORDOPUS_HOME: '/h' })).toThrow(RangeError);
  });
});
