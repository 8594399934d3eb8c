import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import {
  AppError, Emitter, isAppError, type Disposable, type PeerMessage, type PeerStream, type PluginContext, type UserId,
} from '@discordopus/sdk';
import type { Kysely } from 'kysely';
import type { FilesApi, Transfer, TransferState } from '../common/files-api.ts';
import {
  CHUNK_FRAME_HEADER, FILES_CHANNEL, FILES_STREAM, ProtocolRejected, bytesToHex, chunkCount, decodeControl, encodeControl, hexToBytes,
  newTransferId, transferIdSchema, type ControlRecord, type StartFrame,
} from '../common/files-protocol.ts';
import { sanitizeFileName } from '../common/sanitize-file-name.ts';
import { ChunkCipher, TAG_BYTES } from './chunk-cipher.ts';
import { createUnique, hashFile, nodeFilesFs, placeFile, readError, sizeOf, writeError, type FilesFs } from './files-fs.ts';
import { mimeFor, sanitizeMime } from './mime-type.ts';
import { ProgressMeter } from './progress-meter.ts';
import { ReceiveSession, type Admission, type ReceiveHooks } from './receive-session.ts';
import { SendSession } from './send-session.ts';
import { TransferStore, type Notice, type TransferRow } from './transfer-store.ts';

declare module '@discordopus/sdk' {
  interface EventMap {
    /** A transfer changed state, or made progress (at most ~4 times a second per transfer). */
    'files.transfer': Transfer;
  }
}

/**
 * One chunk frame fills a 256 KiB stream write, the largest message peer links take (they
 * advertise 262,144 bytes, as Chromium does). Per-chunk work (a cipher, a read, a write, a
 * data-channel message) costs 4x less per byte than with 64 KiB frames.
 */
export const DEFAULT_CHUNK_BYTES = 262_144 - CHUNK_FRAME_HEADER - TAG_BYTES;
/** Default sender window: 32 chunks (8 MiB), enough to keep the link busy while acks travel. */
const DEFAULT_WINDOW_CHUNKS = 32;
/** Default acknowledgement interval: every 4 chunks (1 MiB) written. */
const DEFAULT_ACK_EVERY = 4;
const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export const SETTINGS = {
  autoAccept: 'files.autoAccept',
  autoAcceptMaxMiB: 'files.autoAcceptMaxMiB',
  downloadDir: 'files.downloadDir',
} as const;

export interface FilesServiceOptions {
  /** The file-system boundary (tests inject failures here). */
  fs?: FilesFs;
  /** Plaintext bytes per chunk for outgoing files. */
  chunkBytes?: number;
  /** Unacknowledged chunks the sender may have in flight. */
  windowChunks?: number;
  /** The receiver acknowledges every this many chunks. */
  ackEvery?: number;
  /**
   * Verified plaintext a receiver lets wait for its disk before it cuts off the sender as
   * ignoring the window. Default 64 MiB (the default window holds 8 MiB).
   */
  maxBufferedBytes?: number;
  /** How often unconfirmed control records and stalled accepts are retried. */
  retryMs?: number;
  sendTimeoutMs?: number;
  now?: () => number;
  /** Test hook: every chunk frame the sender writes. */
  onChunkSent?(transferId: string, index: number): void;
}

const ACTIVE_IN: ReadonlySet<TransferState> = new Set(['waiting', 'transferring', 'paused']);
const ACTIVE_OUT: ReadonlySet<TransferState> = new Set(['offered', 'waiting', 'transferring', 'paused', 'verifying']);
const TERMINAL: ReadonlySet<TransferState> = new Set(['completed', 'failed', 'cancelled', 'declined']);
/** Incoming failures that keep the partial file and resume on a new accept. */
const RESUMABLE_ERRORS: ReadonlySet<string> = new Set(['files/disk-full', 'files/target-unwritable']);
const PUBLISH_INTERVAL_MS = 250;
const PERSIST_INTERVAL_MS = 2_000;
const MiB = 1024 * 1024;

