/**
 * The region a database belongs to and its incarnations. An incarnation is an epoch: the region's
 * actor is `region.epoch`, and a new epoch (after a restore from backup, or when the database
 * finds its stream behind its peers') starts a new stream, so the region never mints the same
 * dot twice. Epochs never go back.
 *
 * `bindRegion` and `startIncarnation` run inside a transaction (`PgStore` gives them one).
 */
import { StoreError, StoreErrorCode } from './store-error.ts';
import type { Queryable } from './pg-query.ts';
import type { Incarnation, OwnStream, RegionIdentity } from './rows.ts';

/**
 * Switches the database to epoch `to`, in the caller's transaction: the new actor's stream starts
 * at sequence 1 from where the relay left off in the outbox (rows not yet published go out under
 * the new actor), and the relay lease moves on, so a relay of the earlier incarnation can mark
 * nothing more (and cannot take the lease again: its epoch is not the database's).
 */
async function switchIncarnation(tx: Queryable, to: number, reason: string): Promise<void> {
  await tx.query('UPDATE meridian_region SET epoch = $1', [to]);
  await tx.query('UPDATE meridian_relay SET last_sequence = 0, lease_epoch = lease_epoch + 1, lease_owner = NULL, lease_expires_at = NULL');
  await tx.query(
    `INSERT INTO meridian_incarnations (epoch, reason, outbox_id)
     SELECT $1, $2, GREATEST((SELECT last_outbox_id FROM meridian_relay), (SELECT max(id) FROM meridian_outbox), pg_sequence_last_value('meridian_outbox_id_seq'), 0)
     ON CONFLICT (epoch) DO NOTHING`,
    [to, reason],
  );
}

/**
 * Binds this database to a region, in the caller's transaction. The first start records the
 * region and its epoch; later starts must name the same region. A configured epoch above the
 * stored one replaces it (the operator's move after restoring a backup); one below it is refused.
 */
export async function bindRegion(tx: Queryable, region: string, configuredEpoch: number | undefined): Promise<RegionIdentity> {
  await tx.query('INSERT INTO meridian_region (region, epoch) VALUES ($1, $2) ON CONFLICT DO NOTHING', [region, configuredEpoch ?? 1]);
  const { rows } = await tx.query<{ region: string; epoch: number }>('SELECT region, epoch FROM meridian_region FOR UPDATE');
  const stored = rows[0]!;
  if (stored.region !== region) {
    throw new StoreError(StoreErrorCode.integrity, `this database belongs to region ${stored.region}, not ${region}: give each region its own database`);
  }
  if (configuredEpoch !== undefined && configuredEpoch < stored.epoch) {
    throw new StoreError(StoreErrorCode.integrity, `expected an epoch of at least ${stored.epoch} for region ${region} (got ${configuredEpoch}): epochs never go back; unset MERIDIAN_EPOCH (the database keeps its epoch) or set it to ${stored.epoch} or more`);
  }
  if (configuredEpoch !== undefined && configuredEpoch > stored.epoch) {
    await switchIncarnation(tx, configuredEpoch, `MERIDIAN_EPOCH raised from ${stored.epoch} to ${configuredEpoch}`);
    return { region, epoch: configuredEpoch };
  }
  return { region, epoch: stored.epoch };
}

/**
 * What this database knows of its own stream: the current epoch, the relay's published position
 * (sequence and outbox id, under the current epoch's actor), how many outbox rows still wait to
 * be published, and the highest outbox id ever allocated. Compared at start with what the
 * region's topic and its peers hold of the stream (services/region incarnation.ts).
 */
export async function ownStream(db: Queryable): Promise<OwnStream> {
  const { rows } = await db.query<{ epoch: number; last_sequence: bigint; last_outbox_id: bigint; unpublished: bigint; max_outbox_id: bigint }>(
    `SELECT g.epoch, r.last_sequence, r.last_outbox_id,
            (SELECT count(*) FROM meridian_outbox WHERE id > r.last_outbox_id) AS unpublished,
            GREATEST(r.last_outbox_id, (SELECT max(id) FROM meridian_outbox), pg_sequence_last_value('meridian_outbox_id_seq'), 0) AS max_outbox_id
       FROM meridian_region AS g, meridian_relay AS r`,
  );
  const r = rows[0];
  if (!r) throw new StoreError(StoreErrorCode.integrity, 'this database is not bound to a region yet');
  return { epoch: r.epoch, lastSequence: BigInt(r.last_sequence), lastOutboxId: BigInt(r.last_outbox_id), unpublished: BigInt(r.unpublished), maxOutboxId: BigInt(r.max_outbox_id) };
}

/**
 * Starts incarnation `to` if the database is still at `from` (another replica may have started
 * one first: then its epoch is kept), in the caller's transaction. Returns the epoch now in force.
 */
export async function startIncarnation(tx: Queryable, from: number, to: number, reason: string): Promise<number> {
  const { rows } = await tx.query<{ epoch: number }>('SELECT epoch FROM meridian_region FOR UPDATE');
  const current = rows[0]!.epoch;
  if (current !== from || to <= current) return current;
  await switchIncarnation(tx, to, reason);
  return to;
}

/** The incarnations this database started, oldest first. */
export async function incarnations(db: Queryable): Promise<Incarnation[]> {
  const { rows } = await db.query<{ epoch: number; reason: string; outbox_id: bigint; started_at: Date }>('SELECT epoch, reason, outbox_id, started_at FROM meridian_incarnations ORDER BY epoch');
  return rows.map((r) => ({ epoch: r.epoch, reason: r.reason, outboxId: BigInt(r.outbox_id), startedAt: r.started_at }));
}
