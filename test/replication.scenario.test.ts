/**
 * Replication scenarios with real processes: three region services (each its own database and
 * its own Kafka cluster — the three brokers of the test run), Zipkin as the tracing backend.
 *
 * - concurrent writes in a staged partition are one conflict, recorded with the same id in every
 *   region, found in Zipkin by tag, whose trace ids lead through the same API to both writes;
 * - `kill -9` of a region in the middle of a stream of writes and applies, then a restart:
 *   nothing acknowledged is lost, nothing is applied twice, every region converges;
 * - read-your-writes across regions with a session token.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase, ephemeralAuth, startRegionProcess, testKafkaAccess, type LocalAuth, type RegionProcess } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us', 'ap'].map((r) => `${r}${suffix}`);
const dbs = ids.map((id) => uniqueName(`scn_${id}`));
const regions: RegionProcess[] = [];
/** The regions run secured, as the local cluster does; the scenario acts as an operator (admin). */
let auth: LocalAuth;

interface Answer {
  status: number;
  json: Record<string, any>;
}

async function http(i: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(`${regions[i]!.url}${path}`, { method, headers: { authorization: `Bearer ${auth.tokens.admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), redirect: 'manual' });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

async function digests(ns: string): Promise<string[]> {
  return Promise.all(regions.map(async (_, i) => (await http(i, 'GET', `/v1/digest?ns=${ns}`)).json['digest'] as string));
}

async function converged(ns: string): Promise<void> {
  await waitFor(() => digests(ns), (d) => d.length === 3 && new Set(d).size === 1, { timeoutMs: 90_000, intervalMs: 250, what: `${ns} identical in every region` });
}

beforeAll(async () => {
  auth = await ephemeralAuth();
  const urls = await Promise.all(dbs.map((db) => createDatabase(db, infra.postgresUrl)));
  const ports = await Promise.all(ids.map(async () => (await import('@meridian/infra-local')).freePort()));
  // Plaintext, or SASL_SSL with ACLs when the run's brokers are secured (MERIDIAN_TEST_KAFKA_SECURITY).
  const kafkaAccess = await testKafkaAccess(infra, Object.fromEntries(ids.map((id, i) => [id, i])));
  const started = await Promise.all(
    ids.map((id, i) =>
      startRegionProcess({
        region: id,
        databaseUrl: urls[i]!,
        auth,
        port: ports[i]!,
        kafkaBrokers: infra.kafka[i]!,
        kafkaSecurity: kafkaAccess[id],
        peers: Object.fromEntries(ids.flatMap((peer, j) => (j === i ? [] : [[peer, infra.kafka[j]!]]))),
        peerUrls: Object.fromEntries(ids.flatMap((peer, j) => (j === i ? [] : [[peer, `http://127.0.0.1:${ports[j]!}`]]))),
        zipkinSpansUrl: `${infra.zipkinUrl}/api/v2/spans`,
        logLevel: 'warn',
        env: { MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_TOPIC_PARTITIONS: '4' },
      }),
    ),
  );
  regions.push(...started);
}, 180_000);

afterAll(async () => {
  await Promise.all(regions.map((r) => r.stop()));
  await Promise.all(dbs.map((db) => dropDatabase(db, infra.postgresUrl)));
});

