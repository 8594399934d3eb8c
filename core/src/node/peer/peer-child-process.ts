import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Emitter, type Event } from '@discordopus/sdk';
import type { PeerLinkState } from './peer-link.ts';
import type { PeerSignal } from './peer-signal.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peer-link-child.ts');

/** A {@link PeerLink} running in a child process (peer-link-child.ts), signals over stdio. */
export class PeerChildProcess {
  private readonly onSignalEmitter = new Emitter<unknown>();
  private readonly onStateEmitter = new Emitter<PeerLinkState>();
  /** A signal the child's link sent. */
  readonly onSignal: Event<unknown> = this.onSignalEmitter.event;
  readonly onState: Event<PeerLinkState> = this.onStateEmitter.event;
  readonly exited: Promise<number | null>;
  /** Resolves when the child is listening (tsx start-up takes a while on a busy machine). */
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;

  /** `sctpTuning: false`: the child's link runs the settings links use off loopback (PeerLinkOptions.sctpTuning). */
  constructor(localId: string, remoteId: string, options: { sctpTuning?: boolean } = {}) {
    this.child = spawn(process.execPath, ['--import', 'tsx', script, localId, remoteId, ...(options.sctpTuning === false ? ['--untuned'] : [])], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    let markReady!: () => void;
    this.ready = new Promise<void>((resolve) => (markReady = resolve));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const record = JSON.parse(line) as { signal?: unknown; state?: PeerLinkState; ready?: boolean };
      if (record.ready) markReady();
      if (record.signal !== undefined) this.onSignalEmitter.fire(record.signal);
      if (record.state !== undefined) this.onStateEmitter.fire(record.state);
    });
  }

  /** Delivers a signal to the child's link. */
  signal(signal: PeerSignal): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${JSON.stringify({ signal })}\n`);
  }

  /** Ends the child gracefully (its link says bye). */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    await this.exited;
  }

  /** Kills the child at once: its link vanishes without a bye. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
