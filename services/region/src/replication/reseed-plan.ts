/**
 * The pure decisions of a reseed (DESIGN §4): whether a stored consumer offset can still be
 * resumed from what the peer's Kafka holds, and where each partition restarts once a repair has
 * merged the peer's state. Kept apart from the I/O so that they are tested on their own.
 */

/** A partition's log start (`low`) and end (`high`) offsets in the peer's Kafka. */
export interface Watermark {
  readonly low: bigint;
  readonly high: bigint;
}

/**
 * Why a stored position cannot be resumed from Kafka's partition [low, high], or undefined when it
 * can. Either way Kafka no longer has updates this region has not applied: never skip them silently.
 */
export function lostOffset(nextOffset: bigint, low: bigint, high: bigint): string | undefined {
  if (nextOffset < low) return `stored offset ${nextOffset} is below the earliest offset Kafka still has (${low}); retention passed`;
  if (nextOffset > high) return `stored offset ${nextOffset} is beyond the end of the partition (${high}); the topic was recreated or lost data`;
  return undefined;
}

/**
 * Where each partition restarts after a reseed, given the stored next offsets and the watermarks
 * read before the peer's published position: a stored offset Kafka can still serve stays (nothing
 * it would skip is lost); a lost one restarts at the log start — every record Kafka still holds is
 * consumed again (those the repair already covered are duplicates the applied vector drops), and
 * the records below it were deleted, so published, before the position was read. A partition
 * without a stored offset starts at its log start too. Undefined when no stored offset is lost:
 * nothing to reseed (another replica of this region did it). `everyPartition`: the link found a
 * gap in the origin's sequences, not in the offsets.
 */
export function restartOffsets(stored: ReadonlyMap<number, bigint>, marks: ReadonlyMap<number, Watermark>, everyPartition = false): Map<number, bigint> | undefined {
  // A gap in the origin's sequences (`sequenceGap`): the offsets cannot tell which partition skipped
  // records, so every partition restarts at its log start (what was consumed again is duplicates).
  if (everyPartition) return new Map([...marks].map(([partition, mark]) => [partition, mark.low]));
  const out = new Map<number, bigint>();
  let lost = false;
  for (const [partition, mark] of marks) {
    const next = stored.get(partition);
    if (next !== undefined && lostOffset(next, mark.low, mark.high) === undefined) {
      out.set(partition, next);
      continue;
    }
    if (next !== undefined) lost = true;
    out.set(partition, mark.low);
  }
  // A stored partition the topic no longer has: lost with it.
  for (const partition of stored.keys()) if (!marks.has(partition)) lost = true;
  return lost ? out : undefined;
}

/**
 * The restart offsets a reseed stores, moved past what retention deleted while its exchange ran
 * (DESIGN §4 "A failed link reseeds itself"). `before`: the watermarks read in step 1, before the
 * peer's published position and the exchange; `now`: read again just before the commit. A
 * partition restarts at max(planned, min(now.low, before.high)): every record below `before.high`
 * was in the peer's Kafka when step 1 read it, so the relay had produced it, so its update was
 * committed to the peer's state before the exchange's snapshot was taken — the repair holds it
 * and consuming it again would only be a duplicate. Restarting at the moved log start lets the
 * restarted link's claim succeed instead of failing "retention passed" again (and the next reseed
 * racing the same way). Records at or above `before.high` were produced after step 1: nothing says
 * the snapshot holds them, so a log start past `before.high` is not followed (the claim fails
 * loudly and the link reseeds again — retention shorter than a reseed's exchange). A skipped
 * record's sequence is covered by the applied vector when it is at most the published sequence;
 * one the relay had produced but not yet marked published when the position was read leaves a
 * hole above it, which the sequence-gap check (`sequenceGap`) finds: never a silent loss.
 */
export function pastRetention(planned: ReadonlyMap<number, bigint>, before: ReadonlyMap<number, Watermark>, now: ReadonlyMap<number, Watermark>): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const [partition, offset] of planned) {
    const was = before.get(partition);
    const is = now.get(partition);
    if (!was || !is) {
      out.set(partition, offset);
      continue;
    }
    const held = is.low < was.high ? is.low : was.high;
    out.set(partition, held > offset ? held : offset);
  }
  return out;
}

/** Sequences of an origin that no partition of the peer's topic can still deliver. */
export interface SequenceGap {
  readonly origin: string;
  /** The first sequence missing: the origin's contiguous prefix + 1. */
  readonly sequence: bigint;
  /** The lowest of the highest sequences each partition delivered since the claim. */
  readonly floor: bigint;
}

/**
 * Whether an origin's stream has a gap that no partition can fill (DESIGN §4): the relay publishes
 * an origin's updates in sequence order, each to its key's partition (a namespace declaration to
 * every partition), so a sequence missing from the applied vector lies in some partition before
 * every later sequence of that partition. Once every partition of the topic has delivered, since
 * the claim, a sequence above the origin's contiguous prefix + 1, that missing sequence was in a
 * part of a partition the link skipped — its records deleted, or the topic recreated and refilled
 * past the stored offset, which no offset check can see. A relay's republished duplicates and
 * offsets taken by transaction markers never raise it: only sequences count, and only ones that
 * were applied. `seen`: partition → origin → the highest sequence applied from that partition since
 * the claim; `partitions`: the topic's partition count (every one must be consumed here).
 */
export function sequenceGap(seen: ReadonlyMap<number, ReadonlyMap<string, bigint>>, partitions: number, contiguous: (origin: string) => bigint): SequenceGap | undefined {
  if (partitions === 0) return undefined;
  const floors = new Map<string, bigint>();
  for (let p = 0; p < partitions; p++) {
    const here = seen.get(p);
    if (!here) return undefined;
    if (p === 0) {
      for (const [origin, s] of here) floors.set(origin, s);
      continue;
    }
    for (const [origin, floor] of floors) {
      const s = here.get(origin);
      if (s === undefined) floors.delete(origin);
      else if (s < floor) floors.set(origin, s);
    }
  }
  for (const [origin, floor] of floors) {
    const sequence = contiguous(origin) + 1n;
    if (floor > sequence) return { origin, sequence, floor };
  }
  return undefined;
}

/**
 * Where a joining region's link starts (anti-entropy/reseed.ts `seedLink`): every partition at its
 * log start, read before the peer's published position — undefined when the link has stored
 * offsets already (it was seeded, by this replica or another one of the region, or has consumed).
 */
export function bootstrapOffsets(stored: ReadonlyMap<number, bigint>, marks: ReadonlyMap<number, Watermark>): Map<number, bigint> | undefined {
  if (stored.size > 0) return undefined;
  return new Map([...marks].map(([partition, mark]) => [partition, mark.low]));
}
