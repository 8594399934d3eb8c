/*
 * The files plugin on two real kernels, each on its own encrypted temp profile, joined by the
 * in-process channel and stream pairs of files-support.ts. Real files in temp folders, real
 * AEAD; a test restarts a side, breaks the link, plays a hostile sender, or puts a failing
 * file system behind the plugin's FilesFs boundary.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContactsService, IdentityInfo, PeerStreams, SecureChannels, SettingsService, nextEvent,
  type EventMap, type PeerStream, type SettingsService as Settings, type UserId,
} from '@discordopus/sdk';
import { Kernel } from '../core/src/node/kernel/kernel.ts';
import { ALICE, BOB, ListContacts, captureLogger, openTempProfile, type CapturedLogger, type TempProfile } from '../core/src/node/kernel/kernel-test-support.ts';
import {
  ChunkCipher, DEFAULT_CHUNK_BYTES, createFilesPlugin, encodeStart, nodeFilesFs,
  type FilesApi, type FilesFs, type FilesServiceOptions, type Transfer, type TransferState,
} from '../plugins/files/src/index.ts';
import { PairedChannels, PairedStreams } from './files-support.ts';

const temps: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

interface Side {
  name: string;
  self: UserId;
  profile: TempProfile;
  channels: PairedChannels;
  streams: PairedStreams;
  kernel: Kernel;
  api: FilesApi;
  log: CapturedLogger;
  settings: Settings;
  /** Chunk indexes written by this side as sender, in order. */
  sentChunks: number[];
  options: FilesServiceOptions;
}

const sides: Side[] = [];
const profiles = new Set<TempProfile>();

async function startSide(
  name: string, self: UserId, other: UserId, channels: PairedChannels, streams: PairedStreams,
  options: FilesServiceOptions = {}, profile?: TempProfile, verified = true,
): Promise<Side> {
  const log = captureLogger();
  const used = profile ?? (await openTempProfile());
  profiles.add(used);
  const contacts = new ListContacts([{ userId: other, name: name === 'alice' ? 'bob' : 'alice', verified, identityChanged: false, addedAt: 1 }]);
  const sentChunks: number[] = [];
  const kernel = await Kernel.start({
    profileDir: used.dir, db: used.database.db, logger: log.logger,
    plugins: [createFilesPlugin({ retryMs: 60_000, ...options, onChunkSent: (_id, index) => sentChunks.push(index) })],
    bind(container) {
      container.bind(IdentityInfo).toConstantValue({ userId: self, publicKey: new Uint8Array(32), displayName: name });
      container.bind(ContactsService).toConstantValue(contacts);
      container.bind(SecureChannels).toConstantValue(channels);
      container.bind(PeerStreams).toConstantValue(streams);
    },
  });
  expect(kernel.plugins()).toMatchObject([{ id: 'files', state: 'active' }]);
  const side: Side = {
    name, self, profile: used, channels, streams, kernel, api: kernel.pluginApi<FilesApi>('files')!, log,
    settings: kernel.container.get<Settings>(SettingsService), sentChunks, options,
  };
  sides.push(side);
  return side;
}

function links() {
  const [ca, cb] = PairedChannels.pair(ALICE, BOB);
  const sa = new PairedStreams(ALICE);
  const sb = new PairedStreams(BOB);
  sa.peer = sb;
  sb.peer = sa;
  return { ca, cb, sa, sb };
}

async function pair(aliceOptions: FilesServiceOptions = {}, bobOptions: FilesServiceOptions = {}): Promise<{ alice: Side; bob: Side }> {
  const { ca, cb, sa, sb } = links();
  return { alice: await startSide('alice', ALICE, BOB, ca, sa, aliceOptions), bob: await startSide('bob', BOB, ALICE, cb, sb, bobOptions) };
}

async function stopSide(side: Side): Promise<void> {
  sides.splice(sides.indexOf(side), 1);
  await side.kernel.stop();
}

async function restart(side: Side, options: FilesServiceOptions = side.options): Promise<Side> {
  await stopSide(side);
  await side.profile.reopen();
  const other = side.self === ALICE ? BOB : ALICE;
  return startSide(side.name, side.self, other, side.channels, side.streams, options, side.profile);
}

