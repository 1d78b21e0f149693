import { describe, expect, it } from 'vitest';
import { judgeFlatness, type SoakSample } from './soak-verdict.ts';

const MB = 1024 * 1024;
/** One sample every 30 s for 30 minutes of `value(t)`. */
const run = (value: (t: number) => number, name = 'a meridian_keys'): SoakSample[] =>
  Array.from({ length: 61 }, (_, i) => ({ atSeconds: i * 30, values: new Map([[name, value(i * 30)]]) }));
const rule = { gcPeriodSeconds: 66, durationSeconds: 1800, tolerance: 0.25, slack: () => MB };

describe('the soak judgement', () => {
  it('passes a series that rises until the first GC period and then stays level', () => {
    const verdict = judgeFlatness(run((t) => (t < 66 ? 10 * MB + t * 0.1 * MB : 17 * MB + (t % 60 === 0 ? MB : 0))), rule);
    expect(verdict.flat).toBe(true);
    expect(verdict.series[0]).toMatchObject({ reference: 18 * MB, lastThirdMax: 18 * MB, flat: true });
    expect([verdict.referenceFrom, verdict.referenceTo, verdict.lastThirdFrom]).toEqual([90, 120, 1200]);
  });

  it('fails a series that keeps growing with the writes', () => {
    // 40 MB at the reference, +1 MB a minute: 60 MB by the last third, beyond 25% + 1 MB.
    const verdict = judgeFlatness(run((t) => 38 * MB + (t / 60) * MB), rule);
    expect(verdict.flat).toBe(false);
    expect(verdict.series[0]!.ratio).toBeGreaterThan(1.25);
  });

  it('lets a small table move by whole pages (the slack), not by more', () => {
    const pages = (n: number) => (t: number) => (t < 1200 ? 16_384 : 16_384 + n * 8192);
    expect(judgeFlatness(run(pages(64)), rule).flat).toBe(true);
    expect(judgeFlatness(run(pages(256)), rule).flat).toBe(false);
  });

  it('fails a series that vanished, and refuses a run too short to judge', () => {
    const samples = run(() => MB).map((s) => (s.atSeconds >= 1200 ? { ...s, values: new Map([['b RSS', MB]]) } : s));
    expect(judgeFlatness(samples, rule).series.find((s) => s.series === 'a meridian_keys')!.flat).toBe(false);
    expect(() => judgeFlatness(run(() => MB).slice(0, 2), rule)).toThrow(/too short/);
  });
});
