/**
 * Key state: one row per key holding its encoded causal state and highest HLC, read and written
 * under row locks. A missing row cannot be locked, so locking is insert-or-lock: the missing row
 * is inserted empty (state NULL, ON CONFLICT DO NOTHING) and then locked; an empty row never
 * outlives the transaction that inserted it unless it is written (`deleteEmptyKey`). Several
 * keys are always locked in (namespace, key) order, so two transactions never deadlock.
 *
 * The optimistic writes of the write path (compare-and-write) are in conditional-write.ts.
 */
import { joinCollection } from '@meridian/crdt';
import { arrayLiteral } from './array-literal.ts';
import { assembleStates, ELEMENT_ROWS_COLUMNS, namedRows, savePartial, saveWhole, splitsUnder, wholeState, type CollectionLayout, type ElementRowsColumns, type SplitRows, type StoredRows } from './collections.ts';
import { StoreError, StoreErrorCode } from './store-error.ts';
import { buffer, bytes, type Queryable } from './pg-query.ts';
import type { KeyLock, KeyRef, KeyRow, KeyWrite, LockedKey } from './rows.ts';

/** Named statements: each pooled connection parses and plans them once. */
const SQL = {
  lockKey: { name: 'meridian_lock_key', text: 'SELECT state, max_hlc, elements, generation FROM meridian_keys WHERE namespace = $1 AND key = $2 FOR UPDATE' },
  insertEmptyKey: { name: 'meridian_insert_empty_key', text: 'INSERT INTO meridian_keys (namespace, key) VALUES ($1, $2) ON CONFLICT DO NOTHING' },
  saveKey: { name: 'meridian_save_key', text: 'UPDATE meridian_keys SET state = $3, max_hlc = $4, updated_at = now() WHERE namespace = $1 AND key = $2' },
  lockKeys: {
    name: 'meridian_apply_lock_keys',
    text: `SELECT namespace, key, state, max_hlc, elements FROM meridian_keys
            WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY namespace, key FOR UPDATE`,
  },
  insertKeys: {
    name: 'meridian_apply_insert_keys',
    text: 'INSERT INTO meridian_keys (namespace, key) SELECT * FROM unnest($1::text[], $2::text[]) AS u(namespace, key) ORDER BY namespace, key ON CONFLICT DO NOTHING RETURNING namespace, key',
  },
  // The states travel as one binary parameter (their concatenation) cut by offsets, not as a
  // bytea[] (which node-postgres sends as hex text). The IN (… unnest …) condition beside the join
  // makes PostgreSQL reach the rows through the primary key (as lockKeys does) rather than hash
  // the whole table, which its cost model prefers for a plain UPDATE … FROM unnest of a large batch.
  saveKeys: {
    name: 'meridian_apply_save_keys',
    text: `UPDATE meridian_keys AS k SET state = substring($3::bytea FROM u.start FOR u.length), max_hlc = u.max_hlc, updated_at = now()
             FROM unnest($1::text[], $2::text[], $4::int[], $5::int[], $6::bigint[]) AS u(namespace, key, start, length, max_hlc)
            WHERE (k.namespace, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND k.namespace = u.namespace AND k.key = u.key`,
  },
} as const;

/**
 * Insert-or-lock: after this call the key's row exists and is locked by this transaction.
 * Returns its stored state, whole (undefined when the key was never written), and for a key stored
 * split its rows as stored (collections.ts: `saveKey` must know).
 */
export async function lockKey(db: Queryable, namespace: string, key: string, names?: readonly string[]): Promise<{ row: KeyRow; split: SplitRows | undefined }> {
  const lock = () => db.query<{ state: Buffer | null; max_hlc: bigint; elements: number | null; generation: bigint | null }>({ ...SQL.lockKey, values: [namespace, key] });
  // Lock first: an existing key (every write but its first) costs one round trip. Only a
  // missing row is inserted (a concurrent inserter wins or waits on the unique index) and then
  // locked — never read unlocked.
  let { rows } = await lock();
  if (!rows[0]) {
    await db.query({ ...SQL.insertEmptyKey, values: [namespace, key] });
    ({ rows } = await lock());
  }
  const row = rows[0];
  if (!row) throw new StoreError(StoreErrorCode.integrity, `key ${namespace}/${key} has no row after insert-or-lock`);
  if (row.elements !== null && row.state !== null && names !== undefined) {
    // As a write snapshot: the header, and the named rows read under the lock.
    const read = await namedRows(db, namespace, key, names);
    const split = { elements: row.elements, generation: row.generation ?? 0n, rows: read };
    return { row: { namespace, key, state: bytes(row.state), maxHlc: row.max_hlc, split }, split: { rows: read, partial: { elements: row.elements, names: new Set(names) } } };
  }
  if (row.elements !== null && row.state !== null) {
    const split = (await assembleStates(db, namespace, [{ key, header: bytes(row.state) }])).get(key)!;
    return { row: { namespace, key, state: split.state, maxHlc: row.max_hlc }, split: { rows: split.rows } };
  }
  return { row: { namespace, key, state: row.state ? bytes(row.state) : undefined, maxHlc: row.max_hlc }, split: undefined };
}

