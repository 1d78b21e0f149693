/**
 * A link never streams over a gap in a peer origin's sequences (DESIGN §4 "A link never streams
 * over a gap"), also when no stored offset shows it — the peer's topic recreated and refilled past
 * the stored offsets — and
 *  - the region runs two replicas that split the peer topic's partitions between them: neither
 *    replica consumes every partition, so a check of what one replica consumed since its claim can
 *    never judge; the database, which holds what both consumed, can;
 *  - a partition delivers nothing after the claim (idle, at its end): it is cleared by being
 *    consumed to its end after the peer's heartbeat said the missing sequence was published.
 * The link goes `failed`, "needs a reseed" (stored), readiness says so. Anti-entropy is off here,
 * so the link stays failed (reseed.kafka.test.ts covers the repair). Real Kafka, PostgreSQL.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { kafkaMessageKey } from '@meridian/protocol';
import type { StoredLinkStream } from '@meridian/store';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig, type RegionConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { endOffsets, recreateTopic } from './retention.fixture.ts';
import { injectJson, type Answer, type Method } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' };
const started: RegionService[] = [];
const dbs: string[] = [];

afterAll(async () => {
  await Promise.all(started.map((r) => r.close().catch(() => undefined)));
  await Promise.all(dbs.map((n) => dropDatabase(n, infra.postgresUrl)));
});

const call = (r: RegionService, method: Method, url: string, body?: unknown): Promise<Answer> => injectJson(r.app, method, url, body);

/** A peer region (on broker 0) and the config of a region consuming it (on broker 1). */
async function pair(prefix: string): Promise<{ peer: RegionService; peerId: string; config: RegionConfig }> {
  const [peerId, selfId] = [`${prefix}-p${suffix}`, `${prefix}-r${suffix}`];
  const names = [uniqueName(`${prefix}_p`), uniqueName(`${prefix}_r`)];
  dbs.push(...names);
  const [urlP, urlR] = await Promise.all(names.map((n) => createDatabase(n, infra.postgresUrl)));
  const peer = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: peerId, DATABASE_URL: urlP, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${selfId}=${infra.kafka[1]}` }));
  started.push(peer);
  return { peer, peerId, config: loadConfig({ ...common, MERIDIAN_REGION: selfId, DATABASE_URL: urlR, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${peerId}=${infra.kafka[0]}` }) };
}

const start = async (config: RegionConfig): Promise<RegionService> => {
  const r = await startRegion(config);
  started.push(r);
  return r;
};

/** The partition of the peer's 2-partition topic that the relay's producer sends `namespace/key` to. */
const partitioner = Partitioners.DefaultPartitioner();
const partitionOf = (namespace: string, key: string): number =>
  partitioner({ topic: 't', partitionMetadata: [0, 1].map((partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0, offlineReplicas: [] })), message: { key: kafkaMessageKey(namespace, key), value: null } });
/** Keys of namespace `reg` that go to partition `p`. */
const keysOf = (p: number, count: number, tag: string): string[] => {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) if (partitionOf('reg', `${tag}-${i}`) === p) out.push(`${tag}-${i}`);
  return out;
};

async function published(peer: RegionService): Promise<void> {
  await waitFor(() => peer.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'the peer published' });
}

const linkOf = async (r: RegionService, peerId: string): Promise<Record<string, any>> => (await call(r, 'GET', '/v1/replication')).json['peers'][peerId];

/**
 * The link failed on the gap and stored it. `orOffsetBeyondEnd`: a claim that comes while the
 * recreated topic is not yet refilled past a stored offset (kafkajs rejoins when the topic goes and
 * comes back, paused or not) finds that offset beyond the partition's end first: as true a loss,
 * stored without a gap (the reseed then restarts that partition; whatever the others skip was
 * published before the reseed's position and comes with its repair).
 */
async function expectFailedOnGap(r: RegionService, peerId: string, orOffsetBeyondEnd = false): Promise<void> {
  const link = await waitFor(() => linkOf(r, peerId), (l) => l?.state === 'failed', { timeoutMs: 60_000, what: 'the link failed on the gap' });
  const beyondEnd = orOffsetBeyondEnd && /stored offset \d+ is beyond the end of the partition/.test(String(link.reason));
  expect(link.reason).toMatch(beyondEnd ? /beyond the end of the partition.*needs a reseed/ : /sequence \d+ is in none of the partitions.*needs a reseed/);
  expect(link.needsReseed).toBe(true);
  const ready = await call(r, 'GET', '/health/ready');
  expect(ready.status).toBe(503);
  expect(ready.json['checks']['replicators'].reason).toMatch(/needs a reseed/);
  const stored = await r.store.replication.linkReseed(peerId);
  if (beyondEnd) expect(stored?.reason).toMatch(/beyond the end of the partition/);
  else expect(stored?.gap?.origin).toMatch(new RegExp(`^${peerId}\\.`));
}

