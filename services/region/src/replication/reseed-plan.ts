/**
 * The pure decisions of a reseed (DESIGN §4): whether a stored consumer offset can still be
 * resumed from what the peer's Kafka holds, and where each partition restarts once a repair has
 * merged the peer's state, and whether an origin's stream has a gap no partition can fill. Kept
 * apart from the I/O so that they are tested on their own.
 */
import type { StoredLinkStream } from '@meridian/store';

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

/** A stored partition whose next offset Kafka can no longer serve, and why (`lostOffset`). */
export interface LostPartition {
  readonly partition: number;
  readonly reason: string;
}

/**
 * The first partition of the link whose stored next offset Kafka can no longer serve, judged on
 * every stored partition whichever replica consumed it and whether or not it fetches (DESIGN §4): a
 * partition whose records were deleted up to its end while the link was paused, and that then
 * stays idle, fetches nothing (kafkajs resets the out-of-range offset to the log start, which is
 * the end), so no batch's jump reveals it. `before`: the stored offsets read before `marks`;
 * `after`: read after them. Beyond the end is judged on `before` (an end only grows while the
 * topic lives, and a consumer never stores past it); below the log start on `after` (the link may
 * have consumed past a log start that moved after `before` was read: what retention then deleted
 * was consumed). A partition `marks` lacks is left to the claim and the sequence-gap check.
 */
export function lostStoredOffset(before: ReadonlyMap<number, bigint>, marks: ReadonlyMap<number, Watermark>, after: ReadonlyMap<number, bigint>): LostPartition | undefined {
  for (const [partition, mark] of [...marks].sort(([a], [b]) => a - b)) {
    const was = before.get(partition);
    const is = after.get(partition);
    if (was !== undefined && was > mark.high) return { partition, reason: lostOffset(was, mark.low, mark.high)! };
    if (is !== undefined && is < mark.low) return { partition, reason: lostOffset(is, mark.low, mark.high)! };
  }
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
  /**
   * Every sequence of the origin below it had been read by the peer's relay when the gap was found
   * (a higher one was consumed, or the peer's heartbeat said it was published): the peer's state
   * held their updates then, so a repair taken later holds them (a reseed covers an earlier
   * incarnation's sequences up to it: anti-entropy/reseed.ts).
   */
  readonly floor: bigint;
}

/**
 * Whether an origin's stream has a gap that no partition can fill (DESIGN §4 "A link never streams
 * over a gap"), judged from what the database holds — whichever replica of the region consumed
 * which partition, and whether or not a partition delivered anything since it was claimed.
 *
 * `stored` is read in ONE snapshot (`linkStream`); `ends` (each partition's end offset in the
 * peer's Kafka) AFTER it. For each origin of the peer, s = its contiguous prefix + 1 is the first
 * sequence not applied. A partition P is cleared for s, i.e. s cannot still arrive through P, when
 *  - the highest sequence of the origin consumed from P is above s: the relay publishes an origin's
 *    sequences in order (batch after batch; a batch's messages to one partition in order; a fenced
 *    relay's one batch republishes a run its successor also publishes, in order), so every copy
 *    of s that P holds lies before that later one, and was consumed; or
 *  - P's stored next offset is at or past its end offset, and a stored heartbeat of the origin
 *    says its relay had published s: the heartbeat left after Kafka acknowledged s (acks=all:
 *    below the high watermark), so s, if in P, lies below the end read after the snapshot, which
 *    the link had consumed up to. Not "some later sequence was applied": a relay's batch goes to
 *    several partitions at once, and a later sequence of it can be consumed from one partition
 *    before s is appended to another (or before a failed send is retried); or
 *  - the origin is an earlier actor of the peer (not `stored.current`), a heartbeat of it says s
 *    was published, and the link consumed a record of the current actor from P: the earlier relay
 *    stopped before the current one began (`earlierTailsPending`), so s, if in P, lies before that
 *    record. Each actor's high-water is kept (`meridian_peer_high_waters`), so an earlier actor's
 *    tail that no partition holds any more (a restored peer whose topic was recreated) is a gap,
 *    never a tail the link reads as settled while it applied none of it.
 * When every partition of the topic is cleared for s, s was skipped: records deleted, or a topic
 * recreated and refilled past the stored offsets. A partition without a stored offset is never
 * cleared. Transaction markers and aborted records never count: the stored next offset moves past
 * trailing ones (`PartitionBatch.through`), so "caught up" is next offset >= end, exactly; a
 * dead-lettered or held record counts applied in the vector and consumed in its partition, so it
 * neither looks like a gap nor hides one; a record too new to read stops its partition below it
 * (never cleared by catching up past it).
 */
export function sequenceGap(stored: StoredLinkStream, ends: ReadonlyMap<number, bigint>): SequenceGap | undefined {
  if (ends.size === 0) return undefined;
  const origins = new Set([...stored.contiguous.keys(), ...stored.published.keys(), ...[...stored.partitions.values()].flatMap((p) => [...p.highest.keys()])]);
  for (const origin of [...origins].sort()) {
    const sequence = (stored.contiguous.get(origin) ?? 0n) + 1n;
    const published = stored.published.get(origin);
    const publishedS = published !== undefined && published >= sequence;
    let floor = publishedS ? published + 1n : 0n;
    let cleared = true;
    const current = stored.current;
    const earlier = current !== undefined && origin !== current;
    for (const [partition, end] of ends) {
      const at = stored.partitions.get(partition);
      const highest = at?.highest.get(origin);
      if (highest !== undefined && highest > sequence) {
        if (highest > floor) floor = highest;
        continue;
      }
      if (at !== undefined && publishedS && (at.nextOffset >= end || (earlier && at.highest.has(current)))) continue;
      cleared = false;
      break;
    }
    if (cleared) return { origin, sequence, floor };
  }
  return undefined;
}

/**
 * The peer's earlier incarnations (actors other than `current`, the one its latest heartbeat
 * names) whose published tail this link may not have consumed yet: lag and catching up are
 * measured on the current actor's stream only (link-lag.ts), so without this a link could say
 * caught up while an earlier actor's last records still wait in some partition. An earlier
 * actor's relay stopped before the current one's began (only the database's current epoch takes
 * the relay lease), so in every partition its records lie before any of the current actor's: a
 * partition is settled once the link consumed a record of the current actor from it (`highest`),
 * or is at or past its end (`marks`), or holds nothing (log start = end). Empty: nothing pending.
 * A partition without a stored offset is settled only when empty. Settled is not applied: a tail
 * no partition holds any more (a restored peer's recreated topic) is a gap, which `sequenceGap`
 * finds against the earlier actor's own high-water before this is asked.
 */
export function earlierTailsPending(stored: StoredLinkStream, current: string, marks: ReadonlyMap<number, Watermark>): string[] {
  const earlier = new Set([...stored.contiguous.keys(), ...stored.published.keys(), ...[...stored.partitions.values()].flatMap((p) => [...p.highest.keys()])]);
  earlier.delete(current);
  if (earlier.size === 0) return [];
  for (const [partition, mark] of marks) {
    const at = stored.partitions.get(partition);
    const settled = mark.low >= mark.high || (at !== undefined && (at.highest.has(current) || at.nextOffset >= mark.high));
    if (!settled) return [...earlier].sort();
  }
  return [];
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
