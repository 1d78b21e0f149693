/**
 * A replicator whose partition claim fails (PostgreSQL or Kafka briefly unreachable just as the
 * consumer joins its group) retries it: a partition without a claim applies nothing, so a
 * failed claim must not stall the link until some later rebalance.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { ReplicationReads } from '@meridian/store';
import { uniqueName, waitFor } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [A, B] = [`cr-a${suffix}`, `cr-b${suffix}`];
const dbs = [uniqueName('cr_a'), uniqueName('cr_b')];
let a: RegionService;
let b: RegionService;
const failures: string[] = [];

beforeAll(async () => {
  const [urlA, urlB] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' };
  a = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: A, DATABASE_URL: urlA, MERIDIAN_KAFKA_BROKERS: infra.kafka[0], MERIDIAN_PEERS: `${B}=${infra.kafka[1]}` }));
  // b's first claim of a's partitions fails, as if its database dropped the connection then.
  const { claimPartitions } = Object.getOwnPropertyDescriptors(ReplicationReads.prototype);
  const claim = claimPartitions.value;
  if (!claim) throw new Error('ReplicationReads has no claimPartitions');
  vi.spyOn(ReplicationReads.prototype, 'claimPartitions').mockImplementation(function (this: ReplicationReads, peer, partitions) {
    if (peer === A && failures.length === 0) {
      failures.push(peer);
      return Promise.reject(new Error('connection terminated unexpectedly'));
    }
    return claim.call(this, peer, partitions);
  });
  b = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: B, DATABASE_URL: urlB, MERIDIAN_KAFKA_BROKERS: infra.kafka[1], MERIDIAN_PEERS: `${A}=${infra.kafka[0]}` }));
}, 120_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all(dbs.map((d) => dropDatabase(d, infra.postgresUrl)));
});

const call = async (r: RegionService, method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<Answer> => {
  return injectJson(r.app, method, url, body);
};

describe('a partition claim that fails', () => {
  it('is retried, and the link applies the peer\'s writes', async () => {
    expect((await call(a, 'PUT', '/v1/namespaces/n', { policy: 'counter' })).status).toBe(201);
    for (let i = 0; i < 5; i++) expect((await call(a, 'POST', `/v1/ns/n/keys/k${i}/ops`, { increment: 1 })).status).toBe(200);
    for (let i = 0; i < 5; i++) await waitFor(() => call(b, 'GET', `/v1/ns/n/keys/k${i}`), (r) => r.json['value'] === 1, { timeoutMs: 60_000, what: `b applied a's k${i}` });
    expect(failures).toEqual([A]);
  });
});
