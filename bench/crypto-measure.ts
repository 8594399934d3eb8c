/**
 * Shared by the crypto benchmarks (ratchet, x3dh, aead). The machine is shared with other
 * work, so the subject and its baseline run in alternating short rounds and each reports its
 * best round: load spikes then hit both alike instead of skewing one against the other.
 */
export function bestRates(totalMs: number, subjects: Record<string, () => void>, rounds = 6): Record<string, number> {
  const names = Object.keys(subjects);
  const best: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const slice = totalMs / rounds / names.length;
  for (const name of names) for (let i = 0; i < 3; i++) subjects[name]!();
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      const step = subjects[name]!;
      let ops = 0;
      const start = performance.now();
      let elapsed = 0;
      while (elapsed < slice) {
        step();
        ops++;
        elapsed = performance.now() - start;
      }
      best[name] = Math.max(best[name]!, (ops / elapsed) * 1000);
    }
  }
  return best;
}
