import { toDisposable, type Disposable } from './disposable.ts';

/**
 * A subscribable source of values of type `T`. Call it with a listener to subscribe; dispose
 * the result to unsubscribe.
 *
 * @example
 * const sub = contacts.onDidChange((c) => console.log(c.userId));
 * ctx.subscriptions.push(sub);
 */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * Owns an {@link Event}. Keep the emitter private and expose `emitter.event` as a readonly
 * `onDidX` property. A listener that throws is reported through `onListenerError` and does not
 * stop the other listeners.
 */
export class Emitter<T> {
  private readonly listeners = new Set<(value: T) => void>();
  private disposed = false;

  constructor(private readonly onListenerError: (error: unknown) => void = defaultListenerError) {}

  readonly event: Event<T> = (listener) => {
    if (this.disposed) return toDisposable(() => {});
    // Wrap so the same function can be subscribed twice and unsubscribed independently.
    const entry = (value: T) => listener(value);
    this.listeners.add(entry);
    return toDisposable(() => this.listeners.delete(entry));
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }
}

function defaultListenerError(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** Resolves with the next value of `event` (or rejects after `timeoutMs`, if given). */
export function nextEvent<T>(event: Event<T>, filter: (value: T) => boolean = () => true, timeoutMs?: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const sub = event((value) => {
      if (!filter(value)) return;
      sub.dispose();
      if (timer) clearTimeout(timer);
      resolve(value);
    });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`nextEvent: no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
    }
  });
}
