import { describe, expect, it } from 'vitest';
import { estimatePassphraseStrength } from './passphrase-strength.ts';

describe('estimatePassphraseStrength', () => {
  it('rates short, repetitive and common passphrases weak', () => {
    expect(estimatePassphraseStrength('').score).toBe(0);
    expect(estimatePassphraseStrength('abc').score).toBe(0);
    expect(estimatePassphraseStrength('aaaaaaaaaaaa').score).toBe(0);
    expect(estimatePassphraseStrength('abcdefghijkl').score).toBe(0);
    expect(estimatePassphraseStrength('password123').score).toBeLessThanOrEqual(1);
  });

  it('rates long mixed passphrases strong', () => {
    expect(estimatePassphraseStrength('correct horse battery staple').score).toBe(4);
    expect(estimatePassphraseStrength('Tr0ub4dor&3x!q').score).toBeGreaterThanOrEqual(3);
  });

  it('never decreases when a random character is appended', () => {
    let previous = 0;
    let text = 'q';
    for (const c of 'W7#kp2Zr9!mX') {
      text += c;
      const { bits } = estimatePassphraseStrength(text);
      expect(bits).toBeGreaterThanOrEqual(previous);
      previous = bits;
    }
  });

  it('gives a hint until strong', () => {
    expect(estimatePassphraseStrength('short').hint).toContain('at least 8');
    expect(estimatePassphraseStrength('correct horse battery staple').hint).toBe('');
  });

  it('refuses a non-string', () => {
    expect(() => estimatePassphraseStrength(3 as unknown as string)).toThrow(TypeError);
  });
});
