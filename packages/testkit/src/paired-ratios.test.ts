import { describe, expect, it } from 'vitest';
import { formatRatio, median, pairedRatios, quantile } from './paired-ratios.ts';

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
