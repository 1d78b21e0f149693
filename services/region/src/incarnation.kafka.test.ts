/**
 * Incarnations against real PostgreSQL and Kafka (DESIGN §6): a region whose database is put back
 * from a copy starts a new incarnation by itself, because its own topic holds updates its
 * database never made; nothing acknowledged after the copy is lost from the peer's view, no dot
 * or sequence is reused (a write after the restart reaches the peer), and the peer's sessions,
 * lag and readiness follow the new incarnation from its first update. Raising MERIDIAN_EPOCH by
 * hand does the same. Region ids are unique per run (topics persist on the shared brokers).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, dropDatabase, ensureGrpcCertificate, regionGrpcTlsEnvironment, testCertificateAuthority } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [EU, US] = [`eu${suffix}`, `us${suffix}`];
const euDb = uniqueName('inc_eu');
const usDb = uniqueName('inc_us');
const copyDb = uniqueName('inc_eu_copy');
const urls = new Map<string, string>();
const running = new Map<string, RegionService>();

const config = (id: string, env: Record<string, string> = {}) =>
  loadConfig({
    MERIDIAN_REGION: id,
    DATABASE_URL: urls.get(id)!,
    MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off',
    MERIDIAN_PG_POOL_SIZE: '4',
    MERIDIAN_KAFKA_BROKERS: infra.kafka[id === EU ? 0 : 1], MERIDIAN_KAFKA_SECURITY: 'plaintext',
    MERIDIAN_PEERS: id === EU ? `${US}=${infra.kafka[1]}` : `${EU}=${infra.kafka[0]}`,
    MERIDIAN_TOPIC_PARTITIONS: '4',
    ...regionGrpcTlsEnvironment(ensureGrpcCertificate(testCertificateAuthority(), { kind: 'region', region: id })),
    ...env,
  });

async function start(id: string, env: Record<string, string> = {}): Promise<RegionService> {
  const region = await startRegion(config(id, env));
  running.set(id, region);
  return region;
}

async function stop(id: string): Promise<void> {
  await running.get(id)?.close();
  running.delete(id);
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: infra.postgresUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `target` becomes a copy of `source` (no one may be connected to `source`). */
const copyDatabase = (source: string, target: string): Promise<void> =>
  admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${target}" TEMPLATE "${source}"`);
  });

async function call(id: string, method: 'GET' | 'PUT', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return injectJson(running.get(id)!.app, method, url, body, headers);
}

/** Reads the key at `at`, then writes it with the context it read: the write supersedes what `at` has. */
async function overwrite(at: string, key: string, value: string): Promise<string> {
  const read = await call(at, 'GET', `/v1/ns/docs/keys/${key}`);
  const written = await call(at, 'PUT', `/v1/ns/docs/keys/${key}`, { value, ...(read.json['context'] ? { context: read.json['context'] } : {}) });
  expect(written.status).toBe(200);
  return written.json['session'] as string;
}

const valueAt = (at: string, key: string) => call(at, 'GET', `/v1/ns/docs/keys/${key}`);
const reaches = (at: string, key: string, value: string) =>
  waitFor(() => valueAt(at, key), (r) => r.status === 200 && r.json['value'] === value, { timeoutMs: 60_000, intervalMs: 100, what: `${key}=${value} in ${at}` });

/** us follows eu: the session of eu's latest write is covered, the lag is 0, readiness holds. */
async function followed(session: string, key: string, value: string): Promise<void> {
  const r = await call(US, 'GET', `/v1/ns/docs/keys/${key}`, undefined, { 'x-meridian-session': session, 'x-meridian-consistency': 'wait', 'x-meridian-wait-ms': '30000' });
  expect(r.status).toBe(200);
  expect(r.json['value']).toBe(value);
  await waitFor(() => call(US, 'GET', '/v1/replication'), (s) => s.json['peers'][EU].lagSequence === 0 && s.json['peers'][EU].state === 'streaming', { timeoutMs: 30_000, intervalMs: 200, what: `${US}'s lag behind ${EU} back to 0` });
  await waitFor(() => call(US, 'GET', '/health/ready'), (s) => s.status === 200, { timeoutMs: 30_000, intervalMs: 200, what: `${US} ready` });
}

