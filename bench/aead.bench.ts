/**
 * AEAD throughput (seal then open) for 64 KiB messages, per backend and algorithm. The summary
 * reports ChaCha20-Poly1305 (the protocols' AEAD); AES-256-GCM figures are printed as lines.
 * Baseline in the same run: SHA-256 over the same bytes on node (a single pass over the data).
 */
import type { BenchOutput } from './run.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { NobleCryptoProvider } from '../core/src/common/crypto/noble-crypto-provider.ts';
import type { AeadAlgorithm, CryptoProvider } from '../core/src/common/crypto/index.ts';

const SIZE = 64 * 1024;

function mbPerSecond(durationMs: number, step: () => void): number {
  step();
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    step();
    ops++;
    elapsed = performance.now() - start;
  }
  return Math.round(((ops * SIZE) / (1024 * 1024) / (elapsed / 1000)) * 10) / 10;
}

export default async function aeadBench(out: BenchOutput): Promise<void> {
  const seconds = Number(out.args[0] ?? 3);
  const node = new NodeCryptoProvider();
  const plaintext = node.randomBytes(SIZE);
  const key = node.randomBytes(32);
  const nonce = node.randomBytes(12);
  const ad = node.randomBytes(32);

  const baseline = mbPerSecond(seconds * 1000, () => node.sha256(plaintext));
  out.line({ figure: 'baseline_node_sha256_mb_per_s', value: baseline });

  const results: Record<string, number> = {};
  for (const crypto of [node, new NobleCryptoProvider()] as CryptoProvider[]) {
    for (const algorithm of ['chacha20-poly1305', 'aes-256-gcm'] as AeadAlgorithm[]) {
      // Seal+open moves the data twice; report MB of messages sealed and opened per second.
      const value = mbPerSecond(seconds * 1000, () => {
        crypto.aeadOpen(algorithm, key, nonce, crypto.aeadSeal(algorithm, key, nonce, plaintext, ad), ad);
      });
      results[`${crypto.name}_${algorithm}`] = value;
      out.line({ figure: 'seal_open_mb_per_s', backend: crypto.name, algorithm, message_bytes: SIZE, value });
    }
  }
  out.summary({
    node_mb_per_s: results['node_chacha20-poly1305'],
    noble_mb_per_s: results['noble_chacha20-poly1305'],
    node_aes_gcm_mb_per_s: results['node_aes-256-gcm'],
    noble_aes_gcm_mb_per_s: results['noble_aes-256-gcm'],
    baseline_node_sha256_mb_per_s: baseline,
  });
}
