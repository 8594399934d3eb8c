/**
 * A deliberately small semver range check for `engines.sdk`: enough for the ranges plugin
 * authors write (`^0.1.0`, `~1.2`, `>=0.1.0 <0.3.0`, `1.x`, `*`, `a || b`) without pulling in a
 * dependency. Pre-release versions compare below their release, without further ordering.
 */

type Triple = [number, number, number];

interface Version {
  core: Triple;
  prerelease: boolean;
}

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?$/;
const COMPARATOR = /^(\^|~|>=|<=|>|<|=)?\s*(.+)$/;

function parseVersion(text: string): Version {
  const match = VERSION.exec(text);
  if (!match) throw new RangeError(`satisfies: "${text}" is not a semantic version`);
  return { core: [Number(match[1]), Number(match[2]), Number(match[3])], prerelease: match[4] !== undefined };
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const d = a.core[i]! - b.core[i]!;
    if (d !== 0) return Math.sign(d);
  }
  if (a.prerelease === b.prerelease) return 0;
  return a.prerelease ? -1 : 1;
}

type Test = (v: Version) => boolean;

function comparatorTest(text: string): Test {
  const match = COMPARATOR.exec(text);
  const partial = match ? PARTIAL.exec(match[2]!.trim()) : null;
  if (!match || !partial) throw new RangeError(`satisfies: cannot read range part "${text}"`);
  const op = match[1] ?? '=';
  // Number of leading numeric parts given; `1.x` and `1` both give one.
  const parts: number[] = [];
  for (const p of [partial[1], partial[2], partial[3]]) {
    if (p === undefined || /^[xX*]$/.test(p)) break;
    parts.push(Number(p));
  }
  const pre = partial[4] !== undefined;
  const low: Version = { core: [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0], prerelease: pre };
  const given = parts.length;
  if (given === 0) return () => true;

  // Exclusive upper bound of the versions a partial or caret/tilde range allows.
  const bump = (index: number): Version => {
    const core: Triple = [low.core[0], low.core[1], low.core[2]];
    core[index]! += 1;
    for (let i = index + 1; i < 3; i++) core[i] = 0;
    return { core, prerelease: true };
  };
  const within = (upper: Version): Test => (v) => compare(v, low) >= 0 && compare(v, upper) < 0;

  switch (op) {
    case '^': {
      const first = low.core.findIndex((n, i) => n !== 0 || i === given - 1 || i === 2);
      return within(bump(Math.min(first, given - 1)));
    }
    case '~':
      return within(bump(given >= 2 ? 1 : 0));
    case '=':
      return given === 3 ? (v) => compare(v, low) === 0 : within(bump(given - 1));
    case '>=':
      return (v) => compare(v, low) >= 0;
    case '>':
      return given === 3 ? (v) => compare(v, low) > 0 : (v) => compare(v, bump(given - 1)) >= 0;
    case '<':
      return (v) => compare(v, low) < 0;
    default: // '<='
      return given === 3 ? (v) => compare(v, low) <= 0 : (v) => compare(v, bump(given - 1)) < 0;
  }
}

/**
 * True when `version` lies in `range`.
 * @throws RangeError when `version` or `range` cannot be read.
 */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version.trim());
  const alternatives = range.split('||').map((alt) => alt.trim());
  return alternatives.some((alt) => {
    if (alt === '' || alt === '*') return true;
    // Join an operator separated from its version by spaces (`>= 1.0.0`).
    const tokens = alt.replace(/(\^|~|>=|<=|>|<|=)\s+/g, '$1').split(/\s+/);
    return tokens.map(comparatorTest).every((test) => test(v));
  });
}
