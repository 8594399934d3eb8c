import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { HostSettingsStore } from '../host-electron/src/node/host-settings-store.ts';
import { profileDirFor } from '../host-electron/src/node/profile-paths.ts';
import { WeriftMediaEngine, type CallView } from '../plugins/calls/src/index.ts';
import { CallWorld, waitForCall, type CallPeer } from './calls-support.ts';
import { AppCallRig } from './calls-app-support.ts';
import { CHROMIUM_MEDIA_ARGS } from './calls-renderer-support.ts';
import { SHOTS, type DesktopRig } from './desktop-support.ts';

/*
 * Device selection in the desktop app (web mode, Debian's Chromium). Chromium's fake devices
 * with device-count=3 list three microphones (a "default" and two more), three cameras and three
 * speakers, all with names (the fake UI grants permission). fake_device_1 delivers Y16 (a depth
 * format) that the encoder never sends, so the cameras used are 0 (I420) and 2 (MJPEG). The app calls a headless client
 * (werift engine) through the real server and encrypted channels:
 * - defaults picked in Settings are what a call starts with (the Devices menu shows them checked);
 * - switching microphone, camera and speaker mid-call from the Devices menu keeps media flowing
 *   both ways (replaceTrack, no renegotiation);
 * - preferred devices that are gone fall back to the system default with a notice, never a
 *   failed call.
 */

const STEP = Number(process.env.CALLS_STEP ?? 120_000);
const ARGS = CHROMIUM_MEDIA_ARGS.map((arg) => (arg === '--use-fake-device-for-media-stream' ? '--use-fake-device-for-media-stream=device-count=3' : arg));

let world: CallWorld;
let app: AppCallRig;
let bob: CallPeer;
let rig: DesktopRig;
let alice: Page;
let aliceId: string;

/** Decoded video frames and received audio samples, as the call view's quality badge shows Chromium's getStats. */
async function chromiumFigures(page: Page): Promise<{ frames: number; samples: number }> {
  const badge = page.getByTestId('call-view').getByRole('status');
  const read = async (name: string) => Number((await badge.getAttribute(name)) ?? 0);
  return { frames: await read('data-frames-decoded'), samples: await read('data-audio-samples') };
}

/** Both directions carry media from now on: Chromium decodes more frames and audio, the headless side receives more of both. */
async function expectMediaFlows(callId: string): Promise<void> {
  const before = await chromiumFigures(alice);
  const bobBefore = await bob.calls.quality(callId);
  let last: unknown;
  const flows = async () => {
    await expect.poll(async () => {
      const now = await chromiumFigures(alice);
      last = { alice: [before, now] };
      return now.frames >= before.frames + 10 && now.samples >= before.samples + 48_000;
    }, { timeout: STEP, interval: 250 }).toBe(true);
    await expect.poll(async () => {
      const q = await bob.calls.quality(callId);
      last = { bob: [bobBefore, q] };
      return (q.video?.framesDecoded ?? 0) >= (bobBefore.video?.framesDecoded ?? 0) + 10
        && (q.audio?.packetsReceived ?? 0) >= (bobBefore.audio?.packetsReceived ?? 0) + 50;
    }, { timeout: STEP, interval: 250 }).toBe(true);
  };
  await flows().catch((error: Error) => {
    throw new Error(`Media stopped flowing (last figures: ${JSON.stringify(last)})`, { cause: error });
  });
}

function devicesButton(page: Page): Locator {
  return page.getByRole('toolbar', { name: 'Call controls' }).getByRole('button', { name: 'Devices' });
}

/** The Devices menu's items per group, with their checked state. */
async function menuState(page: Page): Promise<Record<string, string[]>> {
  const menu = page.getByRole('menu', { name: 'Call devices' });
  const state: Record<string, string[]> = {};
  for (const group of ['Microphone', 'Camera', 'Speaker']) {
    const items = menu.getByRole('group', { name: group }).getByRole('menuitemradio');
    state[group] = [];
    for (const item of await items.all()) {
      const name = ((await item.textContent()) ?? '').replace('✓', '').trim();
      state[group].push(`${(await item.getAttribute('aria-checked')) === 'true' ? '[x]' : '[ ]'} ${name}`);
    }
  }
  return state;
}

