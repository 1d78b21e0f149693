/**
 * A link that needs a reseed recovers by itself (DESIGN §4, §8): records of the peer's topic that
 * this region had not read are deleted (what retention does while a link is paused or a region is
 * away), the link fails "needs a reseed", and anti-entropy over gRPC repairs every key the peer
 * holds, stores the restart position (offsets and the applied vector jump) and restarts the link:
 * every acknowledged write of the peer is present (deletes and removes included), digests are
 * equal, the link streams again, readiness is back, and sessions naming the peer's last write are
 * covered. With anti-entropy off the link stays failed and says why. Real Kafka (two brokers, one
 * per region), real gRPC, PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createDatabase, dropDatabase, ensureGrpcCertificate, regionGrpcTlsEnvironment, testCertificateAuthority } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig, type RegionConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { deleteAllRecords } from './retention.fixture.ts';
import { parseSession } from './session-token.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
// P writes; R consumes P's topic and is reseeded from P.
const [P, R] = [`rs-p${suffix}`, `rs-r${suffix}`];
const dbs = [uniqueName('rs_p'), uniqueName('rs_r')];
let p: RegionService;
let r: RegionService | undefined;
let rConfig: Record<string, string>;

const grpcTls = (region: string): Record<string, string> => regionGrpcTlsEnvironment(ensureGrpcCertificate(testCertificateAuthority(), { kind: 'region', region }));
const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_TOPIC_PARTITIONS: '2', MERIDIAN_GRPC_PORT: '0' };

beforeAll(async () => {
  const [urlP, urlR] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  p = await startRegion(loadConfig({ ...common, ...grpcTls(P), MERIDIAN_REGION: P, DATABASE_URL: urlP!, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${R}=${infra.kafka[1]}` }));
  rConfig = { ...common, ...grpcTls(R), MERIDIAN_REGION: R, DATABASE_URL: urlR!, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${P}=${infra.kafka[0]}` };
  r = await startRegion(loadConfig(rConfig) satisfies RegionConfig);
}, 120_000);

afterAll(async () => {
  await Promise.all([p?.close(), r?.close()]);
  await Promise.all(dbs.map((n) => dropDatabase(n, infra.postgresUrl)));
});

async function call(region: RegionService, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return injectJson(region.app, method, url, body, headers);
}

const link = async (): Promise<Record<string, any>> => (await call(r!, 'GET', '/v1/replication')).json['peers'][P];
const namespaces = ['reg', 'cnt', 'tags'] as const;
const digests = async (region: RegionService): Promise<string[]> => Promise.all(namespaces.map(async (ns) => (await call(region, 'GET', `/v1/digest?ns=${ns}`)).json['digest'] as string));

/**
 * Writes in P while R's link is paused, waits until P published them, deletes every record of P's
 * topic, and resumes the link. Answers what P acknowledged.
 */
