/**
 * Waiting with a deadline. A scenario that waits for replication must fail with what it last saw,
 * not hang until the test runner's timeout with no clue.
 */

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** What is being waited for, for the error message. */
  readonly what?: string;
}

export class WaitTimeoutError extends Error {
  readonly lastValue: unknown;
  constructor(message: string, lastValue: unknown) {
    super(message);
    this.name = 'WaitTimeoutError';
    this.lastValue = lastValue;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until it returns a value for which `done` is true, and returns that value.
 * A probe that throws counts as not done (the error is kept for the timeout message).
 */
export async function waitFor<T>(probe: () => T | Promise<T>, done: (value: T) => boolean = Boolean, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await probe();
      last = value;
      if (done(value)) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const shown = last instanceof Error ? `${last.name}: ${last.message}` : JSON.stringify(last);
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}; last: ${shown?.slice(0, 2000)}`, last);
    }
    await sleep(intervalMs);
  }
}
