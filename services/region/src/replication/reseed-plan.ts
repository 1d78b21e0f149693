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
 * nothing to reseed (another replica of this region did it).
 */
export function restartOffsets(stored: ReadonlyMap<number, bigint>, marks: ReadonlyMap<number, Watermark>): Map<number, bigint> | undefined {
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
