/**
 * Consumer offsets of the peer links: per peer and partition, the next Kafka offset to apply and
 * the owner epoch of the consumer that claimed it. Invariant: a replicator saves offsets only
 * under the owner epoch it claimed for the partition, in the transaction that applied the
 * messages, so offsets and data never disagree; a newer claim (or a reseed) fences the old owner.
 *
 * Beside each offset, per origin actor, the highest sequence consumed from the partition
 * (`meridian_offset_sequences`), saved in the same statement's transaction: the evidence of the
 * sequence-gap check (DESIGN §4), which any replica reads from one snapshot (`linkStream`). A
 * rewrite of the offsets (a reseed, a join) deletes it for the partitions it restarts: the
 * partition is consumed again from before those sequences.
 */
import type { Queryable } from './pg-query.ts';
import type { LockedOffset, OffsetSave, PartitionClaim, StoredLinkStream } from './rows.ts';

const SQL = {
  lockOffsets: { name: 'meridian_apply_lock_offsets', text: 'SELECT partition, next_offset, owner_epoch FROM meridian_offsets WHERE peer = $1 AND partition = ANY($2::int[]) ORDER BY partition FOR UPDATE' },
  // One statement (a data-modifying CTE runs whether or not it is referenced): the offsets, and the
  // highest sequence of each origin per partition, kept when higher than the one stored.
  saveOffsets: {
    name: 'meridian_apply_save_offsets',
    text: `WITH moved AS (UPDATE meridian_offsets AS o SET next_offset = u.next_offset FROM unnest($2::int[], $3::bigint[]) AS u(partition, next_offset) WHERE o.peer = $1 AND o.partition = u.partition)
           INSERT INTO meridian_offset_sequences (peer, partition, origin, highest) SELECT $1, u.partition, u.origin, u.highest FROM unnest($4::int[], $5::text[], $6::bigint[]) AS u(partition, origin, highest)
           ON CONFLICT (peer, partition, origin) DO UPDATE SET highest = GREATEST(meridian_offset_sequences.highest, excluded.highest)`,
  },
} as const;

/**
 * Locks the offset rows of these partitions (ascending, so concurrent appliers never deadlock)
 * and checks each one's owner epoch: per partition, the stored next offset or 'fenced'.
 */
export async function lockOffsets(db: Queryable, peer: string, owners: readonly { readonly partition: number; readonly epoch: bigint }[]): Promise<Map<number, LockedOffset>> {
  const { rows } = await db.query<{ partition: number; next_offset: bigint; owner_epoch: bigint }>({ ...SQL.lockOffsets, values: [peer, owners.map((o) => o.partition)] });
  const stored = new Map(rows.map((r) => [r.partition, r]));
  return new Map(
    owners.map((o): [number, LockedOffset] => {
      const row = stored.get(o.partition);
      return [o.partition, row && row.owner_epoch === o.epoch ? { nextOffset: row.next_offset } : 'fenced'];
    }),
  );
}

/**
 * Stores the next offsets of partitions locked by `lockOffsets` and the highest sequence of each
 * origin consumed from each (kept when higher than the one stored), in one statement.
 */
export async function saveOffsets(db: Queryable, peer: string, offsets: readonly OffsetSave[]): Promise<void> {
  if (offsets.length === 0) return;
  const highest = offsets.flatMap((o) => [...(o.highest ?? [])].map(([origin, sequence]) => ({ partition: o.partition, origin, sequence })));
  await db.query({
    ...SQL.saveOffsets,
    values: [peer, offsets.map((o) => o.partition), offsets.map((o) => o.nextOffset.toString()), highest.map((h) => h.partition), highest.map((h) => h.origin), highest.map((h) => h.sequence.toString())],
  });
}

/**
 * A link's stream as the database holds it, from ONE statement (one snapshot): the peer's applied
 * prefixes, every partition's stored next offset and highest sequences, what the peer's heartbeats
 * say the relay of each of its actors had published, and the current actor: the one of the highest
 * epoch (an incarnation's epoch is above every earlier one's; the latest heartbeat by wall clock
 * could be an earlier actor's whose host's clock ran fast). Only the peer's own actors count (a
 * record of another region on its topic is never the peer's). The sequence-gap check reads
 * Kafka's end offsets only after this (DESIGN §4).
 */
/** An origin actor's epoch (`region.epoch`). */
const epochOf = (origin: string): number => Number(origin.slice(origin.lastIndexOf('.') + 1));

