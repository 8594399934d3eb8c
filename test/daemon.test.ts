import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isAppError, userIdFromPublicKey } from '@discordopus/sdk';
import { NodeCryptoProvider, RpcErrorCode, RpcServer, UnixSocketTransport, clientRpcMethods, createClient } from '@discordopus/core';
import type { DiscordOpusClient } from '@discordopus/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * The daemon's JSON-RPC API over a real Unix socket, served by a real client on an encrypted
 * profile; the peers are plain sockets speaking newline-delimited JSON.
 */

const crypto = new NodeCryptoProvider();
const dir = mkdtempSync(path.join(os.tmpdir(), 'discordopus-daemon-'));
const socketPath = path.join(dir, 'd.sock');
const kdf = { N: 2 ** 12, r: 8, p: 1 };
let client: DiscordOpusClient;
let peerClient: DiscordOpusClient;
let rpc: RpcServer;
let transport: UnixSocketTransport;

/** A line-oriented socket peer: send lines, await replies by id and notifications by method. */
class Peer {
  private buffered = '';
  readonly messages: any[] = [];
  private waiters: Array<{ match: (m: any) => boolean; resolve: (m: any) => void }> = [];
  private nextId = 1;
  closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      let at: number;
      while ((at = this.buffered.indexOf('\n')) >= 0) {
        const message = JSON.parse(this.buffered.slice(0, at));
        this.buffered = this.buffered.slice(at + 1);
        this.messages.push(message);
        for (const w of [...this.waiters]) {
          if (w.match(message)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(message);
          }
        }
      }
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath, () => resolve(new Peer(socket)));
      socket.once('error', reject);
    });
  }

  next(match: (m: any) => boolean): Promise<any> {
    const seen = this.messages.find(match);
    if (seen) {
      this.messages.splice(this.messages.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve) => this.waiters.push({ match, resolve: (m) => {
      this.messages.splice(this.messages.indexOf(m), 1);
      resolve(m);
    } }));
  }

  sendLine(line: string): void {
    this.socket.write(`${line}\n`);
  }

  async call(method: string, params?: unknown): Promise<any> {
    const id = this.nextId++;
    this.sendLine(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
    return this.next((m) => m.id === id);
  }

  async result(method: string, params?: unknown): Promise<any> {
    const reply = await this.call(method, params);
    if (reply.error) throw new Error(`${method}: ${JSON.stringify(reply.error)}`);
    return reply.result;
  }

  close(): void {
    this.socket.end();
  }
}

beforeAll(async () => {
  client = await createClient({ profileDir: path.join(dir, 'a'), passphrase: 'daemon test', crypto, create: true, displayName: 'Daemon', profileKdf: kdf });
  peerClient = await createClient({ profileDir: path.join(dir, 'b'), passphrase: 'daemon test', crypto, create: true, profileKdf: kdf });
  rpc = new RpcServer(clientRpcMethods(client));
  transport = await UnixSocketTransport.listen(rpc, socketPath);
});

