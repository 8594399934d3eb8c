import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../../node/crypto/node-crypto-provider.ts';
import { NobleCryptoProvider } from '../crypto/noble-crypto-provider.ts';
import type { CryptoProvider } from '../crypto/crypto-provider.ts';
import { cryptoErrorCode } from '../crypto/crypto-test-support.ts';
import { utf8 } from '../crypto/bytes.ts';
import {
  MAX_SKIP,
  MAX_SKIPPED_KEYS,
  RATCHET_HEADER_BYTES,
  RATCHET_VERSION,
  SKIPPED_KEY_TTL_MS,
  type RatchetState,
  advanceSendingChain,
  canRatchetSend,
  decodeRatchetHeader,
  deserializeRatchetState,
  encodeRatchetHeader,
  hasRatchetReceived,
  initRatchetInitiator,
  initRatchetResponder,
  ratchetDecrypt,
  ratchetEncrypt,
  serializeRatchetState,
} from './double-ratchet.ts';

const node = new NodeCryptoProvider();
const NOW = 1_800_000_000_000;

function pair(crypto: CryptoProvider = node): { alice: RatchetState; bob: RatchetState } {
  const sharedSecret = crypto.randomBytes(32);
  const associatedData = crypto.randomBytes(64);
  const bobKey = crypto.x25519GenerateKeyPair();
  return {
    alice: initRatchetInitiator(crypto, { sharedSecret, associatedData, theirRatchetKey: bobKey.publicKey }),
    bob: initRatchetResponder(crypto, { sharedSecret, associatedData, ourRatchetKeyPair: bobKey }),
  };
}

const code = cryptoErrorCode;

describe.each([node, new NobleCryptoProvider()])('double ratchet ($name backend)', (crypto) => {
  it('exchanges messages both ways with DH steps', () => {
    let { alice, bob } = pair(crypto);
    expect(canRatchetSend(bob)).toBe(false);
    expect(() => ratchetEncrypt(crypto, bob, utf8('x'))).toThrow(RangeError);
    for (let round = 0; round < 3; round++) {
      const a = ratchetEncrypt(crypto, alice, utf8(`hello ${round}`));
      alice = a.state;
      const b = ratchetDecrypt(crypto, bob, a.message, NOW);
      bob = b.state;
      expect(new TextDecoder().decode(b.plaintext)).toBe(`hello ${round}`);
      const r = ratchetEncrypt(crypto, bob, utf8(`reply ${round}`));
      bob = r.state;
      const ra = ratchetDecrypt(crypto, alice, r.message, NOW);
      alice = ra.state;
      expect(new TextDecoder().decode(ra.plaintext)).toBe(`reply ${round}`);
    }
    expect(hasRatchetReceived(alice)).toBe(true);
  });
});

