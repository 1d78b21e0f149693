/**
 * The optimistic write's store statements against the real PostgreSQL: `compareAndWrite` stores
 * the new state and its outbox row only when the key's row still holds exactly the snapshot the
 * write was computed from and the namespace still has the policy it was planned under; otherwise
 * it stores nothing at all (no key change, no outbox row) and answers with the current snapshot.
 * And the write path plans again from that snapshot when its own (cached or read) goes stale,
 * and falls back to the row lock after repeated lost races.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { PgStore, type ConditionalWrite, type KeyRow, type WriteSnapshot } from '@meridian/store';
import { decodeRecord, type UpdateRecord } from '@meridian/protocol';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';

const infra = inject('infra');
const dbName = uniqueName('region_cas');
let store: PgStore;
let db: pg.Pool;
let url: string;

beforeAll(async () => {
  url = await createDatabase(dbName, infra.postgresUrl);
  store = await PgStore.open({ connectionString: url, poolSize: 3 });
  db = new pg.Pool({ connectionString: url, max: 2 });
  db.on('error', () => undefined);
  await db.query(`INSERT INTO meridian_namespaces (name, policy, declared_by, declared_hlc) VALUES ('ns', 'lww', 'eu.1', 1)`);
});
afterAll(async () => {
  await store?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
const outboxRows = async (): Promise<number> => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM meridian_outbox')).rows[0]!.n);
const stored = async (key: string): Promise<{ state: string | null; max_hlc: string } | undefined> =>
  (await db.query<{ state: string | null; max_hlc: string }>(`SELECT convert_from(state, 'UTF8') AS state, max_hlc::text FROM meridian_keys WHERE namespace = 'ns' AND key = $1`, [key])).rows[0];

function write(key: string, expected: ConditionalWrite['expected'], state: string, maxHlc: bigint, policy: ConditionalWrite['policy'] = 'lww'): ConditionalWrite {
  return { namespace: 'ns', policy, key, expected, state: bytes(state), maxHlc, messageKey: `ns/${key}`, envelope: bytes(`envelope of ${state}`) };
}

/** The outbox id of a write that must have been saved. */
async function saved(w: ConditionalWrite): Promise<bigint> {
  const result = await store.compareAndWrite(w);
  if (!result.saved) throw new Error(`expected the write of ${w.key} to be saved; the row holds ${JSON.stringify(text(result.snapshot.key?.state))}`);
  return result.outboxId;
}

/** The snapshot a lost compare-and-write answers with. */
async function lost(w: ConditionalWrite): Promise<WriteSnapshot> {
  const result = await store.compareAndWrite(w);
  if (result.saved) throw new Error(`expected the write of ${w.key} to lose, it was saved as ${result.outboxId}`);
  return result.snapshot;
}