/** The files plugin's work: the API, the control records, and the stream sessions. */
export class FilesService implements FilesApi, Disposable {
  private readonly changes = new Emitter<Transfer>((error) => this.ctx.log.error('files: a change listener failed', { error }));
  readonly onDidChange = this.changes.event;
  private readonly store: TransferStore;
  private readonly fs: FilesFs;
  private readonly now: () => number;
  private readonly chunkBytes: number;
  private readonly windowChunks: number;
  private readonly ackEvery: number;
  private readonly maxBufferedBytes: number;
  private readonly retryMs: number;
  private readonly sendTimeoutMs: number;
  private readonly sends = new Map<string, SendSession>();
  private readonly receives = new Map<string, ReceiveSession>();
  private readonly meters = new Map<string, ProgressMeter>();
  private readonly published = new Map<string, { at: number; timer?: ReturnType<typeof setTimeout> }>();
  private readonly persistedAt = new Map<string, number>();
  private readonly acceptSentAt = new Map<string, number>();
  private readonly delivering = new Set<string>();
  private retryTimer: ReturnType<typeof setInterval> | undefined;
  private stopping = false;

  constructor(private readonly ctx: PluginContext, private readonly options: FilesServiceOptions = {}) {
    this.store = new TransferStore(ctx.storage.db as Kysely<any>);
    this.fs = options.fs ?? nodeFilesFs;
    this.now = options.now ?? Date.now;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.windowChunks = options.windowChunks ?? DEFAULT_WINDOW_CHUNKS;
    this.ackEvery = options.ackEvery ?? DEFAULT_ACK_EVERY;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.retryMs = options.retryMs ?? 5_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 15_000;
    if (this.ackEvery > this.windowChunks) throw new RangeError('FilesService: ackEvery must not exceed windowChunks');
    if (!(this.maxBufferedBytes > 0)) throw new RangeError('FilesService: maxBufferedBytes must be a positive number');
  }

  /** Loads the transfers, marks the ones cut short by the last shutdown as paused, and listens. */
  async start(): Promise<void> {
    const { ctx } = this;
    for (const row of await this.store.load()) {
      if (row.direction === 'out' && (row.state === 'waiting' || row.state === 'transferring' || row.state === 'verifying')) {
        await this.store.update(row.id, { state: 'paused', notice: row.notice ?? 'resume' });
      } else if (row.direction === 'in' && (row.state === 'transferring' || row.state === 'verifying')) {
        await this.store.update(row.id, { state: 'paused' });
      }
    }
    ctx.subscriptions.push(ctx.channels.onMessage(FILES_CHANNEL, (message) => this.receive(message)));
    try {
      ctx.subscriptions.push(ctx.streams.onStream(FILES_STREAM, (stream) => this.incomingStream(stream)));
    } catch (error) {
      // A client without peer links (offline tools, some tests) still lists and offers files.
      if (!isAppError(error)) throw error;
      ctx.log.warn('files: peer streams are not available; files can be offered but not received', { code: error.code });
    }
    ctx.subscriptions.push(ctx.channels.onDidChangeLinkState(({ userId, state }) => {
      if (state === 'connected') this.reconcile(userId);
    }));
    ctx.subscriptions.push(ctx.contacts.onDidChangePresence(({ userId, presence }) => {
      if (presence === 'online') this.reconcile(userId);
    }));
    this.retryTimer = setInterval(() => this.reconcile(), this.retryMs);
    this.retryTimer.unref?.();
    this.reconcile();
  }