afterAll(async () => {
  await transport?.close();
  rpc?.dispose();
  await client?.close();
  await peerClient?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('daemon over a Unix socket', () => {
  it('serves identity.get and the contact methods', async () => {
    const peer = await Peer.connect();
    const identity = await peer.result('identity.get');
    expect(identity).toEqual({ userId: client.identity.userId, publicKey: Buffer.from(client.identity.publicKey).toString('hex'), displayName: 'Daemon' });
    const bob = peerClient.identity;
    const added = await peer.result('contacts.add', { userId: bob.userId, name: 'bob', identityKey: Buffer.from(bob.publicKey).toString('hex') });
    expect(added).toMatchObject({ userId: bob.userId, name: 'bob', verified: false, presence: 'unknown', identityChanged: false });
    expect((await peer.result('contacts.list')).map((c: any) => c.userId)).toEqual([bob.userId]);
    expect((await peer.result('contacts.verify', { contact: 'bob' })).verified).toBe(true);
    const number = await peer.result('safetyNumber.get', { contact: 'bob' });
    expect(number.digits).toMatch(/^\d{60}$/);
    await peerClient.contacts.add(client.identity.userId, { identityKey: client.identity.publicKey });
    expect(number.digits).toBe((await peerClient.safetyNumber(client.identity.userId)).digits);
    expect(await peer.result('safetyNumber.compare', { contact: 'bob', payload: number.payload })).toEqual({ match: true });
    const file = path.join(dir, 'rpc.backup');
    expect(await peer.result('backup.export', { file, passphrase: 'rpc backup pass' })).toEqual({ file, userId: client.identity.userId, contacts: 1 });
    expect(existsSync(file)).toBe(true);
    expect((await peer.call('backup.export', { file: 'relative.backup', passphrase: 'rpc backup pass' })).error.code).toBe(RpcErrorCode.InvalidParams);
    expect(Array.isArray(await peer.result('plugins.list'))).toBe(true);
    expect(await peer.result('commands.list')).toEqual([]);
    peer.close();
  });

  it('maps errors to JSON-RPC codes and keeps the connection usable after a malformed line', async () => {
    const peer = await Peer.connect();
    peer.sendLine('{"jsonrpc":"2.0","id":1,"method":');
    expect((await peer.next((m) => m.id === null)).error.code).toBe(RpcErrorCode.ParseError);
    peer.sendLine('{"jsonrpc":"2.0","id":"x"}');
    expect((await peer.next((m) => m.id === 'x')).error.code).toBe(RpcErrorCode.InvalidRequest);
    expect((await peer.call('contacts.delete-everything')).error.code).toBe(RpcErrorCode.MethodNotFound);
    expect((await peer.call('contacts.add', { userId: 42 })).error.code).toBe(RpcErrorCode.InvalidParams);
    const typo = await peer.call('contacts.add', { userId: 'do1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq' });
    expect(typo.error).toMatchObject({ code: RpcErrorCode.AppError, data: { code: 'identity/invalid-user-id' } });
    expect(typo.error.message).toMatch(/Checksum mismatch/);
    const missing = await peer.call('contacts.verify', { contact: 'nobody' });
    expect(missing.error.data.code).toBe('contacts/not-found');
    const unknownCommand = await peer.call('commands.execute', { id: 'nope.command' });
    expect(unknownCommand.error.code).toBe(RpcErrorCode.AppError);
    expect((await peer.result('identity.get')).userId).toBe(client.identity.userId);
    peer.close();
  });

  it('streams events to subscribers, across connections, until they unsubscribe', async () => {
    const watcher = await Peer.connect();
    const actor = await Peer.connect();
    const { subscription } = await watcher.result('subscribe', { topics: ['contacts.changed'] });
    const other = userIdFromPublicKey(crypto.ed25519GenerateKeyPair().publicKey);
    await actor.result('contacts.add', { userId: other, name: 'carol' });
    const event = await watcher.next((m) => m.method === 'event');
    expect(event).toEqual({ jsonrpc: '2.0', method: 'event', params: { subscription, topic: 'contacts.changed', payload: { userId: other } } });
    expect(await watcher.result('unsubscribe', { subscription })).toEqual({ removed: true });
    await actor.result('contacts.rename', { contact: 'carol', name: 'Carol' });
    // A request answered after the rename proves the rename's event would have arrived by now.
    await watcher.result('identity.get');
    expect(watcher.messages.filter((m) => m.method === 'event')).toEqual([]);
    watcher.close();
    actor.close();
  });

  it('serves several clients at once', async () => {
    const peers = await Promise.all(Array.from({ length: 5 }, () => Peer.connect()));
    const results = await Promise.all(peers.map((p) => p.result('identity.get')));
    expect(new Set(results.map((r) => r.userId))).toEqual(new Set([client.identity.userId]));
    peers.forEach((p) => p.close());
  });

  it('answers batches on one line', async () => {
    const peer = await Peer.connect();
    peer.sendLine(JSON.stringify([{ jsonrpc: '2.0', id: 'b1', method: 'identity.get' }, { jsonrpc: '2.0', id: 'b2', method: 'nope' }]));
    const batch = await peer.next(Array.isArray);
    expect(batch.map((r: any) => r.id)).toEqual(['b1', 'b2']);
    peer.close();
  });

  it('cuts off a peer that sends an endless line', async () => {
    const peer = await Peer.connect();
    peer.socket.write('x'.repeat(1024 * 1024 + 10));
    const reply = await peer.next((m) => m.id === null);
    expect(reply.error.code).toBe(RpcErrorCode.InvalidRequest);
    await peer.closed;
  });

  it('refuses a socket path in use, replaces a stale one, and never deletes a regular file', async () => {
    const inUse = await UnixSocketTransport.listen(rpc, socketPath).then(() => undefined, (e: unknown) => e);
    expect(isAppError(inUse, 'daemon/socket-in-use')).toBe(true);
    // A daemon killed with SIGKILL leaves its socket file behind: make one that way.
    const stalePath = path.join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => console.log('up'))`]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(stalePath)).toBe(true);
    const regular = path.join(dir, 'regular-file');
    writeFileSync(regular, 'keep me');
    const refused = await UnixSocketTransport.listen(rpc, regular).then(() => undefined, (e: unknown) => e);
    expect(isAppError(refused, 'daemon/listen-failed')).toBe(true);
    expect(readFileSync(regular, 'utf8')).toBe('keep me');
    const second = await UnixSocketTransport.listen(rpc, stalePath);
    const peer = await new Promise<net.Socket>((resolve) => { const s = net.connect(stalePath, () => resolve(s)); });
    peer.destroy();
    await second.close();
    expect(existsSync(stalePath)).toBe(false);
  });
});
