/**
 * Big sets and maps stored a row per element or field (decision 0013), through the region service
 * on the real PostgreSQL: a region whose split threshold is 3 answers every operation and read as a
 * region that stores every collection whole (same values, contexts and errors), whatever crosses
 * the threshold either way; its keys are stored split exactly when they hold more than 3 elements
 * or fields; a write on a split key reads and writes only the rows it names; and concurrent writes
 * on a split key, from two processes, lose none of each other's updates.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { ReplicationTx } from '@meridian/store';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';

const infra = inject('infra');
const names = [uniqueName('big_split'), uniqueName('big_whole')];
let split: RegionService;
let splitPeer: RegionService;
let whole: RegionService;
let db: pg.Pool;

const config = (url: string, splitRows: number) =>
  loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_COLLECTION_SPLIT_ROWS: String(splitRows) });

beforeAll(async () => {
  const [splitUrl, wholeUrl] = await Promise.all(names.map((n) => createDatabase(n, infra.postgresUrl)));
  split = await startRegion(config(splitUrl!, 3));
  // A second process on the same database (as BENCH_REPLICAS runs them): its writes race the first's.
  splitPeer = await startRegion(config(splitUrl!, 3));
  whole = await startRegion(config(wholeUrl!, 1_000_000));
  db = new pg.Pool({ connectionString: splitUrl!, max: 2 });
  for (const r of [split, whole]) {
    for (const [ns, policy] of [['s', 'set'], ['m', 'map']]) expect((await r.app.inject({ method: 'PUT', url: `/v1/namespaces/${ns}`, payload: { policy } })).statusCode).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  for (const r of [split, splitPeer, whole]) await r?.close();
  await db?.end();
  for (const n of names) await dropDatabase(n, infra.postgresUrl);
});

type Call = { method: 'GET' | 'POST'; url: string; payload?: object; headers?: Record<string, string> };
const element = fc.constantFrom(1, 2, 3, 4, 5, 'x', { a: 1 });
const field = fc.constantFrom('f1', 'f2', 'f3', 'f4', 'f5');
const setBody = fc.oneof(fc.record({ add: fc.array(element, { minLength: 1, maxLength: 3 }) }), fc.record({ remove: fc.array(element, { minLength: 1, maxLength: 2 }) }));
const mapBody = fc.oneof(
  fc.record({ set: fc.dictionary(field, fc.integer({ min: 0, max: 9 }), { minKeys: 1, maxKeys: 2 }) }),
  fc.record({ increment: fc.dictionary(fc.constantFrom('c1', 'c2'), fc.integer({ min: 1, max: 5 }), { minKeys: 1, maxKeys: 1 }) }),
  fc.record({ delete: fc.array(fc.oneof(field, fc.constantFrom('c1', 'c2')), { minLength: 1, maxLength: 2 }) }),
);
/** `locked`: sent with an Idempotency-Key, so the write runs under the row lock. */
type Step = { ns: 's' | 'm'; key: number; body: object; observed: boolean; locked: boolean };
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ ns: fc.constant('s' as const), key: fc.nat(1), body: setBody, observed: fc.boolean(), locked: fc.boolean() }),
  fc.record({ ns: fc.constant('m' as const), key: fc.nat(1), body: mapBody, observed: fc.boolean(), locked: fc.boolean() }),
);

async function call(r: RegionService, c: Call): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await r.app.inject(c);
  return { status: res.statusCode, body: res.json() };
}

/** How a key is stored in the split region: its row count column and its rows. */
async function layout(ns: string, key: string): Promise<{ elements: number | null; rows: number }> {
  const { rows } = await db.query<{ elements: number | null; rows: number }>(
    'SELECT k.elements, (SELECT count(*)::int FROM meridian_elements e WHERE e.namespace = k.namespace AND e.key = k.key) AS rows FROM meridian_keys k WHERE k.namespace = $1 AND k.key = $2',
    [ns, key],
  );
  return rows[0] ?? { elements: null, rows: 0 };
}