/**
 * Stores a key's whole state under its row lock; `split`: its rows as `lockKey` read them, if it
 * was stored split. Returns the rows now stored (undefined: stored whole).
 */
export async function saveKey(db: Queryable, layout: CollectionLayout, namespace: string, key: string, state: Uint8Array, maxHlc: bigint, split: StoredRows | undefined): Promise<StoredRows | undefined> {
  if (split || splitsUnder(layout, state)) return saveWhole(db, layout, namespace, key, state, maxHlc, split);
  await db.query({ ...SQL.saveKey, values: [namespace, key, buffer(state), maxHlc] });
  return undefined;
}

/** Removes a key row this transaction inserted but never wrote (a no-op operation on a new key). */
export async function deleteEmptyKey(db: Queryable, namespace: string, key: string): Promise<void> {
  await db.query('DELETE FROM meridian_keys WHERE namespace = $1 AND key = $2 AND state IS NULL', [namespace, key]);
}

/** Reads a key's committed state without locking it. */
export async function readKey(db: Queryable, namespace: string, key: string): Promise<KeyRow | undefined> {
  const { rows } = await db.query<{ state: Buffer | null; max_hlc: bigint } & ElementRowsColumns>(`SELECT k.state, k.max_hlc, k.elements, ${ELEMENT_ROWS_COLUMNS('k')} FROM meridian_keys k WHERE k.namespace = $1 AND k.key = $2`, [namespace, key]);
  const row = rows[0];
  const state = row ? wholeState(row.state, row) : undefined;
  if (!row || !state) return undefined;
  return { namespace, key, state, maxHlc: row.max_hlc };
}

/** The identity of a key in `lockKeys`' answer. */
export const keyId = (k: KeyRef): string => JSON.stringify([k.namespace, k.key]);

/** The namespace of a `keyId`. */
export const keyIdNamespace = (id: string): string => (JSON.parse(id) as [string, string])[0];

/**
 * Insert-or-lock of many keys (a batch's): after this call every key's row exists and is held
 * by this transaction. Existing rows are locked first, with one statement, in (namespace, key)
 * order — the order every apply takes its locks in. A missing row cannot be locked: the missing
 * keys are inserted with one statement (sorted, ON CONFLICT DO NOTHING); a row this
 * transaction inserted is its own until commit (nobody else can see, lock or insert it), so it
 * needs no lock; a key a concurrent transaction inserted first (the insert waited for it) is
 * locked by one more statement. Rows come back keyed by `JSON.stringify([namespace, key])`.
 */
export async function lockKeys(db: Queryable, keys: readonly KeyLock[], split: Map<string, SplitRows> = new Map()): Promise<Map<string, LockedKey>> {
  const out = new Map<string, LockedKey>();
  if (keys.length === 0) return out;
  const named = new Map(keys.flatMap((k) => (k.rows === undefined ? [] : [[keyId(k), k.rows] as const])));
  const lock = async (wanted: readonly KeyRef[]): Promise<void> => {
    const { rows } = await db.query<{ namespace: string; key: string; state: Buffer | null; max_hlc: bigint; elements: number | null }>({ ...SQL.lockKeys, values: [arrayLiteral(wanted, (k) => k.namespace), arrayLiteral(wanted, (k) => k.key)] });
    for (const r of rows) {
      const id = keyId(r);
      let state = r.state ? bytes(r.state) : undefined;
      const names = named.get(id);
      if (state && r.elements !== null && names !== undefined) {
        // A split key whose updates name the rows they reach: those rows alone, under the row lock.
        const read = await namedRows(db, r.namespace, r.key, names);
        split.set(id, { rows: read, partial: { elements: r.elements, names: new Set(names) } });
        out.set(id, { namespace: r.namespace, key: r.key, state: joinCollection(state, read), maxHlc: r.max_hlc, partial: true });
        continue;
      }
      if (state && r.elements !== null) {
        // A split key: its rows are stable while this transaction holds its row lock.
        const assembled = (await assembleStates(db, r.namespace, [{ key: r.key, header: state }])).get(r.key)!;
        split.set(id, { rows: assembled.rows });
        state = assembled.state;
      } else split.delete(id);
      out.set(id, { namespace: r.namespace, key: r.key, state, maxHlc: r.max_hlc });
    }
  };
  await lock(keys);
  if (out.size === keys.length) return out;
  let missing = keys.filter((k) => !out.has(keyId(k)));
  const { rows } = await db.query<{ namespace: string; key: string }>({ ...SQL.insertKeys, values: [arrayLiteral(missing, (k) => k.namespace), arrayLiteral(missing, (k) => k.key)] });
  for (const r of rows) out.set(keyId(r), { namespace: r.namespace, key: r.key, state: undefined, maxHlc: 0n });
  if (out.size === keys.length) return out;
  missing = missing.filter((k) => !out.has(keyId(k)));
  await lock(missing);
  const lost = missing.find((k) => !out.has(keyId(k)));
  if (lost) throw new StoreError(StoreErrorCode.integrity, `key ${lost.namespace}/${lost.key} has no row after insert-or-lock`);
  return out;
}

