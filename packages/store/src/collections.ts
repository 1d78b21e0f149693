/**
 * Big sets and maps, stored a row per element or field (migration 14, decision 0013). A set or map
 * with more than `splitRows` elements or fields is split: its key row's `state` holds a header
 * (its type and causal context; @meridian/crdt's collection-layout.ts), `elements` its row count,
 * and `meridian_elements` a row per element or field. The layout is a function of the state, so
 * every writer of a whole state goes through `saveWhole`, which picks it.
 *
 * Who sees what: readers that answer or merge whole states (locks, reads, anti-entropy) get the
 * state assembled from the header and every row, read in the same snapshot (one statement, or
 * under the key's row lock); the write path's snapshot of a split key is its header and generation
 * (`KeyRow.split`), and a write on it reads and writes the rows it names alone
 * (conditional-write.ts `collectionSnapshot`, `compareAndWriteRows`).
 */
import { joinCollection, splitCollection, splitRows, splitsAbove } from '@meridian/crdt';
import { arrayLiteral } from './array-literal.ts';
import { buffer, bytes, type Queryable } from './pg-query.ts';
import type { SplitRowsWrite } from './rows.ts';
import { StoreError, StoreErrorCode } from './store-error.ts';

/** The store's layout setting: above this many elements or fields a set or map is split. */
export interface CollectionLayout {
  readonly splitRows: number;
}

/** A split key's rows from `rows` (a FROM item) as two columns, names and rows in name order; NULL for a key stored whole. */
const rowsColumns = (k: string, rows: string): string =>
  `CASE WHEN ${k}.elements IS NOT NULL THEN (SELECT array_agg(e.name ORDER BY e.name) FROM ${rows} AS e) END AS element_names,
   CASE WHEN ${k}.elements IS NOT NULL THEN (SELECT array_agg(e.row ORDER BY e.name) FROM ${rows} AS e) END AS element_rows`;

/** All rows of a split key (of the row aliased `k`), as one statement's columns. */
export const ELEMENT_ROWS_COLUMNS = (k: string): string => rowsColumns(k, `(SELECT name, row FROM meridian_elements WHERE namespace = ${k}.namespace AND key = ${k}.key)`);

/** As `ELEMENT_ROWS_COLUMNS`, only the rows named by a text[] parameter (a read of one element or field, a write's snapshot). */
export const NAMED_ROWS_COLUMNS = (k: string, names: string): string => rowsColumns(k, NAMED_ROWS(`${k}.namespace`, `${k}.key`, names));

/** What `ELEMENT_ROWS_COLUMNS` reads. */
export interface ElementRowsColumns {
  readonly elements?: number | null;
  readonly element_names?: string[] | null;
  readonly element_rows?: Buffer[] | null;
}

/**
 * The rows of a key named by a text[] parameter, as a FROM item with columns id (ctid), name, row:
 * one primary-key lookup per name. A lateral subquery with LIMIT 1 keeps each lookup an equality
 * on the whole key: the semi-join and `= ANY` forms let the planner, trusting statistics that
 * saw a key's rows as few, scan every row of the key instead (one write into a set of 100,000
 * cost 50 ms of PostgreSQL).
 */
export const NAMED_ROWS = (namespace: string, key: string, names: string): string =>
  `(SELECT x.* FROM unnest(${names}::text[]) AS u(n) CROSS JOIN LATERAL (SELECT y.ctid AS id, y.name, y.row FROM meridian_elements y WHERE y.namespace = ${namespace} AND y.key = ${key} AND y.name_hash = meridian_name_hash(u.n) LIMIT 1) AS x)`;

/** A DELETE of a key's rows named by a text[] parameter (by their ctids, found as NAMED_ROWS finds them). */
export const DELETE_NAMED = (namespace: string, key: string, names: string): string => `DELETE FROM meridian_elements WHERE ctid = ANY(ARRAY(SELECT r.id FROM ${NAMED_ROWS(namespace, key, names)} AS r))`;

/** A row's stored state as a whole state: the header joined with the rows `ELEMENT_ROWS_COLUMNS` read; the state itself when not split. */
export function wholeState(state: Buffer | null, r: ElementRowsColumns): Uint8Array | undefined {
  if (!state) return undefined;
  if (r.elements === null || r.elements === undefined) return bytes(state);
  const names = r.element_names ?? [];
  const rows = r.element_rows ?? [];
  return joinCollection(bytes(state), names.map((name, i) => [name, bytes(rows[i]!)] as const));
}

/** A split key's rows as stored: name → encoded row. */
export type StoredRows = ReadonlyMap<string, Uint8Array>;