  /** Stops the sessions; transfers in progress stay resumable. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
    for (const session of this.sends.values()) session.dispose();
    this.sends.clear();
    await Promise.all([...this.receives.values()].map((s) => s.stop()));
    this.receives.clear();
  }

  dispose(): void {
    this.stopping = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
    for (const entry of this.published.values()) clearTimeout(entry.timer);
    this.changes.dispose();
  }

  // ---- API ----

  async send(contact: string, file: string): Promise<{ transferId: string }> {
    if (typeof contact !== 'string' || typeof file !== 'string') throw new TypeError('files.send: expected (contact: string, path: string)');
    const peer = (await this.ctx.contacts.resolve(contact)).userId;
    const source = path.resolve(file);
    let stat;
    try {
      stat = await this.fs.stat(source);
    } catch (error) {
      throw readError(error, source);
    }
    if (!stat.isFile()) throw new AppError('files/not-a-file', `${source} is not a regular file. Send a file, not a folder or a device.`);
    let digest: string;
    try {
      digest = (await hashFile(this.fs, source, stat.size)).digest('hex');
    } catch (error) {
      throw isAppError(error) ? error : readError(error, source);
    }
    const row: TransferRow = {
      id: newTransferId(), peer, direction: 'out', name: path.basename(source), size: stat.size, mime: mimeFor(source), sha256: digest,
      file_key: bytesToHex(randomBytes(32)), chunk_size: this.chunkBytes, state: 'offered', source_path: source, source_mtime: stat.mtimeMs,
      dir: null, part_path: null, final_path: null, bytes: 0, error_code: null, error_message: null, notice: 'offer', created_at: this.now(),
    };
    await this.store.insert(row);
    this.publish(row, true);
    void this.deliver(row);
    return { transferId: row.id };
  }

  async list(): Promise<Transfer[]> {
    return this.store.all().map((row) => this.view(row));
  }

  async get(transferId: string): Promise<Transfer | undefined> {
    const row = this.store.get(transferId);
    return row ? this.view(row) : undefined;
  }

  async accept(transferId: string, dir?: string): Promise<Transfer> {
    const row = this.known('accept', transferId);
    if (dir !== undefined && typeof dir !== 'string') throw new TypeError('files.accept: expected dir to be a string');
    const resumable = row.state === 'failed' && RESUMABLE_ERRORS.has(row.error_code ?? '');
    if (row.direction !== 'in' || (row.state !== 'offered' && !resumable && !(row.state === 'paused' && row.error_code))) {
      throw new AppError('files/invalid-state', `Transfer ${transferId} cannot be accepted: it is ${row.direction === 'out' ? 'outgoing' : row.state}.`);
    }
    const target = row.dir ?? path.resolve(dir ?? this.defaultDir());
    try {
      await this.fs.mkdir(target);
      if (!(await this.fs.stat(target)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (error) {
      throw writeError(error, target);
    }
    let partPath = row.part_path;
    if (partPath === null || (await sizeOf(this.fs, partPath)) === undefined) {
      const created = await createUnique(this.fs, target, `${row.name}.part`);
      await created.handle.close();
      partPath = created.path;
    }
    await this.store.update(row.id, { state: resumable ? 'paused' : 'waiting', dir: target, part_path: partPath, error_code: null, error_message: null });
    this.publish(row, true);
    this.acceptSentAt.delete(row.id);
    void this.sendAccept(row);
    return this.view(row);
  }

  async decline(transferId: string): Promise<Transfer> {
    const row = this.known('decline', transferId);
    if (row.direction !== 'in' || row.state !== 'offered') {
      throw new AppError('files/invalid-state', `Transfer ${transferId} cannot be declined: it is ${row.direction === 'out' ? 'outgoing' : row.state}.`);
    }
    await this.settle(row, 'declined', 'decline');
    return this.view(row);
  }

  async cancel(transferId: string): Promise<Transfer> {
    const row = this.known('cancel', transferId);
    if (row.state === 'cancelled') return this.view(row);
    const partialKept = row.direction === 'in' && row.state === 'failed' && RESUMABLE_ERRORS.has(row.error_code ?? '');
    if (TERMINAL.has(row.state) && !partialKept) {
      throw new AppError('files/invalid-state', `Transfer ${transferId} is already ${row.state}; there is nothing to cancel.`);
    }
    await this.settle(row, 'cancelled', 'cancel');
    return this.view(row);
  }

  private known(method: string, transferId: string): TransferRow {
    if (typeof transferId !== 'string' || !transferIdSchema.safeParse(transferId).success) {
      throw new TypeError(`files.${method}: expected a transfer id of 32 hex digits`);
    }
    const row = this.store.get(transferId);
    if (!row) throw new AppError('files/unknown-transfer', `No transfer ${transferId}. List transfers to see their ids.`);
    return row;
  }

  private defaultDir(): string {
    const configured = this.ctx.settings.get<string>(SETTINGS.downloadDir);
    return configured && configured.trim() ? configured : path.join(os.homedir(), 'Downloads');
  }

  // ---- state ----

  /** Ends a transfer: stops its sessions, removes a partial, owes the peer `notice`. */
  private async settle(row: TransferRow, state: TransferState, notice: Notice | null, error?: AppError): Promise<void> {
    this.stopSessions(row.id);
    if (row.direction === 'in' && row.part_path && state !== 'completed') {
      await this.fs.unlink(row.part_path).catch(() => undefined);
    }
    await this.store.update(row.id, {
      state, notice, error_code: error?.code ?? null, error_message: error?.message ?? null,
      ...(state === 'completed' ? { bytes: row.size } : {}),
    });
    this.publish(row, true);
    if (notice) void this.deliver(row);
  }