describe('big sets and maps stored a row per element or field', () => {
  it('answer every operation and read as collections stored whole', async () => {
    let run = 0;
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        run++;
        const tokens = new Map<string, string>();
        for (const s of steps) {
          const key = `r${run}k${s.key}`;
          const url = `/v1/ns/${s.ns}/keys/${key}`;
          const token = s.observed ? tokens.get(url) : undefined;
          const payload = token === undefined ? s.body : { ...s.body, context: token };
          const headers: Record<string, string> = s.locked ? { 'idempotency-key': `${key}-${++calls}` } : {};
          const [a, b] = await Promise.all([call(split, { method: 'POST', url: `${url}/ops`, payload, headers }), call(whole, { method: 'POST', url: `${url}/ops`, payload, headers })]);
          expect(a.status, JSON.stringify(s)).toBe(b.status);
          expect(a.body['context']).toEqual(b.body['context']);
          expect(a.body['code']).toEqual(b.body['code']);
          const [ra, rb] = await Promise.all([call(split, { method: 'GET', url }), call(whole, { method: 'GET', url })]);
          expect(ra.status).toBe(rb.status);
          expect(ra.body['value']).toEqual(rb.body['value']);
          expect(ra.body['context']).toEqual(rb.body['context']);
          if (typeof rb.body['context'] === 'string') tokens.set(url, rb.body['context']);
          // One element or field read directly (a split key's other rows are not read): the same answer.
          const part = s.ns === 's' ? `${url}/elements/${encodeURIComponent(JSON.stringify((s.body as { add?: unknown[]; remove?: unknown[] }).add?.[0] ?? (s.body as { remove: unknown[] }).remove[0]))}` : `${url}/fields/f1`;
          const [pa, pb] = await Promise.all([call(split, { method: 'GET', url: part }), call(whole, { method: 'GET', url: part })]);
          expect([pa.status, pa.body['value'], pa.body['code'], pa.body['context']]).toEqual([pb.status, pb.body['value'], pb.body['code'], pb.body['context']]);
          // Split exactly above the threshold; the row count column agrees with the rows.
          const size = rb.status === 200 ? (s.ns === 's' ? (rb.body['value'] as unknown[]).length : Object.keys(rb.body['value'] as object).length) : 0;
          const stored = await layout(s.ns, key);
          if (size > 3) expect(stored).toEqual({ elements: size, rows: size });
          else expect(stored).toEqual({ elements: null, rows: 0 });
          // Above the threshold a write answers without the value; below, with it.
          if (a.status === 200) expect('value' in a.body).toBe(size <= 3);
        }
      }),
      { numRuns: 25 },
    );
  }, 240_000);

  it('a write on a split key touches only the rows it names', async () => {
    const url = '/v1/ns/s/keys/touch';
    expect((await call(split, { method: 'POST', url: `${url}/ops`, payload: { add: [1, 2, 3, 4, 5, 6] } })).status).toBe(200);
    const before = await db.query<{ name: string; xmin: string }>("SELECT name, xmin::text FROM meridian_elements WHERE namespace = 's' AND key = 'touch' ORDER BY name");
    expect(before.rows).toHaveLength(6);
    // Both writes are stored through the rows (the locked fallback stores the whole state).
    const rowsWrites = vi.spyOn(split.store, 'compareAndWriteRows');
    const added = await call(split, { method: 'POST', url: `${url}/ops`, payload: { add: [7] } });
    expect(added.status).toBe(200);
    expect(added.body['value']).toBeUndefined();
    const removed = await call(split, { method: 'POST', url: `${url}/ops`, payload: { remove: [1] } });
    expect(removed.status).toBe(200);
    expect(rowsWrites).toHaveBeenCalledTimes(2);
    expect(await Promise.all(rowsWrites.mock.results.map((r) => r.value))).toMatchObject([{ saved: true }, { saved: true }]);
    rowsWrites.mockRestore();
    const after = await db.query<{ name: string; xmin: string }>("SELECT name, xmin::text FROM meridian_elements WHERE namespace = 's' AND key = 'touch' ORDER BY name");
    // 1 removed, 7 added; the other five rows are the same row versions as before.
    expect(after.rows.map((r) => r.name)).toEqual(['2', '3', '4', '5', '6', '7']);
    const kept = new Map(before.rows.map((r) => [r.name, r.xmin]));
    for (const r of after.rows.filter((x) => x.name !== '7')) expect(r.xmin).toBe(kept.get(r.name));
    expect((await call(split, { method: 'GET', url })).body['value']).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('holds elements longer than an index entry, and values nested to the limit, as a whole collection does', async () => {
    // Found by review: rows keyed by their name hit B-tree's entry size; a field's JSON compared by
    // canonicalJson refused a value at the depth limit.
    const long = 'x'.repeat(4000);
    let deep: unknown = 1;
    for (let i = 0; i < 64; i++) deep = [deep];
    const calls: Call[] = [
      { method: 'POST', url: '/v1/ns/s/keys/long/ops', payload: { add: [long] } },
      { method: 'POST', url: '/v1/ns/s/keys/long/ops', payload: { add: [1, 2, 3] } },
      { method: 'POST', url: '/v1/ns/s/keys/long/ops', payload: { add: [`${long}y`] } },
      { method: 'POST', url: '/v1/ns/s/keys/long/ops', payload: { remove: [long] } },
      { method: 'GET', url: '/v1/ns/s/keys/long' },
      { method: 'POST', url: '/v1/ns/m/keys/deep/ops', payload: { set: { a: 1, b: 2, c: 3, d: 4 } } },
      { method: 'POST', url: '/v1/ns/m/keys/deep/ops', payload: { set: { a: deep } } },
      { method: 'GET', url: '/v1/ns/m/keys/deep' },
      // Found by the second review: a field name with NUL, which a PostgreSQL text cannot hold.
      { method: 'POST', url: '/v1/ns/m/keys/nul/ops', payload: { set: { 'a\u0000b': 1, f1: 1 } } },
      { method: 'GET', url: '/v1/ns/m/keys/nul/fields/a%00b' },
      { method: 'POST', url: '/v1/ns/m/keys/nul/ops', payload: { set: { f2: 2, f3: 3, f4: 4 } } },
      { method: 'POST', url: '/v1/ns/m/keys/nul/ops', payload: { set: { 'a\u0000b': 5 } } },
      { method: 'GET', url: '/v1/ns/m/keys/nul/fields/a%00b' },
      { method: 'GET', url: '/v1/ns/m/keys/nul' },
    ];
    for (const c of calls) {
      const [a, b] = [await call(split, c), await call(whole, c)];
      expect(a.status, JSON.stringify(c).slice(0, 80)).toBe(200);
      expect(b.status).toBe(200);
      if (c.method === 'GET') expect(a.body['value']).toEqual(b.body['value']);
    }
    expect(await layout('s', 'long')).toEqual({ elements: 4, rows: 4 });
    expect(await layout('m', 'deep')).toEqual({ elements: 4, rows: 4 });
    expect(await layout('m', 'nul')).toEqual({ elements: 5, rows: 5 });
  });

  it('a batch of compare-and-writes refuses a write that would split, storing nothing', async () => {
    // Found by review: such a write was run after the rest of its batch had committed, so its
    // failure failed writes that were stored. It goes alone (the write path sends it so).
    const small = await call(split, { method: 'POST', url: '/v1/ns/s/keys/batch-a/ops', payload: { add: [1] } });
    expect(small.status).toBe(200);
    await call(split, { method: 'POST', url: '/v1/ns/s/keys/batch-b/ops', payload: { add: [1] } });
    const [a, b] = [await split.store.writeSnapshot('s', 'batch-a'), await split.store.writeSnapshot('s', 'batch-b')];
    const big = await split.store.readKey('s', 'long');
    const write = (key: string, expected: typeof a.key, state: Uint8Array) => ({ namespace: 's', policy: 'set' as const, key, expected, state, maxHlc: (expected?.maxHlc ?? 0n) + 1n, messageKey: `s/${key}`, envelope: new Uint8Array([1]) });
    await expect(split.store.compareAndWriteMany([write('batch-a', a.key, a.key!.state!), write('batch-b', b.key, big!.state!)])).rejects.toThrow(/stored split/);
    expect((await split.store.writeSnapshot('s', 'batch-a')).key).toEqual(a.key);
    expect(await layout('s', 'batch-b')).toEqual({ elements: null, rows: 0 });
  });

  it('a write with an Idempotency-Key locks and writes only the rows it names; its retry is answered from the record', async () => {
    const url = '/v1/ns/s/keys/idem';
    const ops = (payload: object, key: string, r = split) => call(r, { method: 'POST', url: `${url}/ops`, payload, headers: { 'idempotency-key': key } });
    expect((await call(split, { method: 'POST', url: `${url}/ops`, payload: { add: [1, 2, 3, 4, 5, 6] } })).status).toBe(200);
    const before = await db.query<{ name: string; xmin: string }>("SELECT name, xmin::text FROM meridian_elements WHERE namespace = 's' AND key = 'idem'");
    const locks = vi.spyOn(ReplicationTx.prototype, 'lockKey');
    const removed = await ops({ remove: [1] }, 'idem-1');
    const added = await ops({ add: [7] }, 'idem-2');
    expect([removed.status, added.status]).toEqual([200, 200]);
    expect('value' in removed.body || 'value' in added.body).toBe(false);
    // Locked with the named rows, answered as a split key (its header and those rows alone).
    expect(locks.mock.calls.map((c) => c.slice(0, 3))).toEqual([['s', 'idem', ['1']], ['s', 'idem', ['7']]]);
    for (const result of locks.mock.results) expect((await (result.value as Promise<{ split?: { rows: Map<string, unknown> } }>)).split?.rows.size).toBeLessThanOrEqual(1);
    locks.mockRestore();
    const after = await db.query<{ name: string; xmin: string }>("SELECT name, xmin::text FROM meridian_elements WHERE namespace = 's' AND key = 'idem'");
    const kept = new Map(before.rows.map((r) => [r.name, r.xmin]));
    expect(after.rows.map((r) => r.name).sort()).toEqual(['2', '3', '4', '5', '6', '7']);
    for (const r of after.rows.filter((x) => x.name !== '7')) expect(r.xmin).toBe(kept.get(r.name));
    // A retry, to either process: the first answer, nothing applied again.
    const retried = await ops({ remove: [1] }, 'idem-1', splitPeer);
    expect(retried).toEqual(removed);
    expect((await call(split, { method: 'GET', url })).body['value']).toEqual([2, 3, 4, 5, 6, 7]);
    // Back to the threshold under the lock: stored whole, answered with the value.
    const shrunk = await ops({ remove: [2, 3, 4] }, 'idem-3');
    expect(shrunk.body['value']).toEqual([5, 6, 7]);
    expect(await layout('s', 'idem')).toEqual({ elements: null, rows: 0 });
  });

  it('concurrent writes on a split key from two processes lose no update', async () => {
    const url = '/v1/ns/s/keys/race';
    const start = Array.from({ length: 20 }, (_, i) => `old${i}`);
    expect((await call(split, { method: 'POST', url: `${url}/ops`, payload: { add: start } })).status).toBe(200);
    const writes: Promise<{ status: number }>[] = [];
    for (let i = 0; i < 30; i++) {
      const process = i % 2 === 0 ? split : splitPeer;
      // Every third add under the row lock (an Idempotency-Key), racing the optimistic ones.
      const headers: Record<string, string> = i % 3 === 0 ? { 'idempotency-key': `race-${i}` } : {};
      writes.push(call(process, { method: 'POST', url: `${url}/ops`, payload: { add: [`new${i}`] }, headers }));
      if (i < 10) writes.push(call(process, { method: 'POST', url: `${url}/ops`, payload: { remove: [`old${i}`] } }));
    }
    for (const w of await Promise.all(writes)) expect(w.status).toBe(200);
    const expected = [...start.slice(10), ...Array.from({ length: 30 }, (_, i) => `new${i}`)].sort();
    const read = await call(split, { method: 'GET', url });
    expect([...(read.body['value'] as string[])].sort()).toEqual(expected);
    expect(await layout('s', 'race')).toEqual({ elements: 40, rows: 40 });
  }, 60_000);
});
