/**
 * The pure decisions of a reseed: where each partition restarts (the applied vector's jump to
 * the peer's published position is tested with the vector, in @meridian/replication-link).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AppliedVector } from '@meridian/replication-link';
import { bootstrapOffsets, restartOffsets, sequenceGap } from './reseed-plan.ts';

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

describe('restartOffsets after a gap in the sequences', () => {
  it('restarts every partition at its log start', () => {
    const marks = new Map([
      [0, { low: 0n, high: 20n }],
      [1, { low: 3n, high: 7n }],
    ]);
    expect(restartOffsets(new Map([[0, 12n], [1, 5n]]), marks, true)).toEqual(new Map([[0, 0n], [1, 3n]]));
  });
});

describe('sequenceGap', () => {
  /**
   * A peer's topic as its relay writes it: sequences 1..n in order, each to one partition (a
   * declaration to every one), with republished runs (a relay that published and did not mark).
   * The consumer starts where a region that applied 1..k stands, reads the partitions interleaved in
   * any order, and may skip a stretch of one partition (records deleted, or a recreated topic
   * refilled past its stored offset).
   */
  const topic = fc
    .record({
      partitions: fc.integer({ min: 1, max: 3 }),
      n: fc.integer({ min: 2, max: 40 }),
      seed: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 200, maxLength: 200 }),
      k: fc.nat(),
      skip: fc.option(fc.record({ partition: fc.nat(), from: fc.nat(), length: fc.integer({ min: 1, max: 10 }) }), { nil: undefined }),
    })
    .map(({ partitions, n, seed, k, skip }) => {
      let i = 0;
      const rnd = (m: number): number => seed[i++ % seed.length]! % m;
      const logs: bigint[][] = Array.from({ length: partitions }, () => []);
      const home: number[][] = []; // sequence → the partitions it goes to (its key's; a declaration's: all)
      for (let s = 1; s <= n; s++) {
        home[s] = rnd(10) === 0 ? [...logs.keys()] : [rnd(partitions)];
        for (const p of home[s]!) logs[p]!.push(BigInt(s));
        // A relay that published and did not mark: its successor publishes the run again, each to its partitions.
        if (rnd(12) === 0 && s > 2) for (let r = s - 2; r <= s; r++) for (const p of home[r]!) logs[p]!.push(BigInt(r));
      }
      const applied = BigInt(k % n);
      // Where the consumer stands: past every record of sequence ≤ applied.
      const starts = logs.map((log) => {
        let at = 0;
        log.forEach((s, j) => {
          if (s <= applied) at = j + 1;
        });
        return at;
      });
      return { partitions, n, logs, applied, starts, skip: skip && { ...skip, partition: skip.partition % partitions }, order: seed };
    });

  it('never fires while nothing is skipped, and finds a skipped sequence once every partition delivered past it', () => {
    fc.assert(
      fc.property(topic, ({ partitions, logs, applied, starts, skip, order }) => {
        const vector = AppliedVector.fromRow({ origin: 'p.1', region: 'p', contiguous: applied, contiguousOutboxId: applied, beyond: [] });
        const seen = new Map<number, Map<string, bigint>>();
        const skipped = new Set<bigint>();
        const at = [...starts];
        if (skip) {
          const p = skip.partition;
          const from = Math.min(at[p]!, logs[p]!.length);
          const to = Math.min(from + skip.length, logs[p]!.length);
          for (let j = from; j < to; j++) skipped.add(logs[p]![j]!);
          at[p] = to;
        }
        // A sequence is lost only if no record of it is consumed anywhere.
        const consumed = new Set<bigint>(logs.flatMap((log, p) => log.slice(at[p])));
        const lost = [...skipped].filter((s) => s > applied && !consumed.has(s));
        let step = 0;
        let found: ReturnType<typeof sequenceGap>;
        while (at.some((j, p) => j < logs[p]!.length)) {
          const p = order[step++ % order.length]! % partitions;
          if (at[p]! >= logs[p]!.length) continue;
          const s = logs[p]![at[p]!++]!;
          vector.mark(s, s);
          const here = seen.get(p) ?? new Map<string, bigint>();
          here.set('p.1', s > (here.get('p.1') ?? 0n) ? s : here.get('p.1')!);
          seen.set(p, here);
          found = sequenceGap(seen, partitions, () => vector.contiguous);
          // Nothing skipped: never a false alarm. (A skipped record a republished copy would fill
          // later may raise it: records were lost from the topic all the same, and a reseed is safe.)
          if (![...skipped].some((x) => x > applied)) expect(found).toBeUndefined();
          if (found) break;
        }
        if (found) {
          expect(skipped).toContain(found.sequence);
          expect(found.sequence).toBe(vector.contiguous + 1n);
        } else if (lost.length > 0) {
          // Not found: some partition never delivered a sequence above the first lost one since the claim.
          const first = lost.reduce((a, b) => (a < b ? a : b));
          expect([...Array(partitions).keys()].some((p) => (seen.get(p)?.get('p.1') ?? 0n) <= first)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('waits for every partition, and names the first missing sequence', () => {
    const seen = new Map([[0, new Map([['p.1', 9n]])]]);
    expect(sequenceGap(seen, 2, () => 3n)).toBeUndefined();
    seen.set(1, new Map([['p.1', 7n]]));
    expect(sequenceGap(seen, 2, () => 3n)).toEqual({ origin: 'p.1', sequence: 4n, floor: 7n });
    expect(sequenceGap(seen, 2, () => 6n)).toBeUndefined();
    // An origin one partition has not delivered since the claim is not judged.
    expect(sequenceGap(new Map([[0, new Map([['p.2', 9n]])], [1, new Map([['p.1', 9n]])]]), 2, () => 0n)).toBeUndefined();
  });
});

describe('bootstrapOffsets (a joining region\'s link)', () => {
  const marks = new Map([
    [0, { low: 10n, high: 20n }],
    [1, { low: 0n, high: 7n }],
  ]);

  it('starts every partition at the log start read before the published position', () => {
    expect(bootstrapOffsets(new Map(), marks)).toEqual(new Map([[0, 10n], [1, 0n]]));
  });

  it('answers undefined once the link has stored offsets (seeded by another replica, or consuming)', () => {
    expect(bootstrapOffsets(new Map([[1, 0n]]), marks)).toBeUndefined();
  });
});
