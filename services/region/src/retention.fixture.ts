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
