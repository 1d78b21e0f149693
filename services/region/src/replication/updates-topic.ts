/**
 * A region's updates topic (DESIGN §1): created once with a fixed partition count and the
 * configured replication factor, and checked at every start.
 *
 * The partition count of an existing topic never changes under Meridian: the relay publishes to
 * partitions by key, a declaration to every partition, and peers store offsets per partition; a
 * topic with fewer partitions than configured made every publish to a missing one fail and the
 * relay stall without a clear cause, and more would move keys between partitions. So a
 * mismatch refuses the start and says which count to configure. The replication factor of an
 * existing topic is Kafka's to change (partition reassignment); it is not checked.
 */
import type { Admin } from 'kafkajs';

export interface UpdatesTopicSpec {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
}

export class UpdatesTopicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpdatesTopicError';
  }
}

/** Creates the topic if it is missing; refuses an existing one with another partition count. */
export async function ensureUpdatesTopic(admin: Admin, spec: UpdatesTopicSpec): Promise<void> {
  let created: boolean;
  try {
    created = await admin.createTopics({ topics: [{ topic: spec.topic, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor }], waitForLeaders: true });
  } catch (error) {
    const causes = (error as { errors?: { type?: string; message?: string }[] }).errors ?? [];
    const invalid = causes.find((e) => e.type === 'INVALID_REPLICATION_FACTOR');
    if (invalid) {
      throw new UpdatesTopicError(`cannot create topic ${spec.topic} with replication factor ${spec.replicationFactor} (MERIDIAN_TOPIC_REPLICATION_FACTOR): ${invalid.message ?? 'Kafka refused it'}; the factor must not exceed the brokers of this region's Kafka`);
    }
    throw error;
  }
  if (created) return;
  const [existing] = (await admin.fetchTopicMetadata({ topics: [spec.topic] })).topics;
  const count = existing?.partitions.length ?? 0;
  if (count !== spec.partitions) {
    throw new UpdatesTopicError(
      `topic ${spec.topic} has ${count} partitions but MERIDIAN_TOPIC_PARTITIONS asks for ${spec.partitions}: the partition count of an existing updates topic cannot change (peers' offsets and the keys' partitions depend on it); set MERIDIAN_TOPIC_PARTITIONS=${count}`,
    );
  }
}
