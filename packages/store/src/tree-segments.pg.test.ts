/**
 * The hash tree in PostgreSQL (migration 4) against the reference tree of @meridian/anti-entropy:
 * after any sequence of the statements that write key state — the write path's compare-and-write
 * (insert and update), its group-committed compareAndWriteMany, the locked path's saveKey, the
 * replicator's lockKeys/saveKeys, an empty row's removal, a namespace's keys taken, and deletes
 * and edits by hand — the per-segment hashes the triggers kept equal the tree rebuilt from the
 * final rows, each key counted in exactly one segment; and the SQL segment and hash functions
 * compute exactly what the TypeScript ones do. States include sets big enough to be stored a row
 * per element (migration 14; the threshold set to 2 here), whose rows fold into their key's
 * segment: a set crosses the threshold both ways, and its rows are edited by hand.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import { HashTree, elementHash, keyHash, segmentOf, type Summary } from '@meridian/anti-entropy';
import { CrdtError, CrdtErrorCode, ORSet } from '@meridian/crdt';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { splitsUnder as splitsUnderLayout } from './collections.ts';
import { PgStore } from './pg-store.ts';

const infra = inject('infra');
const db = uniqueName('tree');
let store: PgStore;

beforeAll(async () => {
  store = await PgStore.open({ connectionString: await createDatabase(db, infra.postgresUrl), poolSize: 3, splitRows: 2 });
  for (const ns of ['a', 'b']) await store.pool.query(`INSERT INTO meridian_namespaces (name, policy, declared_by, declared_hlc) VALUES ($1, 'lww', 'eu.1', 1)`, [ns]);
}, 120_000);

afterAll(async () => {
  await store.close();
  await dropDatabase(db, infra.postgresUrl);
});

type Op =
  | { kind: 'cas' | 'locked' | 'apply' | 'sql-update'; ns: string; key: string; state: number[] }
  | { kind: 'many'; writes: { ns: string; key: string; state: number[] }[] }
  | { kind: 'delete' | 'empty-row' | 'edit-element' | 'delete-element'; ns: string; key: string }
  | { kind: 'take'; ns: string };

const ns = fc.constantFrom('a', 'b');
const key = fc.constantFrom('k1', 'k2', 'k3', 'é', 'k/5', '');
/** Bytes, or an encoded set of up to 5 elements (3 or more are stored split). */
const state = fc.oneof(
  fc.array(fc.nat(255), { maxLength: 4 }),
  fc.uniqueArray(fc.nat(9), { maxLength: 5 }).map((elements) => [...ORSet.empty.join(ORSet.empty.add('eu.1', elements)).encode()]),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('cas' as const, 'locked' as const, 'apply' as const, 'sql-update' as const), ns, key, state }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('many' as const), writes: fc.uniqueArray(fc.record({ ns, key, state }), { selector: (w) => `${w.ns}/${w.key}`, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('delete' as const, 'empty-row' as const, 'edit-element' as const, 'delete-element' as const), ns, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('take' as const), ns }) },
);

const buf = (s: number[]): Uint8Array => new Uint8Array(s);

async function run(o: Op): Promise<void> {
  switch (o.kind) {
    case 'cas': {
      const snap = await store.writeSnapshot(o.ns, o.key);
      const split = snap.key?.split;
      if (split) {
        // A split key's write (the write path's, on the rows it names): its last row removed, its
        // first rewritten (as it was: the rows stay a valid set, which later locks assemble).
        const { rows } = await store.pool.query<{ name: string; row: Buffer }>('SELECT name, row FROM meridian_elements WHERE namespace = $1 AND key = $2 ORDER BY name', [o.ns, o.key]);
        const [first, last] = [rows[0], rows.length > 1 ? rows[rows.length - 1] : undefined];
        await store.compareAndWriteRows({ namespace: o.ns, policy: 'lww', key: o.key, expected: { generation: split.generation, maxHlc: snap.key.maxHlc }, header: snap.key.state!, elements: split.elements - (last ? 1 : 0), upserts: new Map(first ? [[first.name, new Uint8Array(first.row)]] : []), deletes: last ? [last.name] : [], maxHlc: 5n, messageKey: `${o.ns}/${o.key}`, envelope: new Uint8Array([5]) });
        return;
      }
      await store.compareAndWrite({ namespace: o.ns, policy: 'lww', key: o.key, expected: snap.key, state: buf(o.state), maxHlc: 1n, messageKey: `${o.ns}/${o.key}`, envelope: new Uint8Array([1]) });
      return;
    }
    case 'many': {
      const writes = [];
      for (const w of o.writes) {
        const snap = await store.writeSnapshot(w.ns, w.key);
        // A set stored split is written alone (compareAndWrite), never in a batch.
        if (snap.key && !snap.key.split && !splitsUnderLayout({ splitRows: 2 }, buf(w.state))) writes.push({ namespace: w.ns, policy: 'lww' as const, key: w.key, expected: snap.key, state: buf(w.state), maxHlc: 2n, messageKey: `${w.ns}/${w.key}`, envelope: new Uint8Array([2]) });
      }
      if (writes.length > 0) await store.compareAndWriteMany(writes);
      return;
    }
    case 'locked':
      await store.transaction(async (tx) => {
        await tx.lockKey(o.ns, o.key);
        await tx.saveKey(o.ns, o.key, buf(o.state), 3n);
      });
      return;
    case 'apply':
      await store.transaction(async (rtx) => {
        await rtx.lockKeys([{ namespace: o.ns, key: o.key }]);
        await rtx.saveKeys([{ namespace: o.ns, key: o.key, state: buf(o.state), maxHlc: 4n }]);
      });
      return;
    case 'sql-update':
      await store.pool.query('UPDATE meridian_keys SET state = $3 WHERE namespace = $1 AND key = $2', [o.ns, o.key, Buffer.from(o.state)]);
      return;
    case 'delete':
      await store.pool.query('DELETE FROM meridian_keys WHERE namespace = $1 AND key = $2', [o.ns, o.key]);
      return;
    case 'edit-element':
      await store.pool.query(`UPDATE meridian_elements SET row = row || '\\x00'::bytea WHERE namespace = $1 AND key = $2 AND name = (SELECT min(name) FROM meridian_elements WHERE namespace = $1 AND key = $2)`, [o.ns, o.key]);
      return;
    case 'delete-element':
      await store.pool.query('DELETE FROM meridian_elements WHERE namespace = $1 AND key = $2 AND name = (SELECT max(name) FROM meridian_elements WHERE namespace = $1 AND key = $2)', [o.ns, o.key]);
      return;
    case 'empty-row':
      await store.transaction(async (tx) => {
        await tx.lockKey(o.ns, o.key);
        await tx.deleteEmptyKey(o.ns, o.key);
      });
      return;
    case 'take':
      await store.transaction(async (tx) => {
        await tx.takeNamespaceKeys(o.ns);
      });
  }
}

