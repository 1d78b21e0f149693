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

/** How long a new topic's partitions may take to get leaders. */
const LEADERS_TIMEOUT_MS = 30_000;

/** Errors a broker answers while a new topic's metadata is still reaching it. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Creates the topic if it is missing, then waits until every partition has a leader; refuses an
 * existing one with another partition count.
 */
export async function ensureUpdatesTopic(admin: Admin, spec: UpdatesTopicSpec, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<void> {
  let created: boolean;
  try {
    // kafkajs's own wait (waitForLeaders) gives up on UNKNOWN_TOPIC_OR_PARTITION, which a broker
    // answers until the new topic's metadata reaches it: a region failed to start that way.
    created = await admin.createTopics({ topics: [{ topic: spec.topic, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor }], waitForLeaders: false });
  } catch (error) {
    const causes = (error as { errors?: { type?: string; message?: string }[] }).errors ?? [];
    const invalid = causes.find((e) => e.type === 'INVALID_REPLICATION_FACTOR');
    if (invalid) {
      throw new UpdatesTopicError(`cannot create topic ${spec.topic} with replication factor ${spec.replicationFactor} (MERIDIAN_TOPIC_REPLICATION_FACTOR): ${invalid.message ?? 'Kafka refused it'}; the factor must not exceed the brokers of this region's Kafka`);
    }
    throw error;
  }
  if (created) return waitForLeaders(admin, spec, sleep);
  const [existing] = (await admin.fetchTopicMetadata({ topics: [spec.topic] })).topics;
  const count = existing?.partitions.length ?? 0;
  if (count !== spec.partitions) {
    throw new UpdatesTopicError(
      `topic ${spec.topic} has ${count} partitions but MERIDIAN_TOPIC_PARTITIONS asks for ${spec.partitions}: the partition count of an existing updates topic cannot change (peers' offsets and the keys' partitions depend on it); set MERIDIAN_TOPIC_PARTITIONS=${count}`,
    );
  }
}

async function waitForLeaders(admin: Admin, spec: UpdatesTopicSpec, sleep: (ms: number) => Promise<void>): Promise<void> {
  let last = 'no answer yet';
  for (let waited = 0; waited < LEADERS_TIMEOUT_MS; waited += 100) {
    try {
      const [topic] = (await admin.fetchTopicMetadata({ topics: [spec.topic] })).topics;
      const partitions = topic?.partitions ?? [];
      if (partitions.length === spec.partitions && partitions.every((p) => p.leader >= 0)) return;
      last = `${partitions.filter((p) => p.leader >= 0).length} of ${spec.partitions} partitions have a leader`;
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type === undefined || !NOT_YET.has(type)) throw error;
      last = type;
    }
    await sleep(100);
  }
  throw new UpdatesTopicError(`topic ${spec.topic} was created but its partitions have no leaders after ${LEADERS_TIMEOUT_MS / 1000} s (${last})`);
}
