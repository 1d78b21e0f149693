/**
 * The transactional outbox: every durable write appends its replication envelope in the same
 * transaction (or the same statement, conditional-write.ts), so no write can miss replication
 * (docs/decisions/0003). The relay publishes rows in id order (relay-lease.ts) and prunes them
 * once published.
 *
 * An outbox id is drawn only after the transaction owns a transaction id (pg_current_xact_id()),
 * which the relay's publish horizon (`outboxHorizon`) relies on.
 */
import { buffer, type Queryable } from './pg-query.ts';

/**
 * This region's own session position, as one SQL expression: the highest committed outbox id.
 * The relay prunes published rows, so an idle outbox is empty and max(id) alone falls to 0; every
 * pruned row was published first, and the relay's published position (`last_outbox_id`) is at
 * least its id. Not the id sequence's last value: that counts ids drawn by transactions that
 * rolled back or are still running, which no peer will ever report as applied.
 */
export const OUTBOX_HIGH_WATER = 'GREATEST((SELECT max(id) FROM meridian_outbox), (SELECT last_outbox_id FROM meridian_relay))';

const APPEND_OUTBOX = { name: 'meridian_append_outbox', text: 'INSERT INTO meridian_outbox (message_key, envelope) SELECT $1, $2 FROM (SELECT pg_current_xact_id()) AS x RETURNING id' } as const;

/**
 * Appends the replication envelope of this transaction's write and returns its outbox id.
 * The transaction must already have written (lockKey / declareNamespace) — it then owns a
 * transaction id before the outbox id is drawn, which the relay's horizon relies on.
 */
export async function appendOutbox(db: Queryable, messageKey: string, envelope: Uint8Array): Promise<bigint> {
  // pg_current_xact_id() makes sure this transaction owns a transaction id before the outbox
  // id is drawn (the default runs after the SELECT): the relay's horizon relies on it.
  const { rows } = await db.query<{ id: bigint }>({ ...APPEND_OUTBOX, values: [messageKey, buffer(envelope)] });
  return rows[0]!.id;
}

/** The highest outbox id committed so far: this region's own position in its session tokens. */
export async function outboxHighWater(db: Queryable): Promise<bigint> {
  return (await db.query<{ id: bigint | null }>(`SELECT ${OUTBOX_HIGH_WATER} AS id`)).rows[0]?.id ?? 0n;
}

/**
 * One probe of the publish horizon, from one snapshot: the highest committed outbox id, the
 * transaction-id bound that every transaction running now is below (`xmax`), and the oldest
 * transaction still running (`xmin`; equal to `xmax` when none is). Rows at or below `maxId`
 * are safe to publish once a probe's `xmin` reaches this probe's `xmax` — at once, when this
 * probe's own `xmin` does: the transactions that drew lower ids have all ended.
 */
export async function outboxHorizon(db: Queryable): Promise<{ maxId: bigint; xmax: bigint; xmin: bigint }> {
  const { rows } = await db.query<{ max_id: bigint | null; xmax: string; xmin: string }>(
    'SELECT (SELECT max(id) FROM meridian_outbox) AS max_id, pg_snapshot_xmax(s)::text AS xmax, pg_snapshot_xmin(s)::text AS xmin FROM pg_current_snapshot() AS s',
  );
  return { maxId: rows[0]?.max_id ?? 0n, xmax: BigInt(rows[0]!.xmax), xmin: BigInt(rows[0]!.xmin) };
}

export async function pruneOutbox(db: Queryable, olderThanSeconds: number): Promise<number> {
  const r = await db.query(`DELETE FROM meridian_outbox WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1::double precision)`, [olderThanSeconds]);
  return r.rowCount ?? 0;
}

export async function outboxBacklog(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM meridian_outbox WHERE sequence IS NULL');
  return Number(rows[0]?.n ?? 0);
}
