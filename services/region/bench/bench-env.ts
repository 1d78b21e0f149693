/** Benchmark settings from the environment (BENCH_*), validated like the service's own config. */

/** An integer setting in [min, max]; `fallback` when unset; a clear error otherwise. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}: expected an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}
