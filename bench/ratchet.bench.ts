/**
 * Double Ratchet throughput on the node backend with 1 KiB messages:
 * - encrypt+decrypt per second on an established session, one direction (no DH step);
 * - messages per second when every message carries a DH ratchet step (alternating directions).
 * Baselines in the same run: one bare node:crypto ChaCha20-Poly1305 seal+open of the same 1 KiB
 * (createCipheriv / createDecipheriv directly), the floor any per-message AEAD design pays, and
 * the same through `CryptoProvider.aeadSeal` / `aeadOpen`.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
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
  // 12 short rounds rather than 6: a GC or a neighbour's burst then spoils fewer of each subject's.
  const rates = bestRates(seconds * 1000, {
    bare: () => {
      const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      cipher.setAAD(ad, { plaintextLength: plaintext.length });
      const ct = cipher.update(plaintext);
      cipher.final();
      const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      decipher.setAuthTag(cipher.getAuthTag());
      decipher.setAAD(ad, { plaintextLength: ct.length });
      decipher.update(ct);
      decipher.final();
    },
    provider: () => {
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
  }, 12);
  const baseline = Math.round(rates.bare!);
  const provider = Math.round(rates.provider!);
  const encryptDecrypt = Math.round(rates.encryptDecrypt!);
  const dhStep = Math.round(rates.dhStep!);
  const ratio = (value: number) => Math.round((value / baseline) * 100) / 100;
  out.line({ figure: 'baseline_aead_seal_open_per_s', value: baseline, via: 'node:crypto createCipheriv' });
  out.line({ figure: 'provider_aead_seal_open_per_s', value: provider, vs_baseline: ratio(provider) });
  out.line({ figure: 'encrypt_decrypt_per_s', value: encryptDecrypt, message_bytes: 1024, vs_baseline: ratio(encryptDecrypt) });
  out.line({ figure: 'dh_step_msgs_per_s', value: dhStep });

  out.summary({
    encrypt_decrypt_per_s: encryptDecrypt,
    dh_step_msgs_per_s: dhStep,
    baseline_aead_seal_open_per_s: baseline,
    encrypt_decrypt_vs_baseline: ratio(encryptDecrypt),
    target_encrypt_decrypt_per_s: 50_000,
  });
}