afterEach(async () => {
  for (const side of [...sides]) await stopSide(side);
  for (const profile of profiles) await profile.cleanup();
  profiles.clear();
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Waits until transfer `id` at `side` is in `state` (event-driven; checks the current state first). */
async function reach(side: Side, id: string, state: TransferState, timeoutMs = 30_000): Promise<Transfer> {
  const next = nextEvent(side.api.onDidChange, (t) => t.id === id && t.state === state, timeoutMs);
  next.catch(() => undefined);
  const now = await side.api.get(id);
  if (now?.state === state) return now;
  return next;
}

/** Waits for the first incoming offer at `side`. */
async function offered(side: Side, id?: string): Promise<Transfer> {
  const next = nextEvent(side.api.onDidChange, (t) => t.direction === 'in' && t.state === 'offered' && (id === undefined || t.id === id), 20_000);
  next.catch(() => undefined);
  const known = (await side.api.list()).find((t) => t.direction === 'in' && t.state === 'offered' && (id === undefined || t.id === id));
  return known ?? next;
}

function writeRandom(dir: string, name: string, size: number): { file: string; sha: string } {
  const file = path.join(dir, name);
  const data = randomBytes(size);
  writeFileSync(file, data);
  return { file, sha: createHash('sha256').update(data).digest('hex') };
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function transfer(alice: Side, bob: Side, file: string, into: string): Promise<{ out: Transfer; in: Transfer }> {
  const { transferId } = await alice.api.send('bob', file);
  await offered(bob, transferId);
  await bob.api.accept(transferId, into);
  const done = await reach(bob, transferId, 'completed');
  const out = await reach(alice, transferId, 'completed');
  return { out, in: done };
}

describe('files plugin: transfer', () => {
  const C = DEFAULT_CHUNK_BYTES;
  it.each([0, 1, C - 1, C, C + 1, 3 * C + 17])('sends %i bytes intact, both sides completed', async (size) => {
    const { alice, bob } = await pair();
    const src = tempDir('files-src-');
    const dst = tempDir('files-dst-');
    const { file, sha: expected } = writeRandom(src, 'data.bin', size);
    const { out, in: got } = await transfer(alice, bob, file, dst);
    expect(got).toMatchObject({ direction: 'in', peer: ALICE, name: 'data.bin', size, bytes: size, path: path.join(dst, 'data.bin') });
    expect(out).toMatchObject({ direction: 'out', peer: BOB, size, bytes: size, path: file });
    expect(sha(got.path!)).toBe(expected);
    expect(readdirSync(dst)).toEqual(['data.bin']);
    // Every chunk was sent once.
    expect(alice.sentChunks).toEqual([...Array(Math.max(1, Math.ceil(size / C))).keys()]);
  });

  it('publishes files.transfer with progress, rate and a final completed state; the key never reaches the log', async () => {
    const { alice, bob } = await pair({ chunkBytes: 4096, windowChunks: 8, ackEvery: 2 });
    const seen: EventMap['files.transfer'][] = [];
    bob.kernel.events.subscribe('files.transfer', (t) => seen.push(t));
    const { file } = writeRandom(tempDir('files-src-'), 'photo.jpg', 3 * 1024 * 1024);
    const { in: got } = await transfer(alice, bob, file, tempDir('files-dst-'));
    expect(got.mime).toBe('image/jpeg');
    const states = seen.map((t) => t.state);
    expect(states[0]).toBe('offered');
    expect(states).toContain('transferring');
    expect(states).toContain('verifying');
    expect(states.at(-1)).toBe('completed');
    const progress = seen.filter((t) => t.state === 'transferring').map((t) => t.bytes);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const offer = alice.channels.sent.find((s) => s.record?.t === 'offer')!.record;
    for (const side of [alice, bob]) expect(side.log.text()).not.toContain(offer.key);
  });

  it('never overwrites: a second file of the same name gets a numbered name', async () => {
    const { alice, bob } = await pair();
    const dst = tempDir('files-dst-');
    writeFileSync(path.join(dst, 'notes.txt'), 'mine');
    const { file } = writeRandom(tempDir('files-src-'), 'notes.txt', 1000);
    const first = await transfer(alice, bob, file, dst);
    const second = await transfer(alice, bob, file, dst);
    expect(first.in.path).toBe(path.join(dst, 'notes (1).txt'));
    expect(second.in.path).toBe(path.join(dst, 'notes (2).txt'));
    expect(readFileSync(path.join(dst, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('runs several transfers at once, each with its own progress', async () => {
    const { alice, bob } = await pair({ chunkBytes: 8192 });
    const src = tempDir('files-src-');
    const dst = tempDir('files-dst-');
    const files = [1, 2, 3].map((n) => writeRandom(src, `f${n}.bin`, 200_000 * n));
    const ids = await Promise.all(files.map(async (f) => (await alice.api.send('bob', f.file)).transferId));
    for (const id of ids) await offered(bob, id);
    await Promise.all(ids.map((id) => bob.api.accept(id, dst)));
    const done = await Promise.all(ids.map((id) => reach(bob, id, 'completed')));
    done.forEach((t, i) => expect(sha(t.path!)).toBe(files[i]!.sha));
    for (const id of ids) await reach(alice, id, 'completed');
  });

  it('a stalled transfer does not hold up another one to the same contact', async () => {
    const gate = new WriteGate(nodeFilesFs, 10, (file) => file.endsWith('big.bin.part'));
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: gate.fs });
    const dst = tempDir('files-dst-');
    const big = writeRandom(tempDir('files-src-'), 'big.bin', 4096 * 100);
    const first = await alice.api.send('bob', big.file);
    await offered(bob, first.transferId);
    await bob.api.accept(first.transferId, dst);
    await gate.reached;
    const small = writeRandom(tempDir('files-src-'), 'small.bin', 5000);
    const second = await transfer(alice, bob, small.file, dst);
    expect(sha(second.in.path!)).toBe(small.sha);
    expect((await bob.api.get(first.transferId))!.state).toBe('transferring');
    gate.open();
    expect(sha((await reach(bob, first.transferId, 'completed')).path!)).toBe(big.sha);
  });

  it('accepts automatically from verified contacts up to the size limit, not by default', async () => {
    const { alice, bob } = await pair();
    const dst = tempDir('files-dst-');
    const { file } = writeRandom(tempDir('files-src-'), 'a.bin', 5000);
    const first = await alice.api.send('bob', file);
    await offered(bob, first.transferId);
    expect((await bob.api.get(first.transferId))!.state).toBe('offered');
    await bob.settings.set('files.downloadDir', dst);
    await bob.settings.set('files.autoAccept', 'verified');
    await bob.settings.set('files.autoAcceptMaxMiB', 1);
    const second = await alice.api.send('bob', file);
    expect((await reach(bob, second.transferId, 'completed')).path).toBe(path.join(dst, 'a.bin'));
    const big = writeRandom(tempDir('files-src-'), 'big.bin', 1024 * 1024 + 1);
    const third = await alice.api.send('bob', big.file);
    await offered(bob, third.transferId);
    expect((await bob.api.get(third.transferId))!.state).toBe('offered');
  });
});

describe('files plugin: decline and cancel', () => {
  it('a declined offer ends on both sides', async () => {
    const { alice, bob } = await pair();
    const { file } = writeRandom(tempDir('files-src-'), 'a.bin', 10);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.decline(transferId);
    await reach(alice, transferId, 'declined');
    expect((await bob.api.get(transferId))!.state).toBe('declined');
    await expect(bob.api.accept(transferId)).rejects.toMatchObject({ code: 'files/invalid-state' });
  });

  it('the receiver cancels mid-transfer: the partial file is deleted, the sender stops', async () => {
    const gate = new WriteGate(nodeFilesFs, 10);
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: gate.fs });
    const dst = tempDir('files-dst-');
    const { file } = writeRandom(tempDir('files-src-'), 'a.bin', 4096 * 40);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, dst);
    await gate.reached;
    await bob.api.cancel(transferId);
    gate.open();
    await reach(alice, transferId, 'cancelled');
    expect((await bob.api.get(transferId))!.state).toBe('cancelled');
    expect(readdirSync(dst)).toEqual([]);
  });

  it('the sender cancels mid-transfer: the receiver deletes the partial file', async () => {
    const gate = new WriteGate(nodeFilesFs, 10);
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: gate.fs });
    const dst = tempDir('files-dst-');
    const { file } = writeRandom(tempDir('files-src-'), 'a.bin', 4096 * 40);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, dst);
    await gate.reached;
    await alice.api.cancel(transferId);
    gate.open();
    const cancelled = await reach(bob, transferId, 'cancelled');
    expect(cancelled.error?.code).toBe('files/cancelled-by-peer');
    expect(readdirSync(dst)).toEqual([]);
    await expect(alice.api.cancel(transferId)).resolves.toMatchObject({ state: 'cancelled' });
  });
});

