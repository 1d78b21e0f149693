/**
 * The write path's statements: a key's snapshot, the compare-and-writes that store a write
 * planned from it, and the read view.
 *
 * The write path's invariant lives here. A write's new state is a function of the key's stored
 * state and highest HLC alone, so it may be computed from a snapshot and stored only if the row
 * still holds exactly that snapshot: `compareAndWrite` updates the row (or inserts the missing
 * row) under that condition and appends the outbox row in the same single statement; a write
 * that lost the race stores nothing and is redone under the row lock (`PgStore.transaction` +
 * `lockKey`, keys.ts). Either way two replicas writing one key never mint the same dot or lose
 * an update, and no durable write can miss replication (docs/decisions/0003).
 */
import { arrayLiteral } from './array-literal.ts';
import { APPLIED_COLUMN, positionsOf } from './applied-vectors.ts';
import { DELETE_NAMED, ELEMENT_ROWS_COLUMNS, NAMED_ROWS_COLUMNS, packRows, wholeState, type ElementRowsColumns } from './collections.ts';
import { heldColumn, heldOf, type HeldJson } from './dead-letters.ts';
import { toNamespace, type NamespaceDbRow } from './namespaces.ts';
import { OUTBOX_HIGH_WATER } from './outbox.ts';
import { buffer, bytes, type Queryable } from './pg-query.ts';
import { StoreError, StoreErrorCode } from './store-error.ts';
import type { AppliedPositions, ConditionalWrite, ConditionalWriteResult, ReadView, RowsWrite, RowsWriteResult, WriteSnapshot } from './rows.ts';

type SnapshotDbRow = NamespaceDbRow & { has_row: boolean; state: Buffer | null; max_hlc: bigint | null; elements: number | null; generation: bigint | null };
type CompareDbRow = SnapshotDbRow & { outbox_id: bigint | null; applied: Record<string, string> | null; held: HeldJson };

/**
 * The snapshot statement's row (none: the namespace does not exist). A split key's snapshot is its
 * header and generation (`KeyRow.split`, no rows): a write on it reads the rows it names itself.
 */
function toSnapshot(r: SnapshotDbRow | undefined, namespace: string, key: string, rows: ReadonlyMap<string, Uint8Array> = new Map()): WriteSnapshot {
  if (!r) return { namespace: undefined, key: undefined };
  if (!r.has_row) return { namespace: toNamespace(r), key: undefined };
  const state = r.state ? bytes(r.state) : undefined;
  const split = state && r.elements !== null ? { elements: r.elements, generation: r.generation ?? 0n, rows } : undefined;
  return { namespace: toNamespace(r), key: { namespace, key, state, maxHlc: r.max_hlc ?? 0n, ...(split ? { split } : {}) } };
}

/** A write snapshot's columns (`toSnapshot` reads them): the namespace row, then the key's row. */
const SNAPSHOT_COLUMNS = 'n.name, n.policy, n.declared_by, n.declared_hlc, n.created_at, k.key IS NOT NULL AS has_row, k.state, k.max_hlc, k.elements, k.generation';
/** The same columns, empty: the rows of saved writes, which carry an outbox id instead. */
const NO_SNAPSHOT_COLUMNS = `NULL AS name, NULL AS policy, NULL AS declared_by, NULL::bigint AS declared_hlc,
                  NULL::timestamptz AS created_at, NULL::boolean AS has_row, NULL::bytea AS state, NULL::bigint AS max_hlc, NULL::integer AS elements, NULL::bigint AS generation`;

/**
 * The tail of both compare-and-write statements: the new outbox id when the write was saved;
 * otherwise (the CTE `saved` is empty) the snapshot statement's columns, read in the same
 * statement. No row at all: the namespace does not exist.
 */
const SNAPSHOT_ON_MISS = `SELECT id AS outbox_id, ${NO_SNAPSHOT_COLUMNS}, ${APPLIED_COLUMN}, ${heldColumn('$1', '$2')}
             FROM queued
           UNION ALL
           SELECT NULL, ${SNAPSHOT_COLUMNS}, NULL, NULL
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1 AND NOT EXISTS (SELECT 1 FROM saved)`;

