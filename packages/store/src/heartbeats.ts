/**
 * The peers' latest heartbeats (one row per peer): the peer's wall clock, its own high-water and
 * applied positions, as its stream last carried them. A heartbeat older than the stored one
 * (by the peer's wall clock) never replaces it.
 */
import type { Queryable } from './pg-query.ts';
import type { HeartbeatRow } from './rows.ts';

export async function saveHeartbeat(db: Queryable, peer: string, origin: string, wallMs: bigint, highWater: bigint, applied: Record<string, string>): Promise<void> {
  await db.query(
    `INSERT INTO meridian_peer_heartbeats (peer, origin, wall_ms, high_water, applied, received_at) VALUES ($1, $2, $3, $4, $5, now())
     ON CONFLICT (peer) DO UPDATE SET origin = excluded.origin, wall_ms = excluded.wall_ms, high_water = excluded.high_water, applied = excluded.applied, received_at = now()
     WHERE meridian_peer_heartbeats.wall_ms <= excluded.wall_ms`,
    [peer, origin, wallMs, highWater, JSON.stringify(applied)],
  );
}

export async function heartbeats(db: Queryable): Promise<HeartbeatRow[]> {
  const { rows } = await db.query<{ peer: string; origin: string; wall_ms: bigint; high_water: bigint; applied: Record<string, string>; received_at: Date }>('SELECT * FROM meridian_peer_heartbeats ORDER BY peer');
  return rows.map((r) => ({ peer: r.peer, origin: r.origin, wallMs: r.wall_ms, highWater: r.high_water, applied: r.applied, receivedAt: r.received_at }));
}
