/**
 * Which differences count: a segment that differs in two consecutive rounds, or in a round where
 * both regions had applied the same updates; a difference seen once while updates were in flight
 * is not divergence. And the repair rate limit's arithmetic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DivergenceTracker, quiescent } from './divergence.ts';
import { TokenBucket } from './rate-limit.ts';

describe('DivergenceTracker', () => {
  it('reports exactly the segments seen in consecutive rounds (or all of them when quiet)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ segments: fc.uniqueArray(fc.nat(20)), quiet: fc.boolean() }), { maxLength: 12 }), (rounds) => {
        const tracker = new DivergenceTracker();
        let previous = new Set<number>();
        for (const r of rounds) {
          const got = tracker.observe('ns', r.segments, r.quiet);
          const expected = r.segments.filter((s) => r.quiet || previous.has(s)).sort((a, b) => a - b);
          expect(got).toEqual(expected);
          previous = new Set(r.segments);
          tracker.settle(new Set(['ns']));
        }
      }),
    );
  });

  it('forgets a namespace that was equal in between', () => {
    const tracker = new DivergenceTracker();
    expect(tracker.observe('a', [1], false)).toEqual([]);
    tracker.settle(new Set());
    expect(tracker.observe('a', [1], false)).toEqual([]);
    tracker.settle(new Set(['a']));
    expect(tracker.observe('a', [1], false)).toEqual([1]);
  });

  it('calls two regions quiescent only when every origin position is equal', () => {
    expect(quiescent(new Map([['eu.1', 5n], ['us.1', 0n]]), new Map([['eu.1', 5n]]))).toBe(true);
    expect(quiescent(new Map([['eu.1', 5n]]), new Map([['eu.1', 4n]]))).toBe(false);
    expect(quiescent(new Map([['eu.1', 5n]]), new Map([['eu.1', 5n], ['ap.1', 1n]]))).toBe(false);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then paces to the rate', () => {
    let now = 0;
    const bucket = new TokenBucket({ perSecond: 100, now: () => now });
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(50)).toBe(500);
    now += 500;
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(100)).toBe(1000);
    now += 10_000;
    expect(bucket.take(100)).toBe(0);
  });
});
