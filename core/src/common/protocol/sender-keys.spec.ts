import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../../node/crypto/node-crypto-provider.ts';
import { NobleCryptoProvider } from '../crypto/noble-crypto-provider.ts';
import { cryptoErrorCode } from '../crypto/crypto-test-support.ts';
import { utf8 } from '../crypto/bytes.ts';
import { MAX_SKIP, SKIPPED_KEY_TTL_MS } from './double-ratchet.ts';
import {
  type SenderKeyState,
  createSenderKey,
  deserializeSenderKeyState,
  encodeSenderKeyDistribution,
  senderKeyDecrypt,
  senderKeyEncrypt,
  senderKeyFromDistribution,
  senderKeyMessageKeyId,
  serializeSenderKeyState,
} from './sender-keys.ts';

const node = new NodeCryptoProvider();
const NOW = 1_800_000_000_000;

const code = cryptoErrorCode;

describe.each([node, new NobleCryptoProvider()])('sender keys ($name backend)', (crypto) => {
  it('one sender, two receivers, in order; signature checked', () => {
    let alice = createSenderKey(crypto, 1);
    const dist = encodeSenderKeyDistribution(alice);
    let bob = senderKeyFromDistribution(dist);
    let carol = senderKeyFromDistribution(dist);
    for (let i = 0; i < 3; i++) {
      const e = senderKeyEncrypt(crypto, alice, utf8(`group ${i}`));
      alice = e.state;
      expect(senderKeyMessageKeyId(e.message)).toBe(1);
      const b = senderKeyDecrypt(crypto, bob, e.message, NOW);
      const c = senderKeyDecrypt(crypto, carol, e.message, NOW);
      expect(b.plaintext).toEqual(utf8(`group ${i}`));
      expect(c.plaintext).toEqual(utf8(`group ${i}`));
      bob = b.state;
      carol = c.state;
    }
  });
});

