/**
 * A peer's update to a big set or map stored a row per element (decision 0013) is applied to the
 * rows it reaches alone: two regions, each with its own database and Kafka cluster, splitting
 * collections above 3 elements or fields. What us applies of eu's adds, removes and field deletes
 * is stored from a state holding only the rows those updates reach (`SavedKey.partial`); the rows
 * it does not reach keep their row versions; a remove that brings the collection back to the
 * threshold stores it whole again; concurrent writes on one split key from both regions converge.
 * Region ids are unique per run (topics persist on the shared brokers).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ORMap, ORSet } from '@meridian/crdt';
import { waitFor } from '@meridian/testkit';
import type { SavedKey } from './replication/batch-applier.ts';
import type { RegionService } from './region.ts';
import { startRegions, type Regions } from './regions.fixture.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us'].map((r) => `${r}${suffix}`);
const regions: RegionService[] = [];
/** What each region's replicators stored, by namespace/key. */
const saved: SavedKey[][] = [[], []];
let cluster: Regions | undefined;
let usDb: pg.Pool;

beforeAll(async () => {
  cluster = await startRegions(ids, {
    postgresUrl: infra.postgresUrl,
    kafka: infra.kafka,
    kafkaSecurity: infra.kafkaSecurity,
    dbPrefix: 'bigrep',
    partitions: 2,
    peerUrlBase: 9300,
    env: { MERIDIAN_COLLECTION_SPLIT_ROWS: '3' },
    hooks: (i) => ({ replication: { onKeysSaved: (rows) => void saved[i]!.push(...rows) } }),
  });
  regions.push(...cluster.regions);
  usDb = regions[1]!.store.pool;
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

const call = (i: number, method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<Answer> => injectJson(regions[i]!.app, method, url, body);

/** The value region `i` reads once it equals `want`. */
async function reads(i: number, url: string, want: unknown): Promise<void> {
  await waitFor(() => call(i, 'GET', url), (r) => r.status === 200 && JSON.stringify(r.json['value']) === JSON.stringify(want), { timeoutMs: 60_000, intervalMs: 100, what: `${url} in ${ids[i]} to read ${JSON.stringify(want)}` });
}

/** us's rows of a key: name → row version (xmin); and its row count column. */
async function usRows(ns: string, key: string): Promise<{ elements: number | null; rows: Map<string, string> }> {
  const k = await usDb.query<{ elements: number | null }>('SELECT elements FROM meridian_keys WHERE namespace = $1 AND key = $2', [ns, key]);
  const e = await usDb.query<{ name: string; xmin: string }>('SELECT name, xmin::text FROM meridian_elements WHERE namespace = $1 AND key = $2', [ns, key]);
  return { elements: k.rows[0]?.elements ?? null, rows: new Map(e.rows.map((r) => [r.name, r.xmin])) };
}

/** What us's replicators stored of a key since `from`. */
const usSaved = (ns: string, key: string, from: number): SavedKey[] => saved[1]!.slice(from).filter((s) => s.namespace.name === ns && s.key.key === key);

describe("a peer's update to a big set or map", () => {
  beforeAll(async () => {
    for (const [ns, policy] of [['s', 'set'], ['m', 'map']] as const) {
      expect((await call(0, 'PUT', `/v1/namespaces/${ns}`, { policy })).status).toBe(201);
      await waitFor(() => call(1, 'GET', `/v1/namespaces/${ns}`), (r) => r.status === 200, { timeoutMs: 60_000, what: `namespace ${ns} in us` });
    }
  }, 120_000);

  it('is applied to the rows it reaches alone, the others kept as they are', async () => {
    expect((await call(0, 'POST', '/v1/ns/s/keys/big/ops', { add: [1, 2, 3, 4, 5, 6, 7, 8] })).status).toBe(200);
    await reads(1, '/v1/ns/s/keys/big', [1, 2, 3, 4, 5, 6, 7, 8]);
    const before = await usRows('s', 'big');
    expect(before.elements).toBe(8);
    const from = saved[1]!.length;
    expect((await call(0, 'POST', '/v1/ns/s/keys/big/ops', { remove: [1] })).status).toBe(200);
    expect((await call(0, 'POST', '/v1/ns/s/keys/big/ops', { add: [9] })).status).toBe(200);
    await reads(1, '/v1/ns/s/keys/big', [2, 3, 4, 5, 6, 7, 8, 9]);
    // Stored from the rows the remove and the add reach: at most "1" and "9", never the others.
    const applied = usSaved('s', 'big', from);
    expect(applied.length).toBeGreaterThan(0);
    for (const s of applied) {
      expect(s.partial).toBe(true);
      for (const [text] of ORSet.decode(s.key.state!).entries()) expect(['1', '9']).toContain(text);
    }
    const after = await usRows('s', 'big');
    expect(after.elements).toBe(8);
    expect([...after.rows.keys()].sort()).toEqual(['2', '3', '4', '5', '6', '7', '8', '9']);
    for (const name of ['2', '3', '4', '5', '6', '7', '8']) expect(after.rows.get(name)).toBe(before.rows.get(name));
    // The write path's cache never took the partial state: a write in us sees the whole set.
    expect((await call(1, 'POST', '/v1/ns/s/keys/big/ops', { add: [10] })).status).toBe(200);
    // Elements read in their canonical text's order.
    expect((await call(1, 'GET', '/v1/ns/s/keys/big')).json['value']).toEqual([10, 2, 3, 4, 5, 6, 7, 8, 9]);
    await reads(0, '/v1/ns/s/keys/big', [10, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("a map's field delete reaches that field's row alone", async () => {
    expect((await call(0, 'POST', '/v1/ns/m/keys/big/ops', { set: { f1: 1, f2: 2, f3: 3, f4: 4, f5: 5 } })).status).toBe(200);
    await reads(1, '/v1/ns/m/keys/big', { f1: 1, f2: 2, f3: 3, f4: 4, f5: 5 });
    const before = await usRows('m', 'big');
    const from = saved[1]!.length;
    expect((await call(0, 'POST', '/v1/ns/m/keys/big/ops', { delete: ['f1'] })).status).toBe(200);
    await reads(1, '/v1/ns/m/keys/big', { f2: 2, f3: 3, f4: 4, f5: 5 });
    const applied = usSaved('m', 'big', from);
    expect(applied.length).toBeGreaterThan(0);
    for (const s of applied) {
      expect(s.partial).toBe(true);
      expect(ORMap.decode(s.key.state!).fields()).toEqual([]);
    }
    const after = await usRows('m', 'big');
    expect(after.elements).toBe(4);
    for (const name of ['"f2"', '"f3"', '"f4"', '"f5"']) expect(after.rows.get(name)).toBe(before.rows.get(name));
  });

  it('a remove that brings the collection to the threshold stores it whole again', async () => {
    expect((await call(0, 'POST', '/v1/ns/s/keys/shrink/ops', { add: [1, 2, 3, 4, 5, 6] })).status).toBe(200);
    await reads(1, '/v1/ns/s/keys/shrink', [1, 2, 3, 4, 5, 6]);
    expect((await usRows('s', 'shrink')).elements).toBe(6);
    expect((await call(0, 'POST', '/v1/ns/s/keys/shrink/ops', { remove: [1, 2, 3] })).status).toBe(200);
    await reads(1, '/v1/ns/s/keys/shrink', [4, 5, 6]);
    expect(await usRows('s', 'shrink')).toEqual({ elements: null, rows: new Map() });
    expect((await call(1, 'POST', '/v1/ns/s/keys/shrink/ops', { add: [7] })).status).toBe(200);
    await reads(0, '/v1/ns/s/keys/shrink', [4, 5, 6, 7]);
  });

  it('concurrent writes on one split key from both regions converge', async () => {
    expect((await call(0, 'POST', '/v1/ns/s/keys/both/ops', { add: [1, 2, 3, 4, 5] })).status).toBe(200);
    await reads(1, '/v1/ns/s/keys/both', [1, 2, 3, 4, 5]);
    const writes: Promise<Answer>[] = [];
    for (let i = 0; i < 10; i++) {
      writes.push(call(0, 'POST', '/v1/ns/s/keys/both/ops', i % 3 === 0 ? { remove: [i % 5 + 1] } : { add: [100 + i] }));
      writes.push(call(1, 'POST', '/v1/ns/s/keys/both/ops', i % 4 === 0 ? { remove: [(i + 2) % 5 + 1] } : { add: [200 + i] }));
    }
    for (const w of await Promise.all(writes)) expect(w.status).toBe(200);
    const settled = async (): Promise<[string, string]> => [JSON.stringify((await call(0, 'GET', '/v1/ns/s/keys/both')).json['value']), JSON.stringify((await call(1, 'GET', '/v1/ns/s/keys/both')).json['value'])];
    // Every add is in both (removes name only 1..5); both read the same set.
    const adds = Array.from({ length: 10 }, (_, i) => [i % 3 === 0 ? [] : [100 + i], i % 4 === 0 ? [] : [200 + i]]).flat(2);
    const [a, b] = await waitFor(settled, ([x, y]) => x === y && adds.every((n) => (JSON.parse(x) as number[]).includes(n)), { timeoutMs: 60_000, intervalMs: 200, what: 'both regions to read the same set' });
    expect(a).toBe(b);
  });
});