/** Holds writes after `after` chunk writes until opened: a slow (or frozen) disk. */
class WriteGate {
  writes = 0;
  private release: (() => void) | undefined;
  private gate: Promise<void> | undefined;
  private arrived!: () => void;
  readonly reached = new Promise<void>((resolve) => (this.arrived = resolve));
  readonly fs: FilesFs;

  constructor(inner: FilesFs, private readonly after: number, only: (file: string) => boolean = () => true) {
    this.gate = new Promise<void>((resolve) => (this.release = resolve));
    this.fs = {
      ...inner,
      open: async (file, flags) => {
        const handle = await inner.open(file, flags);
        if (!only(file)) return handle;
        return {
          read: (...a) => handle.read(...a),
          truncate: (n) => handle.truncate(n),
          close: () => handle.close(),
          write: async (...a) => {
            if (this.writes >= this.after && this.gate) {
              this.arrived();
              await this.gate;
            }
            this.writes++;
            return handle.write(...a);
          },
        };
      },
    };
  }

  open(): void {
    this.gate = undefined;
    this.release?.();
  }
}

describe('files plugin: flow control and resume', () => {
  it('keeps at most the window of chunks in flight while the receiver disk is stalled', async () => {
    const gate = new WriteGate(nodeFilesFs, 5);
    const { alice, bob } = await pair({ chunkBytes: 4096, windowChunks: 16, ackEvery: 4 }, { fs: gate.fs, ackEvery: 4 });
    const { file, sha: expected } = writeRandom(tempDir('files-src-'), 'a.bin', 4096 * 200);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, tempDir('files-dst-'));
    await gate.reached;
    // Give the sender every chance to run ahead; it must stop at the window.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(alice.sentChunks.length).toBeLessThanOrEqual(4 + 16);
    gate.open();
    expect(sha((await reach(bob, transferId, 'completed')).path!)).toBe(expected);
  });

  it('the receiver restarts at ~50%: it resumes from its partial file, fewer than 2 chunks resent, hash equal', async () => {
    const gate = new WriteGate(nodeFilesFs, 50);
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: gate.fs });
    const dst = tempDir('files-dst-');
    const { file, sha: expected } = writeRandom(tempDir('files-src-'), 'half.bin', 4096 * 100 + 5);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, dst);
    await gate.reached;
    const written = gate.writes;
    const paused = reach(alice, transferId, 'paused');
    // Stop without releasing the stalled write: like a killed process, that chunk never lands.
    const stopping = stopSide(bob);
    gate.open();
    await stopping;
    await paused;
    const before = alice.sentChunks.length;
    const again = await restart(bob, {});
    const done = await reach(again, transferId, 'completed');
    expect(sha(done.path!)).toBe(expected);
    const resumedFrom = alice.sentChunks[before]!;
    expect(written - resumedFrom).toBeLessThan(2);
    expect(resumedFrom).toBeGreaterThanOrEqual(written - 1);
    await reach(alice, transferId, 'completed');
  });

  it('the sender restarts mid-transfer and the transfer completes', async () => {
    const gate = new WriteGate(nodeFilesFs, 30);
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: gate.fs });
    const { file, sha: expected } = writeRandom(tempDir('files-src-'), 'a.bin', 4096 * 80);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, tempDir('files-dst-'));
    await gate.reached;
    const bobPaused = reach(bob, transferId, 'paused');
    await stopSide(alice);
    gate.open();
    await bobPaused;
    const again = await restart(alice, { chunkBytes: 4096 });
    expect(sha((await reach(bob, transferId, 'completed')).path!)).toBe(expected);
    await reach(again, transferId, 'completed');
  });

  it('pauses when the link breaks and resumes when it is back', async () => {
    const gate = new WriteGate(nodeFilesFs, 20);
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: gate.fs });
    const { file, sha: expected } = writeRandom(tempDir('files-src-'), 'a.bin', 4096 * 60);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, tempDir('files-dst-'));
    await gate.reached;
    const paused = reach(alice, transferId, 'paused');
    alice.channels.online = false;
    alice.streams.online = false;
    alice.streams.breakLinks();
    gate.open();
    await paused;
    await reach(bob, transferId, 'paused');
    alice.channels.online = true;
    alice.streams.online = true;
    bob.channels.announce();
    expect(sha((await reach(bob, transferId, 'completed')).path!)).toBe(expected);
  });
});

