/**
 * Kafka secured as the local cluster runs it (kafka-security.ts, docs/security.md), against two
 * real brokers of its own — regions eu and us, each with its own cluster — started SASL_SSL with
 * SCRAM users made at format time and the ACLs `regionAcls` lists: a plaintext client, an
 * anonymous TLS client, a wrong password and a client that does not trust the CA are refused;
 * region eu's principal cannot write us's topic, create a topic in us's name or use us's groups;
 * and two region processes replicate through exactly these ACLs, their passwords never in their logs.
 * A principal made after the format (a region that joins) is refused until `addScramUsers` adds
 * it to the running broker.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { uniqueName, waitFor } from '@meridian/testkit';
import { addScramUsers, startKafkaBroker, type KafkaBroker } from './kafka.ts';
import { ensureCertificateAuthority } from './certificates.ts';
import { brokerSecurity, createAcls, ensureKafkaSecurity, ensureScramUser, kafkaClientSecurity, regionAcls, regionPrincipal, type KafkaDeploymentSecurity } from './kafka-security.ts';
import { createDatabase, dropDatabase } from './postgres.ts';
import { peerSettings, startRegionProcess, type RegionProcess } from './region-process.ts';

const infra = inject('infra');
/** Cluster i is the own Kafka of ids[i] (the ACL tests) and of replicating[i] (the replication test, whose topics hold only real records). */
const ids = ['eu', 'us'] as const;
const replicating = ['fr', 'jp'] as const;
const dir = mkdtempSync(join(tmpdir(), 'meridian-kafka-security-'));
const dbs = replicating.map((id) => uniqueName(`kafka_sasl_${id}`));
let security: KafkaDeploymentSecurity;
const brokers: KafkaBroker[] = [];
const regions: RegionProcess[] = [];

