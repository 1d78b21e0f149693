/**
 * The relay's updates topic against a real Kafka: created with the configured partition count
 * and replication factor; an existing topic whose partition count differs from the configured
 * one is refused at start with a message that says what to set (publishing to partitions the
 * topic lacks stalled the relay with no clear cause); a replication factor the cluster cannot
 * hold is refused naming the setting.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { HybridLogicalClock } from '@meridian/causality';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { updatesTopic } from '@meridian/protocol';
import { PgStore } from '@meridian/store';
import { uniqueName } from '@meridian/testkit';
import { OutboxRelay } from './outbox-relay.ts';
import { silentLogger } from './logger.ts';

const infra = inject('infra');
const dbName = uniqueName('updates_topic');
let store: PgStore;
let admin: Admin;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  store = await PgStore.open({ connectionString: await createDatabase(dbName, infra.postgresUrl), poolSize: 2 });
  admin = new Kafka({ clientId: 'updates-topic-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
}, 120_000);

afterAll(async () => {
  for (const r of relays) await r.stop();
  await admin?.disconnect();
  await store?.close();
  await dropDatabase(dbName, infra.postgresUrl);
});

function relay(region: string, partitions: number, replicationFactor?: number): OutboxRelay {
  const r = new OutboxRelay({ store, region, epoch: 1, brokers: [infra.kafka[0]], partitions, ...(replicationFactor !== undefined ? { replicationFactor } : {}), clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), log: silentLogger, pollMs: 50 });
  relays.push(r);
  return r;
}

const region = (): string => `topic${randomBytes(3).toString('hex')}`;

describe('the updates topic', () => {
  it('is created with the configured partitions and replication factor', async () => {
    const name = region();
    await relay(name, 3, 1).start();
    const [topic] = (await admin.fetchTopicMetadata({ topics: [updatesTopic(name)] })).topics;
    expect(topic!.partitions).toHaveLength(3);
    for (const p of topic!.partitions) expect(p.replicas).toHaveLength(1);
  });

  it('refuses a replication factor the cluster cannot hold, naming the setting', async () => {
    // The shared test cluster of a region is one broker.
    await expect(relay(region(), 2, 2).start()).rejects.toThrow(/replication factor 2.*MERIDIAN_TOPIC_REPLICATION_FACTOR/s);
  });

  it('refuses to start when the existing topic has another partition count, saying what to set', async () => {
    const name = region();
    await admin.createTopics({ topics: [{ topic: updatesTopic(name), numPartitions: 2 }], waitForLeaders: true });
    await expect(relay(name, 4).start()).rejects.toThrow(/has 2 partitions.*MERIDIAN_TOPIC_PARTITIONS.*4/s);
    await expect(relay(name, 1).start()).rejects.toThrow(/has 2 partitions.*MERIDIAN_TOPIC_PARTITIONS.*1/s);
    // The count it has is accepted.
    await relay(name, 2).start();
  });
});
