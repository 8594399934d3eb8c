/**
 * `npm run bench -- <name> [options]` runs bench/<name>.bench.ts. A benchmark prints one JSON
 * object per line through `out.line`; the last line is its summary (`out.summary`), with stable
 * keys so figures can be compared over time. Each benchmark measures its baseline in the same run.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

export interface BenchOutput {
  /** Prints one intermediate figure as a JSON line. */
  line(record: Record<string, unknown>): void;
  /** Prints the summary line; call once, last. */
  summary(record: Record<string, unknown>): void;
  /** Extra command-line arguments after the name. */
  readonly args: readonly string[];
}

export type Benchmark = (out: BenchOutput) => Promise<void>;

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>   (one of: ${available.join(', ') || 'none yet'})`);
  process.exit(2);
}

const print = (record: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ bench: name, ...record })}\n`);
const module = (await import(pathToFileURL(path.join(here, `${name}.bench.ts`)).href)) as { default: Benchmark };
await module.default({ line: print, summary: (r) => print({ summary: true, ...r }), args });
process.exit(0);