/**
 * The write path's statements, named so that each pooled connection parses and plans them once
 * (node-postgres prepares a named statement on its first use per connection).
 */
const SQL = {
  snapshot: {
    name: 'meridian_write_snapshot',
    text: `SELECT ${SNAPSHOT_COLUMNS}
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1`,
  },
  readView: {
    name: 'meridian_read_view',
    // The positions come from the statement's snapshot, the key's row too: a token built from them
    // covers every replicated update the row reflects (never positions read before the row).
    text: `SELECT n.*, k.state, k.max_hlc, k.elements, ${ELEMENT_ROWS_COLUMNS('k')}, ${OUTBOX_HIGH_WATER} AS high_water, ${APPLIED_COLUMN}, ${heldColumn('$1', '$2')}
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1`,
  },
  // readView of a part of a split key: only the named rows (a read of one element or field).
  readViewNamed: {
    name: 'meridian_read_view_named',
    text: `SELECT n.*, k.state, k.max_hlc, k.elements, ${NAMED_ROWS_COLUMNS('k', '$3')}, ${OUTBOX_HIGH_WATER} AS high_water, ${APPLIED_COLUMN}, ${heldColumn('$1', '$2')}
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1`,
  },
  // A split key's write snapshot with the rows a write names (collections.ts), in one statement.
  collectionSnapshot: {
    name: 'meridian_collection_snapshot',
    text: `SELECT ${SNAPSHOT_COLUMNS}, ${NAMED_ROWS_COLUMNS('k', '$3')}
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1`,
  },
  // A write on a split key: its header, count and generation if the generation is still the one
  // the write was planned from (every write of a split key bumps it: no row changed meanwhile),
  // the rows it changes, and its outbox row, in one statement. The rows are written only when the
  // key row was (each data-modifying CTE runs; those on the rows find saved empty otherwise).
  compareAndWriteRows: {
    name: 'meridian_write_rows_if_unchanged',
    text: `WITH saved AS (
             UPDATE meridian_keys SET state = $3, elements = $4, generation = generation + 1, max_hlc = $5, updated_at = now()
              WHERE namespace = $1 AND key = $2 AND elements IS NOT NULL AND generation = $6 AND max_hlc = $7
                AND EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = $1 AND policy = $8)
             RETURNING pg_current_xact_id()),
           upserted AS (
             INSERT INTO meridian_elements AS e (namespace, key, name, row)
             SELECT $1, $2, u.name, substring($9::bytea FROM u.start FOR u.length)
               FROM unnest($10::text[], $11::int[], $12::int[]) AS u(name, start, length)
              WHERE EXISTS (SELECT 1 FROM saved) ORDER BY u.name
             ON CONFLICT (namespace, key, name_hash) DO UPDATE SET row = excluded.row),
           removed AS (${DELETE_NAMED('$1', '$2', '$13')} AND EXISTS (SELECT 1 FROM saved)),
           queued AS (INSERT INTO meridian_outbox (message_key, envelope) SELECT $14, $15 FROM saved RETURNING id)
           SELECT id AS outbox_id, ${APPLIED_COLUMN}, ${heldColumn('$1', '$2')} FROM queued`,
  },
  // The outbox row is drawn after the key row is written (the CTE's row feeds the INSERT), so the
  // transaction owns its id before the outbox id exists; pg_current_xact_id() says so explicitly
  // (the relay's horizon relies on it). The write also requires the namespace to still have the
  // policy the write was planned under (a replicated declaration can replace it). When nothing
  // was saved (the row or the policy changed), the same statement answers with a new snapshot
  // instead — the namespace row and the key's row, as `snapshot` reads them — so the write can
  // be planned again without another round trip.
  updateIfUnchanged: {
    name: 'meridian_write_update_if_unchanged',
    text: `WITH saved AS (
             UPDATE meridian_keys SET state = $3, max_hlc = $4, updated_at = now()
              WHERE namespace = $1 AND key = $2 AND state IS NOT DISTINCT FROM $5::bytea AND max_hlc = $6
                AND EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = $1 AND policy = $9)
             RETURNING pg_current_xact_id()),
           queued AS (INSERT INTO meridian_outbox (message_key, envelope) SELECT $7, $8 FROM saved RETURNING id)
           ${SNAPSHOT_ON_MISS}`,
  },
  insertIfMissing: {
    name: 'meridian_write_insert_if_missing',
    text: `WITH saved AS (
             INSERT INTO meridian_keys (namespace, key, state, max_hlc)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = $1 AND policy = $7)
             ON CONFLICT DO NOTHING RETURNING pg_current_xact_id()),
           queued AS (INSERT INTO meridian_outbox (message_key, envelope) SELECT $5, $6 FROM saved RETURNING id)
           ${SNAPSHOT_ON_MISS}`,
  },
  // Several compare-and-writes of existing rows (distinct keys) in one statement, so one commit:
  // the write path's group commit. The rows are locked in key order first (as every statement
  // that locks several keys does, so two of them never deadlock); each write is saved only if its
  // row still holds its snapshot and its namespace its policy, as in updateIfUnchanged. The
  // states, snapshots and envelopes travel as one binary parameter cut by offsets (a bytea[]
  // would go as hex text). Each write answers with its outbox id (found by its message key,
  // unique in the batch), or with the snapshot to plan it again from.
  updateManyIfUnchanged: {
    name: 'meridian_write_update_many_if_unchanged',
    text: `WITH input AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::int[], $11::bigint[], $12::bigint[])
               WITH ORDINALITY AS i(namespace, key, policy, message_key, state_at, state_length, expected_at, expected_length, envelope_at, envelope_length, max_hlc, expected_hlc, n)),
           locked AS (
             SELECT k.namespace, k.key FROM meridian_keys k
              WHERE (k.namespace, k.key) IN (SELECT namespace, key FROM input)
              ORDER BY k.namespace, k.key FOR UPDATE),
           saved AS (
             UPDATE meridian_keys k SET state = substring($13::bytea FROM i.state_at FOR i.state_length), max_hlc = i.max_hlc, updated_at = now()
               FROM input i, locked l
              WHERE k.namespace = i.namespace AND k.key = i.key AND l.namespace = i.namespace AND l.key = i.key
                AND k.state IS NOT DISTINCT FROM (CASE WHEN i.expected_length < 0 THEN NULL ELSE substring($13::bytea FROM i.expected_at FOR i.expected_length) END)
                AND k.max_hlc = i.expected_hlc
                AND EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = i.namespace AND policy = i.policy)
             RETURNING i.n, pg_current_xact_id()),
           queued AS (
             INSERT INTO meridian_outbox (message_key, envelope)
             SELECT i.message_key, substring($13::bytea FROM i.envelope_at FOR i.envelope_length) FROM saved s JOIN input i ON i.n = s.n ORDER BY i.n
             RETURNING id, message_key)
           SELECT i.n, q.id AS outbox_id, ${NO_SNAPSHOT_COLUMNS}, ${APPLIED_COLUMN}, ${heldColumn('i.namespace', 'i.key')}
             FROM queued q JOIN input i ON i.message_key = q.message_key
           UNION ALL
           SELECT i.n, NULL, ${SNAPSHOT_COLUMNS}, NULL, NULL
             FROM input i LEFT JOIN meridian_namespaces n ON n.name = i.namespace LEFT JOIN meridian_keys k ON k.namespace = i.namespace AND k.key = i.key
            WHERE i.n NOT IN (SELECT n FROM saved)`,
  },
} as const;

