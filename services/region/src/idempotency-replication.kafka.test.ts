/**
 * Two regions, each with its own database and Kafka cluster, replicating to each other: an
 * idempotency record travels with its update, so a retry sent to the other region after the
 * first attempt has replicated there is answered from the record, not applied again. And a read
 * whose session this region has not applied (an honest 503) is logged as a warning line, not as
 * an error with a stack. Region ids are unique per run (topics persist on the shared brokers).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { waitFor } from '@meridian/testkit';
import type { RegionService } from './region.ts';
import { startRegions, type Regions } from './regions.fixture.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us'].map((r) => `${r}${suffix}`);
const regions: RegionService[] = [];
/** Every log line of each region, parsed. */
const logs: Record<string, unknown>[][] = [[], []];

let cluster: Regions | undefined;

beforeAll(async () => {
  cluster = await startRegions(ids, {
    postgresUrl: infra.postgresUrl,
    kafka: infra.kafka, kafkaSecurity: infra.kafkaSecurity,
    dbPrefix: 'idem',
    partitions: 2,
    peerUrlBase: 9200,
    hooks: (i) => ({
      logger: {
        level: 'info',
        stream: new Writable({
          write(chunk: Buffer, _encoding, done) {
            for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs[i]!.push(JSON.parse(line) as Record<string, unknown>);
            done();
          },
        }),
      },
    }),
  });
  regions.push(...cluster.regions);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

async function call(i: number, method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return injectJson(regions[i]!.app, method, url, body, headers);
}

describe('logging', () => {
  it('a read whose session this region has not applied answers 503 MERIDIAN_SESSION_NOT_COVERED and logs one warning line, no error, no stack', async () => {
    expect((await call(0, 'PUT', '/v1/namespaces/logged', { policy: 'lww' })).status).toBe(201);
    expect((await call(0, 'PUT', '/v1/ns/logged/keys/k', { value: 1 })).status).toBe(200);
    const before = logs[0]!.length;
    const ahead = `${ids[1]}.1:999999999`;
    const r = await call(0, 'GET', '/v1/ns/logged/keys/k', undefined, { 'x-meridian-session': ahead, 'x-meridian-wait-ms': '50' });
    expect(r.status).toBe(503);
    expect(r.json['error'].code).toBe('MERIDIAN_SESSION_NOT_COVERED');
    const lines = logs[0]!.slice(before);
    const about = lines.filter((l) => JSON.stringify(l).includes('999999999'));
    expect(about.length, JSON.stringify(lines)).toBe(1);
    expect(about[0]!['level']).toBe(40); // pino's warn
    expect(about[0]!['err']).toBeUndefined();
    expect(lines.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
  });
});

describe('idempotency records travel with the update', () => {
  it('an increment applied in eu and retried in us, after it replicated there, is answered from the record: counted once everywhere', async () => {
    expect((await call(0, 'PUT', '/v1/namespaces/visits', { policy: 'counter' })).status).toBe(201);
    await waitFor(() => call(1, 'GET', '/v1/namespaces/visits'), (r) => r.status === 200, { timeoutMs: 60_000, what: 'the namespace in us' });
    expect((await call(0, 'POST', '/v1/ns/visits/keys/home/ops', { increment: 1 })).json['value']).toBe(1);
    const first = await call(0, 'POST', '/v1/ns/visits/keys/home/ops', { increment: 5 }, { 'idempotency-key': 'order-1' });
    expect(first.status).toBe(200);
    expect(first.json['value']).toBe(6);
    await waitFor(() => call(1, 'GET', '/v1/ns/visits/keys/home'), (r) => r.json['value'] === 6, { timeoutMs: 60_000, intervalMs: 100, what: 'the increment in us' });

    // The client, unsure whether eu took it, retries with the same key; the GSLB sends it to us.
    const retry = await call(1, 'POST', '/v1/ns/visits/keys/home/ops', { increment: 5 }, { 'idempotency-key': 'order-1' });
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual(first.json); // the first answer, session token included
    expect((await call(1, 'POST', '/v1/ns/visits/keys/home/ops', { increment: 5 }, { 'idempotency-key': 'order-1' })).json).toEqual(first.json);
    // The same key with another request is refused there too.
    const reused = await call(1, 'POST', '/v1/ns/visits/keys/home/ops', { increment: 7 }, { 'idempotency-key': 'order-1' });
    expect(reused.status).toBe(422);
    expect(reused.json['error'].code).toBe('MERIDIAN_IDEMPOTENCY_KEY_REUSED');

    // Keys are scoped by the data key: the same Idempotency-Key on another key is another request.
    const elsewhere = await call(1, 'POST', '/v1/ns/visits/keys/away/ops', { increment: 5 }, { 'idempotency-key': 'order-1' });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.json['value']).toBe(5);

    // Counted once in every region, and the regions agree.
    await waitFor(
      () => Promise.all([0, 1].map(async (i) => (await call(i, 'GET', '/v1/digest?ns=visits')).json['digest'] as string)),
      (d) => d[0] === d[1],
      { timeoutMs: 60_000, intervalMs: 200, what: 'equal digests' },
    );
    for (const i of [0, 1]) {
      expect((await call(i, 'GET', '/v1/ns/visits/keys/home')).json['value']).toBe(6);
      expect((await call(i, 'GET', '/v1/ns/visits/keys/away')).json['value']).toBe(5);
    }
  });
});