async function writeWhilePausedThenLoseRecords(round: number): Promise<{ lastSession: string; expected: Record<string, unknown> }> {
  expect((await call(r!, 'POST', `/v1/replication/peers/${P}/pause`)).json['state']).toBe('paused');
  await new Promise((res) => setTimeout(res, 1500)); // a batch already on its way when the pause came commits
  const expected: Record<string, unknown> = {};
  const contexts: string[] = [];
  for (let i = 0; i < 8; i++) {
    const w = await call(p, 'PUT', `/v1/ns/reg/keys/k${round}-${i}`, { value: { round, i } });
    expect(w.status).toBe(200);
    contexts.push(w.json['context'] as string);
    expected[`reg/k${round}-${i}`] = [{ round, i }];
  }
  expect((await call(p, 'DELETE', `/v1/ns/reg/keys/k${round}-1?context=${encodeURIComponent(contexts[1]!)}`)).status).toBe(200);
  expect((await call(p, 'GET', `/v1/ns/reg/keys/k${round}-1`)).status).toBe(404);
  expected[`reg/k${round}-1`] = 404;
  if (round === 1) {
    const base = await call(p, 'GET', '/v1/ns/reg/keys/base');
    // A key R had: its delete is among the lost records.
    expect((await call(p, 'DELETE', `/v1/ns/reg/keys/base?context=${encodeURIComponent(base.json['context'] as string)}`)).status).toBe(200);
    expected['reg/base'] = 404;
  }
  let counter = 0;
  for (let i = 0; i < 5; i++) counter = (await call(p, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: i + 1 })).json['value'] as number;
  expected['cnt/c'] = counter;
  await call(p, 'POST', `/v1/ns/tags/keys/t${round}/ops`, { add: ['a', 'b', 'c'] });
  const removed = await call(p, 'POST', `/v1/ns/tags/keys/t${round}/ops`, { remove: ['a'] });
  expect([...(removed.json['value'] as string[])].sort()).toEqual(['b', 'c']);
  expected[`tags/t${round}`] = ['b', 'c'];
  await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published its writes' });
  await deleteAllRecords(infra.kafka[0], `meridian.${P}.updates`);
  expect((await call(r!, 'POST', `/v1/replication/peers/${P}/resume`)).status).toBe(200);
  return { lastSession: removed.json['session'] as string, expected };
}

async function expectPresent(region: RegionService, expected: Record<string, unknown>): Promise<void> {
  for (const [path, want] of Object.entries(expected)) {
    const [ns, key] = path.split('/') as [string, string];
    const got = await call(region, 'GET', `/v1/ns/${ns}/keys/${key}`);
    if (want === 404) expect(got.status, path).toBe(404);
    else if (ns === 'reg') expect(got.json['values'], path).toEqual(want);
    else if (ns === 'tags') expect([...(got.json['value'] as string[])].sort(), path).toEqual(want);
    else expect(got.json['value'], path).toEqual(want);
  }
}