beforeAll(async () => {
  const ca = ensureCertificateAuthority(join(dir, 'tls'), 'Meridian test CA');
  security = ensureKafkaSecurity(join(dir, 'kafka-users'), ca, [...ids, ...replicating]);
  const principals = new Map([...security.regions].map(([id, user]) => [id, user.username]));
  const started = await Promise.allSettled(ids.map((id) => startKafkaBroker({ name: `sasl-${id}`, security: brokerSecurity(security, id), heapMb: 320 })));
  brokers.push(...started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  await Promise.all(brokers.map((b, i) => createAcls(b.bootstrap, b.adminSecurity!, [...regionAcls(ids[i]!, principals), ...regionAcls(replicating[i]!, principals)])));
}, 240_000);

afterAll(async () => {
  await Promise.all(regions.map((r) => r.stop()));
  await Promise.all(brokers.map((b) => b.destroy()));
  await Promise.all(dbs.map((db) => dropDatabase(db, infra.postgresUrl).catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

const client = (bootstrap: string, settings: Partial<KafkaConfig>): Kafka =>
  new Kafka({ clientId: 'kafka-security-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 3000, authenticationTimeout: 3000, ...settings });
const as = (region: string): Partial<KafkaConfig> => kafkaClientSecurity(security.ca.caFile, security.regions.get(region)!);

async function describeCluster(kafka: Kafka): Promise<unknown> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

describe('a SASL_SSL broker', () => {
  it('refuses plaintext, anonymous, wrong-password and untrusting clients, and answers a region principal', async () => {
    const us = brokers[1]!.bootstrap;
    await expect(describeCluster(client(us, {}))).rejects.toThrow();
    await expect(describeCluster(client(us, { ssl: { ca: [readFileSync(security.ca.caFile, 'utf8')] } }))).rejects.toThrow();
    await expect(describeCluster(client(us, { ...as('eu'), sasl: { mechanism: 'scram-sha-512', username: 'region-eu', password: 'not-the-password' } }))).rejects.toThrow(/SASL SCRAM SHA512 authentication failed/);
    await expect(describeCluster(client(us, { ...as('eu'), sasl: { mechanism: 'scram-sha-512', username: 'region-xx', password: 'whatever' } }))).rejects.toThrow(/authentication failed/);
    // TLS verified against the system's CAs, which never signed the deployment's broker certificates.
    await expect(describeCluster(client(us, { ssl: true, sasl: as('eu').sasl! }))).rejects.toThrow();
    expect(await describeCluster(client(us, as('eu')))).toMatchObject({ brokers: [{ port: brokers[1]!.brokerPort }] });
  });

  it('lets a region write only its own topic: eu cannot produce to us\'s, create one in us\'s name, or use us\'s groups', async () => {
    const [euKafka, usKafka] = brokers.map((b) => b.bootstrap) as [string, string];
    const usAdmin = client(usKafka, as('us')).admin();
    await usAdmin.connect();
    expect(await usAdmin.createTopics({ topics: [{ topic: 'meridian.us.updates', numPartitions: 1 }] })).toBe(true);
    await usAdmin.disconnect();
    const usProducer = client(usKafka, { ...as('us'), retry: { retries: 3 } }).producer({ idempotent: true, maxInFlightRequests: 1 });
    await usProducer.connect();
    await usProducer.send({ topic: 'meridian.us.updates', messages: [{ key: 'k', value: 'from us' }] });
    await usProducer.disconnect();

    const euOnUs = client(usKafka, as('eu')).producer();
    await euOnUs.connect();
    await expect(euOnUs.send({ topic: 'meridian.us.updates', messages: [{ value: 'forged by eu' }] })).rejects.toMatchObject({ type: 'TOPIC_AUTHORIZATION_FAILED' });
    await euOnUs.disconnect();
    const euAdmin = client(euKafka, as('eu')).admin();
    await euAdmin.connect();
    await expect(euAdmin.createTopics({ topics: [{ topic: 'meridian.us.updates', numPartitions: 1 }] })).rejects.toThrow();
    await euAdmin.disconnect();
    // eu may read us's topic, under its own groups only.
    // kafkajs reports the broker's refusal of FindCoordinator only in its debug log ("Failed to find group coordinator" is all it throws).
    const refusals: unknown[] = [];
    const logCreator = () => ({ log }: { log: { message: string; error?: { type?: string } } }) => {
      if (log.message === 'Tried to find group coordinator') refusals.push(log.error?.type);
    };
    const foreignGroup = client(usKafka, { ...as('eu'), logLevel: logLevel.DEBUG, logCreator }).consumer({ groupId: 'meridian.us.from.eu' });
    await foreignGroup.connect();
    await foreignGroup.subscribe({ topic: 'meridian.us.updates', fromBeginning: true });
    await expect(new Promise((resolve, reject) => {
      foreignGroup.on(foreignGroup.events.CRASH, ({ payload }) => reject(payload.error));
      void foreignGroup.run({ eachMessage: () => Promise.resolve(resolve('read')) }).catch(reject);
    })).rejects.toThrow(/Failed to find group coordinator/);
    expect(refusals).toContain('GROUP_AUTHORIZATION_FAILED');
    await foreignGroup.disconnect();
    // The first group of a cluster waits for its offsets topic to load: a read is tried again until then.
    const readOwn = async (): Promise<string> => {
      const ownGroup = client(usKafka, as('eu')).consumer({ groupId: 'meridian.eu.test' });
      try {
        await ownGroup.connect();
        await ownGroup.subscribe({ topic: 'meridian.us.updates', fromBeginning: true });
        return await new Promise<string>((resolve, reject) => {
          ownGroup.on(ownGroup.events.CRASH, ({ payload }) => reject(payload.error));
          void ownGroup.run({ eachMessage: ({ message }) => Promise.resolve(resolve(message.value!.toString())) }).catch(reject);
        });
      } catch (error) {
        return (error as Error).message;
      } finally {
        await ownGroup.disconnect();
      }
    };
    const read = await waitFor(readOwn, (v) => v === 'from us', { timeoutMs: 30_000, intervalMs: 500, what: 'eu reads us\'s topic under its own group' });
    expect(read).toBe('from us');
  });

  it('refuses a principal made after the format until addScramUsers adds it to the running broker, and records it', async () => {
    const eu = brokers[0]!;
    const late = ensureScramUser(join(dir, 'kafka-users'), regionPrincipal('late'));
    const asLate = client(eu.bootstrap, kafkaClientSecurity(security.ca.caFile, late));
    await expect(describeCluster(asLate)).rejects.toThrow(/authentication failed/);
    await addScramUsers({ name: 'sasl-eu', bootstrap: eu.bootstrap, dataDir: eu.dataDir, caFile: security.ca.caFile, admin: security.admin }, [late]);
    expect(await describeCluster(asLate)).toMatchObject({ brokers: [{ port: eu.brokerPort }] });
    // startKafkaBroker reads this list to know the metadata holds the user: a restart adds no one again.
    expect(readFileSync(join(eu.dataDir, 'scram-users'), 'utf8').split('\n')).toContain(late.username);
  });

  it('two regions replicate through exactly these ACLs, and their logs never hold a password', async () => {
    const urls = await Promise.all(dbs.map((db) => createDatabase(db, infra.postgresUrl)));
    const addresses = replicating.map((id, i) => ({ id, kafka: brokers[i]!.bootstrap, url: '' }));
    const started = await Promise.all(replicating.map((id, i) => startRegionProcess({
      region: id,
      databaseUrl: urls[i]!,
      auth: 'off',
      kafkaBrokers: brokers[i]!.bootstrap,
      kafkaSecurity: { caFile: security.ca.caFile, user: security.regions.get(id)! },
      peers: peerSettings(addresses, id).peers,
      logLevel: 'info',
      env: { MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '1' },
      readyTimeoutMs: 120_000,
    })));
    regions.push(...started);
    const [fr, jp] = started as [RegionProcess, RegionProcess];
    const put = (r: RegionProcess, path: string, body: unknown): Promise<Response> => fetch(`${r.url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await put(fr, '/v1/namespaces/secured', { policy: 'lww' })).status).toBe(201);
    expect((await put(fr, '/v1/ns/secured/keys/k', { value: 'from fr' })).status).toBe(200);
    const value = async (r: RegionProcess, key: string): Promise<unknown> => {
      const answer = await fetch(`${r.url}/v1/ns/secured/keys/${key}`);
      return answer.status === 200 ? ((await answer.json()) as { value: unknown }).value : answer.status;
    };
    await waitFor(() => value(jp, 'k'), (v) => v === 'from fr', { timeoutMs: 60_000, what: 'fr\'s write at jp' });
    expect((await put(jp, '/v1/ns/secured/keys/j', { value: 'from jp' })).status).toBe(200);
    await waitFor(() => value(fr, 'j'), (v) => v === 'from jp', { timeoutMs: 60_000, what: 'jp\'s write at fr' });
    for (const r of started) {
      const log = readFileSync(r.logFile, 'utf8');
      for (const user of security.regions.values()) expect(log).not.toContain(user.password);
      expect(log).not.toContain(security.admin.password);
    }
  });
});
