/**
 * Applied vectors: per origin actor, how far its stream is applied here — every sequence up to
 * `contiguous` (and its outbox id), plus the sequences applied beyond it. Written only by apply
 * transactions, under row locks taken in origin order; read as session positions (per origin,
 * the outbox id up to which every update is applied).
 */
import type { Queryable } from './pg-query.ts';
import type { AppliedPosition, AppliedPositions, AppliedRow } from './rows.ts';

/** The applied positions as one JSON object (`positionsOf` reads it), for a statement's column. */
export const APPLIED_COLUMN = '(SELECT json_object_agg(origin, contiguous_outbox_id::text) FROM meridian_applied) AS applied';

export function positionsOf(json: Record<string, string> | null | undefined): AppliedPositions {
  return new Map(Object.entries(json ?? {}).map(([origin, id]) => [origin, BigInt(id)]));
}

interface AppliedDbRow {
  origin: string;
  region: string;
  contiguous: bigint;
  contiguous_outbox_id: bigint;
  beyond: [string, string][];
}

function toApplied(r: AppliedDbRow): AppliedRow {
  return { origin: r.origin, region: r.region, contiguous: r.contiguous, contiguousOutboxId: r.contiguous_outbox_id, beyond: r.beyond.map(([s, id]) => [BigInt(s), BigInt(id)] as const) };
}

const SQL = {
  lockApplied: { name: 'meridian_apply_lock_applied', text: 'SELECT * FROM meridian_applied WHERE origin = ANY($1::text[]) ORDER BY origin FOR UPDATE' },
  insertApplied: { name: 'meridian_apply_insert_applied', text: 'INSERT INTO meridian_applied (origin, region) SELECT * FROM unnest($1::text[], $2::text[]) AS u(origin, region) ORDER BY origin ON CONFLICT DO NOTHING' },
  saveApplied: {
    name: 'meridian_apply_save_applied',
    text: `UPDATE meridian_applied AS a SET contiguous = u.contiguous, contiguous_outbox_id = u.contiguous_outbox_id, beyond = u.beyond
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::jsonb[]) AS u(origin, contiguous, contiguous_outbox_id, beyond) WHERE a.origin = u.origin`,
  },
} as const;

/**
 * The applied positions, read by this transaction now. Read after the key's row is locked, they
 * cover every replicated update the row reflects (an apply that changed it has committed).
 */
export async function currentPositions(db: Queryable): Promise<AppliedPositions> {
  return positionsOf((await db.query<{ applied: Record<string, string> | null }>(`SELECT ${APPLIED_COLUMN}`)).rows[0]?.applied);
}

/** The applied rows of these origins, inserted if missing and locked (sorted, so concurrent batches never deadlock). */
export async function lockApplied(db: Queryable, origins: readonly { origin: string; region: string }[]): Promise<Map<string, AppliedRow>> {
  const wanted = [...new Map(origins.map((o) => [o.origin, o])).values()].sort((a, b) => (a.origin < b.origin ? -1 : 1));
  if (wanted.length === 0) return new Map();
  const lock = async (): Promise<Map<string, AppliedRow>> => {
    const { rows } = await db.query<AppliedDbRow>({ ...SQL.lockApplied, values: [wanted.map((o) => o.origin)] });
    return new Map(rows.map((r) => [r.origin, toApplied(r)]));
  };
  // Lock first: an origin's row exists after its first batch. A missing row cannot be locked:
  // insert the missing ones, then lock them all.
  const locked = await lock();
  if (locked.size === wanted.length) return locked;
  const missing = wanted.filter((o) => !locked.has(o.origin));
  await db.query({ ...SQL.insertApplied, values: [missing.map((o) => o.origin), missing.map((o) => o.region)] });
  return lock();
}

/** Stores applied rows (several origins in one statement). */
export async function saveApplied(db: Queryable, rows: readonly AppliedRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query({
    ...SQL.saveApplied,
    values: [rows.map((r) => r.origin), rows.map((r) => r.contiguous.toString()), rows.map((r) => r.contiguousOutboxId.toString()), rows.map((r) => JSON.stringify(r.beyond.map(([s, id]) => [s.toString(), id.toString()])))],
  });
}

export async function appliedRows(db: Queryable): Promise<AppliedRow[]> {
  return (await db.query<AppliedDbRow>('SELECT * FROM meridian_applied ORDER BY origin')).rows.map(toApplied);
}

/** `appliedRows` without the sequences beyond each prefix (during a catch-up they are thousands, read and parsed for nothing). */
export async function appliedPositions(db: Queryable): Promise<AppliedPosition[]> {
  const { rows } = await db.query<Omit<AppliedDbRow, 'beyond'>>('SELECT origin, region, contiguous, contiguous_outbox_id FROM meridian_applied ORDER BY origin');
  return rows.map((r) => ({ origin: r.origin, region: r.region, contiguous: r.contiguous, contiguousOutboxId: r.contiguous_outbox_id }));
}
