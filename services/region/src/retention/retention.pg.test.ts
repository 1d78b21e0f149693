/**
 * The retention loop of a standalone region on a real PostgreSQL, with an injected clock: a
 * deleted register is purged once its tombstone is older than MERIDIAN_TOMBSTONE_MIN_AGE (one
 * region: it alone must have applied it), a live key or a key a dead letter holds stays, a purged
 * key hashes in the anti-entropy tree exactly as a key never written, the next write of a purged
 * key mints a dot no earlier life of the key used, and idempotency and conflict records expire
 * while dead letters stay — a backlog of any size in one round, not one statement's batch.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from '../config.ts';
import { startRegion, type RegionService } from '../region.ts';
import { mergeRepairStates } from '../anti-entropy/repair-merge.ts';
import { decodeRegisterSet } from '@meridian/crdt';
import { injectJson, type Answer } from '../inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('retention');
const HOUR = 3_600_000;
let now = Date.UTC(2026, 0, 1);
let region: RegionService;
let db: pg.Pool;
let purged = 0;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  region = await startRegion(
    loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOMBSTONE_MIN_AGE: '1h', MERIDIAN_IDEMPOTENCY_TTL: '2h', MERIDIAN_CONFLICT_RETENTION: '3h' }),
    { now: () => now, retentionIntervalMs: 24 * HOUR, onPurged: (n) => (purged += n) },
  );
  db = new pg.Pool({ connectionString: url, max: 1 });
});
afterAll(async () => {
  await region?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<Answer> {
  return injectJson(region.app, method, url, body);
}

const rows = async (ns: string): Promise<string[]> => (await db.query<{ key: string }>('SELECT key FROM meridian_keys WHERE namespace = $1 ORDER BY key', [ns])).rows.map((r) => r.key);
const root = async (ns: string) => (await region.store.tree.roots()).find((r) => r.name === ns);

describe('the tombstone GC of a standalone region', () => {
  it('purges a deleted register once two min ages old; live and quarantined keys stay; purged hashes as absent', async () => {
    expect((await call('PUT', '/v1/namespaces/gc', { policy: 'mv' })).status).toBe(201);
    await call('PUT', '/v1/ns/gc/keys/live', { value: 'stays' });
    const held = await call('PUT', '/v1/ns/gc/keys/held', { value: 'x' });
    await call('DELETE', `/v1/ns/gc/keys/held?context=${encodeURIComponent(held.json['context'] as string)}`);
    // A dead letter of `held` waits here: its redrive must meet the tombstone, so the key stays.
    await db.query(
      `WITH letter AS (INSERT INTO meridian_dead_letters (peer, partition, kafka_offset, message_key, raw, code, reason, namespace, key)
                       VALUES ('us', 0, 0, 'gc/held', '\\x00', 'MERIDIAN_PAYLOAD_INVALID', 'a test dead letter', 'gc', 'held') RETURNING id)
       INSERT INTO meridian_quarantine (namespace, key, dead_letter_id) SELECT 'gc', 'held', id FROM letter`,
    );
    const before = await root('gc');

    const first = await call('PUT', '/v1/ns/gc/keys/gone', { value: 'old' });
    const firstDot = decodeRegisterSet((await db.query<{ state: Buffer }>(`SELECT state FROM meridian_keys WHERE key = 'gone'`)).rows[0]!.state).versions()[0]!.dot;
    await call('DELETE', `/v1/ns/gc/keys/gone?context=${encodeURIComponent(first.json['context'] as string)}`);
    expect((await call('GET', '/v1/ns/gc/keys/gone')).json['error'].code).toBe('MERIDIAN_KEY_NOT_FOUND');
    expect(await root('gc')).not.toEqual(before);

    // Younger than the min age: kept, and counted once the scan's pass is over.
    now += HOUR / 2;
    expect((await region.retention.runOnce()).purged).toBe(0);
    expect(await rows('gc')).toEqual(['gone', 'held', 'live']);
    expect(region.retention.view.tombstones).toBe(2);
    expect(region.retention.view.blocked).toEqual(new Map([['eu', false]]));

    const tombstone = (await db.query<{ state: Buffer; max_hlc: bigint }>(`SELECT state, max_hlc FROM meridian_keys WHERE key = 'gone'`)).rows[0]!;
    // A min age old: the round that saw it applied here (round one) is not a min age old yet.
    now += HOUR;
    expect((await region.retention.runOnce()).purged).toBe(0);
    now += HOUR;
    const round = await region.retention.runOnce();
    expect(round.purged).toBe(1);
    expect(purged).toBe(1);
    expect(await rows('gc')).toEqual(['held', 'live']);
    expect(region.retention.view.tombstones).toBe(1);
    // Purged and absent hash the same: the tree is as it was before `gone` was ever written.
    expect(await root('gc')).toEqual(before);
    expect((await call('GET', '/v1/ns/gc/keys/gone')).status).toBe(404);
    expect((await call('GET', '/v1/ns/gc/keys/live')).json['values']).toEqual(['stays']);
    // A peer that has not purged it yet offers its tombstone to anti-entropy's repair: purged and
    // absent are the same here, so nothing is copied in.
    const repair = (key: string) => mergeRepairStates({ store: region.store, region: 'eu', clock: region.keys.clock, peers: { fixed: new Set(['us']) } }, { namespace: 'gc', policy: 'mv', fromRegion: 'us', states: [{ key, state: new Uint8Array(tombstone.state), maxHlc: BigInt(tombstone.max_hlc) }] });
    expect(await repair('gone')).toEqual([]);
    expect(await rows('gc')).toEqual(['held', 'live']);
    expect(await root('gc')).toEqual(before);

    // The key's next life mints dots above every counter of its previous one.
    await call('PUT', '/v1/ns/gc/keys/gone', { value: 'new' });
    const next = decodeRegisterSet((await db.query<{ state: Buffer }>(`SELECT state FROM meridian_keys WHERE key = 'gone'`)).rows[0]!.state).versions()[0]!.dot;
    expect(next.actor).toBe(firstDot.actor);
    expect(next.counter).toBeGreaterThan(firstDot.counter + 1_000_000);
    expect((await call('GET', '/v1/ns/gc/keys/gone')).json['values']).toEqual(['new']);
  });

  it('expires idempotency records after their TTL and conflict records after their retention; dead letters stay', async () => {
    const at = (ms: number): Date => new Date(now - ms);
    await db.query(`INSERT INTO meridian_idempotency (idempotency_key, fingerprint, created_at) VALUES ('old', 'f', $1), ('young', 'f', $2)`, [at(3 * HOUR), at(HOUR)]);
    await db.query(
      `INSERT INTO meridian_conflicts (id, namespace, key, policy, kind, versions, outcome, regions, trace_ids, observed_at)
       VALUES ('c-old', 'gc', 'k', 'mv', 'register', '[]', '{}', '{}', '{}', $1), ('c-young', 'gc', 'k', 'mv', 'register', '[]', '{}', '{}', '{}', $2)`,
      [at(4 * HOUR), at(2 * HOUR)],
    );
    const letters = Number((await db.query('SELECT count(*) FROM meridian_dead_letters')).rows[0].count);
    const round = await region.retention.runOnce();
    expect(round).toMatchObject({ idempotencyExpired: 1, conflictsExpired: 1 });
    expect((await db.query('SELECT idempotency_key FROM meridian_idempotency ORDER BY 1')).rows.map((r) => r.idempotency_key)).toEqual(['young']);
    expect((await db.query('SELECT id FROM meridian_conflicts ORDER BY 1')).rows.map((r) => r.id)).toEqual(['c-young']);
    expect(Number((await db.query('SELECT count(*) FROM meridian_dead_letters')).rows[0].count)).toBe(letters);
    expect(region.retention.view.tableBytes.get('meridian_keys')).toBeGreaterThan(0);
  });

  it('expires a backlog larger than one statement\'s batch in one round: the TTL bounds the table at any write rate', async () => {
    // 12,001 expired records (more than two delete statements' worth) and a young one.
    await db.query(`INSERT INTO meridian_idempotency (idempotency_key, fingerprint, created_at) SELECT 'old-' || n, 'f', $1 FROM generate_series(1, 12001) AS n`, [new Date(now - 3 * HOUR)]);
    await db.query(`INSERT INTO meridian_idempotency (idempotency_key, fingerprint, created_at) VALUES ('young-2', 'f', $1)`, [new Date(now - HOUR)]);
    await db.query(
      `INSERT INTO meridian_conflicts (id, namespace, key, policy, kind, versions, outcome, regions, trace_ids, observed_at)
       SELECT 'c-old-' || n, 'gc', 'k', 'mv', 'register', '[]', '{}', '{}', '{}', $1 FROM generate_series(1, 12001) AS n`,
      [new Date(now - 4 * HOUR)],
    );
    const round = await region.retention.runOnce();
    expect(round).toMatchObject({ idempotencyExpired: 12_001, conflictsExpired: 12_001 });
    expect(Number((await db.query(`SELECT count(*) FROM meridian_idempotency WHERE created_at < $1`, [new Date(now - 2 * HOUR)])).rows[0].count)).toBe(0);
    expect(Number((await db.query(`SELECT count(*) FROM meridian_conflicts WHERE observed_at < $1`, [new Date(now - 3 * HOUR)])).rows[0].count)).toBe(0);
    expect((await db.query(`SELECT 1 FROM meridian_idempotency WHERE idempotency_key = 'young-2'`)).rowCount).toBe(1);
  });
});