describe('compareAndWrite', () => {
  it('inserts a missing key with its outbox row, and refuses a second insert of the same key, answering with the row', async () => {
    const before = await outboxRows();
    expect(await saved(write('new', undefined, 'v1', 10n))).toBeTypeOf('bigint');
    expect(await stored('new')).toEqual({ state: 'v1', max_hlc: '10' });
    expect(await outboxRows()).toBe(before + 1);
    // A second writer that also saw no row lost the race: nothing stored, no outbox row, and it
    // learns what the row holds now.
    const now = await lost(write('new', undefined, 'v1-other', 11n));
    expect(now.namespace).toMatchObject({ name: 'ns', policy: 'lww' });
    expect(now.key).toMatchObject({ maxHlc: 10n });
    expect(text(now.key?.state)).toBe('v1');
    expect(await stored('new')).toEqual({ state: 'v1', max_hlc: '10' });
    expect(await outboxRows()).toBe(before + 1);
  });

  it('updates only a row that still holds the snapshot (state and highest HLC)', async () => {
    await saved(write('k', undefined, 'a', 5n));
    const snapshot = (await store.writeSnapshot('ns', 'k')).key!;
    expect(snapshot).toMatchObject({ maxHlc: 5n });
    const before = await outboxRows();
    expect(await saved(write('k', snapshot, 'b', 6n))).toBeTypeOf('bigint');
    expect(await stored('k')).toEqual({ state: 'b', max_hlc: '6' });
    // The old snapshot is stale now: a write computed from it stores nothing and gets the new row.
    const now = await lost(write('k', snapshot, 'c', 7n));
    expect(text(now.key?.state)).toBe('b');
    expect(now.key?.maxHlc).toBe(6n);
    expect(await stored('k')).toEqual({ state: 'b', max_hlc: '6' });
    // Same state bytes, different highest HLC (a replicated version moved it): still stale.
    await db.query(`UPDATE meridian_keys SET max_hlc = 9 WHERE namespace = 'ns' AND key = 'k'`);
    const fresh = (await store.writeSnapshot('ns', 'k')).key!;
    expect((await lost(write('k', { ...fresh, maxHlc: 6n }, 'd', 10n))).key?.maxHlc).toBe(9n);
    expect(await outboxRows()).toBe(before + 1);
    expect(await saved(write('k', fresh, 'd', 10n))).toBeTypeOf('bigint');
    expect(await stored('k')).toEqual({ state: 'd', max_hlc: '10' });
  });

  it('matches a row without state (inserted empty by a lock) by its missing state', async () => {
    await db.query(`INSERT INTO meridian_keys (namespace, key) VALUES ('ns', 'empty')`);
    const snapshot = await store.writeSnapshot('ns', 'empty');
    expect(snapshot.key).toMatchObject({ state: undefined, maxHlc: 0n });
    expect((await lost(write('empty', undefined, 'x', 1n))).key).toMatchObject({ state: undefined, maxHlc: 0n });
    expect(await saved(write('empty', snapshot.key, 'x', 1n))).toBeTypeOf('bigint');
    expect(await stored('empty')).toEqual({ state: 'x', max_hlc: '1' });
  });

  it('stores nothing when the namespace no longer has the policy the write was planned under', async () => {
    const before = await outboxRows();
    // A new key and an existing one, each planned as if the namespace held counters.
    expect((await lost(write('under-counter', undefined, 'x', 1n, 'counter'))).namespace).toMatchObject({ policy: 'lww' });
    const current = (await store.writeSnapshot('ns', 'k')).key!;
    const now = await lost(write('k', current, 'y', current.maxHlc + 1n, 'counter'));
    expect(now.namespace).toMatchObject({ policy: 'lww' });
    expect(now.key).toEqual(current);
    expect(await stored('under-counter')).toBeUndefined();
    expect(await outboxRows()).toBe(before);
  });

  it('answers a write to a namespace that does not exist with an empty snapshot', async () => {
    const w = { ...write('k', undefined, 'x', 1n), namespace: 'nope', messageKey: 'nope/k' };
    expect(await lost(w)).toEqual({ namespace: undefined, key: undefined });
  });

  it('snapshots say whether the namespace and the key exist', async () => {
    expect(await store.writeSnapshot('nope', 'k')).toEqual({ namespace: undefined, key: undefined });
    const s = await store.writeSnapshot('ns', 'never-written');
    expect(s.namespace).toMatchObject({ name: 'ns', policy: 'lww' });
    expect(s.key).toBeUndefined();
  });
});