/** One statement: the namespace and the key's row (the snapshot an optimistic write computes from). */
export async function writeSnapshot(db: Queryable, namespace: string, key: string): Promise<WriteSnapshot> {
  return toSnapshot((await db.query<SnapshotDbRow>({ ...SQL.snapshot, values: [namespace, key] })).rows[0], namespace, key);
}

/**
 * One statement: the namespace and the key's row, and for a split key the rows among `names` that
 * exist (`KeyRow.split.rows`): what a write on a split collection is planned from.
 */
export async function collectionSnapshot(db: Queryable, namespace: string, key: string, names: readonly string[]): Promise<WriteSnapshot> {
  const { rows } = await db.query<SnapshotDbRow & ElementRowsColumns>({ ...SQL.collectionSnapshot, values: [namespace, key, arrayLiteral(names, (n) => n)] });
  const r = rows[0];
  const named = new Map<string, Uint8Array>();
  (r?.element_names ?? []).forEach((name, i) => named.set(name, bytes(r!.element_rows![i]!)));
  return toSnapshot(r, namespace, key, named);
}

/**
 * One statement, its own transaction: a write on a split collection (`collectionSnapshot`), stored
 * only if the key is still split at the generation and HLC it was planned from and the namespace
 * still has the policy; nothing is stored otherwise (the caller reads a new snapshot).
 */
