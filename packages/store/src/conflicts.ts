/**
 * Conflict records. Invariant: a conflict is recorded once per id (the id is a hash of the
 * concurrent dots), whichever region and however many times it is observed.
 */
import type { Queryable } from './pg-query.ts';
import type { ConflictRow, StoredConflict } from './rows.ts';

// Not named: rare, and its one parameter is the whole list as JSON (text[] columns cannot come
// out of unnest, which flattens arrays of arrays).
const RECORD_CONFLICTS = `INSERT INTO meridian_conflicts (id, namespace, key, policy, kind, versions, outcome, regions, trace_ids, skew_flagged)
           SELECT c->>'id', c->>'namespace', c->>'key', c->>'policy', c->>'kind', c->'versions', c->'outcome',
                  ARRAY(SELECT jsonb_array_elements_text(c->'regions')), ARRAY(SELECT jsonb_array_elements_text(c->'traceIds')), (c->>'skewFlagged')::boolean
             FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(c, ord) ORDER BY ord
           ON CONFLICT (id) DO NOTHING RETURNING id`;

/**
 * Records conflicts, in order, each unless one with its id exists (in the table or earlier in
 * the list): the ids this call recorded. One statement.
 */
export async function recordConflicts(db: Queryable, conflicts: readonly ConflictRow[]): Promise<Set<string>> {
  const unique = [...new Map(conflicts.map((c) => [c.id, c])).values()];
  if (unique.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(RECORD_CONFLICTS, [JSON.stringify(unique)]);
  return new Set(rows.map((r) => r.id));
}

/** Conflicts, newest first, paged by sequence. */
export async function conflicts(db: Queryable, filter: { namespace?: string | undefined; key?: string | undefined; limit: number; before?: bigint | undefined }): Promise<StoredConflict[]> {
  const { rows } = await db.query<{ id: string; seq: bigint; namespace: string; key: string; policy: string; kind: string; versions: unknown; outcome: unknown; regions: string[]; trace_ids: string[]; skew_flagged: boolean; observed_at: Date }>(
    `SELECT * FROM meridian_conflicts WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR key = $2) AND ($3::bigint IS NULL OR seq < $3)
     ORDER BY seq DESC LIMIT $4`,
    [filter.namespace ?? null, filter.key ?? null, filter.before ?? null, filter.limit],
  );
  return rows.map((r) => ({ id: r.id, seq: r.seq, namespace: r.namespace, key: r.key, policy: r.policy, kind: r.kind, versions: r.versions, outcome: r.outcome, regions: r.regions, traceIds: r.trace_ids, skewFlagged: r.skew_flagged, observedAt: r.observed_at }));
}
