/**
 * `base` doubled once per failure so far, never above `max` (retries that back off: the outbox's
 * sends, the search index's runs).
 */
export function doublingDelay(base: number, failures: number, max: number): number {
  return Math.min(base * 2 ** Math.min(Math.max(failures, 0), 20), max);
}