describe('files plugin: no direct link', () => {
  it('pauses when the stream cannot be opened, and resumes once the peer is reachable again', async () => {
    const { alice, bob } = await pair();
    alice.streams.online = false;
    const { file, sha: expected } = writeRandom(tempDir('files-src-'), 'a.bin', 100_000);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    const paused = reach(alice, transferId, 'paused');
    await bob.api.accept(transferId, tempDir('files-dst-'));
    expect((await paused).error).toMatchObject({ code: 'streams/peer-unreachable' });
    alice.streams.online = true;
    bob.channels.announce();
    alice.channels.announce();
    expect(sha((await reach(bob, transferId, 'completed')).path!)).toBe(expected);
    expect((await reach(alice, transferId, 'completed')).error).toBeUndefined();
  });
});

describe('files plugin: full disk and unwritable targets', () => {
  it('disk full: a clear error, the partial kept; accepting again resumes to an intact file', async () => {
    let budget = 4096 * 25;
    const full: FilesFs = {
      ...nodeFilesFs,
      open: async (file, flags) => {
        const handle = await nodeFilesFs.open(file, flags);
        return {
          read: (...a) => handle.read(...a),
          truncate: (n) => handle.truncate(n),
          close: () => handle.close(),
          write: async (buffer, offset, length, position) => {
            if (position + length > budget) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
            return handle.write(buffer, offset, length, position);
          },
        };
      },
    };
    const { alice, bob } = await pair({ chunkBytes: 4096 }, { fs: full });
    const dst = tempDir('files-dst-');
    const { file, sha: expected } = writeRandom(tempDir('files-src-'), 'big.iso', 4096 * 60);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await bob.api.accept(transferId, dst);
    const failed = await reach(bob, transferId, 'failed');
    expect(failed.error).toMatchObject({ code: 'files/disk-full' });
    expect(failed.error!.message).toMatch(/full.*accept the transfer again/);
    expect(readdirSync(dst)).toEqual(['big.iso.part']);
    expect(readFileSync(path.join(dst, 'big.iso.part')).length).toBe(4096 * 25);
    await reach(alice, transferId, 'paused');
    budget = Infinity;
    const before = alice.sentChunks.length;
    await bob.api.accept(transferId);
    const done = await reach(bob, transferId, 'completed');
    expect(sha(done.path!)).toBe(expected);
    expect(alice.sentChunks[before]).toBe(25);
  });

  it('an unwritable target folder is refused at accept with a clear error', async () => {
    const { alice, bob } = await pair();
    const blocker = path.join(tempDir('files-dst-'), 'not-a-folder');
    writeFileSync(blocker, 'x');
    const { file } = writeRandom(tempDir('files-src-'), 'a.bin', 10);
    const { transferId } = await alice.api.send('bob', file);
    await offered(bob, transferId);
    await expect(bob.api.accept(transferId, path.join(blocker, 'sub'))).rejects.toMatchObject({ code: 'files/target-unwritable' });
    expect((await bob.api.get(transferId))!.state).toBe('offered');
  });
});

