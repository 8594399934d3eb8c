import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_MEDIA_ARGS, countFrames, makeTestClip, serveEnginePage, WeriftPeer, type Candidate } from './calls-renderer-support.ts';

/*
 * The renderer media engine (plugins/calls/src/renderer) in Debian's Chromium with fake capture
 * devices, against a werift peer in this process (what headless clients and bots run), both
 * ways round. Each direction must carry audio and video: Chromium's getStats shows decoded video
 * frames and received audio that is mostly not concealment; the werift side's recording decodes
 * (ffprobe frame counts).
 */

let dir: string;
let clip: string;
let browser: Browser;
let page: { url: string; close(): Promise<void> };
const STEP = 120_000;

interface Figures {
  framesDecoded: number;
  audioSamplesReceived: number;
  audioSamplesConcealed: number;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'calls-renderer-interop-'));
  clip = path.join(dir, 'clip.webm');
  await makeTestClip(clip);
  page = await serveEnginePage(dir);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_MEDIA_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await page?.close();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

async function openEngine(peer: WeriftPeer, role: 'offerer' | 'answerer'): Promise<Page> {
  const tab = await browser.newPage();
  tab.setDefaultTimeout(STEP);
  const errors: string[] = [];
  tab.on('pageerror', (e) => errors.push(e.message));
  await tab.exposeFunction('sendCandidate', (c: Candidate) => peer.addCandidate(c));
  await tab.goto(page.url);
  await tab.evaluate(async (r) => {
    const w = window as any;
    w.session = await w.DiscordOpusCalls.RendererMediaSession.create({ callId: 'ab'.repeat(16), role: r, audio: true, video: true, iceServers: [] });
    w.session.onLocalCandidate((c: unknown) => void w.sendCandidate(c));
    // Chromium counts received audio samples only while they are played out.
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.srcObject = w.session.remoteStream;
    document.body.append(audio);
  }, role);
  peer.onCandidate((c) => void tab.evaluate((cand) => (window as any).session.addRemoteCandidate(cand), c).catch(() => undefined));
  expect(errors).toEqual([]);
  return tab;
}

async function waitForMedia(tab: Page): Promise<Figures> {
  let figures!: Figures;
  await expect.poll(async () => {
    figures = await tab.evaluate(() => (window as any).session.inboundFigures());
    // 2 s of audio at 48 kHz and a second of 15 fps video.
    return figures.framesDecoded >= 15 && figures.audioSamplesReceived >= 96_000;
  }, { timeout: STEP, interval: 250 }).toBe(true);
  return figures;
}

async function recordFromWerift(peer: WeriftPeer, file: string): Promise<{ video: number; audio: number }> {
  await peer.remoteTracksArrived();
  await peer.record(file);
  // Record until enough RTP has arrived (packets, not wall-clock time).
  const counts = { audio: 0, video: 0 };
  await new Promise<void>((resolve) => {
    for (const t of peer.pc.getTransceivers()) {
      t.receiver.tracks[0]?.onReceiveRtp.subscribe(() => {
        counts[t.kind as 'audio' | 'video']++;
        if (counts.audio >= 150 && counts.video >= 150) resolve();
      });
    }
  });
  await peer.close();
  return countFrames(file);
}

