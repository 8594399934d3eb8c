import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import {
  SignalingErrorCodes, SignalingEvents, authChallengeMessage, authChallengeSchema, authResponseSchema, isAppError, nextEvent, type SignalingErrorMessage,
} from '@discordopus/sdk';
import { SignalingClient } from '../core/src/node/signaling/signaling-client.ts';
import { connectClient, makeIdentity, startServerProcess, type ServerProcess } from './server-support.ts';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess(['--auth-timeout-ms', '800']);
});
afterAll(async () => {
  await server?.stop();
});

/** A raw socket plus its challenge, for sending hand-made auth responses. */
async function rawSocket(): Promise<{ socket: Socket; challenge: z.output<typeof authChallengeSchema>; errors: SignalingErrorMessage[]; disconnected: Promise<string> }> {
  const socket = io(server.url, { transports: ['websocket'], reconnection: false });
  const errors: SignalingErrorMessage[] = [];
  socket.on(SignalingEvents.error, (e: SignalingErrorMessage) => errors.push(e));
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
  const challenge = authChallengeSchema.parse(await new Promise((resolve) => socket.once(SignalingEvents.challenge, resolve)));
  return { socket, challenge, errors, disconnected };
}

const origin = () => `ws://127.0.0.1:${server.port}`;

describe('signaling auth', () => {
  it('binds the socket to the user ID of the key that signed the challenge', async () => {
    const identity = makeIdentity();
    const client = await connectClient(server.url, identity);
    expect(client.state).toBe('connected');
    expect(client.userId).toBe(identity.userId);
    client.close();
  });

  it('issues a fresh 32-byte nonce per connection and names its origin', async () => {
    const a = await rawSocket();
    const b = await rawSocket();
    expect(a.challenge.nonce).toBeInstanceOf(Uint8Array);
    expect(a.challenge.nonce.length).toBe(32);
    expect(Buffer.from(a.challenge.nonce).equals(Buffer.from(b.challenge.nonce))).toBe(false);
    expect(a.challenge.origin).toBe(origin());
    a.socket.close();
    b.socket.close();
  });

  it('refuses a bad signature with signaling/bad-signature and disconnects', async () => {
    const identity = makeIdentity();
    const other = makeIdentity();
    const { socket, challenge, disconnected } = await rawSocket();
    const result = await socket.emitWithAck(SignalingEvents.auth, z.encode(authResponseSchema, {
      publicKey: identity.publicKey, signature: other.sign(authChallengeMessage(challenge.nonce, origin())), origin: origin(),
    }));
    expect(result).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.badSignature } });
    expect(await disconnected).toBe('io server disconnect');
  });

  it('refuses a signature replayed on another connection', async () => {
    const identity = makeIdentity();
    const first = await rawSocket();
    const response = z.encode(authResponseSchema, { publicKey: identity.publicKey, signature: identity.sign(authChallengeMessage(first.challenge.nonce, origin())), origin: origin() });
    expect(await first.socket.emitWithAck(SignalingEvents.auth, response)).toMatchObject({ ok: true, userId: identity.userId });
    const second = await rawSocket();
    expect(await second.socket.emitWithAck(SignalingEvents.auth, response)).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.badSignature } });
    await second.disconnected;
    // Answering twice on the same connection is refused too.
    expect(await first.socket.emitWithAck(SignalingEvents.auth, response)).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.alreadyAuthenticated } });
    first.socket.close();
  });

  it('refuses a signature bound to another origin with signaling/wrong-origin', async () => {
    const identity = makeIdentity();
    const { socket, challenge, disconnected } = await rawSocket();
    const elsewhere = 'wss://evil.example';
    const result = await socket.emitWithAck(SignalingEvents.auth, z.encode(authResponseSchema, {
      publicKey: identity.publicKey, signature: identity.sign(authChallengeMessage(challenge.nonce, elsewhere)), origin: elsewhere,
    }));
    expect(result).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.wrongOrigin } });
    await disconnected;
    // The client surfaces the same code.
    const client = new SignalingClient({ url: server.url, publicKey: identity.publicKey, sign: identity.sign, origin: elsewhere });
    await expect(client.connect()).rejects.toMatchObject({ code: SignalingErrorCodes.wrongOrigin });
    expect(client.state).toBe('closed');
  });

  it('signs the claimed origin, so a signature for another origin does not verify', async () => {
    const identity = makeIdentity();
    const { socket, challenge } = await rawSocket();
    const result = await socket.emitWithAck(SignalingEvents.auth, z.encode(authResponseSchema, {
      publicKey: identity.publicKey, signature: identity.sign(authChallengeMessage(challenge.nonce, 'wss://evil.example')), origin: origin(),
    }));
    expect(result).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.badSignature } });
  });

  it('disconnects a socket that does not authenticate in time with signaling/auth-timeout', async () => {
    const { errors, disconnected } = await rawSocket();
    expect(await disconnected).toBe('io server disconnect');
    expect(errors.map((e) => e.code)).toContain(SignalingErrorCodes.authTimeout);
  });

  it('refuses malformed auth responses with signaling/invalid-message', async () => {
    for (const bad of [null, 42, 'x', { publicKey: 'abc', signature: 'def', origin: origin() }, { publicKey: new Uint8Array(32), signature: new Uint8Array(64), origin: origin() }, { publicKey: 'A'.repeat(42), signature: 'A'.repeat(86), origin: origin() }]) {
      const { socket, disconnected } = await rawSocket();
      const result = await socket.emitWithAck(SignalingEvents.auth, bad);
      expect(result).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.invalidMessage } });
      await disconnected;
    }
  });

  it('refuses other events before auth with signaling/auth-required', async () => {
    const { socket } = await rawSocket();
    const result = await socket.emitWithAck(SignalingEvents.subscribe, { userIds: [] });
    expect(result).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.authRequired } });
    socket.close();
  });

  it('lets one user hold several connections', async () => {
    const identity = makeIdentity();
    const a = await connectClient(server.url, identity);
    const b = await connectClient(server.url, identity);
    const sender = await connectClient(server.url);
    const gotA = nextEvent(a.onEnvelope, undefined, 10_000);
    const gotB = nextEvent(b.onEnvelope, undefined, 10_000);
    expect(await sender.send(identity.userId, new Uint8Array([1, 2, 3]))).toBe('delivered');
    for (const got of await Promise.all([gotA, gotB])) {
      expect(got.from).toBe(sender.userId);
      expect([...got.payload]).toEqual([1, 2, 3]);
    }
    for (const c of [a, b, sender]) c.close();
  });

  it('rejects connect() with signaling/unreachable when no server listens', async () => {
    const identity = makeIdentity();
    const client = new SignalingClient({ url: 'http://127.0.0.1:1', publicKey: identity.publicKey, sign: identity.sign, reconnect: false });
    const error = await client.connect().catch((e: unknown) => e);
    expect(isAppError(error, SignalingErrorCodes.unreachable)).toBe(true);
    client.close();
  });
});
