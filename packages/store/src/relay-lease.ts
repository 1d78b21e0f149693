/**
 * The relay's lease and publish marks (one row, `meridian_relay`). One relay per region publishes
 * at a time: the one holding the lease epoch. Invariant: the relay marks rows published only
 * while it holds the lease epoch it read — a paused relay that lost its lease cannot mark
 * anything (`markPublished` answers 'fenced') — and sequences are assigned from the stored
 * position, never from a relay's memory.
 */
import { bytes, type Queryable } from './pg-query.ts';
import type { OutboxRow, RelayState } from './rows.ts';

/**
 * Takes the relay lease if it is free or expired (or already ours); the new epoch, or undefined.
 * Only a relay of the region's current incarnation (`regionEpoch`) may take it: a relay of an
 * earlier one would number rows in a stream that has ended.
 */
export async function acquireRelayLease(db: Queryable, owner: string, leaseMs: number, regionEpoch: number): Promise<RelayState | undefined> {
  const { rows } = await db.query<{ lease_epoch: bigint; last_outbox_id: bigint; last_sequence: bigint }>(
    `UPDATE meridian_relay SET lease_epoch = lease_epoch + 1, lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2::double precision / 1000)
     WHERE (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = $1) AND COALESCE((SELECT epoch FROM meridian_region), $3) = $3
     RETURNING lease_epoch, last_outbox_id, last_sequence`,
    [owner, leaseMs, regionEpoch],
  );
  const r = rows[0];
  return r ? { leaseEpoch: r.lease_epoch, lastOutboxId: r.last_outbox_id, lastSequence: r.last_sequence } : undefined;
}

/** Extends the lease; false when another relay took it (this one is fenced). */
export async function renewRelayLease(db: Queryable, epoch: bigint, leaseMs: number): Promise<boolean> {
  const r = await db.query('UPDATE meridian_relay SET lease_expires_at = now() + make_interval(secs => $2::double precision / 1000) WHERE lease_epoch = $1', [epoch, leaseMs]);
  return r.rowCount === 1;
}

export async function releaseRelayLease(db: Queryable, epoch: bigint): Promise<void> {
  await db.query('UPDATE meridian_relay SET lease_expires_at = NULL, lease_owner = NULL WHERE lease_epoch = $1', [epoch]);
}

export async function relayState(db: Queryable): Promise<RelayState> {
  const { rows } = await db.query<{ lease_epoch: bigint; last_outbox_id: bigint; last_sequence: bigint }>('SELECT lease_epoch, last_outbox_id, last_sequence FROM meridian_relay');
  const r = rows[0]!;
  return { leaseEpoch: r.lease_epoch, lastOutboxId: r.last_outbox_id, lastSequence: r.last_sequence };
}

/**
 * The next rows to publish under the lease `epoch`, read in one statement with the lease's
 * published position: rows after the position's outbox id up to `upToId`, in id order. 'fenced'
 * when another relay holds the lease. Sequences are assigned from the returned position, never
 * from a relay's memory, so every relay assigns each row the same sequence: a relay that was
 * paused after this read publishes exactly the sequences its successor assigns to these rows.
 */
export async function outboxForLease(db: Queryable, epoch: bigint, upToId: bigint, limit: number): Promise<'fenced' | { lastOutboxId: bigint; lastSequence: bigint; rows: OutboxRow[] }> {
  const { rows } = await db.query<{ last_outbox_id: bigint; last_sequence: bigint; id: bigint | null; message_key: string | null; envelope: Buffer | null }>(
    `SELECT r.last_outbox_id, r.last_sequence, o.id, o.message_key, o.envelope
       FROM meridian_relay AS r
       LEFT JOIN LATERAL (SELECT id, message_key, envelope FROM meridian_outbox WHERE id > r.last_outbox_id AND id <= $2 ORDER BY id LIMIT $3) AS o ON true
      WHERE r.lease_epoch = $1
      ORDER BY o.id`,
    [epoch, upToId, limit],
  );
  const first = rows[0];
  if (!first) return 'fenced';
  return {
    lastOutboxId: first.last_outbox_id,
    lastSequence: first.last_sequence,
    rows: rows.flatMap((r) => (r.id === null ? [] : [{ id: r.id, messageKey: r.message_key!, envelope: bytes(r.envelope!) }])),
  };
}

/**
 * Marks rows published with their sequences, under the lease, in one statement: the lease row's
 * position moves only if this relay still holds the lease epoch, and the outbox rows are marked
 * only together with it. 'fenced' when the lease moved on (nothing changed).
 */
export async function markPublished(db: Queryable, epoch: bigint, rows: readonly { id: bigint; sequence: bigint }[]): Promise<'ok' | 'fenced'> {
  const last = rows.at(-1);
  if (!last) return 'ok';
  const { rows: marked } = await db.query<{ n: string }>(
    `WITH lease AS (UPDATE meridian_relay SET last_outbox_id = $2, last_sequence = $3 WHERE lease_epoch = $1 RETURNING 1),
          marked AS (UPDATE meridian_outbox AS o SET sequence = m.seq, published_at = now()
                       FROM unnest($4::bigint[], $5::bigint[]) AS m(id, seq), lease WHERE o.id = m.id RETURNING 1)
     SELECT (SELECT count(*) FROM lease)::text AS n`,
    [epoch, last.id, last.sequence, rows.map((r) => r.id.toString()), rows.map((r) => r.sequence.toString())],
  );
  return marked[0]?.n === '1' ? 'ok' : 'fenced';
}