async function storedSegments(): Promise<Map<string, Map<number, Summary>>> {
  const { rows } = await store.pool.query<{ namespace: string; segment: number; hash: bigint; keys: number }>('SELECT * FROM meridian_tree_segments WHERE keys <> 0 OR hash <> 0');
  const out = new Map<string, Map<number, Summary>>();
  for (const r of rows) {
    const m = out.get(r.namespace) ?? new Map<number, Summary>();
    m.set(r.segment, { hash: BigInt.asUintN(64, r.hash), keys: r.keys });
    out.set(r.namespace, m);
  }
  return out;
}

async function rebuilt(): Promise<Map<string, Map<number, Summary>>> {
  const { rows } = await store.pool.query<{ namespace: string; key: string; state: Buffer }>('SELECT namespace, key, state FROM meridian_keys WHERE state IS NOT NULL');
  const trees = new Map<string, HashTree>();
  const tree = (namespace: string): HashTree => {
    const t = trees.get(namespace) ?? new HashTree();
    trees.set(namespace, t);
    return t;
  };
  for (const r of rows) tree(r.namespace).add(r.namespace, r.key, r.state);
  const elements = await store.pool.query<{ namespace: string; key: string; name: string; row: Buffer }>('SELECT namespace, key, name, row FROM meridian_elements');
  for (const e of elements.rows) tree(e.namespace).addElement(e.namespace, e.key, e.name, e.row);
  return new Map([...trees].map(([n, t]) => [n, t.segments()]));
}

describe('the hash tree kept by triggers', () => {
  it('equals the tree rebuilt from scratch after any sequence of writes, applies and deletes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        await store.pool.query('DELETE FROM meridian_keys');
        await store.pool.query('DELETE FROM meridian_elements');
        for (const o of ops) {
          try {
            await run(o);
          } catch (error) {
            // A row edited by hand no longer decodes: what assembles the key refuses it, and its
            // transaction stores nothing (the tree must still match the rows).
            if (!(error instanceof CrdtError && error.code === CrdtErrorCode.InvalidEncoding)) throw error;
          }
        }
        expect(await storedSegments()).toEqual(await rebuilt());
      }),
      { numRuns: 40 },
    );
  });

  it('computes segments and hashes in SQL exactly as @meridian/anti-entropy does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 16 }), async (n, k, s) => {
        const { rows } = await store.pool.query<{ segment: number; hash: bigint }>('SELECT meridian_key_segment($1, $2) AS segment, meridian_key_hash($1, $2, $3) AS hash', [n, k, Buffer.from(s)]);
        expect(rows[0]!.segment).toBe(segmentOf(n, k));
        expect(BigInt.asUintN(64, rows[0]!.hash)).toBe(keyHash(n, k, s));
      }),
      { numRuns: 100 },
    );
  });

  it('hashes element rows in SQL exactly as @meridian/anti-entropy does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 16 }), async (n, k, name, row) => {
        const { rows } = await store.pool.query<{ hash: bigint }>('SELECT meridian_element_hash($1, $2, $3, $4) AS hash', [n, k, name, Buffer.from(row)]);
        expect(BigInt.asUintN(64, rows[0]!.hash)).toBe(elementHash(n, k, name, row));
      }),
      { numRuns: 100 },
    );
  });

  it('lists a segment\'s keys by an index scan on (namespace, segment)', async () => {
    await store.pool.query(`INSERT INTO meridian_keys (namespace, key, state) SELECT 'a', 'bulk' || i, '\\x01' FROM generate_series(1, 5000) i`);
    await store.pool.query('ANALYZE meridian_keys');
    const { rows } = await store.pool.query<{ 'QUERY PLAN': string }>("EXPLAIN SELECT key, key_hash FROM meridian_keys WHERE namespace = 'a' AND segment = ANY('{1,2}'::int[]) AND key_hash IS NOT NULL");
    expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/meridian_keys_segment/);
  });
});