/**
 * A split key as a transaction's lock read it: its rows (all of them, or with `partial` only those
 * the lock named, the key then holding `partial.elements` rows in all).
 */
export interface SplitRows {
  readonly rows: StoredRows;
  readonly partial?: { readonly elements: number; readonly names: ReadonlySet<string> };
}

/** The rows of a split key among `names` that exist (the caller holds the key's row lock). */
export async function namedRows(db: Queryable, namespace: string, key: string, names: readonly string[]): Promise<StoredRows> {
  const out = new Map<string, Uint8Array>();
  if (names.length === 0) return out;
  const { rows } = await db.query<{ name: string; row: Buffer }>(`SELECT r.name, r.row FROM ${NAMED_ROWS('$1', '$2', '$3')} AS r`, [namespace, key, arrayLiteral(names, (n) => n)]);
  for (const r of rows) out.set(r.name, bytes(r.row));
  return out;
}

/**
 * The whole states of these split keys, and their rows as stored (the caller holds their row
 * locks, or reads them in one snapshot).
 */
export async function assembleStates(db: Queryable, namespace: string, keys: readonly { readonly key: string; readonly header: Uint8Array }[]): Promise<Map<string, { state: Uint8Array; rows: StoredRows }>> {
  const out = new Map<string, { state: Uint8Array; rows: StoredRows }>();
  if (keys.length === 0) return out;
  const { rows } = await db.query<{ key: string; name: string; row: Buffer }>('SELECT key, name, row FROM meridian_elements WHERE namespace = $1 AND key = ANY($2::text[]) ORDER BY key, name', [namespace, keys.map((k) => k.key)]);
  const byKey = new Map<string, Map<string, Uint8Array>>();
  for (const r of rows) {
    let stored = byKey.get(r.key);
    if (!stored) byKey.set(r.key, (stored = new Map<string, Uint8Array>()));
    stored.set(r.name, bytes(r.row));
  }
  for (const k of keys) {
    const stored = byKey.get(k.key) ?? new Map<string, Uint8Array>();
    out.set(k.key, { state: joinCollection(k.header, stored), rows: stored });
  }
  return out;
}

/** Whether a whole state is stored split under this layout (@meridian/crdt's `splitsAbove`). */
export const splitsUnder = (layout: CollectionLayout, state: Uint8Array): boolean => splitsAbove(state, layout.splitRows);

/**
 * Stores a whole state of a key whose row this transaction holds locked, in the layout the state
 * calls for: split (header, count, generation bumped; rows made equal to the state's) or one row
 * (any rows of the key removed). With `stored` — the rows as this transaction's lock read them —
 * only the rows that differ are written; without, every row is sent and unchanged ones are left
 * as they are. For a key that is not split before or after, the plain statements (keys.ts) do the
 * same with less. Returns the rows now stored (undefined: stored whole).
 */
export async function saveWhole(db: Queryable, layout: CollectionLayout, namespace: string, key: string, state: Uint8Array, maxHlc: bigint, stored?: StoredRows): Promise<StoredRows | undefined> {
  const split = splitCollection(state, layout.splitRows);
  if (!split) {
    await db.query('UPDATE meridian_keys SET state = $3, max_hlc = $4, elements = NULL, updated_at = now() WHERE namespace = $1 AND key = $2', [namespace, key, buffer(state), maxHlc]);
    await db.query('DELETE FROM meridian_elements WHERE namespace = $1 AND key = $2', [namespace, key]);
    return undefined;
  }
  await db.query('UPDATE meridian_keys SET state = $3, max_hlc = $4, elements = $5, generation = coalesce(generation, 0) + 1, updated_at = now() WHERE namespace = $1 AND key = $2', [namespace, key, buffer(split.header), maxHlc, split.rows.size]);
  const names = [...split.rows.keys()].sort();
  if (stored) {
    const gone = [...stored.keys()].filter((name) => !split.rows.has(name));
    if (gone.length > 0) await db.query(DELETE_NAMED('$1', '$2', '$3'), [namespace, key, arrayLiteral(gone, (n) => n)]);
    const changed = names.filter((name) => !sameBytes(stored.get(name), split.rows.get(name)!));
    await upsertRows(db, namespace, key, changed.map((name) => [name, split.rows.get(name)!] as const), false);
    return split.rows;
  }
  // Rows of no element of the state go (a key split before, or rows a hand edit left behind).
  await db.query('DELETE FROM meridian_elements WHERE namespace = $1 AND key = $2 AND NOT (name = ANY($3::text[]))', [namespace, key, arrayLiteral(names, (n) => n)]);
  await upsertRows(db, namespace, key, names.map((name) => [name, split.rows.get(name)!] as const), true);
  return split.rows;
}

