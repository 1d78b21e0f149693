/** Benchmark settings from the environment (BENCH_*), validated like the service's own config. */

/** An integer setting in [min, max]; `fallback` when unset; a clear error otherwise. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}: expected an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}

/**
 * The MERIDIAN_* settings of this process's environment, passed on to the region services a
 * benchmark starts (infra-local's launcher drops inherited MERIDIAN_* variables), e.g.
 * MERIDIAN_OTEL_INSTRUMENTATIONS=none to measure without telemetry.
 */
export function serviceSettings(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MERIDIAN_') && e[1] !== undefined));
}

/** How the report names the services' settings: "telemetry at its defaults", or what was changed. */
export function describeSettings(settings: Readonly<Record<string, string>>): string {
  const changed = Object.entries(settings);
  return `telemetry at its defaults${changed.length > 0 ? ` except ${changed.map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;
}