  private stopSessions(id: string): void {
    const send = this.sends.get(id);
    this.sends.delete(id);
    send?.dispose();
    const receive = this.receives.get(id);
    this.receives.delete(id);
    if (receive) void receive.stop().finally(() => receive.dispose());
  }

  private async setState(row: TransferRow, state: TransferState, error?: AppError | null): Promise<void> {
    const patch: Partial<TransferRow> = { state, bytes: row.bytes };
    if (error !== undefined) Object.assign(patch, { error_code: error?.code ?? null, error_message: error?.message ?? null });
    await this.store.update(row.id, patch);
    this.persistedAt.set(row.id, this.now());
    this.publish(row, true);
  }

  private progress(row: TransferRow, bytes: number): void {
    row.bytes = Math.min(bytes, row.size);
    this.meter(row).update(row.bytes);
    this.publish(row, false);
    if (this.now() - (this.persistedAt.get(row.id) ?? 0) >= PERSIST_INTERVAL_MS) {
      this.persistedAt.set(row.id, this.now());
      void this.store.update(row.id, { bytes: row.bytes }).catch(() => undefined);
    }
  }

  private meter(row: TransferRow): ProgressMeter {
    let meter = this.meters.get(row.id);
    if (!meter) this.meters.set(row.id, (meter = new ProgressMeter(this.now, row.bytes)));
    return meter;
  }

  private view(row: TransferRow): Transfer {
    const live = row.state === 'transferring' ? this.meters.get(row.id) : undefined;
    const where = row.direction === 'out' ? row.source_path : row.final_path;
    return {
      id: row.id, peer: row.peer, direction: row.direction, name: row.name, size: row.size, mime: row.mime, bytes: row.bytes,
      rateBytesPerS: live?.rateBytesPerS ?? 0, etaMs: live?.etaMs(row.bytes, row.size) ?? 0, state: row.state,
      ...(where ? { path: where } : {}),
      ...(row.error_code ? { error: { code: row.error_code, message: row.error_message ?? '' } } : {}),
    };
  }

  /** Tells listeners; progress at most every 250 ms per transfer (the last one always arrives). */
  private publish(row: TransferRow, force: boolean): void {
    const entry = this.published.get(row.id) ?? { at: 0 };
    this.published.set(row.id, entry);
    if (force) this.ctx.log.debug('files: state', { transfer: row.id, state: row.state, bytes: row.bytes });
    const fire = () => {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      entry.at = this.now();
      const view = this.view(row);
      this.changes.fire(view);
      this.ctx.events.publish('files.transfer', view);
    };
    if (force) return fire();
    if (entry.timer) return;
    const wait = entry.at + PUBLISH_INTERVAL_MS - this.now();
    if (wait <= 0) return fire();
    entry.timer = setTimeout(fire, wait);
    entry.timer.unref?.();
  }

