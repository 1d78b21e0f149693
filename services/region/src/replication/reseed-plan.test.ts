/**
 * The pure decisions of a reseed: the applied vector's jump to the peer's published position,
 * and where each partition restarts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AppliedVector } from './applied-vector.ts';
import { restartOffsets } from './reseed-plan.ts';

const vectorOf = (contiguous: bigint, beyond: readonly bigint[]): AppliedVector =>
  AppliedVector.fromRow({ origin: 'eu.1', region: 'eu', contiguous, contiguousOutboxId: contiguous * 10n, beyond: beyond.map((s) => [s, s * 10n] as const) });

describe('AppliedVector.coverUpTo (a reseed jump)', () => {
  it('covers every sequence up to the published one, keeps the ones applied above it and runs the prefix over them', () => {
    const v = vectorOf(3n, [5n, 9n, 11n, 12n, 14n]);
    v.coverUpTo(10n, 100n);
    expect(v.contiguous).toBe(12n); // 11 and 12 were applied above the jump: the prefix runs on over them
    expect(v.contiguousOutboxId).toBe(120n);
    expect(v.toRow().beyond).toEqual([[14n, 140n]]);
    expect(v.changed).toBe(true);
    for (let s = 1n; s <= 12n; s++) expect(v.has(s)).toBe(true);
    expect(v.has(13n)).toBe(false);
  });

  it('never lowers the prefix: a published position at or below it changes nothing', () => {
    const v = vectorOf(8n, [10n]);
    v.coverUpTo(5n, 50n);
    v.coverUpTo(8n, 1n);
    expect(v.changed).toBe(false);
    expect(v.toRow()).toEqual({ origin: 'eu.1', region: 'eu', contiguous: 8n, contiguousOutboxId: 80n, beyond: [[10n, 100n]] });
  });

  it('property: after the jump exactly the sequences up to S, those applied before and the runs they complete are applied', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 30n }), fc.uniqueArray(fc.bigInt({ min: 1n, max: 60n }), { maxLength: 30 }), fc.bigInt({ min: 0n, max: 60n }), (contiguous, applied, jump) => {
        const v = vectorOf(contiguous, applied.filter((s) => s > contiguous));
        const before = new Set<bigint>();
        for (let s = 1n; s <= 70n; s++) if (v.has(s)) before.add(s);
        v.coverUpTo(jump, jump * 10n);
        let expectedPrefix = contiguous > jump ? contiguous : jump;
        while (before.has(expectedPrefix + 1n)) expectedPrefix++;
        expect(v.contiguous).toBe(expectedPrefix);
        for (let s = 1n; s <= 70n; s++) expect(v.has(s)).toBe(s <= jump || before.has(s));
        expect(v.toRow().beyond.every(([s]) => s > v.contiguous + 1n)).toBe(true);
      }),
    );
  });
});

describe('restartOffsets', () => {
  const marks = new Map([
    [0, { low: 10n, high: 20n }],
    [1, { low: 0n, high: 7n }],
    [2, { low: 5n, high: 5n }],
  ]);

  it('restarts a lost partition at its log start and keeps the offsets Kafka can still serve', () => {
    const restart = restartOffsets(new Map([[0, 4n], [1, 6n], [2, 9n]]), marks);
    expect(restart).toEqual(new Map([[0, 10n], [1, 6n], [2, 5n]])); // 0 below the log start, 2 beyond the end
  });

  it('starts a partition without a stored offset at its log start', () => {
    expect(restartOffsets(new Map([[0, 3n]]), marks)).toEqual(new Map([[0, 10n], [1, 0n], [2, 5n]]));
  });

  it('answers undefined when no stored offset is lost (another replica reseeded already)', () => {
    expect(restartOffsets(new Map([[0, 10n], [1, 7n], [2, 5n]]), marks)).toBeUndefined();
    expect(restartOffsets(new Map(), marks)).toBeUndefined();
  });

  it('a stored partition the topic no longer has counts as lost', () => {
    expect(restartOffsets(new Map([[0, 12n], [3, 1n]]), marks)).toEqual(new Map([[0, 12n], [1, 0n], [2, 5n]]));
  });
});
