import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { RTCPeerConnection, RTCRtpCodecParameters, type MediaStreamTrack, type RTCRtpTransceiver } from 'werift';
import { getUserMedia, MediaRecorder } from 'werift/nonstandard';
import { CHROMIUM, CHROMIUM_ARGS } from './desktop-support.ts';

/*
 * Shared parts of the renderer-engine interop tests: a werift peer in the test process (sends a
 * looped VP8/Opus WebM clip, records what it receives to WebM), the WebM clip itself (made with
 * ffmpeg), a page that loads the renderer engine bundle, and the Chromium flags for fake media on
 * loopback (PLATFORM-NOTES "Chromium <-> werift").
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export { CHROMIUM };
export const CHROMIUM_MEDIA_ARGS = [
  ...CHROMIUM_ARGS,
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
];

export interface Sdp {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface Candidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** A 4 s VP8/Opus WebM test clip (colour bars + 440 Hz), keyframe every 10 frames so a late receiver recovers fast. */
export async function makeTestClip(file: string): Promise<void> {
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15:duration=4',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=4',
    '-c:v', 'libvpx', '-b:v', '300k', '-g', '10', '-deadline', 'realtime', '-cpu-used', '8',
    '-c:a', 'libopus', '-b:a', '48k', '-ac', '2',
    file,
  ]);
}

/** Number of decodable frames of each kind in a media file, from ffprobe (decodes every packet). */
export async function countFrames(file: string): Promise<{ video: number; audio: number }> {
  const counts = { video: 0, audio: 0 };
  for (const [kind, selector] of [['video', 'v:0'], ['audio', 'a:0']] as const) {
    try {
      const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', selector, '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
      counts[kind] = Number.parseInt(stdout.trim(), 10) || 0;
    } catch {
      counts[kind] = 0;
    }
  }
  return counts;
}

/** The werift side of a call: what a headless client or bot runs. */
export class WeriftPeer {
  readonly pc: RTCPeerConnection;
  private readonly transceivers: RTCRtpTransceiver[] = [];
  private readonly pending: Candidate[] = [];
  private readonly remoteTracks: MediaStreamTrack[] = [];
  private recorder: MediaRecorder | undefined;
  private player: Awaited<ReturnType<typeof getUserMedia>> | undefined;
  readonly candidates: Candidate[] = [];
  private candidateListener: ((c: Candidate) => void) | undefined;

  private constructor(player: Awaited<ReturnType<typeof getUserMedia>>) {
    this.player = player;
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceUseIpv6: false,
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 })],
        video: [new RTCRtpCodecParameters({
          mimeType: 'video/VP8', clockRate: 90000, payloadType: 96,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }, { type: 'goog-remb' }],
        })],
      },
    });
    this.pc.onIceCandidate.subscribe((c) => {
      if (!c?.candidate) return;
      const json = c.toJSON() as Candidate;
      this.candidates.push(json);
      this.candidateListener?.(json);
    });
    this.pc.onTrack.subscribe((track) => {
      this.remoteTracks.push(track);
      void this.recorder?.addTrack(track);
    });
  }

  static async create(clip: string): Promise<WeriftPeer> {
    const player = await getUserMedia({ path: clip, loop: true });
    const peer = new WeriftPeer(player);
    return peer;
  }

  onCandidate(listener: (c: Candidate) => void): void {
    this.candidateListener = listener;
    for (const c of this.candidates) listener(c);
  }

  private addTransceivers(): void {
    if (this.transceivers.length > 0) return;
    this.transceivers.push(this.pc.addTransceiver(this.player!.audio!, { direction: 'sendrecv' }));
    this.transceivers.push(this.pc.addTransceiver(this.player!.video!, { direction: 'sendrecv' }));
  }

  async createOffer(): Promise<Sdp> {
    this.addTransceivers();
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return { type: 'offer', sdp: this.pc.localDescription!.sdp };
  }

  async acceptOffer(offer: Sdp): Promise<Sdp> {
    await this.pc.setRemoteDescription(offer);
    // Remote transceivers default to recvonly in werift: attach our clip and send.
    const [audio, video] = this.pc.getTransceivers();
    audio!.setDirection('sendrecv');
    video!.setDirection('sendrecv');
    audio!.sender.replaceTrack(this.player!.audio!);
    video!.sender.replaceTrack(this.player!.video!);
    this.transceivers.push(audio!, video!);
    await this.flush();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return { type: 'answer', sdp: this.pc.localDescription!.sdp };
  }

  async applyAnswer(answer: Sdp): Promise<void> {
    await this.pc.setRemoteDescription(answer);
    await this.flush();
  }

  async addCandidate(c: Candidate): Promise<void> {
    if (!this.pc.remoteDescription) {
      this.pending.push(c);
      return;
    }
    await this.pc.addIceCandidate(c as any);
  }

  private async flush(): Promise<void> {
    for (const c of this.pending.splice(0)) await this.pc.addIceCandidate(c as any);
  }

  /** Starts sending the clip once connected. */
  async startSending(): Promise<void> {
    await this.connected();
    await this.player!.start();
  }

  connected(): Promise<void> {
    if (this.pc.connectionState === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const sub = this.pc.connectionStateChange.subscribe((state) => {
        if (state === 'connected') {
          sub.unSubscribe();
          resolve();
        } else if (state === 'failed' || state === 'closed') {
          sub.unSubscribe();
          reject(new Error(`werift peer connection ${state}`));
        }
      });
    });
  }

  /** Records what arrives to a WebM file; asks for a keyframe so the file starts decodable. */
  async record(file: string): Promise<void> {
    this.recorder = new MediaRecorder({ path: file, numOfTracks: 2, disableLipSync: true, disableNtp: true });
    for (const track of this.remoteTracks) await this.recorder.addTrack(track);
    const video = this.pc.getTransceivers().find((t) => t.kind === 'video');
    const remoteVideo = this.remoteTracks.find((t) => t.kind === 'video');
    if (video && remoteVideo?.ssrc) await video.receiver.sendRtcpPLI(remoteVideo.ssrc);
  }

  /** Waits until both remote tracks (audio and video) arrived. */
  async remoteTracksArrived(): Promise<void> {
    while (this.remoteTracks.length < 2) await new Promise<void>((resolve) => this.pc.onTrack.once(() => resolve()));
  }

  async close(): Promise<void> {
    await this.recorder?.stop();
    this.recorder = undefined;
    this.player?.stop();
    this.player = undefined;
    await this.pc.close();
  }
}

/** Serves a blank page that loads the renderer engine bundle as `window.DiscordOpusCalls`. */
export async function serveEnginePage(bundleDir: string): Promise<{ url: string; close(): Promise<void> }> {
  const result = await build({
    entryPoints: [`${ROOT}plugins/calls/src/renderer/index.ts`],
    bundle: true,
    format: 'iife',
    globalName: 'DiscordOpusCalls',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    outdir: bundleDir,
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]!.text;
  const html = '<!doctype html><meta charset="utf-8"><title>engine</title><script src="/engine.js"></script><body></body>';
  const server: Server = createServer((req, res) => {
    if (req.url === '/engine.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(js);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(html);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