async function pick(page: Page, group: string, name: string): Promise<void> {
  await devicesButton(page).click();
  const menu = page.getByRole('menu', { name: 'Call devices' });
  await menu.getByRole('group', { name: group }).getByRole('menuitemradio', { name }).click();
  await menu.waitFor({ state: 'detached' });
  // The session reports the switch; the menu then shows it checked.
  await devicesButton(page).click();
  await menu.getByRole('group', { name: group }).getByRole('menuitemradio', { name, checked: true }).waitFor();
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'detached' });
}

async function hangUp(callId: string): Promise<void> {
  await alice.getByTestId('call-view').getByRole('button', { name: 'Hang up' }).click();
  await waitForCall(bob, (v) => v.callId === callId && v.state === 'ended', 'the hang-up');
  await alice.getByTestId('call-view').waitFor({ state: 'detached' });
}

beforeAll(async () => {
  world = new CallWorld();
  await world.start();
  app = await AppCallRig.start(world, { engine: new WeriftMediaEngine() }, ARGS);
  ({ desktop: rig, alice, aliceId, bob } = app);
}, 300_000);

// A failed step must not leave a call running into the next test.
afterEach(async () => {
  await app?.endCalls();
});

afterAll(async () => {
  if (process.env.CALLS_DEBUG) console.log(rig?.hosts.get('alice')?.stderr.slice(-40).join('\n'));
  await app?.stop();
  await world?.stop();
}, 120_000);