describe('two replicas of the region, a partition each', () => {
  it('the peer\'s topic recreated and refilled past the stored offsets while the link is paused: the link fails on the gap', async () => {
    const { peer, peerId, config } = await pair('sg2');
    const topic = `meridian.${peerId}.updates`;
    const r1 = await start(config);
    expect((await call(peer, 'PUT', '/v1/namespaces/reg', { policy: 'lww' })).status).toBe(201);
    for (const p of [0, 1]) for (const key of keysOf(p, 2, 'before')) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
    await published(peer);
    const r2 = await start(config);
    // The second replica streams only once it holds a partition: each holds one of the two.
    await waitFor(() => linkOf(r2, peerId), (l) => l?.state === 'streaming', { timeoutMs: 60_000, what: 'the second replica streams' });
    const [last] = keysOf(1, 1, 'joined');
    await call(peer, 'PUT', `/v1/ns/reg/keys/${last}`, { value: 'joined' });
    await waitFor(() => call(r1, 'GET', `/v1/ns/reg/keys/${last}`), (res) => res.status === 200, { timeoutMs: 60_000, what: 'the region applied the peer' });

    // Paused on one replica, followed by the other (stored).
    expect((await call(r1, 'POST', `/v1/replication/peers/${peerId}/pause`)).json['state']).toBe('paused');
    await waitFor(() => linkOf(r2, peerId), (l) => l?.state === 'paused', { timeoutMs: 30_000, what: 'the other replica paused' });
    await new Promise((res) => setTimeout(res, 1500)); // a batch already on its way when the pause came commits
    const stored = await r1.store.replication.peerOffsets(peerId);
    await recreateTopic(infra.kafka[0], topic, 2);
    // The peer writes on into the new topic until every partition reaches past the stored offset:
    // the link resumes at offsets Kafka serves, and no offset check sees anything wrong.
    for (let round = 0; ; round++) {
      for (const p of [0, 1]) for (const key of keysOf(p, 3, `after${round}`)) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
      await published(peer);
      const ends = await endOffsets(infra.kafka[0], topic);
      if ([0, 1].every((p) => ends.get(p)! > (stored.get(p) ?? 0n) + 2n)) break;
    }
    expect((await call(r1, 'POST', `/v1/replication/peers/${peerId}/resume`)).status).toBe(200);

    // Before the fix each replica judged only the partitions it had consumed since its claim, and
    // only when it held every one: both streamed over the gap for good.
    await expectFailedOnGap(r1, peerId, true);
    await expectFailedOnGap(r2, peerId, true);
  }, 240_000);
});

describe('a partition that delivers nothing after the claim', () => {
  it('consumed to its end after the peer published the missing sequence, it is cleared: the link fails on the gap', async () => {
    const { peer, peerId, config } = await pair('sgi');
    const topic = `meridian.${peerId}.updates`;
    let r = await start(config);
    expect((await call(peer, 'PUT', '/v1/namespaces/reg', { policy: 'lww' })).status).toBe(201);
    for (const p of [0, 1]) for (const key of keysOf(p, 2, 'before')) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
    await published(peer);
    const [last] = keysOf(1, 1, 'last');
    await call(peer, 'PUT', `/v1/ns/reg/keys/${last}`, { value: 'last' });
    await waitFor(() => call(r, 'GET', `/v1/ns/reg/keys/${last}`), (res) => res.status === 200, { timeoutMs: 60_000, what: 'the region applied the peer' });
    await new Promise((res) => setTimeout(res, 1500));
    const stored = await r.store.replication.peerOffsets(peerId);
    await r.close();
    started.splice(started.indexOf(r), 1);
    await recreateTopic(infra.kafka[0], topic, 2);
    // Partition 1 (no heartbeats: they go to partition 0) is refilled exactly to the stored offset,
    // so the link claims it at its end and it delivers nothing more; partition 0 past it.
    const one = keysOf(1, 1, 'idle')[0]!;
    for (let ends = await endOffsets(infra.kafka[0], topic); ends.get(1)! < stored.get(1)!; ends = await endOffsets(infra.kafka[0], topic)) {
      await call(peer, 'PUT', `/v1/ns/reg/keys/${one}`, { value: String(ends.get(1)) });
      await published(peer);
    }
    expect((await endOffsets(infra.kafka[0], topic)).get(1)).toBe(stored.get(1));
    for (let ends = await endOffsets(infra.kafka[0], topic); ends.get(0)! <= stored.get(0)! + 2n; ends = await endOffsets(infra.kafka[0], topic)) {
      for (const key of keysOf(0, 3, `busy${ends.get(0)}`)) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
      await published(peer);
    }
    r = await start(config);
    // Before the fix the gap was judged only once every partition had delivered since the claim:
    // partition 1 never did, and the link streamed over the gap for good.
    await expectFailedOnGap(r, peerId);
    expect((await call(r, 'GET', `/v1/ns/reg/keys/${one}`)).status).toBe(404);
  }, 240_000);
});

