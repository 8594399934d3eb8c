/*
 * A small, documented passphrase strength estimator (no dictionary download): it estimates the
 * guessing entropy as length × log2(alphabet size), then removes credit for what attackers try
 * first (repeats, sequences, a few very common words). It is deliberately pessimistic; the
 * passphrase itself is additionally stretched by the storage KDF.
 */

export interface PassphraseStrength {
  /** 0 (very weak) to 4 (strong). */
  score: 0 | 1 | 2 | 3 | 4;
  /** Estimated entropy in bits, after penalties. */
  bits: number;
  label: 'very weak' | 'weak' | 'fair' | 'good' | 'strong';
  /** What would make it stronger; empty when strong. */
  hint: string;
}

/** Shortest passphrase the app accepts at all. */
export const MIN_PASSPHRASE_LENGTH = 8;

const COMMON = ['password', 'passwort', 'qwerty', 'azerty', 'letmein', 'welcome', 'admin', 'iloveyou', 'monkey', 'dragon', '123456', 'abc123', 'secret', 'discord'];
const LABELS = ['very weak', 'weak', 'fair', 'good', 'strong'] as const;

/** Estimates the strength of `passphrase`. */
export function estimatePassphraseStrength(passphrase: string): PassphraseStrength {
  if (typeof passphrase !== 'string') throw new TypeError('estimatePassphraseStrength: expected a string');
  const chars = [...passphrase];
  let alphabet = 0;
  if (/[a-z]/.test(passphrase)) alphabet += 26;
  if (/[A-Z]/.test(passphrase)) alphabet += 26;
  if (/[0-9]/.test(passphrase)) alphabet += 10;
  if (/[^a-zA-Z0-9]/.test(passphrase)) alphabet += 33;
  // Each character after a run of the same or consecutive characters adds almost nothing.
  let effective = 0;
  for (let i = 0; i < chars.length; i++) {
    const prev = i > 0 ? chars[i - 1]!.codePointAt(0)! : undefined;
    const cur = chars[i]!.codePointAt(0)!;
    effective += prev !== undefined && Math.abs(cur - prev) <= 1 ? 0.25 : 1;
  }
  let bits = alphabet > 0 ? effective * Math.log2(alphabet) : 0;
  const lower = passphrase.toLowerCase();
  for (const word of COMMON) if (lower.includes(word)) bits -= word.length * Math.log2(alphabet || 1) * 0.8;
  bits = Math.max(0, Math.round(bits));
  const score = (chars.length < MIN_PASSPHRASE_LENGTH ? Math.min(1, bits >= 28 ? 1 : 0) : bits < 28 ? 0 : bits < 40 ? 1 : bits < 55 ? 2 : bits < 70 ? 3 : 4) as PassphraseStrength['score'];
  return { score, bits, label: LABELS[score], hint: hintFor(passphrase, score) };
}

function hintFor(passphrase: string, score: number): string {
  if (score >= 4) return '';
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) return `Use at least ${MIN_PASSPHRASE_LENGTH} characters.`;
  return 'Add more words or characters; a few unrelated words are easy to remember and hard to guess.';
}