describe('files plugin: bad input', () => {
  it('refuses missing files, folders, unknown transfers and malformed ids', async () => {
    const { alice } = await pair();
    const src = tempDir('files-src-');
    await expect(alice.api.send('bob', path.join(src, 'nope.bin'))).rejects.toMatchObject({ code: 'files/not-found' });
    await expect(alice.api.send('bob', src)).rejects.toMatchObject({ code: 'files/not-a-file' });
    writeFileSync(path.join(src, 'x'), 'x');
    await expect(alice.api.send('carol', path.join(src, 'x'))).rejects.toMatchObject({ code: 'contacts/not-found' });
    await expect(alice.api.accept('0'.repeat(32))).rejects.toMatchObject({ code: 'files/unknown-transfer' });
    await expect(alice.api.cancel('xyz')).rejects.toThrow(TypeError);
    await expect(alice.api.send(1 as unknown as string, 'x')).rejects.toThrow(TypeError);
    const { transferId } = await alice.api.send('bob', path.join(src, 'x'));
    await expect(alice.api.accept(transferId)).rejects.toMatchObject({ code: 'files/invalid-state' });
    await expect(alice.api.decline(transferId)).rejects.toMatchObject({ code: 'files/invalid-state' });
  });
});

/** Bob runs the real plugin; the test is Alice, a hostile sender speaking the protocol by hand. */
async function hostile(size: number, chunkSize = 4096, bobOptions: FilesServiceOptions = {}) {
  const { ca, cb, sa, sb } = links();
  const bob = await startSide('bob', BOB, ALICE, cb, sb, bobOptions);
  const dst = tempDir('files-dst-');
  const data = randomBytes(size);
  const key = randomBytes(32);
  const id = randomBytes(16).toString('hex');
  const offer = {
    t: 'offer', id, name: 'x.bin', size, mime: 'application/octet-stream', sha256: createHash('sha256').update(data).digest('hex'),
    key: key.toString('hex'), chunkSize,
  };
  await ca.send(BOB, 'files/c', new TextEncoder().encode(JSON.stringify(offer)));
  await offered(bob, id);
  const accepted = new Promise<void>((resolve) => {
    const original = cb.send.bind(cb);
    cb.send = async (to, name, bytes) => {
      const record = JSON.parse(new TextDecoder().decode(bytes));
      if (record.t === 'accept') setImmediate(resolve);
      return original(to, name, bytes);
    };
  });
  ca.onMessage('files/c', () => undefined);
  await bob.api.accept(id, dst);
  await accepted;
  const cipher = new ChunkCipher(key, id);
  const stream: PeerStream = await sa.open(BOB, 'files/x');
  await stream.write(encodeStart(id, cipher.salt, 0));
  const chunk = (i: number) => data.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize));
  return { bob, id, dst, data, key, cipher, stream, chunk, cb };
}