beforeAll(async () => {
  urls.set(EU, await createDatabase(euDb, infra.postgresUrl));
  urls.set(US, await createDatabase(usDb, infra.postgresUrl));
  await Promise.all([start(EU), start(US)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([...running.keys()].map((id) => stop(id)));
  for (const db of [euDb, usDb, copyDb]) await dropDatabase(db, infra.postgresUrl);
});

describe('a region restored from a copy of its database', () => {
  it('starts a new incarnation: nothing acknowledged after the copy is lost to its peer, no dot is reused, and the peer follows it', async () => {
    expect((await call(EU, 'PUT', '/v1/namespaces/docs', { policy: 'lww' })).status).toBe(201);
    const beforeCopy = await overwrite(EU, 'k1', 'v1');
    await reaches(US, 'k1', 'v1');

    // The copy (a backup; an asynchronous standby that falls behind).
    await stop(EU);
    await copyDatabase(euDb, copyDb);
    await start(EU);
    expect(running.get(EU)!.epoch).toBe(1);
    await overwrite(EU, 'k1', 'v2');
    const afterCopy = await overwrite(EU, 'k2', 'after the copy');
    await reaches(US, 'k1', 'v2');
    await reaches(US, 'k2', 'after the copy');

    // Put the copy back and restart.
    await stop(EU);
    await copyDatabase(copyDb, euDb);
    await start(EU);
    expect(running.get(EU)!.epoch).toBe(2);
    expect((await valueAt(EU, 'k1')).json['value']).toBe('v1');
    // eu's own sessions stay true: what the copy holds is covered; what only the peer has is not (it never will be, here).
    const read = (session: string) => call(EU, 'GET', '/v1/ns/docs/keys/k1', undefined, { 'x-meridian-session': session, 'x-meridian-consistency': 'wait', 'x-meridian-wait-ms': '300' });
    expect((await read(beforeCopy)).status).toBe(200);
    expect((await read(afterCopy)).json['error']?.code).toBe('MERIDIAN_SESSION_NOT_COVERED');
    expect((await call(US, 'GET', '/v1/ns/docs/keys/k2', undefined, { 'x-meridian-session': afterCopy, 'x-meridian-wait-ms': '300' })).status).toBe(200);

    // New writes: a new key, and an overwrite of a key whose later version only us has.
    await overwrite(EU, 'k3', 'after the restore');
    const session = await overwrite(EU, 'k1', 'v3');
    await reaches(US, 'k3', 'after the restore');
    await reaches(US, 'k1', 'v3');
    expect((await valueAt(US, 'k2')).json['value']).toBe('after the copy');
    await followed(session, 'k1', 'v3');

    // A peer that restarts becomes ready and stays caught up.
    await stop(US);
    await start(US);
    await followed(await overwrite(EU, 'k4', 'after us restarted'), 'k4', 'after us restarted');
  }, 180_000);

  it('an epoch raised by hand (MERIDIAN_EPOCH) wedges nothing: the peer follows the new actor from its first update', async () => {
    await stop(EU);
    await start(EU, { MERIDIAN_EPOCH: '7' });
    expect(running.get(EU)!.epoch).toBe(7);
    await followed(await overwrite(EU, 'k5', 'under epoch 7'), 'k5', 'under epoch 7');
    // And a restart keeps the epoch (no spurious incarnation: its own topic matches its database).
    await stop(EU);
    await start(EU);
    expect(running.get(EU)!.epoch).toBe(7);
    await followed(await overwrite(EU, 'k6', 'still epoch 7'), 'k6', 'still epoch 7');
  });

  it('with anti-entropy on: the restored region gets back what its peer applied after the copy — digests equal, every acknowledged write present, and both regions report every stream applied to its end', async () => {
    await Promise.all([stop(EU), stop(US)]);
    const us = await start(US, { MERIDIAN_GRPC_PORT: '0' });
    const withAntiEntropy = { MERIDIAN_GRPC_PORT: '0', MERIDIAN_PEER_GRPC: `${US}=127.0.0.1:${us.antiEntropy.server!.port}`, MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '300' };
    await start(EU, withAntiEntropy);
    await followed(await overwrite(EU, 'r1', 'before the copy'), 'r1', 'before the copy');

    await stop(EU);
    await copyDatabase(euDb, copyDb);
    await start(EU, withAntiEntropy);
    const acknowledged: Record<string, string> = { r1: 'after the copy', r2: 'only after the copy' };
    for (const [key, value] of Object.entries(acknowledged)) await overwrite(EU, key, value);
    for (const [key, value] of Object.entries(acknowledged)) await reaches(US, key, value);

    await stop(EU);
    await copyDatabase(copyDb, euDb);
    const eu = await start(EU, withAntiEntropy);
    expect(eu.epoch).toBe(8);
    const session = await overwrite(EU, 'r3', 'after the restore');
    acknowledged['r3'] = 'after the restore';

    // Every acknowledged write is present in both regions (the restored one through anti-entropy), and the digests agree.
    for (const [key, value] of Object.entries(acknowledged)) {
      await reaches(EU, key, value);
      await reaches(US, key, value);
    }
    const digest = async (id: string): Promise<string> => (await call(id, 'GET', '/v1/digest?ns=docs')).json['digest'] as string;
    await waitFor(async () => [await digest(EU), await digest(US)], ([a, b]) => a === b, { timeoutMs: 30_000, intervalMs: 200, what: 'equal digests' });
    await followed(session, 'r3', 'after the restore');
    // Each region's stream is applied to its end everywhere: before the fix us went on reporting
    // the prefix of eu's ended actor (eu.7) while eu reported its new one's, so this never held.
    const applied = async (id: string): Promise<Record<string, number>> => (await call(id, 'GET', '/v1/replication')).json['applied'] as Record<string, number>;
    await waitFor(async () => [await applied(EU), await applied(US)], ([a, b]) => a![EU] === b![EU] && a![US] === b![US], { timeoutMs: 30_000, intervalMs: 200, what: 'both regions report every stream applied to its end' });
  }, 180_000);
});