  // ---- control records ----

  private async deliver(row: TransferRow): Promise<void> {
    const notice = row.notice;
    if (!notice || this.delivering.has(row.id) || this.stopping) return;
    const record: ControlRecord = notice === 'offer'
      ? { t: 'offer', id: row.id, name: row.name, size: row.size, mime: row.mime, sha256: row.sha256, key: row.file_key, chunkSize: row.chunk_size }
      : notice === 'failed'
        ? { t: 'failed', id: row.id, code: row.error_code ?? 'files/failed' }
        : { t: notice, id: row.id };
    this.delivering.add(row.id);
    try {
      await this.ctx.channels.send(row.peer, FILES_CHANNEL, encodeControl(record), { timeoutMs: this.sendTimeoutMs });
      if (row.notice === notice) await this.store.update(row.id, { notice: null });
    } catch (error) {
      this.ctx.log.debug('files: a control record waits for the peer', { transfer: row.id, record: notice, code: isAppError(error) ? error.code : String(error) });
    } finally {
      this.delivering.delete(row.id);
    }
  }

  /** Incoming: asks the sender for the chunks from the partial file's end (also after a restart). */
  private async sendAccept(row: TransferRow): Promise<void> {
    if (this.stopping || !ACTIVE_IN.has(row.state) || this.receives.has(row.id) || !row.part_path) return;
    this.acceptSentAt.set(row.id, this.now());
    const next = await this.resumePoint(row);
    if (next >= chunkCount(row.size, row.chunk_size) && row.size > 0) return this.verifyLocally(row);
    try {
      await this.ctx.channels.send(row.peer, FILES_CHANNEL, encodeControl({ t: 'accept', id: row.id, from: next }), { timeoutMs: this.sendTimeoutMs });
    } catch (error) {
      this.acceptSentAt.delete(row.id);
      this.ctx.log.debug('files: the sender is not reachable yet', { transfer: row.id, code: isAppError(error) ? error.code : String(error) });
    }
  }

  /** Whole chunks in the partial file: each was verified before it was written. */
  private async resumePoint(row: TransferRow): Promise<number> {
    const size = row.part_path ? ((await sizeOf(this.fs, row.part_path)) ?? 0) : 0;
    return Math.min(Math.floor(size / row.chunk_size), chunkCount(row.size, row.chunk_size));
  }

  /** Sends what is owed and restarts stalled incoming transfers, for one peer or all. */
  private reconcile(peer?: UserId): void {
    if (this.stopping) return;
    const now = this.now();
    for (const row of this.store.all()) {
      if (peer !== undefined && row.peer !== peer) continue;
      if (row.notice) void this.deliver(row);
      if (row.direction === 'in' && ACTIVE_IN.has(row.state) && !this.receives.has(row.id)) {
        const last = this.acceptSentAt.get(row.id);
        // An accept the sender confirmed gets a while to turn into a stream before it is repeated
        // (a repeat restarts the sender's session); one that failed to go out is retried at once.
        if (last === undefined || now - last >= this.retryMs * 6) void this.sendAccept(row);
      }
    }
  }