describe('files plugin: options', () => {
  it('refuses flow-control options that cannot work, naming the option', async () => {
    const cases: [FilesServiceOptions, string][] = [[{ maxBufferedBytes: 0 }, 'maxBufferedBytes'], [{ windowChunks: 4, ackEvery: 8 }, 'ackEvery']];
    for (const [options, named] of cases) {
      const profile = await openTempProfile();
      profiles.add(profile);
      const kernel = await Kernel.start({
        profileDir: profile.dir, db: profile.database.db, logger: captureLogger().logger,
        plugins: [createFilesPlugin(options)],
        bind(container) {
          container.bind(IdentityInfo).toConstantValue({ userId: ALICE, publicKey: new Uint8Array(32), displayName: 'alice' });
          container.bind(ContactsService).toConstantValue(new ListContacts([]));
          container.bind(SecureChannels).toConstantValue(new PairedChannels(ALICE));
          container.bind(PeerStreams).toConstantValue(new PairedStreams(ALICE));
        },
      });
      expect(kernel.plugins()).toMatchObject([{ id: 'files', state: 'failed', error: { message: expect.stringContaining(named) } }]);
      await kernel.stop();
    }
  });
});

describe('files plugin: hostile sender', () => {
  const S = 4096;
  it('rejects a tampered chunk: failed, partial deleted, the sender told', async () => {
    const h = await hostile(3 * S);
    await h.stream.write(h.cipher.sealFrame(0, false, h.chunk(0)));
    const bad = h.cipher.sealFrame(1, false, h.chunk(1));
    bad[100]! ^= 1;
    await h.stream.write(bad);
    const failed = await reach(h.bob, h.id, 'failed');
    expect(failed.error?.code).toBe('files/chunk-rejected');
    expect(readdirSync(h.dst)).toEqual([]);
    expect(h.cb.sent.map((m) => m.record)).toContainEqual({ t: 'failed', id: h.id, code: 'files/chunk-rejected' });
  });

  it('cuts off a sender that ignores its window while the disk is slow, instead of buffering without bound', async () => {
    const gate = new WriteGate(nodeFilesFs, 1, (file) => file.endsWith('.part'));
    const h = await hostile(20 * S, S, { fs: gate.fs, maxBufferedBytes: 4 * S });
    for (let i = 0; i < 10; i++) await h.stream.write(h.cipher.sealFrame(i, false, h.chunk(i)));
    await expect.poll(() => h.bob.log.lines.find((l) => String(l.msg).includes('rejected a chunk stream'))?.detail).toContain('ignored its window');
    gate.open();
    expect((await reach(h.bob, h.id, 'failed')).error?.code).toBe('files/chunk-rejected');
    expect(readdirSync(h.dst)).toEqual([]);
  });

  it('rejects reordered chunks', async () => {
    const h = await hostile(3 * S);
    await h.stream.write(h.cipher.sealFrame(1, false, h.chunk(1)));
    expect((await reach(h.bob, h.id, 'failed')).error?.code).toBe('files/chunk-rejected');
  });

  it('rejects a stream cut short with a false final flag (truncation)', async () => {
    const h = await hostile(3 * S);
    await h.stream.write(h.cipher.sealFrame(0, true, h.chunk(0)));
    expect((await reach(h.bob, h.id, 'failed')).error?.code).toBe('files/chunk-rejected');
  });

  it('a stream that just stops before the last chunk never completes (paused, asks to resume)', async () => {
    const h = await hostile(3 * S);
    await h.stream.write(h.cipher.sealFrame(0, false, h.chunk(0)));
    await h.stream.write(h.cipher.sealFrame(1, false, h.chunk(1)));
    await reach(h.bob, h.id, 'transferring');
    await h.stream.close();
    const paused = await reach(h.bob, h.id, 'paused');
    expect(paused.bytes).toBe(2 * S);
    expect(readdirSync(h.dst)).toEqual(['x.bin.part']);
  });

  it('rejects chunks spliced from another transfer or sealed with another key', async () => {
    const h = await hostile(2 * S);
    const other = new ChunkCipher(h.key, 'f'.repeat(32), h.cipher.salt);
    await h.stream.write(other.sealFrame(0, false, h.chunk(0)));
    expect((await reach(h.bob, h.id, 'failed')).error?.code).toBe('files/chunk-rejected');
  });

  it('rejects a chunk of the wrong length, and a file whose hash differs from the offer', async () => {
    const h = await hostile(2 * S);
    await h.stream.write(h.cipher.sealFrame(0, false, h.chunk(0).subarray(0, 100)));
    expect((await reach(h.bob, h.id, 'failed')).error?.code).toBe('files/chunk-rejected');
    const g = await hostile(S + 10);
    const altered = Buffer.from(g.chunk(1));
    altered[0]! ^= 1;
    await g.stream.write(g.cipher.sealFrame(0, false, g.chunk(0)));
    await g.stream.write(g.cipher.sealFrame(1, true, altered));
    expect((await reach(g.bob, g.id, 'failed')).error?.code).toBe('files/hash-mismatch');
    expect(readdirSync(g.dst)).toEqual([]);
    expect(g.cb.sent.map((m) => m.record)).toContainEqual({ t: 'failed', id: g.id, code: 'files/hash-mismatch' });
  });

  it('sanitises hostile names and drops malformed records', async () => {
    const { ca, cb, sb } = links();
    const bob = await startSide('bob', BOB, ALICE, cb, sb);
    const base = { t: 'offer', size: 1, mime: 'text/html; <script>', sha256: '0'.repeat(64), key: '1'.repeat(64), chunkSize: 4096 };
    const names: [string, string][] = [['../../../etc/passwd', 'passwd'], ['CON', '_CON'], ['.ssh', 'ssh'], ['a\u202Egnp.exe', 'agnp.exe'], ['x\u0000y', 'xy']];
    for (const [i, [name]] of names.entries()) {
      await ca.send(BOB, 'files/c', new TextEncoder().encode(JSON.stringify({ ...base, id: i.toString(16).padStart(32, '0'), name })));
    }
    for (const [i, [, expected]] of names.entries()) {
      const t = await bob.api.get(i.toString(16).padStart(32, '0'));
      expect(t).toMatchObject({ name: expected, mime: 'application/octet-stream', state: 'offered' });
    }
    for (const junk of ['not json', JSON.stringify({ t: 'offer', id: 'zz' }), JSON.stringify({ ...base, id: 'a'.repeat(32), name: 'x', size: -1 }), 'x'.repeat(9000)]) {
      await ca.send(BOB, 'files/c', new TextEncoder().encode(junk));
    }
    expect((await bob.api.list()).length).toBe(names.length);
    expect(bob.log.lines.filter((l) => String(l.msg ?? l.message).includes('dropped a record')).length).toBe(4);
  });
});
