/*
 * Helpers for the call scenarios: a real signaling server (behind the test relay, which plays
 * the hostile server), real clients on encrypted temp profiles running the calls plugin with the
 * werift engine, and ffprobe to check recordings.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { SecureChannels, signalingOrigin, type UserId } from '@discordopus/sdk';
import { createSignalingServer, type SignalingServer } from '../server/src/index.ts';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import type { SecureChannelsImpl } from '../core/src/node/channels/secure-channels-impl.ts';
import { createCallsPlugin, type CallView, type CallsApi, type CreateCallsPluginOptions } from '../plugins/calls/src/index.ts';
import { HostileRelay, RecordingLogger } from './channels-support.ts';
import { until as waitUntil } from './support/until.ts';

const run = promisify(execFile);

export interface CallPeer {
  name: string;
  client: DiscordOpusClient;
  id: UserId;
  calls: CallsApi;
  channels: SecureChannelsImpl;
  /** Every change, in order. */
  changes: CallView[];
}

export class CallWorld {
  readonly temp = tempDir('discordopus-calls-');
  readonly logger = new RecordingLogger();
  private readonly crypto = new NodeCryptoProvider();
  private readonly clients: DiscordOpusClient[] = [];
  relay!: HostileRelay;
  server!: SignalingServer;

  async start(): Promise<void> {
    this.relay = await HostileRelay.listen();
    this.server = await createSignalingServer({ origins: [signalingOrigin(this.relay.url)], logger: pino({ level: 'silent' }), processMetrics: false });
    this.relay.connect(this.server.url);
  }

  async peer(name: string, options: CreateCallsPluginOptions = {}): Promise<CallPeer> {
    const client = await createClient({
      profileDir: path.join(this.temp.dir, name), passphrase: `${name} passphrase`, crypto: this.crypto, create: true, profileKdf: TEST_PROFILE_KDF,
      serverUrl: this.relay.url, connectSignaling: true, peerLinks: { link: { loopbackOnly: true } }, logger: this.logger.child({ client: name }),
      plugins: [createCallsPlugin({ loopbackOnly: true, ...options }) as never],
    });
    this.clients.push(client);
    const channels = client.kernel.container.get<SecureChannelsImpl>(SecureChannels);
    await channels.whenReady();
    const calls = client.kernel.pluginApi<CallsApi>('calls');
    if (!calls) throw new Error(`calls plugin not active: ${JSON.stringify(client.kernel.plugins())}`);
    const peer: CallPeer = { name, client, id: client.identity.userId, calls, channels, changes: [] };
    calls.onDidChange((view) => peer.changes.push(view));
    return peer;
  }

  async befriend(a: CallPeer, b: CallPeer): Promise<void> {
    await a.client.contacts.add(b.id, { name: b.name });
    await b.client.contacts.add(a.id, { name: a.name });
  }

  file(name: string): string {
    return path.join(this.temp.dir, name);
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.close().catch(() => undefined);
    await this.relay?.close();
    await this.server?.close();
    this.temp.cleanup();
  }
}

/** Resolves with the first change (past or future) that matches. */
export function waitForCall(peer: CallPeer, match: (view: CallView) => boolean, what: string, timeoutMs = 60_000): Promise<CallView> {
  const found = peer.changes.find(match);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`${peer.name}: timed out waiting for ${what}; saw ${JSON.stringify(peer.changes.map((c) => [c.callId.slice(0, 6), c.state, c.endReason]))}`));
    }, timeoutMs);
    const sub = peer.calls.onDidChange((view) => {
      if (!match(view)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(view);
    });
  });
}

/** Polls until `condition` holds (for figures that have no event, such as engine stats). */
export const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> => waitUntil(what, condition, timeoutMs);

/** Frames ffprobe can read per stream kind of a recording (0 when the file has none). */
export async function probeFrames(file: string): Promise<{ video: number; audio: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames', '-of', 'json', file]);
  const streams = (JSON.parse(stdout) as { streams?: { codec_type: string; nb_read_frames?: string }[] }).streams ?? [];
  const count = (type: string) => streams.filter((s) => s.codec_type === type).reduce((n, s) => n + Number(s.nb_read_frames ?? 0), 0);
  return { video: count('video'), audio: count('audio') };
}
