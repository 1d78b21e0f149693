/**
 * The applied vector of one origin (DESIGN §4): the highest sequence S such that every update
 * <= S from that origin has been applied here, plus the sequences applied above it. Updates of
 * one origin arrive through several partitions in any order; a sequence is applied once, and
 * the contiguous prefix advances only over a complete run — so "applied up to S" means exactly
 * that, and an update at or below it is a duplicate to drop.
 *
 * The outbox id beside each sequence lets sessions (positions are outbox ids) be answered: the
 * relay publishes in outbox-id order, so having applied every sequence up to S means having
 * every outbox id up to S's.
 */
import type { AppliedRow } from '@meridian/store';

export function hasApplied(row: AppliedRow, sequence: bigint): boolean {
  return sequence <= row.contiguous || row.beyond.some(([s]) => s === sequence);
}

/** Marks `sequence` applied and advances the contiguous prefix over every complete run. */
export function markApplied(row: AppliedRow, sequence: bigint, outboxId: bigint): AppliedRow {
  if (hasApplied(row, sequence)) return row;
  const beyond = [...row.beyond, [sequence, outboxId] as const].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let contiguous = row.contiguous;
  let contiguousOutboxId = row.contiguousOutboxId;
  while (beyond.length > 0 && beyond[0]![0] === contiguous + 1n) {
    const [s, id] = beyond.shift()!;
    contiguous = s;
    contiguousOutboxId = id;
  }
  return { ...row, contiguous, contiguousOutboxId, beyond };
}