export async function linkStream(db: Queryable, peer: string): Promise<StoredLinkStream> {
  const own = `left(origin, length($1) + 1) = $1 || '.'`;
  const { rows } = await db.query<{ kind: 'offset' | 'highest' | 'applied' | 'published'; partition: number | null; origin: string | null; value: bigint }>(
    `SELECT 'offset' AS kind, partition, NULL::text AS origin, next_offset AS value FROM meridian_offsets WHERE peer = $1
     UNION ALL SELECT 'highest', partition, origin, highest FROM meridian_offset_sequences WHERE peer = $1 AND ${own}
     UNION ALL SELECT 'applied', NULL, origin, contiguous FROM meridian_applied WHERE region = $1
     UNION ALL SELECT 'published', NULL, origin, high_water FROM meridian_peer_high_waters WHERE peer = $1 AND ${own}`,
    [peer],
  );
  const contiguous = new Map<string, bigint>();
  const published = new Map<string, bigint>();
  const partitions = new Map<number, { nextOffset: bigint; highest: Map<string, bigint> }>();
  const highest: { partition: number; origin: string; value: bigint }[] = [];
  let current: string | undefined;
  for (const r of rows) {
    if (r.kind === 'offset') partitions.set(r.partition!, { nextOffset: r.value, highest: new Map() });
    else if (r.kind === 'highest') highest.push({ partition: r.partition!, origin: r.origin!, value: r.value });
    else if (r.kind === 'applied') contiguous.set(r.origin!, r.value);
    else {
      published.set(r.origin!, r.value);
      if (current === undefined || epochOf(r.origin!) > epochOf(current)) current = r.origin!;
    }
  }
  for (const h of highest) partitions.get(h.partition)?.highest.set(h.origin, h.value);
  return { contiguous, partitions, published, current };
}

/**
 * A reseed of the link from `peer`: takes the peer's reseed lock for this transaction (replicas
 * of this region reseeding at once take turns) and locks the peer's stored offsets.
 */
export async function lockPeerOffsetsForReseed(db: Queryable, peer: string): Promise<Map<number, bigint>> {
  await db.query("SELECT pg_advisory_xact_lock(hashtext('meridian.reseed.' || $1))", [peer]);
  const { rows } = await db.query<{ partition: number; next_offset: bigint }>('SELECT partition, next_offset FROM meridian_offsets WHERE peer = $1 ORDER BY partition FOR UPDATE', [peer]);
  return new Map(rows.map((r) => [r.partition, r.next_offset]));
}

/**
 * Stores a reseed's restart offsets: each partition's next offset, its owner epoch bumped (a
 * consumer that claimed the old offset is fenced; the next claim seeks to the new one).
 */
export async function restartPeerOffsets(db: Queryable, peer: string, offsets: readonly { readonly partition: number; readonly nextOffset: bigint }[]): Promise<void> {
  if (offsets.length === 0) return;
  // The restarted partitions are consumed again from the new offset: what was consumed of them
  // before no longer says where the link stands in them (the sequence-gap check must not clear
  // a partition on sequences it has yet to consume again).
  await db.query('DELETE FROM meridian_offset_sequences WHERE peer = $1 AND partition = ANY($2::int[])', [peer, offsets.map((o) => o.partition)]);
  await db.query(
    `INSERT INTO meridian_offsets (peer, partition, next_offset, owner_epoch) SELECT $1, u.partition, u.next_offset, 1 FROM unnest($2::int[], $3::bigint[]) AS u(partition, next_offset)
     ON CONFLICT (peer, partition) DO UPDATE SET next_offset = excluded.next_offset, owner_epoch = meridian_offsets.owner_epoch + 1`,
    [peer, offsets.map((o) => o.partition), offsets.map((o) => o.nextOffset.toString())],
  );
}

/** Claims partitions of a peer topic for this consumer: bumps each owner epoch, returns offsets and epochs. */
export async function claimPartitions(db: Queryable, peer: string, partitions: readonly number[]): Promise<Map<number, PartitionClaim>> {
  const out = new Map<number, PartitionClaim>();
  for (const partition of [...partitions].sort((a, b) => a - b)) {
    const { rows } = await db.query<{ next_offset: bigint; owner_epoch: bigint; inserted: boolean }>(
      `INSERT INTO meridian_offsets (peer, partition, next_offset, owner_epoch) VALUES ($1, $2, 0, 1)
       ON CONFLICT (peer, partition) DO UPDATE SET owner_epoch = meridian_offsets.owner_epoch + 1
       RETURNING next_offset, owner_epoch, (xmax = 0) AS inserted`,
      [peer, partition],
    );
    const r = rows[0]!;
    out.set(partition, { nextOffset: r.next_offset, epoch: r.owner_epoch, known: !r.inserted });
  }
  return out;
}

/** A peer's stored next offsets, per partition. */
export async function peerOffsets(db: Queryable, peer: string): Promise<Map<number, bigint>> {
  const { rows } = await db.query<{ partition: number; next_offset: bigint }>('SELECT partition, next_offset FROM meridian_offsets WHERE peer = $1', [peer]);
  return new Map(rows.map((r) => [r.partition, r.next_offset]));
}