describe('compareAndWriteMany', () => {
  it('saves each write whose row still holds its snapshot, in one statement, and answers the others with their rows', async () => {
    for (const k of ['m1', 'm2', 'm3', 'm4']) await saved(write(k, undefined, `${k}-0`, 5n));
    const snap = async (k: string): Promise<KeyRow> => (await store.writeSnapshot('ns', k)).key!;
    const [s1, s2, s3, s4] = await Promise.all(['m1', 'm2', 'm3', 'm4'].map(snap));
    // m2 changes behind its snapshot; m3's write was planned under another policy.
    await db.query(`UPDATE meridian_keys SET max_hlc = 7 WHERE namespace = 'ns' AND key = 'm2'`);
    const before = await outboxRows();
    const results = await store.compareAndWriteMany([
      write('m1', s1, 'm1-1', 6n),
      write('m2', s2, 'm2-1', 6n),
      write('m3', s3, 'm3-1', 6n, 'counter'),
      write('m4', s4, 'm4-1', 6n),
    ]);
    expect(results.map((r) => r.saved)).toEqual([true, false, false, true]);
    const [r1, r2, r3, r4] = results;
    if (!r1!.saved || !r4!.saved || r2!.saved || r3!.saved) throw new Error('unreachable');
    expect(r4!.outboxId).toBeGreaterThan(r1!.outboxId);
    expect(r2!.snapshot.key?.maxHlc).toBe(7n);
    expect(text(r2!.snapshot.key?.state)).toBe('m2-0');
    expect(r3!.snapshot.namespace?.policy).toBe('lww');
    expect(await outboxRows()).toBe(before + 2);
    expect(await stored('m1')).toEqual({ state: 'm1-1', max_hlc: '6' });
    expect(await stored('m2')).toEqual({ state: 'm2-0', max_hlc: '7' });
    expect(await stored('m3')).toEqual({ state: 'm3-0', max_hlc: '5' });
    expect(await stored('m4')).toEqual({ state: 'm4-1', max_hlc: '6' });
    // Each outbox row carries its own write's envelope, under its own key.
    const { rows } = await db.query<{ id: bigint; message_key: string; envelope: string }>(`SELECT id, message_key, convert_from(envelope, 'UTF8') AS envelope FROM meridian_outbox WHERE id IN ($1, $2) ORDER BY id`, [r1!.outboxId, r4!.outboxId]);
    expect(rows.map((r) => [r.message_key, r.envelope])).toEqual([['ns/m1', 'envelope of m1-1'], ['ns/m4', 'envelope of m4-1']]);
  });

  it('matches rows without state, and answers a missing row or namespace with its snapshot', async () => {
    await db.query(`INSERT INTO meridian_keys (namespace, key) VALUES ('ns', 'empty-many')`);
    const empty = (await store.writeSnapshot('ns', 'empty-many')).key!;
    const gone = { namespace: 'ns', key: 'never-there', state: bytes('x'), maxHlc: 1n };
    const results = await store.compareAndWriteMany([
      write('empty-many', empty, 'filled', 2n),
      write('never-there', gone, 'y', 2n),
      { ...write('k', gone, 'z', 2n), namespace: 'nope', messageKey: 'nope/k' },
    ]);
    expect(results[0]).toMatchObject({ saved: true });
    expect(results[1]).toEqual({ saved: false, snapshot: { namespace: expect.objectContaining({ name: 'ns' }), key: undefined } });
    expect(results[2]).toEqual({ saved: false, snapshot: { namespace: undefined, key: undefined } });
    expect(await stored('empty-many')).toEqual({ state: 'filled', max_hlc: '2' });
    expect(await stored('never-there')).toBeUndefined();
  });

  it('refuses a batch with a key twice or a write without an expected row, storing nothing', async () => {
    const s = (await store.writeSnapshot('ns', 'm1')).key!;
    const before = await outboxRows();
    await expect(store.compareAndWriteMany([write('m1', s, 'a', 100n), write('m1', s, 'b', 100n)])).rejects.toThrow(/twice/);
    await expect(store.compareAndWriteMany([write('m1', undefined, 'a', 100n)])).rejects.toThrow(/no expected row/);
    expect(await outboxRows()).toBe(before);
  });
});