describe('a link that needs a reseed', () => {
  let lost: { lastSession: string; expected: Record<string, unknown> };

  it('with anti-entropy off stays failed and says why (no silent reseed)', async () => {
    expect((await call(p, 'PUT', '/v1/namespaces/reg', { policy: 'mv' })).status).toBe(201);
    expect((await call(p, 'PUT', '/v1/namespaces/cnt', { policy: 'counter' })).status).toBe(201);
    expect((await call(p, 'PUT', '/v1/namespaces/tags', { policy: 'set' })).status).toBe(201);
    await call(p, 'PUT', '/v1/ns/reg/keys/base', { value: 'base' });
    await call(p, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: 100 });
    await waitFor(() => call(r!, 'GET', '/v1/ns/cnt/keys/c'), (res) => res.json['value'] === 100, { timeoutMs: 60_000, what: 'R applied P' });
    await waitFor(() => call(r!, 'GET', '/v1/ns/reg/keys/base'), (res) => res.status === 200, { timeoutMs: 60_000, what: 'R applied base' });

    lost = await writeWhilePausedThenLoseRecords(1);
    const failed = await waitFor(link, (l) => l.state === 'failed', { timeoutMs: 45_000, what: 'the link from P failed' });
    expect(failed.needsReseed).toBe(true);
    expect(failed.reason).toMatch(/needs a reseed.*no automatic reseed: anti-entropy with .* is off/);
    await new Promise((res) => setTimeout(res, 3000));
    expect((await link()).state).toBe('failed');
    expect((await call(r!, 'GET', '/v1/ns/cnt/keys/c')).json['value']).toBe(100);
    expect((await call(r!, 'GET', '/v1/ns/reg/keys/k1-0')).status).toBe(404);
  }, 180_000);

  it('with anti-entropy on reseeds by itself: every acknowledged write is present, digests equal, the link streams, readiness and sessions are back', async () => {
    await r!.close();
    rConfig = { ...rConfig, MERIDIAN_PEER_GRPC: `${P}=127.0.0.1:${p.antiEntropy.server!.port}`, MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '300' };
    r = await startRegion(loadConfig(rConfig));
    const reseeded = await waitFor(() => call(r!, 'GET', '/v1/anti-entropy'), (res) => res.json['peers']?.[P]?.reseed?.outcome === 'reseeded', { timeoutMs: 60_000, intervalMs: 100, what: 'the reseed' });
    const pPublished = (await call(p, 'GET', '/v1/replication')).json['applied'][P] as number;
    expect(reseeded.json['peers'][P].reseed.sequence).toBeGreaterThanOrEqual(pPublished - 2); // heartbeats only may follow
    await expectPresent(r, lost.expected);
    expect(await digests(r)).toEqual(await digests(p));
    // The keys the reseed repaired are listed with P as the peer.
    const repaired = (await call(r, 'GET', '/v1/repairs?ns=reg&limit=100')).json['repairs'] as { key: string; peer: string }[];
    expect(repaired.filter((x) => x.peer === P).map((x) => x.key).sort()).toEqual(expect.arrayContaining(['base', 'k1-0', 'k1-1', 'k1-7']));
    expect((await call(r, 'GET', '/v1/repairs?ns=cnt')).json['repairs'].map((x: { key: string }) => x.key)).toContain('c');

    const streaming = await waitFor(link, (l) => l.state === 'streaming', { timeoutMs: 60_000, what: 'the link streams again' });
    expect(streaming.needsReseed).toBe(false);
    await waitFor(() => call(r!, 'GET', '/health/ready'), (res) => res.status === 200, { timeoutMs: 30_000, what: 'R ready again' });

    // Sessions naming P's last write are covered here.
    const [actor, position] = [...parseSession(lost.lastSession)].find(([a]) => a.startsWith(`${P}.`))!;
    expect(BigInt((await call(r, 'GET', '/v1/replication')).json['positions'][actor] as number)).toBeGreaterThanOrEqual(position);
    expect((await call(r, 'GET', '/v1/ns/tags/keys/t1', undefined, { 'x-meridian-session': lost.lastSession, 'x-meridian-consistency': 'fallback' })).status).toBe(200);

    // A new write in P arrives through the stream: R's applied sequence of P (which only the stream moves) reaches P's.
    await call(p, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: 1000 });
    await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published' });
    const published = (await call(p, 'GET', '/v1/replication')).json['applied'][P] as number;
    await waitFor(() => call(r!, 'GET', '/v1/replication'), (res) => res.json['applied'][P] >= published, { timeoutMs: 30_000, what: 'R applied P through the stream' });
    expect((await call(r, 'GET', '/v1/ns/cnt/keys/c')).json['value']).toBe((lost.expected['cnt/c'] as number) + 1000);
  }, 180_000);

  it('records lost while the running link was paused: it fails and reseeds again by itself', async () => {
    const again = await writeWhilePausedThenLoseRecords(2);
    await waitFor(async () => (await call(r!, 'GET', '/v1/anti-entropy')).json['peers']?.[P]?.reseed !== undefined && (await link()).state === 'streaming', Boolean, { timeoutMs: 60_000, intervalMs: 100, what: 'the link reseeded and streaming again' });
    await waitFor(async () => JSON.stringify(await digests(r!)) === JSON.stringify(await digests(p)), Boolean, { timeoutMs: 30_000, what: 'digests equal' });
    await expectPresent(r!, again.expected);
    await call(p, 'PUT', '/v1/ns/reg/keys/after', { value: 'streamed' });
    await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published' });
    const published = (await call(p, 'GET', '/v1/replication')).json['applied'][P] as number;
    await waitFor(() => call(r!, 'GET', '/v1/replication'), (res) => res.json['applied'][P] >= published, { timeoutMs: 30_000, what: 'R applied P through the stream' });
    const [actor, position] = [...parseSession(again.lastSession)].find(([a]) => a.startsWith(`${P}.`))!;
    expect(BigInt((await call(r!, 'GET', '/v1/replication')).json['positions'][actor] as number)).toBeGreaterThanOrEqual(position);
    expect((await link()).needsReseed).toBe(false);
  }, 180_000);

  it('two replicas of the region sharing the link (a partition each): one reseeds, both stream again', async () => {
    const r2 = await startRegion(loadConfig(rConfig));
    try {
      const linkOf = async (region: RegionService): Promise<Record<string, any>> => (await call(region, 'GET', '/v1/replication')).json['peers'][P];
      await waitFor(() => linkOf(r2), (l) => l.state === 'streaming', { timeoutMs: 60_000, what: 'the second replica streams' });
      const round = await writeWhilePausedThenLoseRecords(3);
      // At least one replica reseeds; the other finds the link reseeded (or, when a rebalance gave it
      // the new offsets first, never fails): both stream again.
      const seen = new Set<string>();
      await waitFor(
        async () => {
          for (const region of [r!, r2]) {
            const outcome = (await call(region, 'GET', '/v1/anti-entropy')).json['peers']?.[P]?.reseed?.outcome as string | undefined;
            if (outcome) seen.add(outcome);
          }
          const links = await Promise.all([linkOf(r!), linkOf(r2)]);
          return { seen: [...seen], links: links.map((l) => `${l.state} ${l.reason ?? ''}`) };
        },
        (x) => x.seen.includes('reseeded') && x.links.every((l) => l.startsWith('streaming')),
        { timeoutMs: 60_000, intervalMs: 100, what: 'the replicas reseeded and streaming' },
      );
      await expectPresent(r2, round.expected);
      await call(p, 'PUT', '/v1/ns/reg/keys/after-replicas', { value: 'streamed' });
      await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published' });
      const published = (await call(p, 'GET', '/v1/replication')).json['applied'][P] as number;
      await waitFor(() => call(r2, 'GET', '/v1/replication'), (res) => res.json['applied'][P] >= published, { timeoutMs: 30_000, what: 'the replicas applied P through the stream' });
      expect((await call(r2, 'GET', '/v1/ns/reg/keys/after-replicas')).json['values']).toEqual(['streamed']);
      for (const region of [r!, r2]) expect((await linkOf(region)).needsReseed).toBe(false);
    } finally {
      await r2.close();
    }
  }, 240_000);

  it('the peer\'s topic recreated and refilled past the stored offsets while the link is paused: it fails on the gap in the sequences and reseeds by itself', async () => {
    expect((await call(r!, 'POST', `/v1/replication/peers/${P}/pause`)).json['state']).toBe('paused');
    await new Promise((res) => setTimeout(res, 1500)); // a batch already on its way when the pause came commits
    const stored = await r!.store.replication.peerOffsets(P);
    const reseededBefore = ((await call(r!, 'GET', '/v1/anti-entropy')).json['peers']?.[P]?.reseed?.sequence as number | undefined) ?? 0;
    const topic = `meridian.${P}.updates`;
    const admin = new Kafka({ clientId: 'recreate', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      // The topic is deleted and created again with the same partitions: every offset starts again at 0.
      await admin.deleteTopics({ topics: [topic] });
      await waitFor(() => admin.listTopics(), (topics) => !topics.includes(topic), { timeoutMs: 30_000, what: 'the topic deleted' });
      await waitFor(() => admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true }).catch(() => false), Boolean, { timeoutMs: 30_000, what: 'the topic created again' });
    } finally {
      await admin.disconnect();
    }
    // P writes on (its relay publishes into the new topic) until every partition reaches past R's
    // stored offset: R resumes at offsets that Kafka serves, and an offset check sees nothing wrong.
    const expected: Record<string, unknown> = {};
    for (let i = 0; ; i++) {
      const w = await call(p, 'PUT', `/v1/ns/reg/keys/re-${i}`, { value: { i } });
      expect(w.status).toBe(200);
      expected[`reg/re-${i}`] = [{ i }];
      if (i % 10 !== 9) continue;
      await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published' });
      const admin2 = new Kafka({ clientId: 'recreate', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).admin();
      await admin2.connect();
      const ends = await admin2.fetchTopicOffsets(topic).finally(() => admin2.disconnect());
      if (ends.every((o) => BigInt(o.high) > (stored.get(o.partition) ?? 0n) + 2n)) break;
    }
    const session = (await call(p, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: 7 })).json['session'] as string;
    expected['cnt/c'] = (await call(p, 'GET', '/v1/ns/cnt/keys/c')).json['value'];
    await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published' });
    expect((await call(r!, 'POST', `/v1/replication/peers/${P}/resume`)).status).toBe(200);

    // Before the fix the link read the new topic from the stored offsets, skipped the records before
    // them for good and said `streaming`. Now it fails on the gap and the reseed repairs and restarts it.
    await waitFor(() => call(r!, 'GET', '/v1/anti-entropy'), (res) => res.json['peers']?.[P]?.reseed?.outcome === 'reseeded' && (res.json['peers'][P].reseed.sequence as number) > reseededBefore, { timeoutMs: 90_000, intervalMs: 100, what: 'the reseed after the gap' });
    await waitFor(link, (l) => l.state === 'streaming' && l.needsReseed === false, { timeoutMs: 60_000, what: 'the link streams again' });
    await waitFor(async () => JSON.stringify(await digests(r!)) === JSON.stringify(await digests(p)), Boolean, { timeoutMs: 30_000, what: 'digests equal' });
    await expectPresent(r!, expected);
    const [actor, position] = [...parseSession(session)].find(([a]) => a.startsWith(`${P}.`))!;
    expect(BigInt((await call(r!, 'GET', '/v1/replication')).json['positions'][actor] as number)).toBeGreaterThanOrEqual(position);
    // And the stream goes on from the new topic.
    await call(p, 'PUT', '/v1/ns/reg/keys/after-recreate', { value: 'streamed' });
    await waitFor(() => call(r!, 'GET', '/v1/ns/reg/keys/after-recreate'), (res) => res.status === 200, { timeoutMs: 30_000, what: 'R applied P through the stream' });
    expect((await link()).needsReseed).toBe(false);
  }, 240_000);

  // Last: it leaves the link failed.
  it('a namespace whose declaration was among the lost records keeps the link failed, saying why (nothing stored)', async () => {
    expect((await call(r!, 'POST', `/v1/replication/peers/${P}/pause`)).json['state']).toBe('paused');
    await new Promise((res) => setTimeout(res, 1500));
    const appliedBefore = (await call(r!, 'GET', '/v1/replication')).json['applied'][P] as number;
    expect((await call(p, 'PUT', '/v1/namespaces/late', { policy: 'lww' })).status).toBe(201);
    expect((await call(p, 'PUT', '/v1/ns/late/keys/x', { value: 1 })).status).toBe(200);
    await waitFor(() => p.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: 'P published' });
    await deleteAllRecords(infra.kafka[0], `meridian.${P}.updates`);
    expect((await call(r!, 'POST', `/v1/replication/peers/${P}/resume`)).status).toBe(200);
    const status = await waitFor(() => call(r!, 'GET', '/v1/anti-entropy'), (res) => /reseed: namespaces late are missing here/.test(res.json['peers']?.[P]?.error ?? ''), { timeoutMs: 60_000, intervalMs: 100, what: 'the reseed refused' });
    expect(status.json['peers'][P].ok).toBe(false);
    const l = await link();
    expect(l.state).toBe('failed');
    expect(l.needsReseed).toBe(true);
    expect(l.reason).toMatch(/needs a reseed.*the last reseed attempt failed: namespaces late are missing here/);
    expect((await call(r!, 'GET', '/health/ready')).json['checks']['replicators'].reason).toMatch(/last reseed attempt failed/);
    expect((await call(r!, 'GET', '/v1/replication')).json['applied'][P]).toBe(appliedBefore);
  }, 180_000);
});
