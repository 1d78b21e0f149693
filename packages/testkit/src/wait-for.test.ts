import { describe, expect, it } from 'vitest';
import { waitFor, WaitTimeoutError } from './wait-for.ts';
import { uniqueName } from './names.ts';

describe('waitFor', () => {
  it('returns the first value that is done', async () => {
    let n = 0;
    await expect(waitFor(() => ++n, (v) => v >= 3, { intervalMs: 1 })).resolves.toBe(3);
  });
  it('fails at the deadline with what it last saw', async () => {
    const error = await waitFor(() => 'still-waiting', () => false, { timeoutMs: 50, intervalMs: 5, what: 'the impossible' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as Error).message).toMatch(/the impossible.*still-waiting/);
  });
});

describe('uniqueName', () => {
  it('gives distinct valid identifiers', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueName('My-Test')));
    expect(names.size).toBe(100);
    for (const n of names) expect(n).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
  });
});
