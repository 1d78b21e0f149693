/**
 * A region's own session position after the relay pruned its outbox: the relay deletes published
 * rows once they are old enough, so an idle region's outbox is empty. The position a read or a
 * write answers with must not fall back (to 0: a client's merged token would then name nothing of
 * this region, and a later read elsewhere could not wait for what it wrote here).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { parseSession } from './session-token.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('own_position');
let region: RegionService;
let db: pg.Pool;
let dbUrl: string;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  dbUrl = url;
  region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3' }));
  db = new pg.Pool({ connectionString: url, max: 1 });
});
afterAll(async () => {
  await region?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<Answer> {
  return injectJson(region.app, method, url, body);
}

const own = (session: string): bigint => parseSession(session).get(`eu.${region.epoch}`) ?? 0n;

/** What the relay does, without Kafka: publish every outbox row under its lease, then prune what is published. */
async function publishAndPrune(): Promise<void> {
  const replication = region.store.replication;
  const lease = await replication.acquireRelayLease('test-relay', 5000, region.epoch);
  if (!lease) throw new Error('no relay lease');
  const batch = await replication.outboxForLease(lease.leaseEpoch, 1n << 62n, 1000);
  if (batch === 'fenced') throw new Error('fenced');
  expect(await replication.markPublished(lease.leaseEpoch, batch.rows.map((r, i) => ({ id: r.id, sequence: batch.lastSequence + BigInt(i) + 1n })))).toBe('ok');
  await replication.releaseRelayLease(lease.leaseEpoch);
  await new Promise((r) => setTimeout(r, 20)); // published_at is the marking transaction's start: let the clock pass it
  await replication.pruneOutbox(0);
}

describe('the own session position after the relay prunes the outbox', () => {
  it('stays at or above every write this region acknowledged', async () => {
    expect((await call('PUT', '/v1/namespaces/c', { policy: 'counter' })).status).toBe(201);
    const w = await call('POST', '/v1/ns/c/keys/k/ops', { increment: 2 });
    expect(w.status).toBe(200);
    const written = own(w.json['session'] as string);
    expect(written).toBeGreaterThan(0n);

    await publishAndPrune();
    expect(Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM meridian_outbox')).rows[0]!.n)).toBe(0);

    const r = await call('GET', '/v1/ns/c/keys/k');
    expect(r.json['value']).toBe(2);
    expect(own(r.json['session'] as string)).toBeGreaterThanOrEqual(written);
    // A read of another key reflects the same region state.
    const other = await call('GET', '/v1/ns/c/keys/absent');
    expect(own(other.json['session'] as string)).toBeGreaterThanOrEqual(written);
    // What a write that stores nothing answers with.
    expect(await region.store.outboxHighWater()).toBeGreaterThanOrEqual(written);
  });
});

describe('the own session position right after a new incarnation', () => {
  it('never names the new actor at ids its earlier actor allocated (no peer would ever cover them)', async () => {
    const before = await call('POST', '/v1/ns/c/keys/k2/ops', { increment: 1 });
    expect(before.status).toBe(200);
    await region.close();
    region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', MERIDIAN_EPOCH: '2', DATABASE_URL: dbUrl, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3' }));
    expect(region.epoch).toBe(2);
    const [switched] = (await region.store.incarnations()).filter((i) => i.epoch === 2);
    expect(switched).toBeDefined();
    // An idle region's read: the ids up to the switch are eu.1's; eu.2 has published nothing yet.
    const read = await call('GET', '/v1/ns/c/keys/k2');
    expect(read.status).toBe(200);
    const claimed = parseSession(read.json['session'] as string).get('eu.2');
    expect(claimed === undefined || claimed > switched!.outboxId).toBe(true);
    // The new actor's first write is named at its own id, above the switch.
    const w = await call('POST', '/v1/ns/c/keys/k2/ops', { increment: 1 });
    expect(parseSession(w.json['session'] as string).get('eu.2')).toBeGreaterThan(switched!.outboxId);
  });
});