/**
 * Stores the new states of keys locked by `lockKeys` (`split`: the keys it found stored split, with
 * their rows; kept up to date): in one statement, but for keys stored split before or after,
 * which `saveWhole` writes one by one.
 */
export async function saveKeys(db: Queryable, layout: CollectionLayout, allWrites: readonly KeyWrite[], split: Map<string, SplitRows> = new Map()): Promise<void> {
  const writes: KeyWrite[] = [];
  for (const w of allWrites) {
    const id = keyId(w);
    const stored = split.get(id);
    if (stored?.partial) {
      // A state of the rows its lock read: those rows are stored back, the others stay.
      const now = await savePartial(db, layout, w.namespace, w.key, w.state, w.maxHlc, stored);
      if (now) split.set(id, now);
      else split.delete(id);
    } else if (stored || splitsUnder(layout, w.state)) {
      const now = await saveWhole(db, layout, w.namespace, w.key, w.state, w.maxHlc, stored?.rows);
      if (now) split.set(id, { rows: now });
      else split.delete(id);
    } else writes.push(w);
  }
  if (writes.length === 0) return;
  const starts: number[] = [];
  let start = 1; // substring() counts from 1
  for (const w of writes) {
    starts.push(start);
    start += w.state.byteLength;
  }
  await db.query({
    ...SQL.saveKeys,
    values: [arrayLiteral(writes, (w) => w.namespace), arrayLiteral(writes, (w) => w.key), Buffer.concat(writes.map((w) => w.state)), arrayLiteral(starts, (n) => n), arrayLiteral(writes, (w) => w.state.byteLength), arrayLiteral(writes, (w) => w.maxHlc)],
  });
}

/** Removes every key of a namespace, returning their states (they go into a conflict record). */
export async function takeNamespaceKeys(db: Queryable, name: string): Promise<{ key: string; state: Uint8Array }[]> {
  const { rows } = await db.query<{ key: string; state: Buffer | null; elements: number | null }>('DELETE FROM meridian_keys WHERE namespace = $1 RETURNING key, state, elements', [name]);
  const split = rows.filter((r) => r.state && r.elements !== null);
  const whole = split.length === 0 ? new Map<string, { state: Uint8Array }>() : await assembleStates(db, name, split.map((r) => ({ key: r.key, header: bytes(r.state!) })));
  // Only the rows of the keys taken: a key split by a write that committed after the DELETE above keeps its rows.
  if (split.length > 0) await db.query('DELETE FROM meridian_elements WHERE namespace = $1 AND key = ANY($2::text[])', [name, arrayLiteral(split, (r) => r.key)]);
  return rows.flatMap((r) => (r.state ? [{ key: r.key, state: whole.get(r.key)?.state ?? bytes(r.state) }] : []));
}

/** Every key's state of a namespace (split keys assembled, in the same snapshot), for digests. */
export async function namespaceStates(db: Queryable, namespace: string): Promise<{ key: string; state: Uint8Array }[]> {
  const { rows } = await db.query<{ key: string; state: Buffer } & ElementRowsColumns>(`SELECT k.key, k.state, k.elements, ${ELEMENT_ROWS_COLUMNS('k')} FROM meridian_keys k WHERE k.namespace = $1 AND k.state IS NOT NULL ORDER BY k.key`, [namespace]);
  return rows.map((r) => ({ key: r.key, state: wholeState(r.state, r)! }));
}