export async function compareAndWriteRows(db: Queryable, write: RowsWrite): Promise<RowsWriteResult> {
  const upserts = [...write.upserts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const { blob, starts, lengths } = packRows(upserts);
  const { rows } = await db.query<{ outbox_id: bigint; applied: Record<string, string> | null; held: HeldJson }>({
    ...SQL.compareAndWriteRows,
    values: [
      write.namespace,
      write.key,
      buffer(write.header),
      write.elements,
      write.maxHlc,
      write.expected.generation,
      write.expected.maxHlc,
      write.policy,
      blob,
      arrayLiteral(upserts, ([name]) => name),
      starts,
      lengths,
      arrayLiteral(write.deletes, (n) => n),
      write.messageKey,
      buffer(write.envelope),
    ],
  });
  const r = rows[0];
  if (!r) return { saved: false };
  return { saved: true, outboxId: r.outbox_id, applied: positionsOf(r.applied), held: heldOf(r.held) };
}

/**
 * One statement, its own transaction: stores `write.state` if the key's row still holds exactly
 * `write.expected` (or, with no expected row, if the key still has none) and the namespace still
 * has `write.policy`, and appends the outbox row. Returns the outbox id; or, when the row or the
 * policy changed, nothing was stored and the answer is a new snapshot, read by the same
 * statement, to plan the write from again.
 */
export async function compareAndWrite(db: Queryable, write: ConditionalWrite): Promise<ConditionalWriteResult> {
  const { namespace, key, expected } = write;
  const { rows } = expected
    ? await db.query<CompareDbRow>({
        ...SQL.updateIfUnchanged,
        values: [namespace, key, buffer(write.state), write.maxHlc, expected.state ? buffer(expected.state) : null, expected.maxHlc, write.messageKey, buffer(write.envelope), write.policy],
      })
    : await db.query<CompareDbRow>({
        ...SQL.insertIfMissing,
        values: [namespace, key, buffer(write.state), write.maxHlc, write.messageKey, buffer(write.envelope), write.policy],
      });
  const outboxId = rows[0]?.outbox_id;
  if (outboxId !== undefined && outboxId !== null) return { saved: true, outboxId, applied: positionsOf(rows[0]?.applied), held: heldOf(rows[0]?.held) };
  return { saved: false, snapshot: toSnapshot(rows[0], namespace, key) };
}

/**
 * The parameters of `compareAndWriteMany`'s statement, checked before a connection is taken:
 * every write must have an expected row (a key's first write goes through `compareAndWrite`),
 * and their keys must be distinct.
 */
export function compareAndWriteManyValues(writes: readonly ConditionalWrite[]): unknown[] {
  const seen = new Set<string>();
  const blob: Uint8Array[] = [];
  let at = 1;
  const put = (b: Uint8Array): number => {
    const start = at;
    blob.push(b);
    at += b.byteLength;
    return start;
  };
  const cols = { namespace: [] as string[], key: [] as string[], policy: [] as string[], messageKey: [] as string[], stateAt: [] as number[], stateLength: [] as number[], expectedAt: [] as number[], expectedLength: [] as number[], envelopeAt: [] as number[], envelopeLength: [] as number[], maxHlc: [] as string[], expectedHlc: [] as string[] };
  for (const w of writes) {
    if (!w.expected) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${w.namespace}/${w.key} has no expected row`);
    if (seen.has(w.messageKey)) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${w.messageKey} twice in one batch`);
    seen.add(w.messageKey);
    cols.namespace.push(w.namespace);
    cols.key.push(w.key);
    cols.policy.push(w.policy);
    cols.messageKey.push(w.messageKey);
    cols.stateAt.push(put(w.state));
    cols.stateLength.push(w.state.byteLength);
    const expected = w.expected.state;
    cols.expectedAt.push(expected ? put(expected) : 1);
    cols.expectedLength.push(expected ? expected.byteLength : -1);
    cols.envelopeAt.push(put(w.envelope));
    cols.envelopeLength.push(w.envelope.byteLength);
    cols.maxHlc.push(w.maxHlc.toString());
    cols.expectedHlc.push(w.expected.maxHlc.toString());
  }
  return [
    ...[cols.namespace, cols.key, cols.policy, cols.messageKey, cols.stateAt, cols.stateLength, cols.expectedAt, cols.expectedLength, cols.envelopeAt, cols.envelopeLength, cols.maxHlc, cols.expectedHlc].map((column: readonly (string | number)[]) => arrayLiteral(column, (v) => v)),
    Buffer.concat(blob),
  ];
}

