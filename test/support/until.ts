/**
 * Polls `condition` every 20 ms until it holds; throws `timed out waiting for <what>` after
 * `timeoutMs`. For state that has no event to wait on (engine stats, counters, flags).
 */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
