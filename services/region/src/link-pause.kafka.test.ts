/**
 * Pausing and resuming a replication link is Meridian's own state: the operator's intent is
 * stored in PostgreSQL, answered with the link's state (never a 500 because the Kafka consumer is
 * between runs: not started yet, reconnecting, or its broker unreachable), and it holds across
 * consumer, broker and region restarts.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [A, B] = [`lp-a${suffix}`, `lp-b${suffix}`];
const dbs = [uniqueName('lp_a'), uniqueName('lp_b')];
const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' };
let a: RegionService;
let b: RegionService | undefined;
let urlB: string;

/** A port nothing listens on: a peer broker that cannot be reached. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const startB = (peerBrokers: string): Promise<RegionService> => startRegion(loadConfig({ ...common, MERIDIAN_REGION: B, DATABASE_URL: urlB, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${A}=${peerBrokers}` }));

beforeAll(async () => {
  const [urlA, url] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  urlB = url!;
  a = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: A, DATABASE_URL: urlA, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${B}=${infra.kafka[1]}` }));
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all(dbs.map((d) => dropDatabase(d, infra.postgresUrl)));
});

const call = async (r: RegionService, method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<Answer> => {
  return injectJson(r.app, method, url, body);
};
const linkState = async (r: RegionService): Promise<string> => (await call(r, 'GET', '/v1/replication')).json['peers'][A].state as string;
const valueIn = async (r: RegionService): Promise<unknown> => (await call(r, 'GET', '/v1/ns/p/keys/k')).json['value'];

describe('pausing a replication link', () => {
  it('answers with the link state while the consumer cannot run, and the pause holds across region restarts', async () => {
    await call(a, 'PUT', '/v1/namespaces/p', { policy: 'counter' });
    await call(a, 'POST', '/v1/ns/p/keys/k/ops', { increment: 1 });

    // The peer's Kafka is unreachable: the consumer keeps trying to connect and never runs.
    b = await startB(`127.0.0.1:${await closedPort()}`);
    const paused = await call(b, 'POST', `/v1/replication/peers/${A}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.json['state']).toBe('paused');

    // A restart, now with the peer's Kafka reachable: the link stays paused and applies nothing.
    await b.close();
    b = await startB(infra.kafka[0]);
    expect(await linkState(b)).toBe('paused');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await linkState(b)).toBe('paused');
    expect(await valueIn(b)).toBeUndefined();

    const resumed = await call(b, 'POST', `/v1/replication/peers/${A}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.json['state']).not.toBe('paused');
    await waitFor(() => valueIn(b!), (v) => v === 1, { timeoutMs: 60_000, what: 'b applied a after the resume' });
  }, 180_000);

  it('a pause of a running link holds across a restart too, and a resume after it works', async () => {
    expect((await call(b!, 'POST', `/v1/replication/peers/${A}/pause`)).json['state']).toBe('paused');
    await b!.close();
    b = await startB(infra.kafka[0]);
    await call(a, 'POST', '/v1/ns/p/keys/k/ops', { increment: 1 });
    await new Promise((r) => setTimeout(r, 3000));
    expect(await linkState(b)).toBe('paused');
    expect(await valueIn(b)).toBe(1);
    // Paused on purpose: readiness does not wait for it.
    expect((await call(b, 'GET', '/health/ready')).status).toBe(200);

    expect((await call(b, 'POST', `/v1/replication/peers/${A}/resume`)).status).toBe(200);
    await waitFor(() => valueIn(b!), (v) => v === 2, { timeoutMs: 60_000, what: 'b applied a after the second resume' });
    // Resumed is stored too: another restart streams at once.
    await b.close();
    b = await startB(infra.kafka[0]);
    await call(a, 'POST', '/v1/ns/p/keys/k/ops', { increment: 1 });
    await waitFor(() => valueIn(b!), (v) => v === 3, { timeoutMs: 60_000, what: 'b applied a after a restart' });
    expect(await linkState(b)).not.toBe('paused');
  }, 180_000);
});