  private async receive(message: PeerMessage): Promise<void> {
    let record: ControlRecord;
    try {
      record = decodeControl(message.data);
    } catch (error) {
      if (error instanceof ProtocolRejected) {
        this.ctx.log.warn('files: dropped a record from a peer', { from: message.from, reason: error.reason, detail: error.message });
        return;
      }
      throw error;
    }
    const row = this.store.get(record.id);
    if (record.t === 'offer') return row ? this.answerKnown(row, message.from) : this.offered(record, message.from);
    if (!row || row.peer !== message.from) {
      this.ctx.log.warn('files: dropped a record for an unknown transfer', { from: message.from, type: record.t });
      return;
    }
    const direction = record.t === 'resume' ? 'in' : record.t === 'cancel' ? row.direction : 'out';
    if (row.direction !== direction) {
      this.ctx.log.warn('files: dropped a record for the wrong direction', { from: message.from, type: record.t });
      return;
    }
    switch (record.t) {
      case 'accept':
        if (!ACTIVE_OUT.has(row.state)) return this.answerKnown(row, message.from);
        if (row.notice === 'offer' || row.notice === 'resume') await this.store.update(row.id, { notice: null });
        // Not awaited: the kernel hands a peer's records over one at a time, and a cancel or
        // another transfer's accept must not wait for this whole file.
        void this.startSending(row, record.from).catch((error) => this.ctx.log.error('files: a send session failed', { transfer: row.id, error: String(error) }));
        return;
      case 'decline':
        if (row.state === 'offered' || row.state === 'waiting') await this.settle(row, 'declined', null);
        return;
      case 'verified':
        if (row.state !== 'completed') await this.settle(row, 'completed', null);
        return;
      case 'failed':
        if (!TERMINAL.has(row.state)) {
          await this.settle(row, 'failed', null, new AppError(record.code, `${row.name} did not arrive intact (${record.code}): the receiver discarded it. Send it again.`));
        }
        return;
      case 'cancel':
        if (!TERMINAL.has(row.state) || (row.state === 'failed' && row.direction === 'in')) {
          await this.settle(row, 'cancelled', null, new AppError('files/cancelled-by-peer', 'The other side cancelled the transfer.'));
        }
        return;
      case 'resume':
        if (ACTIVE_IN.has(row.state)) {
          this.acceptSentAt.delete(row.id);
          void this.sendAccept(row);
          return;
        }
        return this.answerKnown(row, message.from);
    }
  }

  /** A peer asks about a transfer this side already settled: repeat the outcome. */
  private async answerKnown(row: TransferRow, from: UserId): Promise<void> {
    if (row.peer !== from) return;
    const owed: Notice | null = row.state === 'completed' && row.direction === 'in' ? 'verified'
      : row.state === 'cancelled' ? 'cancel'
        : row.state === 'declined' && row.direction === 'in' ? 'decline'
          : row.state === 'failed' && row.direction === 'in' && !RESUMABLE_ERRORS.has(row.error_code ?? '') ? 'failed'
            : row.state === 'failed' && row.direction === 'out' ? 'cancel'
              : null;
    // Replies are not awaited inside the handler: the peer's kernel confirms them separately.
    if (owed) {
      await this.store.update(row.id, { notice: owed });
      void this.deliver(row);
    } else if (row.direction === 'in' && ACTIVE_IN.has(row.state)) {
      void this.sendAccept(row);
    }
  }

  private async offered(offer: Extract<ControlRecord, { t: 'offer' }>, from: UserId): Promise<void> {
    const row: TransferRow = {
      id: offer.id, peer: from, direction: 'in', name: sanitizeFileName(offer.name), size: offer.size, mime: sanitizeMime(offer.mime),
      sha256: offer.sha256, file_key: offer.key, chunk_size: offer.chunkSize, state: 'offered', source_path: null, source_mtime: null,
      dir: null, part_path: null, final_path: null, bytes: 0, error_code: null, error_message: null, notice: null, created_at: this.now(),
    };
    if (chunkCount(row.size, row.chunk_size) > 2 ** 32 - 1) {
      this.ctx.log.warn('files: dropped an offer with too many chunks', { from });
      return;
    }
    await this.store.insert(row);
    this.publish(row, true);
    void this.autoAccept(row).catch((error) => this.ctx.log.warn('files: auto-accept failed', { transfer: row.id, code: isAppError(error) ? error.code : String(error) }));
  }

  private async autoAccept(row: TransferRow): Promise<void> {
    const rule = this.ctx.settings.get<string>(SETTINGS.autoAccept) ?? 'off';
    if (rule !== 'verified' && rule !== 'contacts') return;
    const maxMiB = this.ctx.settings.get<number>(SETTINGS.autoAcceptMaxMiB) ?? 100;
    if (row.size > maxMiB * MiB) return;
    const contact = await this.ctx.contacts.get(row.peer);
    if (!contact || contact.identityChanged || (rule === 'verified' && !contact.verified)) return;
    await this.accept(row.id);
  }

