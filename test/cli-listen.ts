import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_BIN } from './cli-profiles.ts';

/*
 * Reading a `discordopus` process that prints as it goes (`listen`, `listen --json`, `call --json`):
 * its stdout line by line, its JSON lines as events, and waits that wake on its output instead
 * of polling. One reader for the messaging, files and calls CLI tests.
 */

export interface CliListenerOptions {
  env: NodeJS.ProcessEnv;
  /** Holds the child while it runs, so the test's afterAll can kill what is left. */
  children?: Set<ChildProcess>;
  /**
   * A stdout line that is not a JSON object fails every wait from then on (the output is
   * supposed to be only JSON). Default: such lines stay in `lines` and are not events.
   */
  strict?: boolean;
  /** How long `until` waits by default (ms). Default 120 s. */
  timeoutMs?: number;
  /** The script run with `process.execPath`. Default: the CLI's bin. */
  script?: string;
  /** Options for node itself, before the script (`--import`, ...). */
  nodeArgs?: readonly string[];
}

export type CliEvent = Record<string, any>;

/** A running CLI process: what it printed so far, and ways to wait for more. */
export class CliListener {
  /** Every complete stdout line, JSON or not. */
  readonly lines: string[] = [];
  /** The stdout lines that are JSON objects, parsed. */
  readonly events: CliEvent[] = [];
  stderr = '';
  /** The exit code (null after a signal), once the process ended and its output was read. */
  readonly exited: Promise<number | null>;
  private failure: Error | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly child: ChildProcess, private readonly options: CliListenerOptions) {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        this.take(buffered.slice(0, at));
        buffered = buffered.slice(at + 1);
      }
      this.wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.wake();
    });
    // 'close', not 'exit': by then every line the process printed has been read.
    this.exited = new Promise((resolve) => child.once('close', (code) => {
      this.closed = true;
      options.children?.delete(child);
      resolve(code);
      this.wake();
    }));
  }

  /** Starts `node [nodeArgs] <script> ...args` (by default the CLI's bin) with stdout and stderr piped. */
  static spawn(args: readonly string[], options: CliListenerOptions): CliListener {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script ?? CLI_BIN, ...args], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    options.children?.add(child);
    return new CliListener(child, options);
  }

  /** The events of one `type` (`message`, `status`, `file`, `call`, ...). */
  ofType(type: string): CliEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Resolves once `condition` holds on the events (checked on every output), or fails after `timeoutMs`. */
  until(what: string, condition: (events: CliEvent[]) => boolean, timeoutMs = this.options.timeoutMs ?? 120_000): Promise<void> {
    return this.wait(what, () => condition(this.events), timeoutMs);
  }

  /** Resolves once some stdout line matches, or fails after `timeoutMs`. */
  untilLine(what: string, match: (line: string) => boolean, timeoutMs = this.options.timeoutMs ?? 120_000): Promise<void> {
    return this.wait(what, () => this.lines.some(match), timeoutMs);
  }

  /** Ends the process (unless it already ended) and returns its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  private take(line: string): void {
    this.lines.push(line);
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) this.events.push(value as CliEvent);
    else if (this.options.strict) this.failure ??= new Error(`the process printed a line that is not a JSON object: ${JSON.stringify(line)}`);
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private wait(what: string, holds: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; printed ${JSON.stringify(this.lines)}; stderr ${this.stderr}`)), timeoutMs);
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (this.failure) done(new Error(`${this.failure.message} (while waiting for ${what}; stderr ${this.stderr})`));
        else if (holds()) done();
        else if (this.closed) done(new Error(`the process exited while waiting for ${what}: ${this.stderr}`));
      };
      this.waiters.add(check);
      check();
    });
  }
}
