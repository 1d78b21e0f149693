/**
 * Retention passed while a region was away: its stored offset for a peer's partition is below
 * the earliest offset Kafka still has. The link must fail loudly (state `failed`, a reason that
 * says a reseed is needed, readiness down) — never reset silently and skip updates.
 * Retention is simulated by deleting the topic's records up to its end (what retention does).
 * The same holds for a stored offset beyond a partition's end: the topic was recreated (a fresh
 * Kafka beside a kept database), and the updates this region had not applied are gone with it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig, type RegionConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [A, B] = [`ol-a${suffix}`, `ol-b${suffix}`];
const dbs = [uniqueName('ol_a'), uniqueName('ol_b')];
let a: RegionService;
let b: RegionService | undefined;
let bConfig: RegionConfig;

beforeAll(async () => {
  const [urlA, urlB] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' };
  a = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: A, DATABASE_URL: urlA, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${B}=${infra.kafka[1]}` }));
  bConfig = loadConfig({ ...common, MERIDIAN_REGION: B, DATABASE_URL: urlB, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${A}=${infra.kafka[0]}` });
  b = await startRegion(bConfig);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all(dbs.map((d) => dropDatabase(d, infra.postgresUrl)));
});

const inject2 = async (r: RegionService, method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: Record<string, any> }> => {
  const res = await r.app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: res.statusCode, json: JSON.parse(res.body) as Record<string, any> };
};

describe('a stored offset Kafka no longer has', () => {
  it('fails the link loudly, with the reason, and readiness says so', async () => {
    await inject2(a, 'PUT', '/v1/namespaces/n', { policy: 'counter' });
    await inject2(a, 'POST', '/v1/ns/n/keys/k/ops', { increment: 1 });
    await waitFor(() => inject2(b!, 'GET', '/v1/ns/n/keys/k'), (r) => r.json['value'] === 1, { timeoutMs: 60_000, what: 'b applied a' });
    await b!.close();
    b = undefined;

    // a writes on while b is away, then "retention" removes everything b has not read.
    for (let i = 0; i < 5; i++) await inject2(a, 'POST', '/v1/ns/n/keys/k/ops', { increment: 1 });
    await waitFor(() => inject2(a, 'GET', '/v1/replication'), (r) => r.json['applied'][A] >= 7, { timeoutMs: 30_000, what: 'a published its writes' });
    const admin = new Kafka({ clientId: 'retention', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topic = `meridian.${A}.updates`;
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.deleteTopicRecords({ topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
    await admin.disconnect();

    b = await startRegion(bConfig);
    const rep = await waitFor(() => inject2(b!, 'GET', '/v1/replication'), (r) => r.json['peers'][A]?.state === 'failed', { timeoutMs: 60_000, what: 'the link from a failed' });
    expect(rep.json['peers'][A].reason).toMatch(/reseed/);
    const ready = await inject2(b, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json['checks']['replicators'].reason).toMatch(/reseed/);
    // Nothing was skipped silently: b still holds only what it had applied.
    expect((await inject2(b, 'GET', '/v1/ns/n/keys/k')).json['value']).toBe(1);
  });

  it('beyond the end of the partition (the topic was recreated, e.g. a fresh Kafka beside a kept database): fails the link loudly too', async () => {
    await b!.close();
    b = undefined;
    // b's stored positions now lie past everything a's topic holds, as after a topic was recreated.
    const db = new pg.Client({ connectionString: bConfig.databaseUrl });
    await db.connect();
    await db.query('UPDATE meridian_offsets SET next_offset = next_offset + 1000 WHERE peer = $1', [A]);
    await db.end();
    b = await startRegion(bConfig);
    const rep = await waitFor(() => inject2(b!, 'GET', '/v1/replication'), (r) => r.json['peers'][A]?.state === 'failed', { timeoutMs: 60_000, what: 'the link from a failed' });
    expect(rep.json['peers'][A].reason).toMatch(/beyond the end of the partition.*reseed/);
    expect((await inject2(b, 'GET', '/health/ready')).status).toBe(503);
  });
});