describe('renderer media engine (Chromium) <-> werift engine', () => {
  it('Chromium calls werift: audio and video both ways', async () => {
    const peer = await WeriftPeer.create(clip);
    const tab = await openEngine(peer, 'offerer');
    try {
      const offer = await tab.evaluate(() => (window as any).session.createOffer()) as string;
      expect(offer).toMatch(/m=audio[\s\S]*m=video/);
      const answer = await peer.acceptOffer({ type: 'offer', sdp: offer });
      await tab.evaluate((a) => (window as any).session.acceptAnswer(a), answer.sdp);
      await peer.startSending();
      const figures = await waitForMedia(tab);
      expect(figures.audioSamplesConcealed / figures.audioSamplesReceived).toBeLessThan(0.25);
      const frames = await recordFromWerift(peer, path.join(dir, 'chromium-to-werift.webm'));
      expect(frames.video).toBeGreaterThan(0);
      expect(frames.audio).toBeGreaterThan(0);
      const quality = await tab.evaluate(() => (window as any).session.stats());
      expect(['good', 'fair', 'poor']).toContain(quality.level);
      expect(quality.video.framesDecoded).toBeGreaterThan(0);
      // The engine reports the certificate werift actually presented, as the plugin's end-to-end check needs.
      const presented = await tab.evaluate(() => (window as any).session.remoteFingerprint());
      expect(presented?.toLowerCase()).toBe(`sha-256 ${/a=fingerprint:sha-256 (\S+)/.exec(answer.sdp)![1]!.toLowerCase()}`);
    } finally {
      await peer.close().catch(() => undefined);
      await tab.close();
    }
  }, 300_000);

  it('werift calls Chromium: audio and video both ways', async () => {
    const peer = await WeriftPeer.create(clip);
    const tab = await openEngine(peer, 'answerer');
    try {
      const offer = await peer.createOffer();
      const answer = await tab.evaluate((o) => (window as any).session.acceptOffer(o), offer.sdp) as string;
      expect(answer).toMatch(/^v=0/);
      await peer.applyAnswer({ type: 'answer', sdp: answer });
      await peer.startSending();
      const figures = await waitForMedia(tab);
      expect(figures.audioSamplesConcealed / figures.audioSamplesReceived).toBeLessThan(0.25);
      const frames = await recordFromWerift(peer, path.join(dir, 'werift-to-chromium.webm'));
      expect(frames.video).toBeGreaterThan(0);
      expect(frames.audio).toBeGreaterThan(0);
    } finally {
      await peer.close().catch(() => undefined);
      await tab.close();
    }
  }, 300_000);

  it('refuses bad input: wrong role, malformed SDP or candidate, use after close', async () => {
    const tab = await browser.newPage();
    await tab.goto(page.url);
    const outcome = await tab.evaluate(async () => {
      const { RendererMediaSession } = (window as any).DiscordOpusCalls;
      const errorOf = async (run: () => Promise<unknown>) => run().then(() => 'no error', (e: any) => `${e.name}:${e.code ?? ''}:${e.message}`);
      const answerer = await RendererMediaSession.create({ callId: 'cd'.repeat(16), role: 'answerer', audio: true, video: false, iceServers: [] });
      const result = {
        badCreate: await errorOf(() => RendererMediaSession.create({ role: 'caller' })),
        answererOffers: await errorOf(() => answerer.createOffer()),
        answererRestarts: await errorOf(() => answerer.restartIce()),
        badSdp: await errorOf(() => answerer.acceptOffer('hello')),
        badCandidate: await errorOf(() => answerer.addRemoteCandidate({ sdpMid: '0' })),
        badKind: await errorOf(() => answerer.setMuted('screen', true)),
        badDevices: await errorOf(() => answerer.selectDevices(null)),
        fingerprintBeforeConnect: await answerer.remoteFingerprint(),
        closed: '',
      };
      await answerer.close();
      await answerer.close();
      result.closed = await errorOf(() => answerer.setCamera(true));
      return result;
    });
    expect(outcome.badCreate).toMatch(/^TypeError::RendererMediaSession.create/);
    expect(outcome.answererOffers).toMatch(/^TypeError::createOffer: only a session with role "offerer"/);
    expect(outcome.answererRestarts).toMatch(/^TypeError::restartIce/);
    expect(outcome.badSdp).toMatch(/^TypeError::acceptOffer: expected SDP/);
    expect(outcome.badCandidate).toMatch(/^TypeError::addRemoteCandidate/);
    expect(outcome.badKind).toMatch(/^TypeError::setMuted/);
    expect(outcome.badDevices).toMatch(/^TypeError::selectDevices/);
    expect(outcome.fingerprintBeforeConnect).toBeUndefined();
    expect(outcome.closed).toMatch(/calls\/media-closed/);
    await tab.close();
  }, 120_000);
});
