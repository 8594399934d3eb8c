import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { WeriftMediaEngine, type CallView } from '../plugins/calls/src/index.ts';
import { CallWorld, probeFrames, waitForCall, type CallPeer } from './calls-support.ts';
import { AppCallRig } from './calls-app-support.ts';
import { addContact, onboard, SHOTS, type DesktopRig } from './desktop-support.ts';

/*
 * The desktop app (web mode: its renderer in Debian's Chromium with fake camera and microphone,
 * its own web host process) calls a headless client whose calls plugin runs the werift engine,
 * and the other way round, through the real signaling server, encrypted channels and the
 * renderer engine bridge (calls.engine.*). Both directions must carry audio and video:
 * Chromium's getStats (through calls.quality, shown by the quality badge) has decoded frames and
 * received audio that is mostly not concealment; the headless side's recording decodes.
 */

const STEP = Number(process.env.CALLS_STEP ?? 120_000);

let world: CallWorld;
let app: AppCallRig;
let browser: Browser;
let bob: CallPeer;
let rig: DesktopRig;
const recordings = new Map<string, string>();

/** Figures of Chromium's getStats as the call view's quality badge shows them. */
async function chromiumFigures(page: Page): Promise<{ frames: number; samples: number; concealed: number }> {
  const badge = page.getByTestId('call-view').getByRole('status');
  const read = async (name: string) => Number((await badge.getAttribute(name)) ?? 0);
  return { frames: await read('data-frames-decoded'), samples: await read('data-audio-samples'), concealed: await read('data-audio-concealed') };
}

async function expectChromiumReceives(page: Page): Promise<void> {
  // A handful of frames and some audio past the jitter buffer's start-up...
  await expect.poll(async () => {
    const f = await chromiumFigures(page);
    return f.frames >= 10 && f.samples >= 48_000;
  }, { timeout: STEP, interval: 250 }).toBe(true);
  // ...then two more seconds of audio, of which little is concealment (the start-up, before
  // the first packets, is concealed by design and not counted). A werift sender paces its
  // packets with Node timers, which a loaded 2-core machine delays: 11-16 % was concealed at
  // load 14 here (the interop test allows the same 25 %); audio that does not flow is 100 %.
  const start = await chromiumFigures(page);
  let end = start;
  await expect.poll(async () => {
    end = await chromiumFigures(page);
    return end.samples - start.samples >= 96_000 && end.frames > start.frames;
  }, { timeout: STEP, interval: 250 }).toBe(true);
  expect((end.concealed - start.concealed) / (end.samples - start.samples)).toBeLessThan(0.25);
}

async function expectWeriftReceives(callId: string): Promise<void> {
  await expect.poll(async () => (await bob.calls.quality(callId)).video?.framesDecoded ?? 0, { timeout: STEP, interval: 250 }).toBeGreaterThan(10);
  await expect.poll(async () => (await bob.calls.quality(callId)).audio?.packetsReceived ?? 0, { timeout: STEP, interval: 250 }).toBeGreaterThan(50);
}

async function expectRecordingDecodes(callId: string): Promise<void> {
  await bob.calls.whenIdle();
  const file = recordings.get(callId)!;
  // The recorder finishes the file after the call closes; wait for it to decode.
  let last: unknown;
  const decodes = expect.poll(async () => {
    last = await probeFrames(file).catch((e) => ({ video: 0, audio: 0, error: String(e).slice(0, 300) }));
    const frames = last as { video: number; audio: number };
    return frames.video > 0 && frames.audio > 0;
  }, { timeout: STEP, interval: 500 }).toBe(true);
  await decodes.catch((error: Error) => {
    throw new Error(`The recording ${file} does not decode (last probe: ${JSON.stringify(last)})`, { cause: error });
  });
}

/**
 * Camera off and on again from the call controls; the peer is told each time (a camera restart
 * also begins with a VP8 keyframe).
 */
async function toggleCamera(page: Page, callId: string): Promise<void> {
  const controls = page.getByRole('toolbar', { name: 'Call controls' });
  await controls.getByRole('button', { name: 'Camera off' }).click();
  await waitForCall(bob, (v) => v.callId === callId && !v.remote.camera, 'the camera-off notice');
  await controls.getByRole('button', { name: 'Camera on' }).click();
  await waitForCall(bob, (v) => v.callId === callId && v.remote.camera && bob.changes.some((c) => c.callId === callId && !c.remote.camera), 'the camera-on notice');
}

let alice: Page;
let aliceId: string;

beforeAll(async () => {
  world = new CallWorld();
  await world.start();
  await mkdir(SHOTS, { recursive: true });
  app = await AppCallRig.start(world, {
    engine: new WeriftMediaEngine({
      record: (callId) => {
        const file = world.file(`bob-${callId}.webm`);
        recordings.set(callId, file);
        return file;
      },
    }),
  });
  ({ desktop: rig, browser, alice, aliceId, bob } = app);
}, 300_000);

afterAll(async () => {
  if (process.env.CALLS_DEBUG) {
    console.log(JSON.stringify(bob?.changes.map((c) => [c.callId.slice(0, 6), c.state, c.endReason, c.error, c.engine])));
    console.log(rig?.hosts.get('alice')?.stderr.slice(-40).join('\n'));
    console.log(await alice?.locator('[data-testid=call-view]').getAttribute('data-call-state').catch(() => 'none'));
    await alice?.screenshot({ path: '/tmp/callsdbg/fail.png', timeout: 5_000 }).catch(() => undefined);
  }
  await app?.stop();
  await world?.stop();
}, 120_000);