describe('sender keys', () => {
  it('out of order, replays rejected, late joiners cannot read earlier messages', () => {
    let alice = createSenderKey(node, 9);
    let bob = senderKeyFromDistribution(encodeSenderKeyDistribution(alice));
    const messages: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      const e = senderKeyEncrypt(node, alice, utf8(`m${i}`));
      alice = e.state;
      messages.push(e.message);
    }
    const dave = senderKeyFromDistribution(encodeSenderKeyDistribution(alice));
    for (const i of [2, 0, 3, 1]) {
      const r = senderKeyDecrypt(node, bob, messages[i]!, NOW);
      expect(r.plaintext).toEqual(utf8(`m${i}`));
      bob = r.state;
    }
    for (const m of messages) {
      expect(code(() => senderKeyDecrypt(node, bob, m, NOW))).toBe('crypto/replay');
      expect(code(() => senderKeyDecrypt(node, dave, m, NOW))).toBe('crypto/replay');
    }
  });

  it('a member who knows the chain key cannot impersonate the sender', () => {
    const alice = createSenderKey(node, 1);
    const bobCopy = senderKeyFromDistribution(encodeSenderKeyDistribution(alice));
    const mallory = node.ed25519GenerateKeyPair();
    const forged = senderKeyEncrypt(node, { ...bobCopy, signingSecretKey: mallory.secretKey }, utf8('I am alice'));
    expect(code(() => senderKeyDecrypt(node, bobCopy, forged.message, NOW))).toBe('crypto/invalid-signature');
    expect(() => senderKeyEncrypt(node, bobCopy, utf8('x'))).toThrow(TypeError);
  });

  it('rotation: a new key id is unknown until its distribution arrives', () => {
    const old = createSenderKey(node, 1);
    const bob = senderKeyFromDistribution(encodeSenderKeyDistribution(old));
    const rotated = createSenderKey(node, 2);
    const e = senderKeyEncrypt(node, rotated, utf8('after rotation'));
    expect(code(() => senderKeyDecrypt(node, bob, e.message, NOW))).toBe('crypto/unknown-sender-key');
    expect(senderKeyDecrypt(node, senderKeyFromDistribution(encodeSenderKeyDistribution(rotated)), e.message, NOW).plaintext).toEqual(utf8('after rotation'));
  });

  it('MAX_SKIP bound, skipped-key expiry', () => {
    let alice = createSenderKey(node, 1);
    const bob = senderKeyFromDistribution(encodeSenderKeyDistribution(alice));
    const first = senderKeyEncrypt(node, alice, utf8('first'));
    alice = first.state;
    const second = senderKeyEncrypt(node, alice, utf8('second'));
    alice = second.state;
    const after = senderKeyDecrypt(node, bob, second.message, NOW).state;
    expect(code(() => senderKeyDecrypt(node, after, first.message, NOW + SKIPPED_KEY_TTL_MS))).toBe('crypto/replay');
    expect(senderKeyDecrypt(node, after, first.message, NOW + 1000).plaintext).toEqual(utf8('first'));
    for (let i = 0; i <= MAX_SKIP; i++) alice = senderKeyEncrypt(node, alice, utf8('x')).state;
    const far = senderKeyEncrypt(node, alice, utf8('far'));
    expect(code(() => senderKeyDecrypt(node, after, far.message, NOW))).toBe('crypto/too-many-skipped');
  });

  it('rejects malformed input and bad arguments', () => {
    const alice = createSenderKey(node, 1);
    const bob = senderKeyFromDistribution(encodeSenderKeyDistribution(alice));
    const { message } = senderKeyEncrypt(node, alice, utf8('x'));
    expect(code(() => senderKeyDecrypt(node, bob, message.subarray(0, 20), NOW))).toBe('crypto/malformed');
    const v2 = message.slice();
    v2[0] = 2;
    expect(code(() => senderKeyDecrypt(node, bob, v2, NOW))).toBe('crypto/unsupported-version');
    expect(code(() => senderKeyMessageKeyId(Uint8Array.of(1, 0)))).toBe('crypto/malformed');
    const dist = encodeSenderKeyDistribution(alice);
    expect(code(() => senderKeyFromDistribution(dist.subarray(1)))).toBe('crypto/unsupported-version');
    expect(code(() => senderKeyFromDistribution(dist.subarray(0, 40)))).toBe('crypto/malformed');
    expect(code(() => senderKeyFromDistribution(Uint8Array.of(...dist, 1)))).toBe('crypto/malformed');
    expect(() => createSenderKey(node, -1)).toThrow(RangeError);
    expect(() => senderKeyDecrypt(node, bob, message, Number.NaN)).toThrow(RangeError);
    expect(() => senderKeyEncrypt(node, alice, 'x' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('serialised states round-trip exactly; corrupt bytes are rejected', () => {
    let alice = createSenderKey(node, 5);
    let bob = senderKeyFromDistribution(encodeSenderKeyDistribution(alice));
    alice = senderKeyEncrypt(node, alice, utf8('lost')).state;
    const e = senderKeyEncrypt(node, alice, utf8('x'));
    alice = e.state;
    bob = senderKeyDecrypt(node, bob, e.message, NOW).state;
    for (const s of [alice, bob]) {
      const bytes = serializeSenderKeyState(s);
      expect(deserializeSenderKeyState(bytes)).toEqual(s);
      expect(code(() => deserializeSenderKeyState(bytes.subarray(0, bytes.length - 1)))).toBe('crypto/malformed');
      expect(code(() => deserializeSenderKeyState(Uint8Array.of(...bytes, 0)))).toBe('crypto/malformed');
    }
  });

  it('property: loss, reordering, duplication, tampering and restores', () => {
    type Cmd = { kind: 'send' } | { kind: 'deliver' | 'drop' | 'duplicate'; pick: number } | { kind: 'tamper'; pick: number; byte: number } | { kind: 'restore' };
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      { arbitrary: fc.constant({ kind: 'send' as const }), weight: 4 },
      { arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }), weight: 4 },
      { arbitrary: fc.record({ kind: fc.constantFrom('drop' as const, 'duplicate' as const), pick: fc.nat() }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('tamper' as const), pick: fc.nat(), byte: fc.nat() }), weight: 1 },
      { arbitrary: fc.constant({ kind: 'restore' as const }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 80 }), (cmds) => {
        let sender = createSenderKey(node, 3);
        let receiver: SenderKeyState = senderKeyFromDistribution(encodeSenderKeyDistribution(sender));
        const inFlight: { message: Uint8Array; text: string }[] = [];
        const delivered: Uint8Array[] = [];
        let counter = 0;
        for (const c of cmds) {
          if (c.kind === 'send') {
            const text = `g${counter++}`;
            const e = senderKeyEncrypt(node, sender, utf8(text));
            sender = e.state;
            inFlight.push({ message: e.message, text });
          } else if (c.kind === 'deliver' && inFlight.length > 0) {
            const [m] = inFlight.splice(c.pick % inFlight.length, 1);
            const r = senderKeyDecrypt(node, receiver, m!.message, NOW);
            expect(new TextDecoder().decode(r.plaintext)).toBe(m!.text);
            receiver = r.state;
            delivered.push(m!.message);
          } else if (c.kind === 'drop' && inFlight.length > 0) {
            inFlight.splice(c.pick % inFlight.length, 1);
          } else if (c.kind === 'duplicate' && delivered.length > 0) {
            expect(code(() => senderKeyDecrypt(node, receiver, delivered[c.pick % delivered.length]!, NOW))).toBe('crypto/replay');
          } else if (c.kind === 'tamper') {
            const pool = [...inFlight.map((m) => m.message), ...delivered];
            if (pool.length === 0) continue;
            const bad = pool[c.pick % pool.length]!.slice();
            bad[c.byte % bad.length]! ^= 1 + (c.byte % 255);
            const before = serializeSenderKeyState(receiver);
            expect(code(() => senderKeyDecrypt(node, receiver, bad, NOW))).not.toBe('no error');
            expect(serializeSenderKeyState(receiver)).toEqual(before);
          } else if (c.kind === 'restore') {
            receiver = deserializeSenderKeyState(serializeSenderKeyState(receiver));
            sender = deserializeSenderKeyState(serializeSenderKeyState(sender));
          }
        }
        for (const m of inFlight) {
          const r = senderKeyDecrypt(node, receiver, m.message, NOW);
          expect(new TextDecoder().decode(r.plaintext)).toBe(m.text);
          receiver = r.state;
        }
      }),
      { numRuns: 100 },
    );
  });
});
