/**
 * The pure decisions of a reseed: where each partition restarts (the applied vector's jump to
 * the peer's published position is tested with the vector, in @meridian/replication-link), and
 * the sequence-gap check over random partition layouts, delivery orders, skips and markers.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AppliedVector } from '@meridian/replication-link';
import { bootstrapOffsets, earlierTailsPending, lostStoredOffset, restartOffsets, sequenceGap } from './reseed-plan.ts';

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
  type Entry = { readonly sequence: bigint } | 'marker';
  type Stream = { contiguous: Map<string, bigint>; partitions: Map<number, { nextOffset: bigint; highest: Map<string, bigint> }>; published: Map<string, bigint>; current: string | undefined };

  /**
   * A peer's topic as its relay writes it: sequences 1..n of actor p.1 in order, each to its key's
   * partition (a declaration to every one), with republished runs (a relay that published and did
   * not mark), and offsets taken by transaction markers of other producers anywhere. `visible`:
   * how much of each partition Kafka has appended when the peer's latest heartbeat (published
   * sequence `hw`) is read — every record up to `hw` is in, later ones may be in one partition and
   * not yet in another (a relay's batch goes to several partitions at once).
   */
  const topic = fc
    .record({
      partitions: fc.integer({ min: 1, max: 3 }),
      n: fc.integer({ min: 2, max: 30 }),
      seed: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 300, maxLength: 300 }),
      hw: fc.nat(),
      skip: fc.option(fc.record({ partition: fc.nat(), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }), { nil: undefined }),
    })
    .map(({ partitions, n, seed, hw, skip }) => {
      let i = 0;
      const rnd = (m: number): number => seed[i++ % seed.length]! % m;
      const logs: Entry[][] = Array.from({ length: partitions }, () => []);
      const home: number[][] = [];
      for (let s = 1; s <= n; s++) {
        home[s] = rnd(10) === 0 ? [...logs.keys()] : [rnd(partitions)];
        for (const p of home[s]!) logs[p]!.push({ sequence: BigInt(s) });
        if (rnd(12) === 0 && s > 2) for (let r = s - 2; r <= s; r++) for (const p of home[r]!) logs[p]!.push({ sequence: BigInt(r) });
        if (rnd(4) === 0) logs[rnd(partitions)]!.push('marker');
      }
      const published = BigInt(hw % (n + 1));
      // Appended so far: past every record up to `published`, and any further prefix.
      const visible = logs.map((log) => {
        let least = 0;
        log.forEach((e, j) => {
          if (e !== 'marker' && e.sequence <= published) least = j + 1;
        });
        return least + rnd(log.length - least + 1);
      });
      return { partitions, logs, published, visible, skip: skip && { ...skip, partition: skip.partition % partitions }, order: seed.slice(i % seed.length).concat(seed) };
    });
  type Topic = { partitions: number; logs: Entry[][]; published: bigint; visible: number[]; skip: { partition: number; at: number; length: number } | undefined; order: number[] };

  /**
   * Consumes the visible topic in random batches (a batch's stored next offset is past its last
   * fetched entry, markers included: `PartitionBatch.through`), skipping a stretch of one partition
   * if asked (records deleted, or a recreated topic refilled past the stored offset), and judges
   * after every batch with the end offsets read after the snapshot.
   */
  function consume(t: Topic, judge: (stream: Stream, ends: Map<number, bigint>, applied: AppliedVector, skipped: ReadonlySet<bigint>) => boolean): { stream: Stream; vector: AppliedVector; skipped: Set<bigint>; consumed: Set<bigint> } {
    const { partitions, logs, published, visible, skip, order } = t;
    let i = 0;
    const rnd = (m: number): number => order[i++ % order.length]! % m;
    const vector = AppliedVector.fromRow({ origin: 'p.1', region: 'p', contiguous: 0n, contiguousOutboxId: 0n, beyond: [] });
    const stream: Stream = { contiguous: new Map(), partitions: new Map(), published: new Map(published > 0n ? [['p.1', published]] : []), current: published > 0n ? 'p.1' : undefined };
    for (let p = 0; p < partitions; p++) stream.partitions.set(p, { nextOffset: 0n, highest: new Map() });
    const skipped = new Set<bigint>();
    const consumed = new Set<bigint>();
    let skipDone = skip === undefined;
    const ends = new Map(visible.map((v, p) => [p, BigInt(v)]));
    for (let guard = 0; guard < 1000; guard++) {
      const open = [...Array(partitions).keys()].filter((p) => Number(stream.partitions.get(p)!.nextOffset) < visible[p]!);
      if (open.length === 0) break;
      const p = open[rnd(open.length)]!;
      const at = stream.partitions.get(p)!;
      let from = Number(at.nextOffset);
      if (!skipDone && skip!.partition === p && from >= Math.min(skip!.at, visible[p]! - 1)) {
        const to = Math.min(from + skip!.length, visible[p]!);
        for (let j = from; j < to; j++) {
          const e = logs[p]![j]!;
          if (e !== 'marker') skipped.add(e.sequence);
        }
        skipDone = true;
        from = to;
        at.nextOffset = BigInt(to);
        continue;
      }
      const to = Math.min(visible[p]!, from + 1 + rnd(4));
      for (let j = from; j < to; j++) {
        const e = logs[p]![j]!;
        if (e === 'marker') continue;
        consumed.add(e.sequence);
        vector.mark(e.sequence, e.sequence);
        if (e.sequence > (at.highest.get('p.1') ?? 0n)) at.highest.set('p.1', e.sequence);
      }
      at.nextOffset = BigInt(to);
      stream.contiguous.set('p.1', vector.contiguous);
      if (judge(stream, ends, vector, skipped)) break;
    }
    return { stream, vector, skipped, consumed };
  }

  it('never fires on a complete delivery, in any order, with any markers and any relay republishing', () => {
    fc.assert(
      fc.property(topic, (t) => {
        consume({ ...t, skip: undefined }, (stream, ends) => {
          expect(sequenceGap(stream, ends)).toBeUndefined();
          return false;
        });
      }),
      { numRuns: 800 },
    );
  });

  it('a skipped record above the prefix: any alarm names the first missing sequence, and once every partition is consumed to its end after the peer published it, the gap is found', () => {
    fc.assert(
      fc.property(topic, (t) => {
        let found: ReturnType<typeof sequenceGap>;
        const { stream, vector, skipped, consumed } = consume(t, (s, ends, v, skipped) => {
          found = sequenceGap(s, ends);
          if (found) {
            // Never a false alarm: the missing sequence was skipped (a republished copy might have
            // filled it later; records were lost from the topic all the same, and a reseed is safe).
            expect(skipped).toContain(found.sequence);
            expect(found.sequence).toBe(v.contiguous + 1n);
            expect(found.floor).toBeGreaterThan(found.sequence);
          }
          return found !== undefined;
        });
        if (found) return;
        // The relay has published everything and every partition is consumed to its end.
        const full = new Map(t.logs.map((log, p) => [p, BigInt(log.length)]));
        const n = BigInt(t.logs.flat().reduce((m, e) => (e !== 'marker' && Number(e.sequence) > m ? Number(e.sequence) : m), 0));
        const caughtUp = [...full].every(([p, end]) => stream.partitions.get(p)!.nextOffset >= end);
        const lost = [...skipped].filter((x) => !consumed.has(x));
        const last = sequenceGap({ ...stream, published: new Map([['p.1', n]]) }, full);
        if (!caughtUp) return;
        if (lost.length === 0) expect(last).toBeUndefined();
        else expect(last).toEqual({ origin: 'p.1', sequence: lost.reduce((a, b) => (a < b ? a : b)), floor: expect.any(BigInt) });
        expect(vector.contiguous + 1n).toBe(last?.sequence ?? vector.contiguous + 1n);
      }),
      { numRuns: 800 },
    );
  });

  /** `published`: each actor's high-water, the current actor (the latest heartbeat's) last. */
  const stream = (partitions: [number, bigint, [string, bigint][]][], contiguous: [string, bigint][], published: [string, bigint][] = []): Stream => ({
    contiguous: new Map(contiguous),
    partitions: new Map(partitions.map(([p, nextOffset, highest]) => [p, { nextOffset, highest: new Map(highest) }])),
    published: new Map(published),
    current: published.at(-1)?.[0],
  });

  it('clears a partition by a later sequence consumed from it, whichever replica consumed it', () => {
    // Partition 0 went past sequence 4 (it holds 9), partition 1 too (7): 4 is in neither.
    expect(sequenceGap(stream([[0, 5n, [['p.1', 9n]]], [1, 3n, [['p.1', 7n]]]], [['p.1', 3n]]), new Map([[0, 8n], [1, 8n]]))).toEqual({ origin: 'p.1', sequence: 4n, floor: 9n });
    // Partition 1 has consumed nothing above 4 and is behind its end: 4 may still come from it.
    expect(sequenceGap(stream([[0, 5n, [['p.1', 9n]]], [1, 3n, [['p.1', 2n]]]], [['p.1', 3n]]), new Map([[0, 8n], [1, 8n]]))).toBeUndefined();
    expect(sequenceGap(stream([[0, 5n, [['p.1', 9n]]], [1, 3n, [['p.1', 7n]]]], [['p.1', 6n]]), new Map([[0, 8n], [1, 8n]]))).toBeUndefined();
  });

  it('clears an idle partition only when it is consumed to its end, markers included, and the peer had published the sequence', () => {
    const ends = new Map([[0, 8n], [1, 5n]]);
    // Partition 1 delivered nothing of p.1 above 3: caught up (next offset 5 = its end, past its
    // trailing marker) after the heartbeat said 6 was published.
    expect(sequenceGap(stream([[0, 8n, [['p.1', 9n]]], [1, 5n, []]], [['p.1', 3n]], [['p.1', 6n]]), ends)).toEqual({ origin: 'p.1', sequence: 4n, floor: 9n });
    // Its next offset one below the end (a marker not passed): never read as caught up.
    expect(sequenceGap(stream([[0, 8n, [['p.1', 9n]]], [1, 4n, []]], [['p.1', 3n]], [['p.1', 6n]]), ends)).toBeUndefined();
    // The heartbeat does not cover 4 yet: 4 may still be on its way to partition 1.
    expect(sequenceGap(stream([[0, 8n, [['p.1', 9n]]], [1, 5n, []]], [['p.1', 3n]], [['p.1', 3n]]), ends)).toBeUndefined();
    // A partition without a stored offset is never cleared.
    expect(sequenceGap(stream([[0, 8n, [['p.1', 9n]]]], [['p.1', 3n]], [['p.1', 6n]]), ends)).toBeUndefined();
    // Nothing later applied, but the peer published 4..6 and every partition is consumed to its end: lost.
    expect(sequenceGap(stream([[0, 8n, []], [1, 5n, []]], [['p.1', 3n]], [['p.1', 6n]]), ends)).toEqual({ origin: 'p.1', sequence: 4n, floor: 7n });
  });

  it('a partition consumed to its last stable offset, below its high watermark (a foreign transaction open), is not caught up', () => {
    // Partition 1's next offset 10 is where another producer's open transaction begins; the relay
    // appended 4 after it (high watermark 12). The end is the high watermark: 4 may still come.
    const s = stream([[0, 8n, [['p.1', 9n]]], [1, 10n, []]], [['p.1', 3n]], [['p.1', 6n]]);
    expect(sequenceGap(s, new Map([[0, 8n], [1, 12n]]))).toBeUndefined();
    // Had the end been the last stable offset (10), 4 would have been judged lost: the false alarm.
    expect(sequenceGap(s, new Map([[0, 8n], [1, 10n]]))).toEqual({ origin: 'p.1', sequence: 4n, floor: 9n });
  });

  it('an earlier incarnation is judged on the sequences consumed of it (no heartbeat speaks for it)', () => {
    const ends = new Map([[0, 8n], [1, 5n]]);
    expect(sequenceGap(stream([[0, 8n, [['p.1', 9n], ['p.2', 3n]]], [1, 5n, [['p.1', 7n]]]], [['p.1', 3n], ['p.2', 3n]], [['p.2', 3n]]), ends)).toEqual({ origin: 'p.1', sequence: 4n, floor: 9n });
    expect(sequenceGap(stream([[0, 8n, [['p.1', 9n]]], [1, 5n, []]], [['p.1', 3n], ['p.2', 3n]], [['p.2', 3n]]), ends)).toBeUndefined();
  });

  it('an earlier incarnation\'s published tail that no partition holds any more is a gap, judged on its own high-water (a restored peer\'s recreated topic)', () => {
    // p.1's last heartbeat said 10 was published; the link applied 1..7. The topic was recreated
    // and p.2 refills it: the link consumed p.2's records from both partitions, neither is at its
    // end (p.2 writes on). p.1's relay stopped before p.2's began, so 8 would lie before them: lost.
    const ends = new Map([[0, 12n], [1, 9n]]);
    const recreated = (p1HighWater: bigint, one: [string, bigint][]) => stream([[0, 6n, [['p.2', 4n]]], [1, 3n, one]], [['p.1', 7n], ['p.2', 4n]], [['p.1', p1HighWater], ['p.2', 4n]]);
    expect(sequenceGap(recreated(10n, [['p.2', 3n]]), ends)).toEqual({ origin: 'p.1', sequence: 8n, floor: 11n });
    // A partition that has delivered nothing of p.2 yet may still hold p.1's 8 before them.
    expect(sequenceGap(recreated(10n, []), ends)).toBeUndefined();
    // p.1 never said it published 8: nothing is missing.
    expect(sequenceGap(recreated(7n, [['p.2', 3n]]), ends)).toBeUndefined();
    // The current actor is not cleared by its own records: its 5 may still come from partition 1.
    expect(sequenceGap(stream([[0, 6n, [['p.2', 6n]]], [1, 3n, [['p.2', 3n]]]], [['p.2', 4n]], [['p.2', 6n]]), ends)).toBeUndefined();
  });
});