/**
 * Several compare-and-writes in one statement (one transaction, one commit), each with the
 * semantics of `compareAndWrite`: a write whose row or policy changed stores nothing and
 * answers with a new snapshot; the others are saved. `values` are `compareAndWriteManyValues(writes)`.
 * Answers in the writes' order.
 */
export async function compareAndWriteMany(db: Queryable, writes: readonly ConditionalWrite[], values: unknown[]): Promise<ConditionalWriteResult[]> {
  const { rows } = await db.query<CompareDbRow & { n: bigint }>({ ...SQL.updateManyIfUnchanged, values });
  const out: (ConditionalWriteResult | undefined)[] = writes.map(() => undefined);
  let applied: AppliedPositions | undefined;
  for (const r of rows) {
    const i = Number(r.n) - 1;
    const w = writes[i]!;
    out[i] = r.outbox_id !== null ? { saved: true, outboxId: r.outbox_id, applied: (applied ??= positionsOf(r.applied)), held: heldOf(r.held) } : { saved: false, snapshot: toSnapshot(r.name === null ? undefined : r, w.namespace, w.key) };
  }
  return out.map((r, i) => {
    if (r === undefined) throw new StoreError(StoreErrorCode.integrity, `compareAndWriteMany: no answer for ${writes[i]!.messageKey}`);
    return r;
  });
}

/**
 * One statement: a key's namespace, committed state (unlocked), the outbox high-water, the
 * applied positions and the key's held-back dead letters, for reads. With `rows`, a key stored
 * split holds only those of its rows (its context whole): what a read of one element or field needs.
 */
export async function readView(db: Queryable, namespace: string, key: string, rows?: readonly string[]): Promise<ReadView> {
  const query = rows === undefined ? { ...SQL.readView, values: [namespace, key] } : { ...SQL.readViewNamed, values: [namespace, key, arrayLiteral(rows, (n) => n)] };
  const result = await db.query<NamespaceDbRow & ElementRowsColumns & { state: Buffer | null; max_hlc: bigint | null; high_water: bigint | null; applied: Record<string, string> | null; held: HeldJson }>(query);
  return toReadView(result.rows[0], namespace, key);
}

function toReadView(r: (NamespaceDbRow & ElementRowsColumns & { state: Buffer | null; max_hlc: bigint | null; high_water: bigint | null; applied: Record<string, string> | null; held: HeldJson }) | undefined, namespace: string, key: string): ReadView {
  if (!r) return { namespace: undefined, key: undefined, highWater: 0n, applied: new Map(), held: [] };
  // A split key's rows come from the same statement: the same snapshot as the positions.
  const state = wholeState(r.state, r);
  return {
    namespace: toNamespace(r),
    key: state ? { namespace, key, state, maxHlc: r.max_hlc ?? 0n } : undefined,
    highWater: r.high_water ?? 0n,
    applied: positionsOf(r.applied),
    held: heldOf(r.held),
  };
}