describe('device selection in the desktop app (renderer engine, Chromium fake devices)', () => {
  it('starts a call with the defaults from Settings, then switches microphone, camera and speaker mid-call from the Devices menu while media keeps flowing', async () => {
    // Settings: default microphone and camera, saved in the host settings.
    await alice.getByRole('button', { name: 'Settings' }).click();
    const section = alice.getByTestId('call-devices-settings');
    await section.getByLabel('Microphone').selectOption({ label: 'Fake Audio Input 2' });
    await section.getByRole('status').filter({ hasText: 'Device saved.' }).waitFor();
    await section.getByLabel('Camera').selectOption({ label: 'fake_device_2' });
    await expect.poll(async () => {
      const saved = (await new HostSettingsStore(profileDirFor('alice', { DISCORDOPUS_HOME: world.file('home') })).read()).callDevices;
      return Boolean(saved.audioInput && saved.videoInput && saved.videoInput !== saved.audioInput);
    }, { timeout: STEP, interval: 250 }).toBe(true);

    const answered = new Promise<CallView>((resolve) => {
      const sub = bob.calls.onDidChange((view) => {
        if (view.direction === 'in' && view.state === 'ringing') {
          sub.dispose();
          void bob.calls.accept(view.callId, { video: true }).then(resolve);
        }
      });
    });
    await alice.getByRole('button', { name: 'Contacts' }).click();
    await alice.getByRole('option', { name: /Bob/ }).click();
    await alice.getByRole('button', { name: /^Message Bob/ }).click();
    await alice.getByRole('button', { name: /^Video call/ }).click();
    const call = await answered;
    await alice.locator('[data-testid=call-view][data-call-state=active]').waitFor();
    await expectMediaFlows(call.callId);

    // The menu lists every fake device; the defaults from Settings are the ones in use.
    await devicesButton(alice).click();
    expect(await menuState(alice)).toEqual({
      Microphone: ['[ ] Fake Default Audio Input', '[ ] Fake Audio Input 1', '[x] Fake Audio Input 2'],
      Camera: ['[ ] fake_device_0', '[ ] fake_device_1', '[x] fake_device_2'],
      Speaker: ['[x] Fake Default Audio Output', '[ ] Fake Audio Output 1', '[ ] Fake Audio Output 2'],
    });
    await mkdir(SHOTS, { recursive: true });
    await alice.screenshot({ path: path.join(SHOTS, 'calls-devices-menu.png') });
    // Escape closes the menu only: the call view stays full size, the focus back on the button.
    await alice.keyboard.press('Escape');
    await alice.getByRole('menu', { name: 'Call devices' }).waitFor({ state: 'detached' });
    await alice.locator('.call-view').waitFor();
    await expect.poll(() => devicesButton(alice).evaluate((el) => el === document.activeElement)).toBe(true);

    // Keyboard: arrow down opens the menu on the first item; Enter picks it.
    await alice.keyboard.press('ArrowDown');
    await expect.poll(() => alice.evaluate(() => document.activeElement?.textContent?.replace('✓', '').trim())).toBe('Fake Default Audio Input');
    await alice.keyboard.press('ArrowDown');
    await alice.keyboard.press('Enter');
    await alice.getByRole('menu', { name: 'Call devices' }).waitFor({ state: 'detached' });
    await devicesButton(alice).click();
    await alice.getByRole('menu').getByRole('menuitemradio', { name: 'Fake Audio Input 1', checked: true }).waitFor();
    await alice.keyboard.press('Escape');
    await expectMediaFlows(call.callId);

    // Camera and speaker, with the mouse.
    await pick(alice, 'Camera', 'fake_device_0');
    await pick(alice, 'Speaker', 'Fake Audio Output 1');
    // The remote sound now plays on that speaker (setSinkId on the call's audio element).
    await devicesButton(alice).click();
    const speakerId = await alice.getByRole('menuitemradio', { name: 'Fake Audio Output 1' }).getAttribute('data-device-id');
    await alice.keyboard.press('Escape');
    expect(speakerId).toBeTruthy();
    await expect.poll(() => alice.getByTestId('call-remote-audio').evaluate((el) => (el as HTMLAudioElement & { sinkId: string }).sinkId)).toBe(speakerId);
    await expectMediaFlows(call.callId);
    // Nothing fell back, nothing failed.
    expect((await alice.getByTestId('call-device-notice').textContent())?.trim()).toBe('');
    await expect(alice.getByTestId('call-view').getAttribute('data-call-state')).resolves.toBe('active');
    expect(bob.changes.filter((c) => c.callId === call.callId && c.state === 'ended')).toEqual([]);

    await hangUp(call.callId);
    expect(rig.pageErrors).toEqual([]);
  }, 400_000);

  it('falls back to the system default, with a notice, when the saved devices are gone', async () => {
    // Devices saved earlier that are not connected now (other ids than Chromium's).
    await new HostSettingsStore(profileDirFor('alice', { DISCORDOPUS_HOME: world.file('home') })).update({
      callDevices: { audioInput: 'a-microphone-unplugged-since', videoInput: 'a-camera-unplugged-since', audioOutput: 'a-headset-unplugged-since' },
    });
    const placed = await bob.calls.call(aliceId, { video: true });
    const prompt = alice.getByRole('alertdialog');
    await prompt.waitFor();
    await prompt.getByRole('button', { name: 'Accept with video' }).click();
    await waitForCall(bob, (v) => v.callId === placed.callId && v.state === 'active', 'the call to be active');
    await alice.locator('[data-testid=call-view][data-call-state=active]').waitFor();
    await expect.poll(async () => (await alice.getByTestId('call-device-notice').textContent())?.trim(), { timeout: STEP })
      .toBe('The chosen microphone, camera and speaker are not connected; the call uses the system default instead.');
    await expectMediaFlows(placed.callId);

    // The menu shows the defaults in use; choosing the microphone again clears it from the notice.
    await devicesButton(alice).click();
    const state = await menuState(alice);
    expect(state.Microphone).toContain('[x] Fake Default Audio Input');
    expect(state.Camera).toContain('[x] fake_device_0');
    await alice.keyboard.press('Escape');
    await pick(alice, 'Microphone', 'Fake Audio Input 2');
    await expect.poll(async () => (await alice.getByTestId('call-device-notice').textContent())?.trim())
      .toBe('The chosen camera and speaker are not connected; the call uses the system default instead.');
    await expectMediaFlows(placed.callId);

    // Settings says the same about the saved devices.
    await alice.getByRole('button', { name: 'Minimise call' }).click();
    await alice.getByRole('button', { name: 'Settings' }).click();
    await alice.getByTestId('call-devices-settings').getByText('The saved microphone is not connected').waitFor();
    await alice.getByRole('button', { name: 'Expand call' }).click();
    await hangUp(placed.callId);
    expect(rig.pageErrors).toEqual([]);
  }, 400_000);
});
