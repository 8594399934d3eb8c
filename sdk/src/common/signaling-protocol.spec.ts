import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  authChallengeMessage, authResponseSchema, base64urlByteLength, base64urlLength, envelopeSendSchema, envelopeSendWireSchema, prekeyBundleSchema,
  signalingOrigin, signedPrekeyMessage,
} from './signaling-protocol.ts';
import { userIdFromPublicKey } from './user-id.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('signed encodings', () => {
  it('authChallengeMessage = domain ‖ u32be(len origin) ‖ origin ‖ nonce', () => {
    const nonce = new Uint8Array(32).fill(0xab);
    const message = authChallengeMessage(nonce, 'ws://a:1');
    expect(hex(message)).toBe(
      hex(new TextEncoder().encode('DiscordOpus/signaling-auth/v1')) + '00000008' + hex(new TextEncoder().encode('ws://a:1')) + 'ab'.repeat(32),
    );
    // The length prefix keeps (origin, nonce) pairs from colliding.
    expect(hex(authChallengeMessage(nonce, 'ws://a:12'))).not.toBe(hex(message));
  });

  it('authChallengeMessage rejects a nonce of the wrong type or length', () => {
    expect(() => authChallengeMessage('x' as unknown as Uint8Array, 'ws://a')).toThrow(TypeError);
    expect(() => authChallengeMessage(new Uint8Array(31), 'ws://a')).toThrow(RangeError);
  });

  it('signedPrekeyMessage binds the key id', () => {
    const key = new Uint8Array(32).fill(2);
    expect(hex(signedPrekeyMessage(258, key))).toBe(hex(new TextEncoder().encode('DiscordOpus signed prekey v1')) + '00000102' + '02'.repeat(32));
    expect(() => signedPrekeyMessage(-1, key)).toThrow(RangeError);
    expect(() => signedPrekeyMessage(2 ** 32, key)).toThrow(RangeError);
    expect(() => signedPrekeyMessage(1, new Uint8Array(31))).toThrow(RangeError);
  });

  it('signalingOrigin maps http(s) to ws(s) and drops the path', () => {
    expect(signalingOrigin('https://chat.example.org/x?y')).toBe('wss://chat.example.org');
    expect(signalingOrigin('http://127.0.0.1:8787')).toBe('ws://127.0.0.1:8787');
    expect(signalingOrigin('wss://h:9/')).toBe('wss://h:9');
  });
});

describe('wire codecs', () => {
  it('carries keys as base64url and gets Uint8Array back', () => {
    const response = { publicKey: new Uint8Array(32).fill(1), signature: new Uint8Array(64).fill(2), origin: 'ws://a:1' };
    const wire = z.encode(authResponseSchema, response);
    expect(typeof wire.publicKey).toBe('string');
    expect(wire.publicKey).toHaveLength(43);
    expect(authResponseSchema.parse(wire)).toEqual(response);
  });

  it('refuses wrong lengths, alphabets, extra keys and non-bytes', () => {
    const good = z.encode(authResponseSchema, { publicKey: new Uint8Array(32), signature: new Uint8Array(64), origin: 'ws://a' });
    for (const bad of [{ ...good, publicKey: good.publicKey.slice(1) }, { ...good, publicKey: `${good.publicKey.slice(1)}+` }, { ...good, extra: 1 },
      { ...good, publicKey: new Uint8Array(32) }, { ...good, origin: '' }, { ...good, origin: 'x'.repeat(513) }]) {
      expect(authResponseSchema.safeParse(bad).success).toBe(false);
    }
  });

  it('checks user IDs and payload sizes in envelopes, and relays payloads as base64url text', () => {
    const to = userIdFromPublicKey(new Uint8Array(32));
    expect(envelopeSendWireSchema.safeParse({ to, payload: 'A'.repeat(base64urlLength(65_536)) }).success).toBe(true);
    expect(envelopeSendWireSchema.safeParse({ to, payload: 'A'.repeat(base64urlLength(65_536) + 1) }).success).toBe(false);
    expect(envelopeSendWireSchema.safeParse({ to, payload: 'AAAAA' }).success).toBe(false);
    expect(envelopeSendWireSchema.safeParse({ to, payload: 'AA==' }).success).toBe(false);
    expect(envelopeSendWireSchema.safeParse({ to, payload: new Uint8Array(1) }).success).toBe(false);
    expect(envelopeSendWireSchema.safeParse({ to: to.toUpperCase(), payload: 'AA' }).success).toBe(false);
    expect(envelopeSendWireSchema.safeParse({ to: 'x'.repeat(100_000), payload: 'AA' }).success).toBe(false);
    const payload = new Uint8Array(200).map((_, i) => i);
    const wire = z.encode(envelopeSendSchema, { to, payload });
    expect(wire.payload).toBe(Buffer.from(payload).toString('base64url'));
    expect(envelopeSendSchema.parse(wire)).toEqual({ to, payload });
    expect(base64urlByteLength(wire.payload.length)).toBe(200);
  });

  it('round-trips a prekey bundle with and without a one-time prekey', () => {
    const bundle = {
      userId: userIdFromPublicKey(new Uint8Array(32).fill(9)), identityKey: new Uint8Array(32).fill(9),
      signedPrekey: { keyId: 1, publicKey: new Uint8Array(32).fill(3), signature: new Uint8Array(64).fill(4) },
    };
    expect(prekeyBundleSchema.parse(z.encode(prekeyBundleSchema, bundle))).toEqual(bundle);
    const withOne = { ...bundle, oneTimePrekey: { keyId: 7, publicKey: new Uint8Array(32).fill(7) } };
    expect(prekeyBundleSchema.parse(z.encode(prekeyBundleSchema, withOne))).toEqual(withOne);
  });
});
