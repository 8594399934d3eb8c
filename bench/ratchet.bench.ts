/**
 * Double Ratchet throughput on the node backend with 1 KiB messages:
 * - encrypt+decrypt per second on an established session, one direction (no DH step);
 * - messages per second when every message carries a DH ratchet step (alternating directions).
 * Baseline in the same run: one bare ChaCha20-Poly1305 seal+open of the same 1 KiB, the floor
 * any per-message AEAD design pays.
 */
import type { BenchOutput } from './run.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { initRatchetInitiator, initRatchetResponder, ratchetDecrypt, ratchetEncrypt, type RatchetState } from '../core/src/common/protocol/index.ts';

const crypto = new NodeCryptoProvider();
const NOW = Date.now();

function measure(durationMs: number, step: () => void): number {
  for (let i = 0; i < 500; i++) step();
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let i = 0; i < 200; i++) step();
    ops += 200;
    elapsed = performance.now() - start;
  }
  return Math.round((ops / elapsed) * 1000);
}

function session(): { alice: RatchetState; bob: RatchetState } {
  const sharedSecret = crypto.randomBytes(32);
  const associatedData = crypto.randomBytes(64);
  const bobKey = crypto.x25519GenerateKeyPair();
  return {
    alice: initRatchetInitiator(crypto, { sharedSecret, associatedData, theirRatchetKey: bobKey.publicKey }),
    bob: initRatchetResponder(crypto, { sharedSecret, associatedData, ourRatchetKeyPair: bobKey }),
  };
}

export default async function ratchetBench(out: BenchOutput): Promise<void> {
  const plaintext = crypto.randomBytes(1024);
  const seconds = Number(out.args[0] ?? 5);

  const key = crypto.randomBytes(32);
  const nonce = new Uint8Array(12);
  const ad = crypto.randomBytes(105);
  const baseline = measure(seconds * 1000, () => {
    crypto.aeadOpen('chacha20-poly1305', key, nonce, crypto.aeadSeal('chacha20-poly1305', key, nonce, plaintext, ad), ad);
  });
  out.line({ figure: 'baseline_aead_seal_open_per_s', value: baseline });

  let { alice, bob } = session();
  const encryptDecrypt = measure(seconds * 1000, () => {
    const e = ratchetEncrypt(crypto, alice, plaintext);
    alice = e.state;
    bob = ratchetDecrypt(crypto, bob, e.message, NOW).state;
  });
  out.line({ figure: 'encrypt_decrypt_per_s', value: encryptDecrypt, message_bytes: 1024 });

  ({ alice, bob } = session());
  let turn = 0;
  const dhStep = measure(seconds * 1000, () => {
    if (turn++ % 2 === 0) {
      const e = ratchetEncrypt(crypto, alice, plaintext);
      alice = e.state;
      bob = ratchetDecrypt(crypto, bob, e.message, NOW).state;
    } else {
      const e = ratchetEncrypt(crypto, bob, plaintext);
      bob = e.state;
      alice = ratchetDecrypt(crypto, alice, e.message, NOW).state;
    }
  });
  out.line({ figure: 'dh_step_msgs_per_s', value: dhStep });

  out.summary({ encrypt_decrypt_per_s: encryptDecrypt, dh_step_msgs_per_s: dhStep, baseline_aead_seal_open_per_s: baseline, target_encrypt_decrypt_per_s: 50_000 });
}
