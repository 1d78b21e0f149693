/**
 * Test fixture: what Kafka retention does to a topic, on demand — so that tests of lost offsets
 * and reseeds need not wait for it.
 */
import { Kafka, logLevel } from 'kafkajs';

/** Deletes every record of `topic` that Kafka holds now, as retention would. */
export async function deleteAllRecords(brokers: string, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'retention', brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.deleteTopicRecords({ topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
  } finally {
    await admin.disconnect();
  }
}

/** Deletes `topic` and creates it again with `partitions` partitions: every offset starts again at 0 (a recreated topic). */
export async function recreateTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'recreate', brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
    for (let i = 0; (await admin.listTopics()).includes(topic); i++) {
      if (i > 300) throw new Error(`${topic} was not deleted`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; ; i++) {
      const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true }).catch(() => false);
      if (created) return;
      if (i > 300) throw new Error(`${topic} was not created again`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Each partition's end offset (`high`) of `topic`. */
export async function endOffsets(brokers: string, topic: string): Promise<Map<number, bigint>> {
  const admin = new Kafka({ clientId: 'ends', brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}
