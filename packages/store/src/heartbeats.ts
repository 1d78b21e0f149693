/**
 * The peers' latest heartbeats (one row per peer): the peer's wall clock, its own high-water and
 * applied positions, as its stream last carried them. A heartbeat older than the stored one
 * (by the peer's wall clock) never replaces it — but the high-water of the stored origin actor is
 * the highest any of its heartbeats carried: a relay host whose clock ran fast leaves a wall clock
 * the next relay host's heartbeats stay below for a while, and the high-water (what the relay had
 * published: the sequence-gap check's evidence, DESIGN §4) must not freeze with it.
 *
 * Beside it, every origin actor's own highest high-water (`meridian_peer_high_waters`): a peer's
 * new incarnation replaces the latest heartbeat's actor, and the earlier actor's high-water must
 * outlive that switch — it is the evidence the sequence-gap check judges the earlier actor's tail
 * on (a restored peer whose topic was recreated holds none of that tail any more).
 */
import type { Queryable } from './pg-query.ts';
import type { HeartbeatRow } from './rows.ts';

export async function saveHeartbeat(db: Queryable, peer: string, origin: string, wallMs: bigint, highWater: bigint, applied: Record<string, string>): Promise<void> {
  // One statement (a data-modifying CTE runs whether or not it is referenced): the actor's own high-water, then the latest heartbeat.
  await db.query(
    `WITH actor AS (INSERT INTO meridian_peer_high_waters AS w (peer, origin, high_water) VALUES ($1, $2, $4)
       ON CONFLICT (peer, origin) DO UPDATE SET high_water = GREATEST(w.high_water, excluded.high_water))
     INSERT INTO meridian_peer_heartbeats AS h (peer, origin, wall_ms, high_water, applied, received_at) VALUES ($1, $2, $3, $4, $5, now())
     ON CONFLICT (peer) DO UPDATE SET
       origin = CASE WHEN h.wall_ms <= excluded.wall_ms THEN excluded.origin ELSE h.origin END,
       wall_ms = CASE WHEN h.wall_ms <= excluded.wall_ms THEN excluded.wall_ms ELSE h.wall_ms END,
       high_water = CASE WHEN h.origin = excluded.origin THEN GREATEST(h.high_water, excluded.high_water) WHEN h.wall_ms <= excluded.wall_ms THEN excluded.high_water ELSE h.high_water END,
       applied = CASE WHEN h.wall_ms <= excluded.wall_ms THEN excluded.applied ELSE h.applied END,
       received_at = CASE WHEN h.wall_ms <= excluded.wall_ms THEN now() ELSE h.received_at END
     WHERE h.wall_ms <= excluded.wall_ms OR h.origin = excluded.origin`,
    [peer, origin, wallMs, highWater, JSON.stringify(applied)],
  );
}

export async function heartbeats(db: Queryable): Promise<HeartbeatRow[]> {
  const { rows } = await db.query<{ peer: string; origin: string; wall_ms: bigint; high_water: bigint; applied: Record<string, string>; received_at: Date }>('SELECT * FROM meridian_peer_heartbeats ORDER BY peer');
  return rows.map((r) => ({ peer: r.peer, origin: r.origin, wallMs: r.wall_ms, highWater: r.high_water, applied: r.applied, receivedAt: r.received_at }));
}