  // ---- sending ----

  private async startSending(row: TransferRow, from: number): Promise<void> {
    const count = chunkCount(row.size, row.chunk_size);
    if (from > count) {
      this.ctx.log.warn('files: the receiver asked for chunks past the end', { transfer: row.id });
      return;
    }
    this.sends.get(row.id)?.dispose();
    this.sends.delete(row.id);
    try {
      const stat = await this.fs.stat(row.source_path!);
      if (stat.size !== row.size || stat.mtimeMs !== row.source_mtime) {
        throw new AppError('files/source-changed', `${row.source_path} changed after it was offered; the transfer stopped. Send it again.`);
      }
    } catch (error) {
      const failure = isAppError(error) ? error : readError(error, row.source_path!);
      return this.settle(row, 'failed', 'cancel', failure);
    }
    row.bytes = Math.min(from * row.chunk_size, row.size);
    this.meter(row).reset(row.bytes);
    await this.setState(row, 'transferring', null);
    let stream: PeerStream;
    try {
      stream = await this.ctx.streams.open(row.peer, FILES_STREAM);
    } catch (error) {
      if (row.state !== 'transferring') return;
      // Owe the receiver a "resume": sent again whenever the peer looks reachable, it asks for a fresh accept.
      await this.store.update(row.id, { notice: 'resume' });
      await this.setState(row, 'paused', isAppError(error) ? error : new AppError('files/link-failed', String(error)));
      return;
    }
    if (row.state !== 'transferring' || this.stopping) return void stream.close().catch(() => undefined);
    if (stream.maxWriteBytes < row.chunk_size + CHUNK_FRAME_HEADER + TAG_BYTES) {
      void stream.close().catch(() => undefined);
      return this.settle(row, 'failed', 'cancel', new AppError('files/stream-too-small', `The peer link takes at most ${stream.maxWriteBytes} bytes per write, less than one chunk. Update both apps.`));
    }
    const session = new SendSession({
      stream, row, fs: this.fs, from, windowChunks: this.windowChunks,
      onAcked: (next) => this.progress(row, next * row.chunk_size),
      ...(this.options.onChunkSent ? { onChunkSent: (index: number) => this.options.onChunkSent!(row.id, index) } : {}),
    });
    this.sends.set(row.id, session);
    this.ctx.log.info('files: sending', { transfer: row.id, from, count });
    stream.onDidClose((reason) => {
      if (this.sends.get(row.id) !== session) return;
      this.sends.delete(row.id);
      session.dispose();
      if (row.state === 'transferring' && !this.stopping) void this.setState(row, 'paused', reason ?? null);
    });
    try {
      await session.run();
      if (await session.drained()) {
        if (row.state === 'transferring') await this.setState(row, 'verifying');
      }
    } catch (error) {
      if (this.sends.get(row.id) !== session) return;
      if (isAppError(error) && error.code.startsWith('files/')) return this.settle(row, 'failed', 'cancel', error);
      // Stream errors: the link broke; the receiver asks again when it is back.
      this.sends.delete(row.id);
      session.dispose();
      if (row.state === 'transferring' && !this.stopping) await this.setState(row, 'paused', isAppError(error) ? error : null);
    }
  }

  // ---- receiving ----

  private incomingStream(stream: PeerStream): void {
    if (this.stopping) return void stream.close().catch(() => undefined);
    const session: ReceiveSession = new ReceiveSession(stream, this.receiveHooks(() => session), this.ackEvery, this.maxBufferedBytes);
    stream.onDidClose(() => session.dispose());
  }