/**
 * Stores a partial state of a split key (`lockKeys` read some of its rows: `held`) under its row
 * lock: the header takes the state's context, the rows it read are written back as the state now
 * holds them (upserted when changed, deleted when gone), the count and generation follow; the
 * rows it did not read stay as they are. A delta reaching only those rows was joined into it, so
 * this stores what joining it into the whole state would. When the count falls to the threshold,
 * the collection is assembled and stored whole (`saveWhole`). Returns the rows now read (undefined:
 * stored whole).
 */
export async function savePartial(db: Queryable, layout: CollectionLayout, namespace: string, key: string, state: Uint8Array, maxHlc: bigint, held: SplitRows): Promise<SplitRows | undefined> {
  if (!held.partial) throw new Error(`savePartial: ${namespace}/${key} was read whole`);
  const split = splitRows(state);
  const stray = [...split.rows.keys()].find((name) => !held.partial!.names.has(name));
  // A row the lock did not read may exist: storing it as new would miscount the collection.
  if (stray !== undefined) throw new StoreError(StoreErrorCode.integrity, `savePartial: ${namespace}/${key}: the state holds row ${stray.slice(0, 40)}, which its lock did not read`);
  const gone = [...held.rows.keys()].filter((name) => !split.rows.has(name));
  const added = [...split.rows.keys()].filter((name) => !held.rows.has(name));
  const elements = held.partial.elements + added.length - gone.length;
  if (elements <= layout.splitRows) {
    // Back to one row: the whole collection, the rows read replaced by the state's.
    const { rows: stored } = (await assembleStates(db, namespace, [{ key, header: split.header }])).get(key)!;
    const all = new Map(stored);
    for (const name of gone) all.delete(name);
    for (const [name, row] of split.rows) all.set(name, row);
    await saveWhole(db, layout, namespace, key, joinCollection(split.header, all), maxHlc, stored);
    return undefined;
  }
  const changed = new Map([...split.rows].filter(([name, row]) => !sameBytes(held.rows.get(name), row)));
  await writeRows(db, namespace, key, { header: split.header, elements, maxHlc, upserts: changed, deletes: gone });
  return { rows: split.rows, partial: { elements, names: held.partial.names } };
}

/**
 * Stores a split key's header, count and highest HLC, bumps its generation, and writes the rows
 * that change (the caller holds the key's row lock; `elements` stays above the threshold).
 */
export async function writeRows(db: Queryable, namespace: string, key: string, write: SplitRowsWrite): Promise<void> {
  await db.query('UPDATE meridian_keys SET state = $3, max_hlc = $4, elements = $5, generation = coalesce(generation, 0) + 1, updated_at = now() WHERE namespace = $1 AND key = $2', [namespace, key, buffer(write.header), write.maxHlc, write.elements]);
  if (write.deletes.length > 0) await db.query(DELETE_NAMED('$1', '$2', '$3'), [namespace, key, arrayLiteral(write.deletes, (n) => n)]);
  await upsertRows(db, namespace, key, [...write.upserts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), false);
}

/**
 * Writes rows of a split key (sorted by name, so two writers lock them in one order). With
 * `onlyChanged`, a row whose bytes are already stored is not rewritten.
 */
export async function upsertRows(db: Queryable, namespace: string, key: string, rows: readonly (readonly [string, Uint8Array])[], onlyChanged: boolean): Promise<void> {
  if (rows.length === 0) return;
  const { blob, starts, lengths } = packRows(rows);
  await db.query(
    `INSERT INTO meridian_elements AS e (namespace, key, name, row)
     SELECT $1, $2, u.name, substring($3::bytea FROM u.start FOR u.length) FROM unnest($4::text[], $5::int[], $6::int[]) AS u(name, start, length) ORDER BY u.name
     ON CONFLICT (namespace, key, name_hash) DO UPDATE SET row = excluded.row${onlyChanged ? ' WHERE e.row IS DISTINCT FROM excluded.row' : ''}`,
    [namespace, key, blob, arrayLiteral(rows, ([name]) => name), starts, lengths],
  );
}

/** Rows as one binary parameter cut by offsets (a bytea[] would travel as hex text). */
export function packRows(rows: readonly (readonly [string, Uint8Array])[]): { blob: Buffer; starts: string; lengths: string } {
  const starts: number[] = [];
  let at = 1; // substring() counts from 1
  for (const [, row] of rows) {
    starts.push(at);
    at += row.byteLength;
  }
  return { blob: Buffer.concat(rows.map(([, row]) => row)), starts: arrayLiteral(starts, (n) => n), lengths: arrayLiteral(rows, ([, row]) => row.byteLength) };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