// Real Chromium, a web host and werift media share the 2 cores of the CI machine with another
// test file: one retry keeps a scheduling stall in one attempt from failing the whole run. A
// broken call path fails both attempts; each attempt places its own call.
describe('desktop app (renderer engine) <-> headless client (werift engine)', { retry: 1 }, () => {
  // A failed attempt may leave its call up: end it on both sides, so the retry can call.
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') await app.endCalls();
  });

  it('the app calls the headless client with video from the conversation header: audio and video both ways, then hangs up', async () => {
    const answered = new Promise<CallView>((resolve) => {
      const sub = bob.calls.onDidChange((view) => {
        if (view.direction === 'in' && view.state === 'ringing') {
          sub.dispose();
          void bob.calls.accept(view.callId, { video: true }).then(resolve);
        }
      });
    });
    await alice.getByRole('option', { name: /Bob/ }).click();
    await alice.getByRole('button', { name: /^Message Bob/ }).click();
    await alice.getByRole('button', { name: /^Video call/ }).click();
    const call = await answered;
    await alice.locator('[data-testid=call-view][data-call-state=active]').waitFor();
    expect(call.engine).toBe('werift');
    await expectChromiumReceives(alice);
    await expectWeriftReceives(call.callId);
    await toggleCamera(alice, call.callId);
    await alice.getByTestId('call-view').getByRole('button', { name: 'Hang up' }).click();
    await waitForCall(bob, (v) => v.callId === call.callId && v.state === 'ended', 'the hang-up');
    await alice.getByTestId('call-view').waitFor({ state: 'detached' });
    await expectRecordingDecodes(call.callId);
    expect(rig.pageErrors).toEqual([]);
  }, 300_000);

  it('the headless client calls the app, which rings and accepts with video: audio and video both ways', async () => {
    const placed = await bob.calls.call(aliceId, { video: true });
    const prompt = alice.getByRole('alertdialog');
    await prompt.getByText('Incoming video call from Alice').or(prompt.getByText(/Incoming video call from/)).first().waitFor();
    await prompt.getByRole('button', { name: 'Accept with video' }).click();
    await waitForCall(bob, (v) => v.callId === placed.callId && v.state === 'active', 'the call to be active');
    await alice.locator('[data-testid=call-view][data-call-state=active]').waitFor();
    await expectChromiumReceives(alice);
    await expectWeriftReceives(placed.callId);
    await toggleCamera(alice, placed.callId);
    await expectChromiumReceives(alice);
    await alice.screenshot({ path: path.join(SHOTS, 'calls-in-call.png') });
    // Shrunk to the corner view, the call goes on.
    await alice.getByRole('button', { name: 'Minimise call' }).click();
    await alice.locator('.call-mini').waitFor();
    await alice.screenshot({ path: path.join(SHOTS, 'calls-mini-view.png') });
    await bob.calls.hangUp(placed.callId);
    await alice.getByTestId('call-view').waitFor({ state: 'detached' });
    await expectRecordingDecodes(placed.callId);
    expect(rig.pageErrors).toEqual([]);
  }, 300_000);
});

describe('two desktop apps (renderer engine on both sides)', () => {
  it('call each other through the app: ring, accept with video, media both ways, mute, hang up', async () => {
    const carolHost = await rig.startHost('carol');
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const carol = await rig.openPage(context, carolHost.url);
    const carolId = await onboard(carol, 'Carol', 'carol staple lantern orchard', carolHost);
    await addContact(carol, aliceId, 'Alice');
    await alice.getByRole('button', { name: 'Contacts' }).click();
    await addContact(alice, carolId, 'Carol');
    await alice.getByRole('option', { name: /Carol/ }).getByRole('img', { name: 'Online' }).waitFor();

    await alice.getByRole('option', { name: /Carol/ }).click();
    await alice.getByRole('button', { name: /^Message Carol/ }).click();
    await alice.getByRole('button', { name: /^Video call/ }).click();
    await alice.locator('[data-testid=call-view][data-call-state=ringing]').waitFor();

    const prompt = carol.getByRole('alertdialog', { name: 'Incoming video call from Alice' });
    await prompt.waitFor();
    await carol.screenshot({ path: path.join(SHOTS, 'calls-incoming.png') });
    // Keyboard: Accept has the focus; Tab moves to "Accept with video".
    await carol.keyboard.press('Tab');
    await carol.keyboard.press('Enter');
    await prompt.waitFor({ state: 'detached' });

    await alice.locator('[data-testid=call-view][data-call-state=active]').waitFor();
    await carol.locator('[data-testid=call-view][data-call-state=active]').waitFor();
    await expectChromiumReceives(alice);
    await expectChromiumReceives(carol);

    const aliceControls = alice.getByRole('toolbar', { name: 'Call controls' });
    await aliceControls.getByRole('button', { name: 'Mute' }).click();
    await aliceControls.getByRole('button', { name: 'Unmute', pressed: true }).waitFor();
    await carol.getByTestId('call-view').getByText('Alice is muted').waitFor();
    await carol.screenshot({ path: path.join(SHOTS, 'calls-two-apps.png') });

    await aliceControls.getByRole('button', { name: 'Hang up' }).click();
    await alice.getByTestId('call-view').waitFor({ state: 'detached' });
    await carol.getByTestId('call-view').waitFor({ state: 'detached' });
    expect(rig.pageErrors).toEqual([]);
  }, 400_000);
});