describe('earlierTailsPending (a peer\'s earlier incarnation)', () => {
  const stream = (partitions: [number, bigint, [string, bigint][]][], contiguous: [string, bigint][]) => ({
    contiguous: new Map(contiguous),
    partitions: new Map(partitions.map(([p, nextOffset, highest]) => [p, { nextOffset, highest: new Map(highest) }])),
    published: new Map([['p.2', 0n]]),
    current: 'p.2',
  });
  const marks = new Map([
    [0, { low: 0n, high: 10n }],
    [1, { low: 0n, high: 6n }],
  ]);

  it('is pending while a partition may still hold the earlier actor\'s tail: nothing of the current actor consumed from it, not at its end', () => {
    // p.1's tail sits in partition 1 (offsets 4, 5); p.2 has published nothing yet, so its lag is 0.
    expect(earlierTailsPending(stream([[0, 10n, [['p.1', 8n]]], [1, 4n, [['p.1', 7n]]]], [['p.1', 8n]]), 'p.2', marks)).toEqual(['p.1']);
  });

  it('is settled once every partition is past it: a record of the current actor consumed from it, at its end, or empty', () => {
    expect(earlierTailsPending(stream([[0, 10n, [['p.1', 8n]]], [1, 6n, [['p.1', 10n]]]], [['p.1', 10n]]), 'p.2', marks)).toEqual([]);
    expect(earlierTailsPending(stream([[0, 7n, [['p.2', 1n]]], [1, 5n, [['p.2', 2n]]]], [['p.1', 10n], ['p.2', 2n]]), 'p.2', marks)).toEqual([]);
    expect(earlierTailsPending(stream([[0, 10n, []]], [['p.1', 10n]]), 'p.2', new Map([[0, { low: 0n, high: 10n }], [1, { low: 6n, high: 6n }]]))).toEqual([]);
    // A partition with records and no stored offset is not.
    expect(earlierTailsPending(stream([[0, 10n, []]], [['p.1', 10n]]), 'p.2', marks)).toEqual(['p.1']);
  });

  it('counts an earlier actor known only from its heartbeats (none of its records consumed yet)', () => {
    const s = { ...stream([[0, 10n, []], [1, 4n, []]], []), published: new Map([['p.1', 3n], ['p.2', 0n]]) };
    expect(earlierTailsPending(s, 'p.2', marks)).toEqual(['p.1']);
  });

  it('says nothing when the peer has had one actor only', () => {
    expect(earlierTailsPending(stream([[0, 1n, [['p.2', 1n]]], [1, 0n, []]], [['p.2', 1n]]), 'p.2', marks)).toEqual([]);
  });
});

