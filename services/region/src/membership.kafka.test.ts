/**
 * Region membership at run time (docs/decisions/0014-region-membership.md), with real Kafka (one
 * broker per region), real gRPC and PostgreSQL, continuous anti-entropy off so that only the
 * join's seeding and the streams can make the regions equal:
 *
 * - a region joins while the two running ones keep writing, after Kafka deleted the early records
 *   of one of them: its links seed from each peer over gRPC (every namespace, stand-in
 *   declarations included) and stream from the positions that copy reflects; the running regions
 *   consume its topic once it is added to their membership, without a restart. In the end the
 *   three are equal by the anti-entropy compare, every acknowledged write is present, and nothing
 *   applied twice (each applied vector equals its origin's published sequence; the counter is
 *   exact);
 * - removing a region is refused until the link from it is drained, or forced with a warning;
 *   peers stop consuming it, its session positions are no longer demanded, and the removal holds
 *   across a restart whose MERIDIAN_PEERS still names it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { runExchange } from '@meridian/anti-entropy';
import { createDatabase, dropDatabase, ensureGrpcCertificate, regionGrpcTlsEnvironment, testCertificateAuthority } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { deleteAllRecords } from './retention.fixture.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [A, B, C] = [`mb-a${suffix}`, `mb-b${suffix}`, `mb-c${suffix}`];
const dbs = [uniqueName('mb_a'), uniqueName('mb_b'), uniqueName('mb_c')];
const grpcTls = (region: string): Record<string, string> => regionGrpcTlsEnvironment(ensureGrpcCertificate(testCertificateAuthority(), { kind: 'region', region }));
const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_TOPIC_PARTITIONS: '3', MERIDIAN_GRPC_PORT: '0', MERIDIAN_GRPC_TLS: 'off', MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '0' };
let urls: string[];
let a: RegionService;
let b: RegionService;
let c: RegionService | undefined;
let aConfig: Record<string, string>;

const grpc = (r: RegionService): string => `127.0.0.1:${r.antiEntropy.server!.port}`;

async function call(region: RegionService, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return injectJson(region.app, method, url, body, headers);
}

beforeAll(async () => {
  urls = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  aConfig = { ...common, ...grpcTls(A), MERIDIAN_REGION: A, DATABASE_URL: urls[0]!, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${B}=${infra.kafka[1]}` };
  a = await startRegion(loadConfig(aConfig));
  b = await startRegion(loadConfig({ ...common, ...grpcTls(B), MERIDIAN_REGION: B, DATABASE_URL: urls[1]!, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${A}=${infra.kafka[0]}`, MERIDIAN_PEER_GRPC: `${A}=${grpc(a)}` }));
  // B's gRPC address reaches A through its membership: no restart.
  expect((await call(a, 'PUT', `/v1/members/${B}`, { kafka: infra.kafka[1], grpc: grpc(b) })).json['grpc']).toBe(grpc(b));
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), c?.close()]);
  await Promise.all(dbs.map((n) => dropDatabase(n, infra.postgresUrl)));
});

const published = async (r: RegionService, id: string): Promise<number> => {
  await waitFor(() => r.store.replication.outboxBacklog(), (n) => n === 0, { timeoutMs: 30_000, what: `${id} published` });
  return (await call(r, 'GET', '/v1/replication')).json['applied'][id] as number;
};

describe('region membership', () => {
  const acked: { region: RegionService; key: string; value: unknown }[] = [];
  let increments = 0;

  it('a region joins while the others write: it seeds from each peer, streams, and ends equal with every acknowledged write, nothing applied twice', async () => {
    expect((await call(a, 'PUT', '/v1/namespaces/reg', { policy: 'mv' })).status).toBe(201);
    expect((await call(b, 'PUT', '/v1/namespaces/cnt', { policy: 'counter' })).status).toBe(201);
    await waitFor(async () => (await call(a, 'GET', '/v1/namespaces/cnt')).status === 200 && (await call(b, 'GET', '/v1/namespaces/reg')).status === 200, Boolean, { timeoutMs: 60_000, what: 'namespaces in both' });
    for (let i = 0; i < 20; i++) {
      const r = i % 2 === 0 ? a : b;
      expect((await call(r, 'PUT', `/v1/ns/reg/keys/early-${i}`, { value: i })).status).toBe(200);
      acked.push({ region: r, key: `early-${i}`, value: i });
      expect((await call(r, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: 1 })).status).toBe(200);
      increments++;
    }
    // Kafka no longer holds A's early updates (its namespace declaration among them): the joining
    // region can only have them from A's state.
    // B applied them first: deleting records B has not consumed would fail B's link ("retention
    // passed"), rightly, which is not what this test is about.
    const early = await published(a, A);
    await waitFor(() => call(b, 'GET', '/v1/replication'), (res) => res.json['applied'][A] >= early, { timeoutMs: 30_000, what: `${B} applied ${A}'s early writes` });
    await deleteAllRecords(infra.kafka[0], `meridian.${A}.updates`);

    let writing = true;
    const writer = async (r: RegionService, name: string): Promise<void> => {
      for (let i = 0; writing; i++) {
        const w = await call(r, 'PUT', `/v1/ns/reg/keys/${name}-${i}`, { value: i });
        if (w.status === 200) acked.push({ region: r, key: `${name}-${i}`, value: i });
        if ((await call(r, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: 1 })).status === 200) increments++;
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    const writers = [writer(a, 'a'), writer(b, 'b')];
    try {
      await new Promise((res) => setTimeout(res, 500));
      c = await startRegion(loadConfig({ ...common, ...grpcTls(C), MERIDIAN_REGION: C, DATABASE_URL: urls[2]!, MERIDIAN_KAFKA_BROKERS: infra.kafka[2], MERIDIAN_JOIN: 'on', MERIDIAN_PEERS: `${A}=${infra.kafka[0]};${B}=${infra.kafka[1]}`, MERIDIAN_PEER_GRPC: `${A}=${grpc(a)};${B}=${grpc(b)}` }));
      for (const r of [a, b]) {
        const added = await call(r, 'PUT', `/v1/members/${C}`, { kafka: infra.kafka[2], grpc: grpc(c), url: 'http://127.0.0.1:9' });
        expect(added.status).toBe(200);
        expect(added.json['state']).toBe('member');
      }
      const links = await waitFor(() => call(c!, 'GET', '/v1/replication'), (r) => [A, B].every((p) => r.json['peers'][p]?.state === 'streaming'), { timeoutMs: 90_000, intervalMs: 200, what: `${C} seeded and streaming from both` });
      expect(links.json['peers'][A].needsReseed).toBe(false);
      await waitFor(() => call(c!, 'GET', '/health/ready'), (r) => r.status === 200, { timeoutMs: 30_000, what: `${C} ready` });
      for (let i = 0; i < 5; i++) {
        expect((await call(c, 'PUT', `/v1/ns/reg/keys/c-${i}`, { value: i })).status).toBe(200);
        acked.push({ region: c, key: `c-${i}`, value: i });
        expect((await call(c, 'POST', '/v1/ns/cnt/keys/c/ops', { increment: 1 })).status).toBe(200);
        increments++;
      }
      await new Promise((res) => setTimeout(res, 1000));
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    const regions = [[a, A], [b, B], [c, C]] as const;
    const positions = Object.fromEntries(await Promise.all(regions.map(async ([r, id]) => [id, await published(r, id)] as const)));
    // Every region applies every other one's stream exactly to its published sequence: nothing is missing, nothing counted twice.
    for (const [r, id] of regions) {
      await waitFor(() => call(r, 'GET', '/v1/replication'), (res) => regions.every(([, o]) => o === id || res.json['applied'][o] >= positions[o]!), { timeoutMs: 60_000, what: `${id} applied every stream` });
      const applied = (await call(r, 'GET', '/v1/replication')).json['applied'] as Record<string, number>;
      for (const [, o] of regions) expect(applied[o], `${id} applied of ${o}`).toBe(positions[o]);
    }
    for (const [x, y] of [[a, c], [b, c], [a, b]] as const) {
      const report = await runExchange(x.antiEntropy.local, y.antiEntropy.local, { repair: false, confirmAfterMs: 500, sleep: (ms) => new Promise((res) => setTimeout(res, ms)) });
      expect(report.differences, `${report.local}↔${report.remote}`).toEqual([]);
      expect(report.namespacesCompared).toBe(2);
    }
    for (const w of acked) expect((await call(c, 'GET', `/v1/ns/reg/keys/${w.key}`)).json['values'], w.key).toEqual([w.value]);
    for (const r of [a, b, c]) expect((await call(r, 'GET', '/v1/ns/cnt/keys/c')).json['value']).toBe(increments);
    // A's declaration of reg was among the deleted records: C keeps a stand-in with A's policy.
    expect((await call(c, 'GET', '/v1/namespaces/reg')).json['policy']).toBe('mv');
    expect((await call(c, 'GET', '/v1/members')).json['members'].map((m: { region: string; state: string }) => `${m.region} ${m.state}`)).toEqual([`${A} member`, `${B} member`]);
  }, 240_000);

  it('removing a region: refused until its link is drained, or forced with a warning; peers stop consuming it and no longer demand its sessions; it holds across a restart', async () => {
    // A stops applying C (paused); C writes: A's link from C is not drained.
    expect((await call(a, 'POST', `/v1/replication/peers/${C}/pause`)).json['state']).toBe('paused');
    await new Promise((res) => setTimeout(res, 1500));
    const last = await call(c!, 'PUT', '/v1/ns/reg/keys/late', { value: 'from C' });
    expect(last.status).toBe(200);
    await published(c!, C);
    const refused = await call(a, 'DELETE', `/v1/members/${C}`);
    expect(refused.status).toBe(409);
    expect(refused.json['error'].code).toBe('MERIDIAN_LINK_NOT_DRAINED');
    expect(refused.json['error'].message).toMatch(/is paused .*not applied here/);
    expect((await call(a, 'GET', '/v1/replication')).json['peers'][C]).toBeDefined();

    // Drained: removed without a warning.
    await call(a, 'POST', `/v1/replication/peers/${C}/resume`);
    await waitFor(() => call(a, 'GET', '/v1/ns/reg/keys/late'), (r) => r.status === 200, { timeoutMs: 30_000, what: `A applied ${C}'s late write` });
    await waitFor(() => call(a, 'GET', '/v1/replication'), (r) => r.json['peers'][C]?.lagSequence === 0 && r.json['peers'][C]?.state === 'streaming', { timeoutMs: 30_000, what: `A drained ${C}` });
    const removed = await call(a, 'DELETE', `/v1/members/${C}`);
    expect(removed.status).toBe(200);
    expect(removed.json['state']).toBe('removed');
    expect(removed.json['warning']).toBeUndefined();
    expect((await call(a, 'GET', '/v1/replication')).json['peers'][C]).toBeUndefined();

    // B: not drained, removed with force: the answer warns.
    await call(b, 'POST', `/v1/replication/peers/${C}/pause`);
    await new Promise((res) => setTimeout(res, 1500));
    const unseen = await call(c!, 'PUT', '/v1/ns/reg/keys/unseen', { value: 'never in B' });
    await published(c!, C);
    const forced = await call(b, 'DELETE', `/v1/members/${C}?force=true`);
    expect(forced.status).toBe(200);
    expect(forced.json['warning']).toMatch(/removed with force: .*is paused/);
    // B no longer demands C's positions: a read with C's session is answered at once.
    const read = await call(b, 'GET', '/v1/ns/reg/keys/early-0', undefined, { 'x-meridian-session': unseen.json['session'] as string, 'x-meridian-wait-ms': '3000' });
    expect(read.status).toBe(200);
    expect((await call(b, 'GET', '/v1/ns/reg/keys/unseen')).status).toBe(404);

    // A restarts with MERIDIAN_PEERS naming C: the stored removal holds.
    await a.close();
    a = await startRegion(loadConfig({ ...aConfig, MERIDIAN_PEERS: `${B}=${infra.kafka[1]};${C}=${infra.kafka[2]}` }));
    const members = (await call(a, 'GET', '/v1/members')).json['members'] as { region: string; state: string; link?: unknown }[];
    expect(members.map((m) => `${m.region} ${m.state}`)).toEqual([`${B} member`, `${C} removed`]);
    expect(members.find((m) => m.region === C)!.link).toBeUndefined();
    expect((await call(a, 'GET', '/v1/replication')).json['peers'][C]).toBeUndefined();
    // Added back only as a fresh join (its old data may hold what was deleted and purged here);
    // meanwhile A refuses its anti-entropy merges.
    const back = await call(a, 'PUT', `/v1/members/${C}`, { kafka: infra.kafka[2] });
    expect(back.status).toBe(409);
    expect(back.json['error'].code).toBe('MERIDIAN_REGION_REMOVED');
    expect(back.json['error'].message).toMatch(/Wipe its database, start it with MERIDIAN_JOIN=on, then add it with fresh=true/);
    await expect(a.antiEntropy.local.mergeStates('reg', 'mv', C, [])).rejects.toThrow(`${C} is not a member of region ${A}`);
    // Added back: the link resumes from its stored offsets.
    expect((await call(a, 'PUT', `/v1/members/${C}?fresh=true`, { kafka: infra.kafka[2] })).json['state']).toBe('member');
    await waitFor(() => call(a, 'GET', '/v1/ns/reg/keys/unseen'), (r) => r.status === 200, { timeoutMs: 60_000, what: `A applies ${C} again` });
  }, 240_000);
});
