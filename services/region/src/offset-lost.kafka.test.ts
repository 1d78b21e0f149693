/**
 * Retention passed while a region was away: its stored offset for a peer's partition is below
 * the earliest offset Kafka still has. The link must fail loudly (state `failed`, a reason that
 * says a reseed is needed, readiness down) — never reset silently and skip updates.
 * Retention is simulated by deleting the topic's records up to its end (what retention does).
 * The same holds for a stored offset beyond a partition's end: the topic was recreated (a fresh
 * Kafka beside a kept database), and the updates this region had not applied are gone with it.
 * And while the link streams: records deleted while the link was paused (or behind) are found
 * when it reaches them — kafkajs answers "offset out of range" by jumping to the earliest offset,
 * which must fail the link, not apply what follows the gap.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { encodeRecord, SCHEMA_VERSION, type ReplicationRecord } from '@meridian/protocol';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig, type RegionConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { deleteAllRecords } from './retention.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [A, B] = [`ol-a${suffix}`, `ol-b${suffix}`];
const dbs = [uniqueName('ol_a'), uniqueName('ol_b')];
let a: RegionService;
let b: RegionService | undefined;
let bConfig: RegionConfig;

beforeAll(async () => {
  const [urlA, urlB] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' };
  a = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: A, DATABASE_URL: urlA, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${B}=${infra.kafka[1]}` }));
  bConfig = loadConfig({ ...common, MERIDIAN_REGION: B, DATABASE_URL: urlB, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${A}=${infra.kafka[0]}` });
  b = await startRegion(bConfig);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), c?.close(), d?.close()]);
  await Promise.all([...dbs, ...streamingDbs].map((n) => dropDatabase(n, infra.postgresUrl)));
});

// The streaming case runs on its own pair of regions (the cases above leave their link failed).
const [C, D] = [`ol-c${suffix}`, `ol-d${suffix}`];
const streamingDbs = [uniqueName('ol_c'), uniqueName('ol_d')];
let c: RegionService | undefined;
let d: RegionService | undefined;

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

  it('an operator resuming the failed link retries it: the lost offsets are checked again and the link stays failed', async () => {
    expect((await inject2(b!, 'POST', `/v1/replication/peers/${A}/resume`)).status).toBe(200);
    // Before the fix the link left `failed` for good ("connecting", readiness's replicators check
    // green) while the partitions lost at the claim were never claimed again, so nothing applied.
    await new Promise((r) => setTimeout(r, 3000));
    const rep = await waitFor(() => inject2(b!, 'GET', '/v1/replication'), (r) => r.json['peers'][A]?.state === 'failed', { timeoutMs: 20_000, what: 'the resumed link from a failed again' });
    expect(rep.json['peers'][A].reason).toMatch(/reseed/);
    expect(rep.json['peers'][A].needsReseed).toBe(true);
    const ready = await inject2(b!, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json['checks']['replicators'].reason).toMatch(/reseed/);
    expect((await inject2(b!, 'GET', '/v1/ns/n/keys/k')).json['value']).toBe(1);
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


describe('while a link streams', () => {
  let urlD: string;
  let dConfig: RegionConfig;
  beforeAll(async () => {
    const [urlC, url] = await Promise.all(streamingDbs.map((n) => createDatabase(n, infra.postgresUrl)));
    urlD = url!;
    const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' };
    c = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: C, DATABASE_URL: urlC, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${D}=${infra.kafka[1]}` }));
    dConfig = loadConfig({ ...common, MERIDIAN_REGION: D, DATABASE_URL: urlD, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${C}=${infra.kafka[0]}` });
    d = await startRegion(dConfig);
  }, 120_000);

  it('offsets taken by transaction markers and aborted records are no gap: the link applies on', async () => {
    await inject2(c!, 'PUT', '/v1/namespaces/g', { policy: 'counter' });
    await inject2(c!, 'POST', '/v1/ns/g/keys/k/ops', { increment: 1 });
    await waitFor(() => inject2(d!, 'GET', '/v1/ns/g/keys/k'), (r) => r.json['value'] === 1, { timeoutMs: 60_000, what: 'd applied c' });
    // Transactions in c's topic: an aborted one and a committed one in every partition, each
    // leaving a marker (and the aborted records) at offsets the consumer never sees. The records
    // are heartbeats from long ago, which change nothing.
    const kafka = new Kafka({ clientId: 'markers', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ transactionalId: `markers-${suffix}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const old: ReplicationRecord = { kind: 'heartbeat', schemaVersion: SCHEMA_VERSION, origin: { region: C, epoch: 1 }, originWallMs: 1, highWaterSequence: 0n, applied: new Map(), hlc: 1n };
    const messages = [0, 1].map((partition) => ({ key: '~heartbeat', value: Buffer.from(encodeRecord(old)), partition }));
    try {
      for (const outcome of ['abort', 'commit', 'abort'] as const) {
        const tx = await producer.transaction();
        await tx.send({ topic: `meridian.${C}.updates`, messages });
        await (outcome === 'abort' ? tx.abort() : tx.commit());
      }
    } finally {
      await producer.disconnect();
    }
    for (let i = 0; i < 4; i++) await inject2(c!, 'POST', '/v1/ns/g/keys/k/ops', { increment: 1 });
    await waitFor(() => inject2(d!, 'GET', '/v1/ns/g/keys/k'), (r) => r.json['value'] === 5, { timeoutMs: 60_000, what: 'd applied c past the markers' });
    const rep = await waitFor(() => inject2(d!, 'GET', '/v1/replication'), (r) => r.json['peers'][C]?.state === 'streaming', { timeoutMs: 60_000, what: 'the link from c streams' });
    expect(rep.json['peers'][C].needsReseed).toBe(false);
  });

  it('a needed reseed is stored: a restart and a resume keep the link failed until it is done', async () => {
    const db = new pg.Client({ connectionString: urlD });
    db.on('error', () => undefined);
    await db.connect();
    try {
      // A sequence gap found before the restart (judged only once every partition delivered since
      // a claim: a new claim alone would not find it again) and stored, its reseed not done yet.
      await d!.close();
      d = undefined;
      await db.query(`INSERT INTO meridian_link_reseeds (peer, reason, gap_origin, gap_sequence, gap_floor) VALUES ($1, 'sequence 99 is in none of the partitions — this region needs a reseed', $2, 99, 120)`, [C, `${C}.1`]);
      await inject2(c!, 'POST', '/v1/ns/g/keys/stored/ops', { increment: 1 });
      d = await startRegion(dConfig);
      const rep = await waitFor(() => inject2(d!, 'GET', '/v1/replication'), (r) => r.json['peers'][C]?.state === 'failed', { timeoutMs: 60_000, what: 'the link from c failed after the restart' });
      expect(rep.json['peers'][C].reason).toMatch(/sequence 99 .*needs a reseed/);
      expect(rep.json['peers'][C].needsReseed).toBe(true);
      expect((await inject2(d, 'POST', `/v1/replication/peers/${C}/resume`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 3000));
      const after = await waitFor(() => inject2(d!, 'GET', '/v1/replication'), (r) => r.json['peers'][C]?.state === 'failed', { timeoutMs: 20_000, what: 'the resumed link failed again' });
      expect(after.json['peers'][C].needsReseed).toBe(true);
      expect((await inject2(d, 'GET', '/v1/ns/g/keys/stored')).status).toBe(404); // nothing streamed over the hole
      // The reseed's commit deletes the row (anti-entropy is off here): the link streams again.
      await db.query('DELETE FROM meridian_link_reseeds WHERE peer = $1', [C]);
      await d.close();
      d = await startRegion(dConfig);
      await waitFor(() => inject2(d!, 'GET', '/v1/ns/g/keys/stored'), (r) => r.json['value'] === 1, { timeoutMs: 60_000, what: 'd applied c again' });
    } finally {
      await db.end();
    }
  }, 180_000);

  it('records deleted while it is paused fail the link when it resumes (needs a reseed), and its stored offsets never pass the gap', async () => {
    const applied = (await inject2(d!, 'GET', '/v1/ns/g/keys/k')).json['value'] as number;
    expect((await inject2(d!, 'POST', `/v1/replication/peers/${C}/pause`)).json['state']).toBe('paused');
    const db = new pg.Client({ connectionString: urlD });
    db.on('error', () => undefined);
    await db.connect();
    const storedOffsets = async (): Promise<Record<string, string>> =>
      Object.fromEntries((await db.query<{ partition: number; next_offset: string }>('SELECT partition, next_offset::text FROM meridian_offsets WHERE peer = $1 ORDER BY partition', [C])).rows.map((r) => [r.partition, r.next_offset]));
    try {
      // A batch already on its way to its apply transaction when the pause came still commits: wait until the offsets rest.
      let before = await storedOffsets();
      for (let settled = false; !settled; ) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = await storedOffsets();
        settled = JSON.stringify(now) === JSON.stringify(before);
        before = now;
      }
      // c writes on while the link is paused; then "retention" removes all of it before d reads it.
      for (let i = 0; i < 5; i++) await inject2(c!, 'POST', '/v1/ns/g/keys/k/ops', { increment: 1 });
      await waitFor(() => inject2(c!, 'GET', '/v1/replication'), (r) => r.json['applied'][C] >= 11, { timeoutMs: 30_000, what: 'c published its writes' });
      await deleteAllRecords(infra.kafka[0], `meridian.${C}.updates`);
      // More writes after the gap: what a link that skipped silently would apply.
      for (let i = 0; i < 3; i++) await inject2(c!, 'POST', '/v1/ns/g/keys/k/ops', { increment: 100 });

      expect((await inject2(d!, 'POST', `/v1/replication/peers/${C}/resume`)).status).toBe(200);
      const rep = await waitFor(() => inject2(d!, 'GET', '/v1/replication'), (r) => r.json['peers'][C]?.state === 'failed', { timeoutMs: 45_000, what: 'the link from c failed' });
      expect(rep.json['peers'][C].reason).toMatch(/needs a reseed/);
      expect(rep.json['peers'][C].needsReseed).toBe(true);
      // Stored, so a restart or a resume does not clear it.
      expect((await db.query<{ reason: string }>('SELECT reason FROM meridian_link_reseeds WHERE peer = $1', [C])).rows[0]?.reason).toMatch(/needs a reseed/);
      const ready = await inject2(d!, 'GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.json['checks']['replicators'].reason).toMatch(/needs a reseed/);
      // Give a silent skip every chance to happen: nothing after the gap is applied, no offset passes it.
      await new Promise((r) => setTimeout(r, 3000));
      expect((await inject2(d!, 'GET', '/v1/ns/g/keys/k')).json['value']).toBe(applied);
      expect(await storedOffsets()).toEqual(before);
      const final = (await inject2(d!, 'GET', '/v1/replication')).json['peers'][C];
      expect(final.state).toBe('failed');
      // The lag shows it too: nothing of c has arrived since the pause.
      expect(final.lagSeconds).toBeGreaterThan(0);
    } finally {
      await db.end();
    }
  }, 180_000);
});
