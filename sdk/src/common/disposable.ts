/**
 * Something that holds a resource until it is disposed: an event subscription, a registered
 * command, an open channel. Every `register*` and `on*` in the SDK returns one.
 */
export interface Disposable {
  dispose(): void;
}

/** Wraps a cleanup function as a {@link Disposable} that runs it at most once. */
export function toDisposable(cleanup: () => void): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      cleanup();
    },
  };
}

/**
 * Holds disposables and disposes them in reverse order of addition, so that what was set up
 * last is torn down first. Errors thrown by one do not stop the others; they are collected and
 * rethrown together as an `AggregateError`.
 */
export class DisposableCollection implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Adds a disposable. If the collection is already disposed, the item is disposed at once.
   * @returns a disposable that removes the item from the collection and disposes it.
   */
  push(item: Disposable): Disposable {
    if (this.disposed) {
      item.dispose();
      return toDisposable(() => {});
    }
    this.items.push(item);
    return toDisposable(() => {
      const at = this.items.indexOf(item);
      if (at >= 0) this.items.splice(at, 1);
      item.dispose();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    while (this.items.length > 0) {
      const item = this.items.pop()!;
      try {
        item.dispose();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'DisposableCollection: some disposables threw');
  }
}