describe('lostStoredOffset (every stored partition, idle ones too)', () => {
  const marks = new Map([
    [0, { low: 0n, high: 42n }],
    [1, { low: 6n, high: 6n }],
  ]);

  it('finds a partition deleted up to its end while its stored offset stayed below', () => {
    const stored = new Map([[0, 42n], [1, 4n]]);
    expect(lostStoredOffset(stored, marks, stored)).toEqual({ partition: 1, reason: expect.stringContaining('stored offset 4 is below the earliest offset Kafka still has (6)') });
  });

  it('judges the log start on the offsets read after it: consumed past it meanwhile, nothing is lost', () => {
    expect(lostStoredOffset(new Map([[0, 42n], [1, 4n]]), marks, new Map([[0, 42n], [1, 6n]]))).toBeUndefined();
  });

  it('judges the end on the offsets read before it, and leaves partitions without an offset or watermark alone', () => {
    expect(lostStoredOffset(new Map([[0, 43n]]), marks, new Map([[0, 43n]]))).toEqual({ partition: 0, reason: expect.stringContaining('beyond the end') });
    // Read after the end, an offset past it is the link having consumed what was appended since.
    expect(lostStoredOffset(new Map([[0, 42n]]), marks, new Map([[0, 45n]]))).toBeUndefined();
    expect(lostStoredOffset(new Map([[7, 0n]]), marks, new Map([[7, 0n]]))).toBeUndefined();
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
