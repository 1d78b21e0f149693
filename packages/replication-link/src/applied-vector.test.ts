import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AppliedVector, type AppliedRow } from './applied-vector.ts';

const empty: AppliedRow = { origin: 'us.1', region: 'us', contiguous: 0n, contiguousOutboxId: 0n, beyond: [] };

/** The law: contiguous = the largest S such that every sequence <= S is applied. */
function expectedContiguous(applied: ReadonlySet<number>, from = 0): number {
  let s = from;
  while (applied.has(s + 1)) s++;
  return s;
}

describe('applied vector', () => {
  it('in any arrival order, with duplicates, ends contiguous at the highest complete run', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 80 }), (arrivals) => {
        const vector = AppliedVector.fromRow(empty);
        const seen = new Set<number>();
        for (const s of arrivals) {
          expect(vector.mark(BigInt(s), BigInt(s * 10))).toBe(!seen.has(s));
          seen.add(s);
          // The law holds after every step, not only at the end.
          expect(vector.contiguous).toBe(BigInt(expectedContiguous(seen)));
        }
        const row = vector.toRow();
        const expected = expectedContiguous(seen);
        expect(row.contiguous).toBe(BigInt(expected));
        expect(row.contiguousOutboxId).toBe(BigInt(expected * 10));
        for (let s = 1; s <= 31; s++) expect(vector.has(BigInt(s))).toBe(seen.has(s));
        // beyond: exactly the applied sequences above the prefix, ascending, with their outbox ids.
        expect(row.beyond).toEqual([...seen].filter((s) => s > expected).sort((a, b) => a - b).map((s) => [BigInt(s), BigInt(s * 10)]));
        expect(vector.beyondSize).toBe(row.beyond.length);
        expect(vector.changed).toBe(arrivals.length > 0);
      }),
    );
  });

  it('continues from a stored row: the stored prefix and beyond count as applied, and a saved row loads back the same', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 60 }), (prefix, stored, arrivals) => {
        const storedBeyond = stored.filter((s) => s > prefix + 1).sort((a, b) => a - b);
        const start = AppliedVector.fromRow({ ...empty, contiguous: BigInt(prefix), contiguousOutboxId: BigInt(prefix * 10), beyond: storedBeyond.map((s) => [BigInt(s), BigInt(s * 10)] as const) });
        expect(start.changed).toBe(false);
        const applied = new Set<number>([...Array.from({ length: prefix }, (_, i) => i + 1), ...storedBeyond]);
        const vector = AppliedVector.fromRow(start.toRow());
        for (const s of arrivals) {
          vector.mark(BigInt(s), BigInt(s * 10));
          applied.add(s);
        }
        const expected = expectedContiguous(applied);
        expect(vector.contiguous).toBe(BigInt(expected));
        expect(vector.contiguousOutboxId).toBe(BigInt(expected * 10));
        for (let s = 1; s <= 61; s++) expect(vector.has(BigInt(s))).toBe(applied.has(s));
        const reloaded = AppliedVector.fromRow(vector.toRow());
        expect(reloaded.toRow()).toEqual(vector.toRow());
      }),
    );
  });

  it('a stored row whose beyond continues the prefix (an older writer) loads normalised', () => {
    const vector = AppliedVector.fromRow({ ...empty, contiguous: 2n, contiguousOutboxId: 20n, beyond: [[3n, 30n], [5n, 50n]] });
    expect(vector.contiguous).toBe(3n);
    expect(vector.contiguousOutboxId).toBe(30n);
    expect(vector.toRow().beyond).toEqual([[5n, 50n]]);
  });

  it('marks a large out-of-order backlog in linear time (no copy or sort per sequence)', () => {
    const vector = AppliedVector.fromRow(empty);
    const n = 200_000;
    const started = performance.now();
    // Every other partition first: half the backlog waits above the prefix, then the rest fills it.
    for (let s = 2; s <= n; s += 2) vector.mark(BigInt(s), BigInt(s));
    expect(vector.beyondSize).toBe(n / 2);
    for (let s = 1; s <= n; s += 2) vector.mark(BigInt(s), BigInt(s));
    expect(vector.contiguous).toBe(BigInt(n));
    expect(vector.beyondSize).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

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