describe('double ratchet', () => {
  it('never mutates the input state; a failed decrypt leaves the old state usable', () => {
    const { alice, bob } = pair();
    const aliceBytes = serializeRatchetState(alice);
    const bobBytes = serializeRatchetState(bob);
    const { message } = ratchetEncrypt(node, alice, utf8('one'));
    const forged = message.slice();
    forged[forged.length - 1]! ^= 1;
    expect(code(() => ratchetDecrypt(node, bob, forged, NOW))).toBe('crypto/auth-failed');
    expect(serializeRatchetState(alice)).toEqual(aliceBytes);
    expect(serializeRatchetState(bob)).toEqual(bobBytes);
    expect(ratchetDecrypt(node, bob, message, NOW).plaintext).toEqual(utf8('one'));
  });

  it('derives each message key and the next chain key from one HMAC-SHA512 (format v2)', () => {
    const noble = new NobleCryptoProvider();
    const { alice } = pair();
    const { state, message } = ratchetEncrypt(node, alice, utf8('known'));
    const step = noble.hmacSha512(alice.sendChainKey!, Uint8Array.of(0x01));
    expect(message[0]).toBe(RATCHET_VERSION);
    expect(RATCHET_VERSION).toBe(2);
    expect(state.sendChainKey).toEqual(step.subarray(32));
    const ad = new Uint8Array([...alice.associatedData, ...message.subarray(0, RATCHET_HEADER_BYTES)]);
    const plaintext = noble.aeadOpen('chacha20-poly1305', step.subarray(0, 32), new Uint8Array(12), message.subarray(RATCHET_HEADER_BYTES), ad);
    expect(plaintext).toEqual(utf8('known'));
  });

  it('a skipped key stays usable in the old state after a decrypt or a failed one consumed it', () => {
    let { alice, bob } = pair();
    const late = ratchetEncrypt(node, alice, utf8('late'));
    alice = late.state;
    bob = ratchetDecrypt(node, bob, ratchetEncrypt(node, alice, utf8('now')).message, NOW).state;
    const forged = late.message.slice();
    forged[forged.length - 1]! ^= 1;
    expect(code(() => ratchetDecrypt(node, bob, forged, NOW))).toBe('crypto/auth-failed');
    const first = ratchetDecrypt(node, bob, late.message, NOW);
    expect(first.plaintext).toEqual(utf8('late'));
    expect(first.state.skipped.size).toBe(0);
    // The old state still holds the key: a caller whose transaction failed can decrypt again.
    expect(ratchetDecrypt(node, bob, late.message, NOW).plaintext).toEqual(utf8('late'));
    expect(code(() => ratchetDecrypt(node, first.state, late.message, NOW))).toBe('crypto/replay');
  });

  it('keeps the next chain key in its own buffer (no message key riding along)', () => {
    const { alice } = pair();
    const { state } = ratchetEncrypt(node, alice, utf8('x'));
    expect(state.sendChainKey!.byteLength).toBe(state.sendChainKey!.buffer.byteLength);
  });

  it('decrypts out of order through skipped keys and rejects every replay', () => {
    let { alice, bob } = pair();
    const messages: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const r = ratchetEncrypt(node, alice, utf8(`m${i}`));
      alice = r.state;
      messages.push(r.message);
    }
    for (const i of [3, 0, 4, 1, 2]) {
      const r = ratchetDecrypt(node, bob, messages[i]!, NOW);
      bob = r.state;
      expect(r.plaintext).toEqual(utf8(`m${i}`));
    }
    expect(bob.skipped.size).toBe(0);
    for (const m of messages) expect(code(() => ratchetDecrypt(node, bob, m, NOW))).toBe('crypto/replay');
    // Replays from an older chain, after a DH step, are still recognised as replays.
    const reply = ratchetEncrypt(node, bob, utf8('r'));
    bob = reply.state;
    alice = ratchetDecrypt(node, alice, reply.message, NOW).state;
    const next = ratchetEncrypt(node, alice, utf8('next'));
    bob = ratchetDecrypt(node, bob, next.message, NOW).state;
    expect(code(() => ratchetDecrypt(node, bob, messages[2]!, NOW))).toBe('crypto/replay');
    expect(code(() => ratchetDecrypt(node, alice, reply.message, NOW))).toBe('crypto/replay');
  });

  it('advanceSendingChain stores the chain ahead: the same keys as sending, none reused, the gap decrypts as skipped keys', () => {
    const { alice, bob } = pair();
    let sent = alice;
    const messages: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const step = ratchetEncrypt(node, sent, utf8(`m${i}`));
      sent = step.state;
      messages.push(step.message);
    }
    const ahead = advanceSendingChain(node, alice, 5);
    expect(ahead.sendCount).toBe(5);
    expect(ahead.sendChainKey).toEqual(sent.sendChainKey);
    expect(alice.sendCount).toBe(0); // the input is unchanged
    // Restored from `ahead` (after a crash): the next key is new, and the peer still opens the gap.
    const after = ratchetEncrypt(node, ahead, utf8('after'));
    expect(decodeRatchetHeader(after.message.subarray(0, RATCHET_HEADER_BYTES)).n).toBe(5);
    let b = ratchetDecrypt(node, bob, after.message, NOW);
    expect(new TextDecoder().decode(b.plaintext)).toBe('after');
    b = ratchetDecrypt(node, b.state, messages[2]!, NOW);
    expect(new TextDecoder().decode(b.plaintext)).toBe('m2');
    expect(() => advanceSendingChain(node, alice, 0)).toThrow(RangeError);
    expect(() => advanceSendingChain(node, alice, 1.5)).toThrow(RangeError);
    expect(() => advanceSendingChain(node, alice, MAX_SKIP + 1)).toThrow(RangeError);
    expect(() => advanceSendingChain(node, bob, 1)).toThrow(RangeError);
  });

  it('refuses a jump beyond MAX_SKIP in one chain', () => {
    const session = pair();
    const bob = session.bob;
    let alice = session.alice;
    for (let i = 0; i <= MAX_SKIP + 1; i++) alice = ratchetEncrypt(node, alice, utf8('x')).state;
    const far = ratchetEncrypt(node, alice, utf8('far'));
    expect(code(() => ratchetDecrypt(node, bob, far.message, NOW))).toBe('crypto/too-many-skipped');
  });

  it('evicts the oldest skipped keys beyond the total cap', () => {
    let { alice, bob } = pair();
    const first = ratchetEncrypt(node, alice, utf8('first'));
    alice = first.state;
    // Three chains of MAX_SKIP skipped messages each, alternating directions to change chain.
    for (let chain = 0; chain < 3; chain++) {
      const lost = chain === 0 ? MAX_SKIP - 1 : MAX_SKIP; // 'first' is skipped too
      for (let i = 0; i < lost; i++) alice = ratchetEncrypt(node, alice, utf8('lost')).state;
      const last = ratchetEncrypt(node, alice, utf8('last'));
      alice = last.state;
      bob = ratchetDecrypt(node, bob, last.message, NOW).state;
      const reply = ratchetEncrypt(node, bob, utf8('reply'));
      bob = reply.state;
      alice = ratchetDecrypt(node, alice, reply.message, NOW).state;
    }
    expect(bob.skipped.size).toBe(MAX_SKIPPED_KEYS);
    // 'first' (n = 0 of the first chain) was the oldest skipped key: evicted.
    expect(code(() => ratchetDecrypt(node, bob, first.message, NOW))).toBe('crypto/replay');
  });

  it('expires skipped keys after the TTL', () => {
    let { alice, bob } = pair();
    const late = ratchetEncrypt(node, alice, utf8('late'));
    alice = late.state;
    const onTime = ratchetEncrypt(node, alice, utf8('on time'));
    bob = ratchetDecrypt(node, bob, onTime.message, NOW).state;
    expect(bob.skipped.size).toBe(1);
    expect(ratchetDecrypt(node, bob, late.message, NOW + SKIPPED_KEY_TTL_MS - 1).plaintext).toEqual(utf8('late'));
    expect(code(() => ratchetDecrypt(node, bob, late.message, NOW + SKIPPED_KEY_TTL_MS))).toBe('crypto/replay');
  });

  it('rejects malformed, truncated and future-version messages', () => {
    const { alice, bob } = pair();
    const { message } = ratchetEncrypt(node, alice, utf8('x'));
    expect(code(() => ratchetDecrypt(node, bob, message.subarray(0, RATCHET_HEADER_BYTES + 15), NOW))).toBe('crypto/malformed');
    expect(code(() => ratchetDecrypt(node, bob, new Uint8Array(0), NOW))).toBe('crypto/malformed');
    const future = message.slice();
    future[0] = RATCHET_VERSION + 1;
    expect(code(() => ratchetDecrypt(node, bob, future, NOW))).toBe('crypto/unsupported-version');
    expect(code(() => decodeRatchetHeader(new Uint8Array(3)))).toBe('crypto/malformed');
    expect(() => decodeRatchetHeader([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    expect(decodeRatchetHeader(message)).toEqual({ ratchetKey: alice.dhSelf.publicKey, previousChainLength: 0, n: 0 });
    expect(encodeRatchetHeader(decodeRatchetHeader(message))).toEqual(message.subarray(0, RATCHET_HEADER_BYTES));
    expect(() => encodeRatchetHeader({ ratchetKey: new Uint8Array(31), previousChainLength: 0, n: 0 })).toThrow(RangeError);
    expect(() => encodeRatchetHeader({ ratchetKey: new Uint8Array(32), previousChainLength: -1, n: 0 })).toThrow(RangeError);
    const smallOrder = message.slice();
    smallOrder.fill(0, 1, 33);
    expect(code(() => ratchetDecrypt(node, bob, smallOrder, NOW))).toBe('crypto/invalid-public-key');
    expect(() => ratchetDecrypt(node, bob, message, -1)).toThrow(RangeError);
    expect(() => ratchetDecrypt(node, bob, 'x' as unknown as Uint8Array, NOW)).toThrow(TypeError);
  });

  it('rejects a forged header naming the initiator\'s first remote key', () => {
    const { alice, bob } = pair();
    const { message } = ratchetEncrypt(node, alice, utf8('x'));
    const forged = message.slice();
    forged.set(alice.dhRemote!, 1);
    expect(code(() => ratchetDecrypt(node, alice, forged, NOW))).toBe('crypto/auth-failed');
    expect(bob.dhRemote).toBeUndefined();
  });

  it('rejects bad init arguments', () => {
    expect(() => initRatchetInitiator(node, { sharedSecret: new Uint8Array(31), associatedData: new Uint8Array(0), theirRatchetKey: new Uint8Array(32) })).toThrow(RangeError);
    const badKey = new Uint8Array(32);
    expect(code(() => initRatchetInitiator(node, { sharedSecret: new Uint8Array(32), associatedData: new Uint8Array(0), theirRatchetKey: badKey }))).toBe('crypto/invalid-public-key');
  });

  it('serialised state round-trips exactly and rejects corrupt bytes', () => {
    let { alice, bob } = pair();
    for (let i = 0; i < 3; i++) alice = ratchetEncrypt(node, alice, utf8('x')).state;
    const m = ratchetEncrypt(node, alice, utf8('y'));
    bob = ratchetDecrypt(node, bob, m.message, NOW).state;
    for (const s of [alice, bob]) {
      const bytes = serializeRatchetState(s);
      const restored = deserializeRatchetState(bytes);
      expect(restored).toEqual(s);
      expect(serializeRatchetState(restored)).toEqual(bytes);
      expect(code(() => deserializeRatchetState(bytes.subarray(0, bytes.length - 1)))).toBe('crypto/malformed');
      expect(code(() => deserializeRatchetState(Uint8Array.of(...bytes, 0)))).toBe('crypto/malformed');
      const v2 = bytes.slice();
      v2[0] = 9;
      expect(code(() => deserializeRatchetState(v2))).toBe('crypto/unsupported-version');
    }
  });

  it('property: random interleavings, loss, reordering, duplication, tampering and restores', () => {
    type Cmd =
      | { kind: 'send'; from: 0 | 1 }
      | { kind: 'deliver'; pick: number }
      | { kind: 'drop'; pick: number }
      | { kind: 'duplicate'; pick: number }
      | { kind: 'tamper'; pick: number; byte: number }
      | { kind: 'restore'; who: 0 | 1 };
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('send' as const), from: fc.constantFrom(0 as const, 1 as const) }), weight: 4 },
      { arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }), weight: 4 },
      { arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('tamper' as const), pick: fc.nat(), byte: fc.nat() }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('restore' as const), who: fc.constantFrom(0 as const, 1 as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 80 }), (cmds) => {
        const { alice, bob } = pair();
        const states: RatchetState[] = [alice, bob];
        let counter = 0;
        const inFlight: { to: 0 | 1; message: Uint8Array; text: string }[] = [];
        const delivered: { to: 0 | 1; message: Uint8Array }[] = [];
        for (const c of cmds) {
          switch (c.kind) {
            case 'send': {
              if (!canRatchetSend(states[c.from]!)) break;
              const text = `msg ${counter++}`;
              const r = ratchetEncrypt(node, states[c.from]!, utf8(text));
              states[c.from] = r.state;
              inFlight.push({ to: (1 - c.from) as 0 | 1, message: r.message, text });
              break;
            }
            case 'deliver': {
              if (inFlight.length === 0) break;
              const [m] = inFlight.splice(c.pick % inFlight.length, 1);
              const r = ratchetDecrypt(node, states[m!.to]!, m!.message, NOW);
              expect(new TextDecoder().decode(r.plaintext)).toBe(m!.text);
              states[m!.to] = r.state;
              delivered.push(m!);
              break;
            }
            case 'drop':
              if (inFlight.length > 0) inFlight.splice(c.pick % inFlight.length, 1);
              break;
            case 'duplicate': {
              if (delivered.length === 0) break;
              const m = delivered[c.pick % delivered.length]!;
              expect(code(() => ratchetDecrypt(node, states[m.to]!, m.message, NOW))).toBe('crypto/replay');
              break;
            }
            case 'tamper': {
              const pool = [...inFlight, ...delivered];
              if (pool.length === 0) break;
              const m = pool[c.pick % pool.length]!;
              const bad = m.message.slice();
              bad[c.byte % bad.length]! ^= 1 + (c.byte % 255);
              const before = serializeRatchetState(states[m.to]!);
              expect(code(() => ratchetDecrypt(node, states[m.to]!, bad, NOW))).not.toBe('no error');
              expect(serializeRatchetState(states[m.to]!)).toEqual(before);
              break;
            }
            case 'restore':
              states[c.who] = deserializeRatchetState(serializeRatchetState(states[c.who]!));
              break;
          }
        }
        // Everything still in flight decrypts exactly once, in any order.
        for (const m of inFlight) {
          const r = ratchetDecrypt(node, states[m.to]!, m.message, NOW);
          expect(new TextDecoder().decode(r.plaintext)).toBe(m.text);
          states[m.to] = r.state;
          expect(code(() => ratchetDecrypt(node, states[m.to]!, m.message, NOW))).toBe('crypto/replay');
        }
      }),
      { numRuns: 150 },
    );
  });
});
