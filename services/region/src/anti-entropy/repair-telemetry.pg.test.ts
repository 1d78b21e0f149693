/**
 * A repair is traced and counted the way the service reports it (issue 20): two regions over real
 * gRPC, in one process with telemetry started (spans in memory, metrics as `/metrics` serves
 * them, the hooks `main.ts` passes). us starts empty and is seeded from eu; then a key is
 * rewritten in us alone and repaired into eu. Each repaired key has one `meridian.repair` span
 * naming the namespace, the key, the region repaired and the peer, and the digests of the key's
 * state before and after (read from the database, not from the repair's own report); its
 * `GET /v1/repairs` entry carries that span's trace id; and `meridian_repairs_total` for the
 * namespace and peer goes up by exactly the number of keys repaired.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { runExchange, type ExchangeReport } from '@meridian/anti-entropy';
import { GrpcReplica, channelCredentials } from '@meridian/anti-entropy-grpc';
import { digest } from '@meridian/crdt';
import { createDatabase, dropDatabase, ensureGrpcCertificate, regionGrpcTlsEnvironment, testCertificateAuthority } from '@meridian/infra-local';
import { SpanAttribute, SpanName, startTelemetry, type Telemetry } from '@meridian/telemetry';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from '../config.ts';
import { startRegion, type RegionService } from '../region.ts';
import { injectJson, type Answer } from '../inject.fixture.ts';
import { silentLogger } from '../replication/logger.ts';
import { telemetryHooks } from '../telemetry-hooks.ts';

const infra = inject('infra');
const dbs = { eu: uniqueName('aet_eu'), us: uniqueName('aet_us') };
const regions: Record<string, RegionService> = {};
const ca = testCertificateAuthority();
let telemetry: Telemetry;
let client: GrpcReplica;

async function start(region: 'eu' | 'us'): Promise<RegionService> {
  const url = await createDatabase(dbs[region], infra.postgresUrl);
  const peer = region === 'eu' ? 'us' : 'eu';
  return startRegion(
    loadConfig({ MERIDIAN_REGION: region, DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_GRPC_PORT: '0', MERIDIAN_PEER_GRPC: `${peer}=127.0.0.1:1`, MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '0', ...regionGrpcTlsEnvironment(ensureGrpcCertificate(ca, { kind: 'region', region })) }),
    telemetryHooks(telemetry, silentLogger),
  );
}

const call = (r: RegionService, method: 'GET' | 'PUT', url: string, body?: unknown): Promise<Answer> => injectJson(r.app, method, url, body);
const exchange = (): Promise<ExchangeReport> => runExchange(regions.eu!.antiEntropy.local, client, { repair: true, confirmAfterMs: 50, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });

/** `meridian_repairs_total{namespace,peer}` as the region's `/metrics` serves it (0 before its first repair). */
async function repairsCounted(r: RegionService, namespace: string, peer: string): Promise<number> {
  const answer = await r.app.inject({ method: 'GET', url: '/metrics' });
  expect(answer.statusCode).toBe(200);
  const series = `meridian_repairs_total{namespace="${namespace}",peer="${peer}"} `;
  const line = answer.body.split('\n').find((l) => l.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

/** The digest of a key's stored state (undefined: no row). */
async function storedDigest(r: RegionService, namespace: string, key: string): Promise<string | undefined> {
  const row = (await r.store.pool.query<{ state: Buffer }>('SELECT state FROM meridian_keys WHERE namespace = $1 AND key = $2', [namespace, key])).rows[0];
  return row ? digest(new Uint8Array(row.state)) : undefined;
}

/** The repair spans finished since the exporter was last reset, by key. */
function repairSpans(): Map<string, ReadableSpan> {
  const spans = telemetry.memoryExporter!.getFinishedSpans().filter((s) => s.name === SpanName.repair);
  const byKey = new Map(spans.map((s) => [s.attributes[SpanAttribute.key] as string, s]));
  expect(byKey.size).toBe(spans.length); // one span per repaired key
  return byKey;
}

/** The region's `GET /v1/repairs` entries for a key, newest first. */
async function repairsOf(r: RegionService, namespace: string, key: string): Promise<Record<string, unknown>[]> {
  return (await call(r, 'GET', `/v1/repairs?ns=${namespace}&key=${key}`)).json.repairs as Record<string, unknown>[];
}

beforeAll(async () => {
  telemetry = startTelemetry({ serviceName: 'meridian-region', region: 'eu', traces: { exporter: 'memory' }, instrumentations: { http: false, fastify: false, pg: false, kafkajs: false } });
  regions.eu = await start('eu');
  regions.us = await start('us');
  client = new GrpcReplica({ address: `127.0.0.1:${regions.us.antiEntropy.server!.port}`, credentials: channelCredentials(ensureGrpcCertificate(ca, { kind: 'region', region: 'eu' }), { kind: 'region', region: 'us' }), deadlineMs: 5000 });
}, 120_000);

afterAll(async () => {
  client?.close();
  await Promise.all(Object.values(regions).map((r) => r.close()));
  await Promise.all(Object.values(dbs).map((db) => dropDatabase(db, infra.postgresUrl)));
  await telemetry?.shutdown();
});

describe('a repaired key is traced, recorded with its trace id, and counted', () => {
  it('seeding an empty region: one span per key (no state before), its trace id in GET /v1/repairs, the counter up by the keys repaired', async () => {
    const { eu, us } = regions as { eu: RegionService; us: RegionService };
    for (const r of [eu, us]) expect((await call(r, 'PUT', '/v1/namespaces/reg', { policy: 'mv' })).status).toBe(201);
    for (const key of ['k0', 'k1', 'k2']) expect((await call(eu, 'PUT', `/v1/ns/reg/keys/${key}`, { value: key })).status).toBe(200);
    const counted = { us: await repairsCounted(us, 'reg', 'eu'), eu: await repairsCounted(eu, 'reg', 'us') };
    telemetry.memoryExporter!.reset();

    const report = await exchange();
    expect(report.repairedRemote.map((r) => r.key).sort()).toEqual(['k0', 'k1', 'k2']);
    expect(report.repairedLocal).toEqual([]);

    const spans = repairSpans();
    expect([...spans.keys()].sort()).toEqual(['k0', 'k1', 'k2']);
    for (const key of ['k0', 'k1', 'k2']) {
      const span = spans.get(key)!;
      expect(span.attributes).toMatchObject({
        [SpanAttribute.namespace]: 'reg',
        [SpanAttribute.key]: key,
        [SpanAttribute.repairRegion]: 'us',
        [SpanAttribute.repairPeer]: 'eu',
        [SpanAttribute.repairBefore]: '',
        [SpanAttribute.repairAfter]: await storedDigest(us, 'reg', key),
      });
      const [recorded, ...older] = await repairsOf(us, 'reg', key);
      expect(older).toEqual([]);
      expect(recorded).toMatchObject({ region: 'us', peer: 'eu', before: null, after: span.attributes[SpanAttribute.repairAfter], traceId: span.spanContext().traceId });
    }
    // Three different traces: each record points at its own key's span.
    expect(new Set([...spans.values()].map((s) => s.spanContext().traceId)).size).toBe(3);
    expect(await repairsCounted(us, 'reg', 'eu')).toBe(counted.us + 3);
    expect(await repairsCounted(eu, 'reg', 'us')).toBe(counted.eu);
  });

  it('a key rewritten in one region: the span names both regions and the digests before and after', async () => {
    const { eu, us } = regions as { eu: RegionService; us: RegionService };
    const read = await call(us, 'GET', '/v1/ns/reg/keys/k1');
    expect((await call(us, 'PUT', '/v1/ns/reg/keys/k1', { value: 'newer', context: read.json.context })).status).toBe(200);
    const before = await storedDigest(eu, 'reg', 'k1');
    const counted = { us: await repairsCounted(us, 'reg', 'eu'), eu: await repairsCounted(eu, 'reg', 'us') };
    telemetry.memoryExporter!.reset();

    const report = await exchange();
    expect(report.repairedLocal.map((r) => r.key)).toEqual(['k1']);
    expect(report.repairedRemote).toEqual([]);
    const after = await storedDigest(eu, 'reg', 'k1');
    expect(after).toBe(await storedDigest(us, 'reg', 'k1'));
    expect(after).not.toBe(before);

    const spans = repairSpans();
    expect([...spans.keys()]).toEqual(['k1']);
    const span = spans.get('k1')!;
    expect(span.attributes).toMatchObject({
      [SpanAttribute.namespace]: 'reg',
      [SpanAttribute.key]: 'k1',
      [SpanAttribute.repairRegion]: 'eu',
      [SpanAttribute.repairPeer]: 'us',
      [SpanAttribute.repairBefore]: before,
      [SpanAttribute.repairAfter]: after,
    });
    const [recorded] = await repairsOf(eu, 'reg', 'k1');
    expect(recorded).toMatchObject({ region: 'eu', peer: 'us', before, after, traceId: span.spanContext().traceId });
    expect(await repairsCounted(eu, 'reg', 'us')).toBe(counted.eu + 1);
    expect(await repairsCounted(us, 'reg', 'eu')).toBe(counted.us);
  });
});