describe('the write path when its snapshot goes stale', () => {
  let region: RegionService;
  beforeAll(async () => {
    region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3' }));
    for (const [name, policy] of [['mvs', 'mv'], ['flip', 'lww'], ['flop', 'counter']] as const) {
      expect((await region.app.inject({ method: 'PUT', url: `/v1/namespaces/${name}`, payload: { policy } })).statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await region?.close();
  });

  /** Raises the key's highest HLC by an hour, as a replicated version from a clock an hour ahead would. */
  const raise = (namespace: string, key: string): Promise<unknown> =>
    db.query(`UPDATE meridian_keys SET max_hlc = max_hlc + (3600000::bigint << 16) WHERE namespace = $1 AND key = $2`, [namespace, key]);
  const envelopes = async (messageKey: string): Promise<UpdateRecord[]> =>
    (await db.query<{ envelope: Buffer }>(`SELECT envelope FROM meridian_outbox WHERE message_key = $1 ORDER BY id`, [messageKey])).rows.map((r) => decodeRecord(r.envelope) as UpdateRecord);

  it('plans a write again from the row a lost compare-and-write returns (the cached snapshot was stale)', async () => {
    expect((await region.app.inject({ method: 'PUT', url: '/v1/ns/mvs/keys/race', payload: { value: 'first' } })).statusCode).toBe(200);
    // The row changes behind the process's cached snapshot.
    await raise('mvs', 'race');
    const reads = { snapshot: 0, cas: 0 };
    const regionStore = region.store;
    const realSnapshot = regionStore.writeSnapshot.bind(regionStore);
    const realCas = regionStore.compareAndWrite.bind(regionStore);
    regionStore.writeSnapshot = async (namespace, key) => (reads.snapshot++, realSnapshot(namespace, key));
    regionStore.compareAndWrite = async (w) => (reads.cas++, realCas(w));
    try {
      expect((await region.app.inject({ method: 'PUT', url: '/v1/ns/mvs/keys/race', payload: { value: 'second' } })).statusCode).toBe(200);
    } finally {
      regionStore.writeSnapshot = realSnapshot;
      regionStore.compareAndWrite = realCas;
    }
    // Planned from the cache, lost, planned again from the answer: no separate read.
    expect(reads).toEqual({ snapshot: 0, cas: 2 });
    const [a, b] = await envelopes('mvs/race');
    // Its HLC orders after the raised one (an hour ahead of the clock): it was planned from the
    // row as it is, not stored from its stale snapshot.
    expect(b!.hlc).toBeGreaterThan(a!.hlc + (3_600_000n << 16n));
    const read = await region.app.inject({ method: 'GET', url: '/v1/ns/mvs/keys/race' });
    expect((JSON.parse(read.body) as { values: string[] }).values.sort()).toEqual(['first', 'second']);
  });

  it('takes the row lock after repeated lost races, and stores the write once', async () => {
    expect((await region.app.inject({ method: 'PUT', url: '/v1/ns/mvs/keys/hot', payload: { value: 'first' } })).statusCode).toBe(200);
    const regionStore = region.store;
    const realCas = regionStore.compareAndWrite.bind(regionStore);
    let lostRaces = 0;
    // Another write slips in before every compare-and-write of this one.
    regionStore.compareAndWrite = async (w) => {
      await raise(w.namespace, w.key);
      const result = await realCas(w);
      if (!result.saved) lostRaces++;
      return result;
    };
    try {
      expect((await region.app.inject({ method: 'PUT', url: '/v1/ns/mvs/keys/hot', payload: { value: 'second' } })).statusCode).toBe(200);
    } finally {
      regionStore.compareAndWrite = realCas;
    }
    expect(lostRaces).toBe(3);
    const [a, b, ...more] = await envelopes('mvs/hot');
    expect(more).toEqual([]);
    expect(b!.hlc).toBeGreaterThan(a!.hlc + 3n * (3_600_000n << 16n));
    const read = await region.app.inject({ method: 'GET', url: '/v1/ns/mvs/keys/hot' });
    expect((JSON.parse(read.body) as { values: string[] }).values.sort()).toEqual(['first', 'second']);
  });

  it('follows a namespace policy replaced behind its cache, either way', async () => {
    // Cached as lww, now counter (as a replicated declaration that won would leave it): the PUT is refused.
    expect((await region.app.inject({ method: 'PUT', url: '/v1/ns/flip/keys/k', payload: { value: 1 } })).statusCode).toBe(200);
    const before = await outboxRows();
    await db.query(`UPDATE meridian_namespaces SET policy = 'counter' WHERE name = 'flip'`);
    const refused = await region.app.inject({ method: 'PUT', url: '/v1/ns/flip/keys/k', payload: { value: 2 } });
    expect(refused.statusCode).toBe(409);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'MERIDIAN_WRONG_POLICY' } });
    expect(await outboxRows()).toBe(before);
    // Cached as counter, now lww: the PUT is accepted.
    expect((await region.app.inject({ method: 'POST', url: '/v1/ns/flop/keys/k/ops', payload: { increment: 1 } })).statusCode).toBe(200);
    await db.query(`DELETE FROM meridian_keys WHERE namespace = 'flop'`);
    await db.query(`UPDATE meridian_namespaces SET policy = 'lww' WHERE name = 'flop'`);
    const accepted = await region.app.inject({ method: 'PUT', url: '/v1/ns/flop/keys/k', payload: { value: 'now a register' } });
    expect(accepted.statusCode).toBe(200);
    expect(JSON.parse(accepted.body)).toMatchObject({ value: 'now a register' });
    expect(await outboxRows()).toBe(before + 2);
  });
});
