/**
 * AEAD throughput for 64 KiB messages, per backend and algorithm, seal and open measured
 * separately (MB of message per second). The summary reports sealing with ChaCha20-Poly1305 (the
 * protocols' AEAD); AES-256-GCM and open figures are printed as lines. Baseline in the same run:
 * node's SHA-256 over the same bytes (one pass over the data), interleaved with the subjects.
 */
import type { BenchOutput } from './run.ts';
import { bestRates } from './crypto-measure.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { NobleCryptoProvider } from '../core/src/common/crypto/noble-crypto-provider.ts';
import type { AeadAlgorithm, CryptoProvider } from '../core/src/common/crypto/index.ts';

const SIZE = 64 * 1024;

export default async function aeadBench(out: BenchOutput): Promise<void> {
  const seconds = Number(out.args[0] ?? 16);
  const node = new NodeCryptoProvider();
  const plaintext = node.randomBytes(SIZE);
  const key = node.randomBytes(32);
  const nonce = node.randomBytes(12);
  const ad = node.randomBytes(32);

  const subjects: Record<string, () => void> = { baseline: () => node.sha256(plaintext) };
  for (const crypto of [node, new NobleCryptoProvider()] as CryptoProvider[]) {
    for (const algorithm of ['chacha20-poly1305', 'aes-256-gcm'] as AeadAlgorithm[]) {
      const sealed = crypto.aeadSeal(algorithm, key, nonce, plaintext, ad);
      subjects[`${crypto.name} ${algorithm} seal`] = () => crypto.aeadSeal(algorithm, key, nonce, plaintext, ad);
      subjects[`${crypto.name} ${algorithm} open`] = () => crypto.aeadOpen(algorithm, key, nonce, sealed, ad);
    }
  }
  const rates = bestRates(seconds * 1000, subjects, 4);
  const mb = (name: string) => Math.round(((rates[name]! * SIZE) / (1024 * 1024)) * 10) / 10;
  for (const name of Object.keys(subjects)) {
    if (name === 'baseline') continue;
    const [backend, algorithm, operation] = name.split(' ');
    out.line({ figure: 'mb_per_s', backend, algorithm, operation, message_bytes: SIZE, value: mb(name) });
  }
  out.line({ figure: 'baseline_node_sha256_mb_per_s', value: mb('baseline') });
  out.summary({
    node_mb_per_s: mb('node chacha20-poly1305 seal'),
    noble_mb_per_s: mb('noble chacha20-poly1305 seal'),
    node_aes_gcm_mb_per_s: mb('node aes-256-gcm seal'),
    noble_aes_gcm_mb_per_s: mb('noble aes-256-gcm seal'),
    baseline_node_sha256_mb_per_s: mb('baseline'),
  });
}
