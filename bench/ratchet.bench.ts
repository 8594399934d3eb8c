/**
 * Double Ratchet throughput on the node backend with 1 KiB messages:
 * - encrypt+decrypt per second on an established session, one direction (no DH step);
 * - messages per second when every message carries a DH ratchet step (alternating directions).
 * Baseline in the same run: one bare ChaCha20-Poly1305 seal+open of the same 1 KiB, the floor
 * any per-message AEAD design pays.
 */
import type { BenchOutput } from './run.ts';
import { bestRates } from './crypto-measure.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { initRatchetInitiator, initRatchetResponder, ratchetDecrypt, ratchetEncrypt, type RatchetState } from '../core/src/common/protocol/index.ts';

const crypto = new NodeCryptoProvider();
const NOW = Date.now();

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
  const seconds = Number(out.args[0] ?? 12);

  const key = crypto.randomBytes(32);
  const nonce = new Uint8Array(12);
  const ad = crypto.randomBytes(105);
  let { alice, bob } = session();
  const dh = session();
  let turn = 0;
  const rates = bestRates(seconds * 1000, {
    baseline: () => {
      crypto.aeadOpen('chacha20-poly1305', key, nonce, crypto.aeadSeal('chacha20-poly1305', key, nonce, plaintext, ad), ad);
    },
    encryptDecrypt: () => {
      const e = ratchetEncrypt(crypto, alice, plaintext);
      alice = e.state;
      bob = ratchetDecrypt(crypto, bob, e.message, NOW).state;
    },
    dhStep: () => {
      if (turn++ % 2 === 0) {
        const e = ratchetEncrypt(crypto, dh.alice, plaintext);
        dh.alice = e.state;
        dh.bob = ratchetDecrypt(crypto, dh.bob, e.message, NOW).state;
      } else {
        const e = ratchetEncrypt(crypto, dh.bob, plaintext);
        dh.bob = e.state;
        dh.alice = ratchetDecrypt(crypto, dh.alice, e.message, NOW).state;
      }
    },
  });
  const baseline = Math.round(rates.baseline!);
  const encryptDecrypt = Math.round(rates.encryptDecrypt!);
  const dhStep = Math.round(rates.dhStep!);
  out.line({ figure: 'baseline_aead_seal_open_per_s', value: baseline });
  out.line({ figure: 'encrypt_decrypt_per_s', value: encryptDecrypt, message_bytes: 1024, vs_baseline: Math.round((encryptDecrypt / baseline) * 100) / 100 });
  out.line({ figure: 'dh_step_msgs_per_s', value: dhStep });

  out.summary({ encrypt_decrypt_per_s: encryptDecrypt, dh_step_msgs_per_s: dhStep, baseline_aead_seal_open_per_s: baseline, target_encrypt_decrypt_per_s: 50_000 });
}
