/**
 * Durations as operators write them in settings: a whole number and a unit — `500ms`, `5s`,
 * `10m`, `24h`, `7d`. Nothing else is accepted (no bare numbers: a setting that says `24`
 * means hours to one reader and seconds to another).
 */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** Milliseconds of `raw`; throws an Error whose message says what was expected. */
export function parseDuration(raw: string): number {
  const match = DURATION.exec(raw.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : NaN;
  if (!Number.isSafeInteger(ms)) throw new Error('a duration such as 500ms, 5s, 10m, 24h or 7d');
  return ms;
}

/** The shortest exact form of `ms` (`formatDuration(parseDuration(x))` is x in its largest whole unit). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', UNIT_MS.d], ['h', UNIT_MS.h], ['m', UNIT_MS.m], ['s', UNIT_MS.s]] as const) {
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
