/**
 * Proves the broker is real and that kafkajs 2.2.4 speaks to Kafka 4.x for everything Meridian
 * uses: topic administration, idempotent produce with acks=all, transactional produce (relay
 * fencing), consumer-group consume with auto-commit off, offset commit/fetch and seek. Also
 * stop/restart of a broker on the same data (the broker-outage scenarios rely on it).
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { uniqueName, waitFor } from '@meridian/testkit';
import { startKafkaBroker } from './kafka.ts';

const infra = inject('infra');

function client(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'smoke', brokers, logLevel: logLevel.NOTHING });
}

async function consumeAll(consumer: Consumer, topic: string, count: number): Promise<{ key: string; value: string; partition: number; offset: string }[]> {
  const got: { key: string; value: string; partition: number; offset: string }[] = [];
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message, partition }) => {
      got.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', partition, offset: message.offset });
      await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
    },
  });
  await waitFor(() => got.length, (n) => n >= count, { timeoutMs: 30_000, what: `${count} messages on ${topic}` });
  return got;
}

describe('Kafka broker (real, KRaft) with kafkajs', () => {
  const kafka = client([infra.kafka[0]]);
  const admin = kafka.admin();

  afterAll(async () => {
    await admin.disconnect();
  });

  it('creates topics, produces idempotently, consumes in a group, and commits and fetches offsets', async () => {
    const topic = uniqueName('smoke');
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
    expect((await admin.listTopics()).includes(topic)).toBe(true);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` }));
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();

    const groupId = uniqueName('group');
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    const got = await consumeAll(consumer, topic, 20);
    await consumer.disconnect();
    expect(got.map((m) => m.value).sort()).toEqual(messages.map((m) => m.value).sort());
    // One key always lands on one partition.
    for (const key of ['k0', 'k1']) expect(new Set(got.filter((m) => m.key === key).map((m) => m.partition)).size).toBe(1);

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const sum = committed[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    expect(sum).toBe(20);
  });

  it('seeks a fresh consumer to an explicit offset', async () => {
    const topic = uniqueName('seek');
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueName('seekgroup') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: string[] = [];
    consumer.on(consumer.events.GROUP_JOIN, () => consumer.seek({ topic, partition: 0, offset: '7' }));
    await consumer.run({ autoCommit: false, eachMessage: ({ message }) => {
        got.push(message.value!.toString());
        return Promise.resolve();
      },
    });
    await waitFor(() => got.length, (n) => n >= 3, { timeoutMs: 30_000, what: 'messages after the seek' });
    await consumer.disconnect();
    expect(got.slice(0, 3)).toEqual(['m7', 'm8', 'm9']);
  });

  it('fences an older transactional producer with the same transactional id', async () => {
    const topic = uniqueName('txn');
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const transactionalId = uniqueName('relay');
    const old = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    await old.connect();
    const t1 = await old.transaction();
    await t1.send({ topic, messages: [{ value: 'from-old' }] });
    await t1.commit();

    const fresh = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    await fresh.connect(); // bumps the producer epoch: `old` is now fenced
    const t2 = await fresh.transaction();
    await t2.send({ topic, messages: [{ value: 'from-new' }] });
    await t2.commit();

    // The fenced producer fails at the latest when it tries to commit.
    const fenced = await (async () => {
      const t3 = await old.transaction();
      await t3.send({ topic, messages: [{ value: 'zombie' }] });
      await t3.commit();
      return 'committed';
    })().catch((e: unknown) => e);
    expect(fenced).toBeInstanceOf(Error);
    await Promise.all([old.disconnect(), fresh.disconnect()]);

    const consumer = kafka.consumer({ groupId: uniqueName('txnread'), readUncommitted: false });
    await consumer.connect();
    const got = await consumeAll(consumer, topic, 2);
    await consumer.disconnect();
    expect(got.map((m) => m.value)).toEqual(['from-old', 'from-new']);
  });
});

describe('a broker of its own', () => {
  it('stops and restarts on the same data and ports, keeping its messages', async () => {
    const broker = await startKafkaBroker({ name: 'restart-smoke', heapMb: 256 });
    try {
      const kafka = client([broker.bootstrap]);
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'keep', numPartitions: 1 }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'keep', acks: -1, messages: [{ value: 'before-restart' }] });
      await producer.disconnect();

      await broker.stop();
      expect(broker.running).toBe(false);
      await broker.restart();
      expect(broker.running).toBe(true);

      const consumer = kafka.consumer({ groupId: 'after-restart' });
      await consumer.connect();
      const got = await consumeAll(consumer, 'keep', 1);
      await consumer.disconnect();
      expect(got[0]?.value).toBe('before-restart');
    } finally {
      await broker.destroy();
    }
    expect(broker.running).toBe(false);
  });
});
