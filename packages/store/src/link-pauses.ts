/**
 * Stored states of peer links. Operator pauses: a paused link applies nothing from its peer until
 * resumed; one row per paused peer, with the reason given; every replica of the region reads the
 * same rows. Needed reseeds: a link that lost records stays failed until a reseed completes.
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

/** Why a peer link needs a reseed, and the sequence gap it failed on (when it did). */
export interface LinkReseed {
  readonly reason: string;
  readonly gap?: { readonly origin: string; readonly sequence: bigint; readonly floor: bigint } | undefined;
}

/** The stored need of a reseed of a peer link, or undefined. */
export async function linkReseed(db: Queryable, peer: string): Promise<LinkReseed | undefined> {
  const { rows } = await db.query<{ reason: string; gap_origin: string | null; gap_sequence: string | null; gap_floor: string | null }>(
    'SELECT reason, gap_origin, gap_sequence::text, gap_floor::text FROM meridian_link_reseeds WHERE peer = $1',
    [peer],
  );
  const r = rows[0];
  if (!r) return undefined;
  const gap = r.gap_origin !== null && r.gap_sequence !== null && r.gap_floor !== null ? { origin: r.gap_origin, sequence: BigInt(r.gap_sequence), floor: BigInt(r.gap_floor) } : undefined;
  return { reason: r.reason, gap };
}

/**
 * Stores that a peer link needs a reseed (a sequence gap found later is kept beside an earlier
 * reason: the reseed must restart every partition), or that it no longer does (undefined: the
 * reseed's commit).
 */
export async function setLinkReseed(db: Queryable, peer: string, reseed: LinkReseed | undefined): Promise<void> {
  if (reseed === undefined) {
    await clearLinkReseed(db, peer);
    return;
  }
  await db.query(
    `INSERT INTO meridian_link_reseeds (peer, reason, gap_origin, gap_sequence, gap_floor) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (peer) DO UPDATE SET reason = excluded.reason, failed_at = now(),
       gap_origin = COALESCE(excluded.gap_origin, meridian_link_reseeds.gap_origin),
       gap_sequence = COALESCE(excluded.gap_sequence, meridian_link_reseeds.gap_sequence),
       gap_floor = COALESCE(excluded.gap_floor, meridian_link_reseeds.gap_floor)`,
    [peer, reseed.reason, reseed.gap?.origin ?? null, reseed.gap?.sequence ?? null, reseed.gap?.floor ?? null],
  );
}

/** Deletes the stored need of a reseed of a peer link (a reseed's commit); whether one was stored. */
export async function clearLinkReseed(db: Queryable, peer: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM meridian_link_reseeds WHERE peer = $1', [peer]);
  return (rowCount ?? 0) > 0;
}
