/**
 * X3DH handshakes per second on the node backend: bundle decode + verify + initiate (with a
 * one-time prekey) + header encode/decode + respond. Baseline in the same run: bare X25519
 * shared secrets per second (a handshake does 8 of them plus a key generation and a verify).
 */
import type { BenchOutput } from './run.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import {
  createPrekeyBundle,
  decodePrekeyBundle,
  decodeX3dhHeader,
  encodePrekeyBundle,
  encodeX3dhHeader,
  generateOneTimePrekeys,
  generateSignedPrekey,
  x3dhInitiate,
  x3dhRespond,
} from '../core/src/common/protocol/index.ts';

const crypto = new NodeCryptoProvider();

function measure(durationMs: number, step: (i: number) => void): number {
  for (let i = 0; i < 50; i++) step(i);
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let i = 0; i < 20; i++) step(ops + i);
    ops += 20;
    elapsed = performance.now() - start;
  }
  return Math.round((ops / elapsed) * 1000);
}

export default async function x3dhBench(out: BenchOutput): Promise<void> {
  const seconds = Number(out.args[0] ?? 5);
  const a = crypto.x25519GenerateKeyPair();
  const b = crypto.x25519GenerateKeyPair();
  const baseline = measure(seconds * 1000, () => crypto.x25519(a.secretKey, b.publicKey));
  out.line({ figure: 'baseline_x25519_per_s', value: baseline });

  const alice = crypto.ed25519GenerateKeyPair();
  const bob = crypto.ed25519GenerateKeyPair();
  const spk = generateSignedPrekey(crypto, bob, 1);
  // Distinct one-time prekeys per handshake, as in real use (a pool reused round-robin).
  const otpks = generateOneTimePrekeys(crypto, 1, 256);
  const bundles = otpks.map((k) => encodePrekeyBundle(createPrekeyBundle(bob.publicKey, spk, k)));
  let check = 0;
  const handshakes = measure(seconds * 1000, (i) => {
    const slot = i % otpks.length;
    const init = x3dhInitiate(crypto, alice, decodePrekeyBundle(bundles[slot]!));
    const header = decodeX3dhHeader(encodeX3dhHeader(init.header));
    const resp = x3dhRespond(crypto, bob, spk.secretKey, otpks[slot]!.secretKey, header);
    check ^= resp.sharedSecret[0]! ^ init.sharedSecret[0]!;
  });
  if (check !== 0) throw new Error('x3dh bench: initiator and responder disagree');
  out.line({ figure: 'handshakes_per_s', value: handshakes });
  out.summary({ handshakes_per_s: handshakes, baseline_x25519_per_s: baseline, target_handshakes_per_s: 1000 });
}
