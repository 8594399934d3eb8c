/**
 * X3DH handshakes per second on the node backend: bundle decode + verify + initiate (with a
 * one-time prekey) + header encode/decode + respond. Baseline in the same run: bare X25519
 * shared secrets per second (a handshake does 8 of them plus a key generation and a verify).
 */
import type { BenchOutput } from './run.ts';
import { bestRates } from './crypto-measure.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import {
  createPrekeyBundle,
  decodePrekeyBundle,
  decodeX3dhHeader,
  encodePrekeyBundle,
  encodeX3dhHeader,
  generateOneTimePrekeys,
  generateSignedPrekey,
  x3dhIdentityFromKeyPair,
  x3dhInitiate,
  x3dhRespond,
} from '../core/src/common/protocol/index.ts';

const crypto = new NodeCryptoProvider();

export default async function x3dhBench(out: BenchOutput): Promise<void> {
  const seconds = Number(out.args[0] ?? 12);
  const a = crypto.x25519GenerateKeyPair();
  const b = crypto.x25519GenerateKeyPair();

  const alice = x3dhIdentityFromKeyPair(crypto, crypto.ed25519GenerateKeyPair());
  const bob = x3dhIdentityFromKeyPair(crypto, crypto.ed25519GenerateKeyPair());
  const spk = generateSignedPrekey(crypto, bob, 1);
  // Distinct one-time prekeys per handshake, as in real use (a pool reused round-robin).
  const otpks = generateOneTimePrekeys(crypto, 1, 256);
  const bundles = otpks.map((k) => encodePrekeyBundle(createPrekeyBundle(bob.publicKey, spk, k)));
  let check = 0;
  let i = 0;
  const rates = bestRates(seconds * 1000, {
    baseline: () => crypto.x25519(a.secretKey, b.publicKey),
    handshake: () => {
    const slot = i++ % otpks.length;
    const init = x3dhInitiate(crypto, alice, decodePrekeyBundle(bundles[slot]!));
    const header = decodeX3dhHeader(encodeX3dhHeader(init.header));
    const resp = x3dhRespond(crypto, bob, spk.secretKey, otpks[slot]!.secretKey, header);
    check ^= resp.sharedSecret[0]! ^ init.sharedSecret[0]!;
    },
  });
  const baseline = Math.round(rates.baseline!);
  const handshakes = Math.round(rates.handshake!);
  out.line({ figure: 'baseline_x25519_per_s', value: baseline });
  if (check !== 0) throw new Error('x3dh bench: initiator and responder disagree');
  out.line({ figure: 'handshakes_per_s', value: handshakes });
  out.summary({ handshakes_per_s: handshakes, baseline_x25519_per_s: baseline, target_handshakes_per_s: 1000 });
}