describe('replication between three region processes', () => {
  it('a conflict is one record everywhere and is found in Zipkin, leading to both writes', async () => {
    expect((await http(0, 'PUT', '/v1/namespaces/docs', { policy: 'mv' })).status).toBe(201);
    await waitFor(() => Promise.all([1, 2].map((i) => http(i, 'GET', '/v1/namespaces/docs'))), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: 'docs everywhere' });
    // Stage a partition between eu and us so that their writes are concurrent for certain.
    expect((await http(0, 'POST', `/v1/replication/peers/${ids[1]}/pause`)).json['state']).toBe('paused');
    await http(1, 'POST', `/v1/replication/peers/${ids[0]}/pause`);
    const w1 = await http(0, 'PUT', '/v1/ns/docs/keys/readme', { value: 'eu draft' });
    const w2 = await http(1, 'PUT', '/v1/ns/docs/keys/readme', { value: 'us draft' });
    expect([w1.status, w2.status]).toEqual([200, 200]);
    await http(0, 'POST', `/v1/replication/peers/${ids[1]}/resume`);
    await http(1, 'POST', `/v1/replication/peers/${ids[0]}/resume`);
    await converged('docs');

    const records = await Promise.all(
      [0, 1, 2].map((i) => waitFor(() => http(i, 'GET', '/v1/conflicts?ns=docs&key=readme'), (r) => (r.json['conflicts'] as unknown[]).length > 0, { timeoutMs: 60_000, what: `conflict recorded in ${ids[i]}` })),
    );
    const conflicts = records.map((r) => (r.json['conflicts'] as { id: string; traceIds: string[] }[])[0]!);
    expect(new Set(conflicts.map((c) => c.id)).size).toBe(1);
    const traceIds = conflicts[0]!.traceIds;
    expect(traceIds).toHaveLength(2);
    expect((await http(2, 'GET', '/v1/ns/docs/keys/readme')).json['values'].sort()).toEqual(['eu draft', 'us draft']);

    // Zipkin: find the conflict span by tag (no span links there), then follow its trace ids.
    const query = new URLSearchParams({ annotationQuery: `meridian.conflict.id=${conflicts[0]!.id}`, limit: '20', serviceName: 'meridian-region' });
    const traces = await waitFor(
      async () => (await (await fetch(`${infra.zipkinUrl}/api/v2/traces?${query.toString()}`)).json()) as { name: string; tags: Record<string, string> }[][],
      (t) => t.flat().filter((s) => s.name === 'meridian.conflict').length >= 1,
      { timeoutMs: 60_000, intervalMs: 500, what: 'the conflict span in zipkin' },
    );
    const span = traces.flat().find((s) => s.name === 'meridian.conflict')!;
    expect(span.tags['meridian.namespace']).toBe('docs');
    expect(span.tags['meridian.key']).toBe('readme');
    expect(span.tags['meridian.conflict.trace_ids']!.split(',').sort()).toEqual([...traceIds].sort());
    for (const traceId of traceIds) {
      const writeTrace = await waitFor(async () => (await (await fetch(`${infra.zipkinUrl}/api/v2/trace/${traceId}`)).json()) as { name: string; tags: Record<string, string> }[], (t) => Array.isArray(t) && t.some((s) => s.name === 'meridian.write'), {
        timeoutMs: 30_000,
        what: `write trace ${traceId}`,
      });
      expect(writeTrace.find((s) => s.name === 'meridian.write')!.tags['meridian.key']).toBe('readme');
    }
  });

  it('kill -9 of a region in the middle of writes and applies loses nothing and applies nothing twice', async () => {
    expect((await http(0, 'PUT', '/v1/namespaces/hits', { policy: 'counter' })).status).toBe(201);
    await waitFor(() => Promise.all([1, 2].map((i) => http(i, 'GET', '/v1/namespaces/hits'))), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: 'hits everywhere' });
    const acked = [0, 0, 0];
    let killedAt = -1;
    const writer = async (i: number, count: number): Promise<void> => {
      for (let n = 0; n < count; n++) {
        const r = await http(i, 'POST', '/v1/ns/hits/keys/page/ops', { increment: 1 }).catch(() => undefined);
        if (r?.status === 200) acked[i]! += 1;
        if (i === 0 && n === Math.floor(count / 3) && killedAt < 0) {
          killedAt = n;
          await regions[2]!.kill(); // ap dies while eu and us write and while it applies their updates
        }
      }
    };
    await Promise.all([writer(0, 150), writer(1, 150)]);
    await regions[2]!.restart();
    await converged('hits');
    const total = acked[0]! + acked[1]!;
    for (const i of [0, 1, 2]) expect((await http(i, 'GET', '/v1/ns/hits/keys/page')).json['value']).toBe(total);
    // Nothing applied twice: ap's applied vector counts exactly the sequences the origins published.
    const rep = await waitFor(() => http(2, 'GET', '/v1/replication'), (r) => Object.values(r.json['peers'] as Record<string, { lagSequence: number | null }>).every((p) => p.lagSequence === 0), { timeoutMs: 60_000, what: 'ap caught up' });
    const eu = (await http(0, 'GET', '/v1/replication')).json['applied'][ids[0]!];
    expect(rep.json['applied'][ids[0]!]).toBe(eu);
  });

  it('read-your-writes: write in one region, read with its session token in another', async () => {
    await http(0, 'PUT', '/v1/namespaces/profiles', { policy: 'lww' });
    await waitFor(() => http(1, 'GET', '/v1/namespaces/profiles'), (r) => r.status === 200, { timeoutMs: 60_000, what: 'profiles in us' });
    const w = await http(0, 'PUT', '/v1/ns/profiles/keys/me', { value: { theme: 'dark' } });
    const r = await http(1, 'GET', '/v1/ns/profiles/keys/me', undefined, { 'x-meridian-session': w.json['session'] as string, 'x-meridian-consistency': 'wait', 'x-meridian-wait-ms': '20000' });
    expect(r.status).toBe(200);
    expect(r.json['value']).toEqual({ theme: 'dark' });
  });
});
