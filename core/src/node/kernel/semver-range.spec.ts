import { describe, expect, it } from 'vitest';
import { satisfies } from './semver-range.ts';

describe('satisfies', () => {
  const cases: [string, string, boolean][] = [
    ['0.1.0', '^0.1.0', true],
    ['0.1.9', '^0.1.0', true],
    ['0.2.0', '^0.1.0', false],
    ['0.0.9', '^0.1.0', false],
    ['1.4.2', '^1.2.3', true],
    ['2.0.0', '^1.2.3', false],
    ['0.0.3', '^0.0.3', true],
    ['0.0.4', '^0.0.3', false],
    ['1.2.9', '~1.2.3', true],
    ['1.3.0', '~1.2.3', false],
    ['1.9.0', '~1', true],
    ['0.1.5', '0.1.x', true],
    ['0.2.0', '0.1.x', false],
    ['0.1.0', '0.1', true],
    ['0.1.0', '0.1.0', true],
    ['0.1.1', '=0.1.0', false],
    ['0.1.0', '>=0.1.0 <0.3.0', true],
    ['0.3.0', '>=0.1.0 <0.3.0', false],
    ['0.3.0', '>= 0.1.0 < 0.3.0', false],
    ['0.1.0', '>0.1.0', false],
    ['0.1.1', '>0.1.0', true],
    ['0.1.0', '<=0.1', true],
    ['0.2.0', '<=0.1', false],
    ['0.1.0', '*', true],
    ['0.1.0', '', true],
    ['0.1.0', '^2.0.0 || ^0.1.0', true],
    ['0.1.0', '^2.0.0 || ^3.0.0', false],
    ['0.2.0-beta.1', '^0.1.0', false],
    ['0.1.0-beta.1', '>=0.1.0', false],
  ];
  it.each(cases)('%s in "%s" is %s', (version, range, expected) => {
    expect(satisfies(version, range)).toBe(expected);
  });

  it('refuses what it cannot read', () => {
    expect(() => satisfies('0.1', '^0.1.0')).toThrow(RangeError);
    expect(() => satisfies('0.1.0', '^banana')).toThrow(/cannot read range part/);
    expect(() => satisfies('0.1.0', '>=')).toThrow(RangeError);
  });
});