  private receiveHooks(session: () => ReceiveSession): ReceiveHooks {
    const current = (row: TransferRow) => this.receives.get(row.id) === session();
    return {
      admit: (start, stream) => this.admit(start, stream, session()),
      progress: (row, next) => {
        if (current(row)) this.progress(row, next * row.chunk_size);
      },
      finished: async (row, digest) => {
        if (!current(row)) return;
        this.receives.delete(row.id);
        await this.finish(row, digest);
      },
      rejected: async (row) => {
        if (!current(row)) return;
        this.receives.delete(row.id);
        await this.settle(row, 'failed', 'failed', new AppError('files/chunk-rejected', `${row.name} from this contact failed verification (tampered, reordered or corrupted data) and was discarded.`));
      },
      writeFailed: async (row, error) => {
        if (!current(row)) return;
        this.receives.delete(row.id);
        await this.setState(row, 'failed', writeError(error, row.dir ?? row.part_path ?? 'the target folder'));
      },
      ended: (row) => {
        if (!current(row)) return;
        this.receives.delete(row.id);
        this.acceptSentAt.delete(row.id);
        if (row.state === 'transferring' && !this.stopping) void this.setState(row, 'paused');
      },
      log: (message, fields) => this.ctx.log.warn(message, fields),
    };
  }

  private async admit(start: StartFrame, stream: PeerStream, session: ReceiveSession): Promise<Admission | undefined> {
    const row = this.store.get(start.transferId);
    if (!row || row.direction !== 'in' || row.peer !== stream.peer || !ACTIVE_IN.has(row.state) || !row.part_path || this.stopping) {
      this.ctx.log.warn('files: refused a stream', { from: stream.peer, reason: row ? `transfer is ${row.state}` : 'unknown transfer' });
      return undefined;
    }
    const previous = this.receives.get(row.id);
    if (previous && previous !== session) {
      this.receives.delete(row.id);
      await previous.stop();
    }
    this.receives.set(row.id, session);
    const fail = async (error: unknown) => {
      this.receives.delete(row.id);
      await this.setState(row, 'failed', writeError(error, row.dir ?? row.part_path!));
      return undefined;
    };
    let next: number;
    let handle;
    try {
      if ((await sizeOf(this.fs, row.part_path)) === undefined) {
        const created = await this.fs.open(row.part_path, 'wx');
        await created.close();
      }
      next = await this.resumePoint(row);
      handle = await this.fs.open(row.part_path, 'r+');
      await handle.truncate(next * row.chunk_size);
    } catch (error) {
      return fail(error);
    }
    if (start.from !== next) {
      // The sender is not where the partial file ends: tell it where to start.
      await handle.close();
      this.receives.delete(row.id);
      this.acceptSentAt.delete(row.id);
      void this.sendAccept(row);
      return undefined;
    }
    this.ctx.log.info('files: receiving', { transfer: row.id, from: next });
    const hash = await hashFile(this.fs, row.part_path, next * row.chunk_size);
    row.bytes = Math.min(next * row.chunk_size, row.size);
    this.meter(row).reset(row.bytes);
    await this.setState(row, 'transferring', null);
    return { row, handle, hash, cipher: new ChunkCipher(hexToBytes(row.file_key), row.id, start.salt), next };
  }

  private async verifyLocally(row: TransferRow): Promise<void> {
    if (this.receives.has(row.id)) return;
    await this.setState(row, 'verifying');
    const digest = (await hashFile(this.fs, row.part_path!, row.size)).digest('hex');
    await this.finish(row, digest);
  }

  private async finish(row: TransferRow, digest: string): Promise<void> {
    await this.setState(row, 'verifying');
    if (digest !== row.sha256) {
      return this.settle(row, 'failed', 'failed', new AppError('files/hash-mismatch', `${row.name} does not match the hash the sender announced and was discarded. Ask for it again.`));
    }
    let finalPath: string;
    try {
      finalPath = await placeFile(this.fs, row.part_path!, row.dir!, row.name);
    } catch (error) {
      return this.setState(row, 'failed', isAppError(error) ? error : writeError(error, row.dir!));
    }
    await this.store.update(row.id, { final_path: finalPath, part_path: null });
    await this.settle(row, 'completed', 'verified');
  }
}
