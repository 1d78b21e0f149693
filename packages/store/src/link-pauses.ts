/**
 * Operator pauses of peer links: a paused link applies nothing from its peer until resumed. One
 * row per paused peer, with the reason given; every replica of the region reads the same rows.
 */
import type { Queryable } from './pg-query.ts';

/** The peer links an operator paused, with the reason given. */
export async function linkPauses(db: Queryable): Promise<Map<string, string>> {
  const { rows } = await db.query<{ peer: string; reason: string }>('SELECT peer, reason FROM meridian_link_pauses');
  return new Map(rows.map((r) => [r.peer, r.reason]));
}

/** Stores an operator's pause of a peer link (a reason), or its resume (undefined). */
export async function setLinkPause(db: Queryable, peer: string, reason: string | undefined): Promise<void> {
  if (reason === undefined) await db.query('DELETE FROM meridian_link_pauses WHERE peer = $1', [peer]);
  else await db.query('INSERT INTO meridian_link_pauses (peer, reason) VALUES ($1, $2) ON CONFLICT (peer) DO UPDATE SET reason = excluded.reason, paused_at = now()', [peer, reason]);
}
