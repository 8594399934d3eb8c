import type { PeerSignal } from './peer-signal.ts';

/** Decides what the relay does with one signal: pass it, change it, or drop it (`undefined`). */
export type SignalFilter = (from: string, to: string, signal: PeerSignal) => unknown;

/**
 * Carries peer signals between links in one process, the way the signaling path does between
 * machines: asynchronously, in order per destination, as JSON (so only JSON-safe signals
 * survive). For tests, benchmarks and single-process setups; `filter` lets a test play the
 * hostile server that alters or drops signals.
 */
export class InMemorySignalRelay {
  private readonly handlers = new Map<string, (from: string, signal: unknown) => Promise<void> | void>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Replaceable at any time. */
  filter: SignalFilter | undefined;

  constructor(filter?: SignalFilter) {
    this.filter = filter;
  }

  /**
   * Registers the receiver for `id` and returns its sending function.
   * @returns `send(to, signal)`.
   */
  attach(id: string, handler: (from: string, signal: unknown) => Promise<void> | void): (to: string, signal: PeerSignal) => void {
    this.handlers.set(id, handler);
    return (to, signal) => this.deliver(id, to, signal);
  }

  detach(id: string): void {
    this.handlers.delete(id);
  }

  /** Resolves when everything sent so far has been handled. */
  async idle(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private deliver(from: string, to: string, signal: PeerSignal): void {
    const filtered = this.filter ? this.filter(from, to, signal) : signal;
    if (filtered === undefined) return;
    const wire = JSON.stringify(filtered);
    const previous = this.chains.get(to) ?? Promise.resolve();
    const next = previous.then(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const handler = this.handlers.get(to);
      if (handler) await handler(from, JSON.parse(wire));
    });
    this.chains.set(to, next.catch(() => {}));
  }
}
