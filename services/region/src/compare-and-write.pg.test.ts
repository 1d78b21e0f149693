/**
 * The optimistic write's store statements against the real PostgreSQL: `compareAndWrite` stores
 * the new state and its outbox row only when the key's row still holds exactly the snapshot the
 * write was computed from; otherwise it stores nothing at all (no key change, no outbox row), so
 * the write can be redone under the row lock. And the write path falls back to that lock when
 * another write slips in between its snapshot and its store.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { PgStore, type ConditionalWrite } from '@meridian/store';
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
const outboxRows = async (): Promise<number> => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM meridian_outbox')).rows[0]!.n);
const stored = async (key: string): Promise<{ state: string | null; max_hlc: string } | undefined> =>
  (await db.query<{ state: string | null; max_hlc: string }>(`SELECT convert_from(state, 'UTF8') AS state, max_hlc::text FROM meridian_keys WHERE namespace = 'ns' AND key = $1`, [key])).rows[0];

function write(key: string, expected: ConditionalWrite['expected'], state: string, maxHlc: bigint): ConditionalWrite {
  return { namespace: 'ns', key, expected, state: bytes(state), maxHlc, messageKey: `ns/${key}`, envelope: bytes(`envelope of ${state}`) };
}

describe('compareAndWrite', () => {
  it('inserts a missing key with its outbox row, and refuses a second insert of the same key', async () => {
    const before = await outboxRows();
    const id = await store.compareAndWrite(write('new', undefined, 'v1', 10n));
    expect(id).toBeTypeOf('bigint');
    expect(await stored('new')).toEqual({ state: 'v1', max_hlc: '10' });
    expect(await outboxRows()).toBe(before + 1);
    // A second writer that also saw no row lost the race: nothing stored, no outbox row.
    expect(await store.compareAndWrite(write('new', undefined, 'v1-other', 11n))).toBeUndefined();
    expect(await stored('new')).toEqual({ state: 'v1', max_hlc: '10' });
    expect(await outboxRows()).toBe(before + 1);
  });

  it('updates only a row that still holds the snapshot (state and highest HLC)', async () => {
    await store.compareAndWrite(write('k', undefined, 'a', 5n));
    const snapshot = (await store.writeSnapshot('ns', 'k')).key!;
    expect(snapshot).toMatchObject({ maxHlc: 5n });
    const before = await outboxRows();
    const id = await store.compareAndWrite(write('k', snapshot, 'b', 6n));
    expect(id).toBeTypeOf('bigint');
    expect(await stored('k')).toEqual({ state: 'b', max_hlc: '6' });
    // The old snapshot is stale now: a write computed from it stores nothing.
    expect(await store.compareAndWrite(write('k', snapshot, 'c', 7n))).toBeUndefined();
    expect(await stored('k')).toEqual({ state: 'b', max_hlc: '6' });
    // Same state bytes, different highest HLC (a replicated version moved it): still stale.
    await db.query(`UPDATE meridian_keys SET max_hlc = 9 WHERE namespace = 'ns' AND key = 'k'`);
    const fresh = (await store.writeSnapshot('ns', 'k')).key!;
    expect(await store.compareAndWrite(write('k', { ...fresh, maxHlc: 6n }, 'd', 10n))).toBeUndefined();
    expect(await outboxRows()).toBe(before + 1);
    expect(await store.compareAndWrite(write('k', fresh, 'd', 10n))).toBeTypeOf('bigint');
    expect(await stored('k')).toEqual({ state: 'd', max_hlc: '10' });
  });

  it('matches a row without state (inserted empty by a lock) by its missing state', async () => {
    await db.query(`INSERT INTO meridian_keys (namespace, key) VALUES ('ns', 'empty')`);
    const snapshot = await store.writeSnapshot('ns', 'empty');
    expect(snapshot.key).toMatchObject({ state: undefined, maxHlc: 0n });
    expect(await store.compareAndWrite(write('empty', undefined, 'x', 1n))).toBeUndefined();
    expect(await store.compareAndWrite(write('empty', snapshot.key, 'x', 1n))).toBeTypeOf('bigint');
    expect(await stored('empty')).toEqual({ state: 'x', max_hlc: '1' });
  });

  it('snapshots say whether the namespace and the key exist', async () => {
    expect(await store.writeSnapshot('nope', 'k')).toEqual({ namespace: undefined, key: undefined });
    const s = await store.writeSnapshot('ns', 'never-written');
    expect(s.namespace).toMatchObject({ name: 'ns', policy: 'lww' });
    expect(s.key).toBeUndefined();
  });
});

describe('a write whose snapshot goes stale is redone under the row lock', () => {
  let region: RegionService;
  beforeAll(async () => {
    region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_PG_POOL_SIZE: '3' }));
    await region.app.inject({ method: 'PUT', url: '/v1/namespaces/mvs', payload: { policy: 'mv' } });
  });
  afterAll(async () => {
    await region?.close();
  });

  it('stores the write once, computed from the row as the lock found it', async () => {
    const first = await region.app.inject({ method: 'PUT', url: '/v1/ns/mvs/keys/race', payload: { value: 'first' } });
    expect(first.statusCode).toBe(200);
    // The row changes after the next write's snapshot and before its compare-and-write (as a
    // replicated version from a clock an hour ahead, raising the key's highest HLC, would).
    const regionStore = region.store;
    const realSnapshot = regionStore.writeSnapshot.bind(regionStore);
    let slipped = false;
    regionStore.writeSnapshot = async (namespace, key) => {
      const snapshot = await realSnapshot(namespace, key);
      if (!slipped) {
        slipped = true;
        await db.query(`UPDATE meridian_keys SET max_hlc = max_hlc + (3600000::bigint << 16) WHERE namespace = $1 AND key = $2`, [namespace, key]);
      }
      return snapshot;
    };
    try {
      const second = await region.app.inject({ method: 'PUT', url: '/v1/ns/mvs/keys/race', payload: { value: 'second' } });
      expect(second.statusCode).toBe(200);
    } finally {
      regionStore.writeSnapshot = realSnapshot;
    }
    expect(slipped).toBe(true);
    const { rows } = await db.query<{ envelope: Buffer }>(`SELECT envelope FROM meridian_outbox WHERE message_key = 'mvs/race' ORDER BY id`);
    expect(rows).toHaveLength(2);
    const [a, b] = rows.map((r) => decodeRecord(r.envelope) as UpdateRecord);
    // Its HLC orders after the raised one (an hour ahead of the clock): it was planned again from
    // the locked row, not stored from its stale snapshot.
    expect(b!.hlc).toBeGreaterThan(a!.hlc + (3_600_000n << 16n));
    const read = await region.app.inject({ method: 'GET', url: '/v1/ns/mvs/keys/race' });
    expect((JSON.parse(read.body) as { values: string[] }).values.sort()).toEqual(['first', 'second']);
  });
});
