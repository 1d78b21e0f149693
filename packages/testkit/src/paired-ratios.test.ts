import { describe, expect, it } from 'vitest';
import { formatRatio, median, medianInterval, pairedRatios, quantile } from './paired-ratios.ts';

describe('paired ratios', () => {
  it('summarizes the per-pair ratios by their median and spread', () => {
    const r = pairedRatios([
      { variant: 90, baseline: 100 },
      { variant: 50, baseline: 100 }, // one pair hit by a stall
      { variant: 99, baseline: 110 },
      { variant: 200, baseline: 200 },
      { variant: 95, baseline: 100 },
    ]);
    expect(r.ratios).toEqual([0.9, 0.5, 0.9, 1, 0.95]);
    expect(r.median).toBe(0.9);
    expect([r.min, r.max]).toEqual([0.5, 1]);
    expect([r.q1, r.q3]).toEqual([0.9, 0.95]);
    expect(formatRatio(r)).toBe('0.90 (0.50–1.00, 5 pairs)');
  });

  it('takes the mean of the middle two for an even count and interpolates quartiles', () => {
    const r = pairedRatios([1, 2, 3, 4].map((variant) => ({ variant, baseline: 1 })));
    expect(r.median).toBe(2.5);
    expect([r.q1, r.q3]).toEqual([1.75, 3.25]);
    expect(median([4, 1, 3])).toBe(3);
    expect(quantile([10, 20], 0.5)).toBe(15);
  });

  it('leaves out pairs without a usable baseline and says when nothing is left', () => {
    const r = pairedRatios([{ variant: 1, baseline: 0 }, { variant: Number.NaN, baseline: 1 }, { variant: 3, baseline: 2 }]);
    expect(r.ratios).toEqual([1.5]);
    expect(formatRatio(r, 1)).toBe('1.5 (1.5–1.5, 1 pair)');
    const none = pairedRatios([]);
    expect(Number.isNaN(none.median)).toBe(true);
    expect(formatRatio(none)).toBe('—');
  });
});

describe('medianInterval', () => {
  it('brackets the median by order statistics with at least the asked confidence', () => {
    const sorted = Array.from({ length: 12 }, (_, i) => i + 1);
    // n = 12: P(X ≤ 2) = 79/4096 ≤ 0.05 < P(X ≤ 3) = 299/4096, so k = 3: [x3, x10], 96.1%.
    expect(medianInterval(sorted)).toEqual({ low: 3, high: 10, confidence: 1 - 2 * (79 / 4096) });
    // n = 5: only [x1, x5] (93.75%) reaches 90%; n = 4 cannot.
    expect(medianInterval([1, 2, 3, 4, 5])).toEqual({ low: 1, high: 5, confidence: 0.9375 });
    expect(medianInterval([1, 2, 3, 4])).toBeUndefined();
  });
  it('covers the true median at least as often as it claims (simulated)', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const sample = Array.from({ length: 16 }, random).sort((a, b) => a - b); // uniform: median 0.5
      const interval = medianInterval(sample)!;
      if (interval.low <= 0.5 && 0.5 <= interval.high) covered++;
    }
    expect(covered / trials).toBeGreaterThanOrEqual(0.88);
  });
});