describe('review: records deleted from a partition that then stays idle', () => {
  it('deleted to its end while the link is paused, no later record on it: the link must not go on streaming', async () => {
    const { peer, peerId, config } = await pair('sgd');
    const topic = `meridian.${peerId}.updates`;
    const r = await start(config);
    expect((await call(peer, 'PUT', '/v1/namespaces/reg', { policy: 'lww' })).status).toBe(201);
    for (const p of [0, 1]) for (const key of keysOf(p, 2, 'before')) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
    await published(peer);
    const [seen] = keysOf(1, 1, 'seen');
    await call(peer, 'PUT', `/v1/ns/reg/keys/${seen}`, { value: 'seen' });
    await waitFor(() => call(r, 'GET', `/v1/ns/reg/keys/${seen}`), (res) => res.status === 200, { timeoutMs: 60_000, what: 'the region applied the peer' });

    expect((await call(r, 'POST', `/v1/replication/peers/${peerId}/pause`)).json['state']).toBe('paused');
    await new Promise((res) => setTimeout(res, 1500));
    // Written while paused, all to partition 1; then "retention" deletes partition 1 up to its end.
    const lost = keysOf(1, 2, 'lost');
    for (const key of lost) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
    await published(peer);
    const end1 = (await endOffsets(infra.kafka[0], topic)).get(1)!;
    const admin = new Kafka({ clientId: 'review', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.fetchTopicOffsets(topic); // loads the topic's metadata
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 1, offset: end1.toString() }] });
    await admin.disconnect();
    expect((await call(r, 'POST', `/v1/replication/peers/${peerId}/resume`)).status).toBe(200);

    // The peer writes on, to partition 0 only: partition 1 stays idle.
    const after = keysOf(0, 3, 'after');
    for (const key of after) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
    await published(peer);

    // The stored offset of partition 1 is below Kafka's log start: lost, as a claim would find.
    const link = await waitFor(() => linkOf(r, peerId), (l) => l?.state === 'failed', { timeoutMs: 30_000, what: 'the link failed on the records deleted from the idle partition' }).catch(async (e: Error) => {
      throw new Error(`${e.message}; link: ${JSON.stringify(await linkOf(r, peerId))}; stored offsets: ${JSON.stringify([...(await r.store.replication.peerOffsets(peerId))].map(([p, o]) => [p, o.toString()]))}, end1 ${end1}`);
    });
    expect(link.needsReseed).toBe(true);
    expect(link.reason).toContain('partition 1: stored offset');
    expect((await call(r, 'GET', `/v1/ns/reg/keys/${lost[0]}`)).status).toBe(404); // lost: the reseed brings it
  }, 240_000);
});

describe('another producer holding a transaction open on the peer\'s topic', () => {
  it('a partition consumed to its last stable offset is not caught up: no gap while the sequence waits behind the transaction', async () => {
    const { peer, peerId, config } = await pair('sgt');
    const topic = `meridian.${peerId}.updates`;
    const r = await start(config);
    expect((await call(peer, 'PUT', '/v1/namespaces/reg', { policy: 'lww' })).status).toBe(201);
    for (const p of [0, 1]) for (const key of keysOf(p, 2, 'before')) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
    await published(peer);
    await waitFor(() => linkOf(r, peerId), (l) => l?.state === 'streaming', { timeoutMs: 60_000, what: 'the link streams' });

    // A foreign transaction opens on partition 1 and stays open: Kafka's last stable offset stops there.
    const producer = new Kafka({ clientId: 'foreign', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).producer({ transactionalId: `foreign-${suffix}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const open = await producer.transaction();
      await open.send({ topic, messages: [{ key: 'foreign', value: 'not meridian', partition: 1 }] });
      // The next sequence goes to partition 1, behind the open transaction; later ones to partition 0.
      const [held] = keysOf(1, 1, 'held');
      await call(peer, 'PUT', `/v1/ns/reg/keys/${held}`, { value: 'held' });
      const later = keysOf(0, 3, 'later');
      for (const key of later) await call(peer, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key });
      await published(peer);
      await waitFor(() => call(r, 'GET', `/v1/ns/reg/keys/${later.at(-1)}`), (res) => res.status === 200, { timeoutMs: 60_000, what: 'the region applied the later writes' });
      // Heartbeats (partition 0) say the held sequence was published; several gap checks run. Its
      // partition is at its last stable offset, below its high watermark: not caught up, no gap.
      const covered = (s: StoredLinkStream): boolean => [...s.published].some(([origin, high]) => high > (s.contiguous.get(origin) ?? 0n));
      await waitFor(() => r.store.replication.linkStream(peerId), covered, { timeoutMs: 30_000, what: 'a heartbeat covering the held sequence' });
      await new Promise((res) => setTimeout(res, 7000));
      expect(await linkOf(r, peerId)).toMatchObject({ needsReseed: false });
      expect((await linkOf(r, peerId)).state).not.toBe('failed');
      expect((await call(r, 'GET', `/v1/ns/reg/keys/${held}`)).status).toBe(404); // still behind the transaction

      await open.abort();
      await waitFor(() => call(r, 'GET', `/v1/ns/reg/keys/${held}`), (res) => res.status === 200, { timeoutMs: 60_000, what: 'the held write applied once the transaction ended' });
      expect((await linkOf(r, peerId)).needsReseed).toBe(false);
    } finally {
      await producer.disconnect();
    }
  }, 240_000);
});
