/**
 * What the world holds of a region's own stream, read at start (incarnation.ts decides what it
 * means): the tail of the region's own topic (the highest sequence and outbox id of each of its
 * actors there, and its own last heartbeat's high-water) and each peer's latest heartbeat (what
 * that peer has applied of each of this region's actors).
 *
 * kafkajs has no way to read a partition without a consumer group: a throwaway group (a unique
 * id, deleted afterwards) is assigned every partition, seeks to the last records of each and
 * reads up to the high-water mark taken before it joined. A peer whose Kafka cannot be reached
 * in time is reported as not read; the region's own Kafka must answer (the relay needs it too).
 *
 * The end of a partition is its high watermark, and the tail is read read_uncommitted: while
 * another producer holds a transaction open on a partition, its last stable offset stops where
 * the transaction began, and the relay's records and the peer's heartbeats appended since lie
 * beyond it. A tail read up to it would miss them — a region restored from a copy could then
 * judge itself not behind its own past and reuse sequences its peers have applied. Records of
 * other producers (open or aborted transactions) carry none of the relay's headers and no
 * heartbeat of the region: they are skipped as before.
 */
import { randomUUID } from 'node:crypto';
import { logLevel, type Kafka, type KafkaMessage } from 'kafkajs';
import { consumerGroupPrefix, decodeRecord, updatesTopic } from '@meridian/protocol';
import { createKafka, type KafkaClientSecurity } from './kafka-client.ts';
import type { StreamEvidence } from './incarnation.ts';
import type { Logger } from './logger.ts';

const ACTOR = /^([a-z][a-z0-9-]{0,31})\.([1-9][0-9]{0,9})$/;

/**
 * The last `perPartition` records of each of `partitions` (all when undefined) up to its high
 * watermark, read within `timeoutMs`. `kafka`'s admins must answer high watermarks
 * (`createKafka(…, { highWatermarks: true })`), not last stable offsets.
 */
export async function readTail(kafka: Kafka, reader: string, topic: string, perPartition: number, timeoutMs: number, partitions?: readonly number[]): Promise<KafkaMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ranges: { partition: number; from: bigint; high: bigint }[];
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return [];
    ranges = (await admin.fetchTopicOffsets(topic))
      .filter((o) => partitions === undefined || partitions.includes(o.partition))
      .map((o) => {
        const [low, high] = [BigInt(o.low), BigInt(o.high)];
        const from = high - BigInt(perPartition);
        return { partition: o.partition, from: from > low ? from : low, high };
      })
      .filter((r) => r.high > r.from);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  if (ranges.length === 0) return [];
  // Under the reader's own group prefix, which its Kafka principal may use (docs/security.md).
  const groupId = `${consumerGroupPrefix(reader)}tail.${randomUUID()}`;
  // read_uncommitted: the records beyond an open transaction's start are fetched (up to the high watermark).
  const consumer = kafka.consumer({ groupId, readUncommitted: true, maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 1000, retry: { retries: 2 } });
  const out: KafkaMessage[] = [];
  const waiting = new Set(ranges.map((r) => r.partition));
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`reading the tail of ${topic} took more than ${timeoutMs} ms`)), timeoutMs);
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      void consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const range = ranges.find((r) => r.partition === batch.partition);
            if (!range) return;
            for (const m of batch.messages) {
              const offset = BigInt(m.offset);
              if (offset >= range.from && offset < range.high) out.push(m);
              if (offset >= range.high - 1n) waiting.delete(batch.partition);
            }
            if (waiting.size === 0) resolve();
            await Promise.resolve();
          },
        })
        .then(() => {
          for (const r of ranges) consumer.seek({ topic, partition: r.partition, offset: r.from.toString() });
        })
        // `seek` throws when the runner already crashed and dropped its group (a fresh broker's
        // coordinator not ready): a failed read, never an unhandled rejection that ends the process.
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    const admin2 = kafka.admin();
    await admin2.connect().then(() => admin2.deleteGroups([groupId])).catch(() => undefined);
    await admin2.disconnect().catch(() => undefined);
  }
  return out;
}

const header = (m: KafkaMessage, name: string): string | undefined => m.headers?.[name]?.toString();

/** The highest sequence and outbox id of each of `region`'s actors in these records of its topic (relay headers, heartbeats). */
export function ownTopicEvidence(region: string, messages: readonly KafkaMessage[]): StreamEvidence[] {
  const source = `its topic ${updatesTopic(region)}`;
  const byEpoch = new Map<number, { sequence: bigint; outboxId: bigint | undefined }>();
  const see = (epoch: number, sequence: bigint, outboxId: bigint | undefined): void => {
    const e = byEpoch.get(epoch) ?? { sequence: 0n, outboxId: undefined };
    if (sequence > e.sequence) e.sequence = sequence;
    if (outboxId !== undefined && (e.outboxId === undefined || outboxId > e.outboxId)) e.outboxId = outboxId;
    byEpoch.set(epoch, e);
  };
  for (const m of messages) {
    const origin = header(m, 'meridian-origin');
    const sequence = header(m, 'meridian-sequence');
    const outboxId = header(m, 'meridian-outbox-id');
    const actor = origin === undefined ? undefined : ACTOR.exec(origin);
    if (actor && actor[1] === region && sequence && /^\d+$/.test(sequence)) {
      see(Number(actor[2]), BigInt(sequence), outboxId && /^\d+$/.test(outboxId) ? BigInt(outboxId) : undefined);
      continue;
    }
    if (m.key?.toString() !== '~heartbeat' || !m.value) continue;
    try {
      const record = decodeRecord(m.value);
      if (record.kind === 'heartbeat' && record.origin.region === region) see(record.origin.epoch, record.highWaterSequence, undefined);
    } catch {
      // Not ours to judge here: the peers' replicators dead-letter what they cannot read.
    }
  }
  return [...byEpoch].map(([epoch, e]) => ({ source, epoch, sequence: e.sequence, outboxId: e.outboxId }));
}

/**
 * What the latest of a peer's heartbeats among these records says it has applied of `region`'s
 * actors. Only the peer's own: another region's heartbeat on its topic (misrouted, or another
 * producer) with a later wall clock would otherwise hide what the peer says.
 */
export function peerHeartbeatEvidence(region: string, peer: string, messages: readonly KafkaMessage[]): StreamEvidence[] {
  let latest: { wallMs: number; applied: ReadonlyMap<string, bigint> } | undefined;
  for (const m of messages) {
    if (m.key?.toString() !== '~heartbeat' || !m.value) continue;
    try {
      const record = decodeRecord(m.value);
      if (record.kind === 'heartbeat' && record.origin.region === peer && (!latest || record.originWallMs >= latest.wallMs)) latest = { wallMs: record.originWallMs, applied: record.applied };
    } catch {
      // An unreadable heartbeat says nothing.
    }
  }
  if (!latest) return [];
  const out: StreamEvidence[] = [];
  for (const [origin, sequence] of latest.applied) {
    const actor = ACTOR.exec(origin);
    if (actor && actor[1] === region) out.push({ source: `${peer}'s heartbeat`, epoch: Number(actor[2]), sequence });
  }
  return out;
}

export interface StreamCheckOptions {
  readonly region: string;
  readonly brokers: readonly string[];
  /** TLS and SASL for every Kafka this region connects to (kafka-client.ts); absent: plaintext. */
  readonly kafkaSecurity?: KafkaClientSecurity | undefined;
  readonly peers: ReadonlyMap<string, readonly string[]>;
  readonly log: Logger;
  /** Records read from the end of each partition of the region's own topic (default 200). */
  readonly tail?: number;
  readonly timeoutMs?: number;
}

/** Everything the region's own topic and its reachable peers' latest heartbeats hold of its stream. */
export async function streamEvidence(o: StreamCheckOptions): Promise<StreamEvidence[]> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const kafkaOf = (brokers: readonly string[], what: string): Kafka => createKafka({ clientId: `meridian-${o.region}-${what}`, brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 }, connectionTimeout: 3000, ...o.kafkaSecurity }, { highWatermarks: true });
  const topic = updatesTopic(o.region);
  const ownRead = readTail(kafkaOf(o.brokers, 'incarnation'), o.region, topic, o.tail ?? 200, timeoutMs).catch((error: unknown) => {
    throw new Error(`cannot check region ${o.region}'s incarnation: its own Kafka (${o.brokers.join(',')}) did not answer for topic ${topic} (${(error as Error).message}); start it once its Kafka is reachable — a region never starts without knowing it is not behind its own stream`);
  });
  const peerReads = [...o.peers].map(async ([peer, brokers]) => {
    try {
      // Heartbeats go to partition 0, one a second: its last records hold the latest.
      return peerHeartbeatEvidence(o.region, peer, await readTail(kafkaOf(brokers, `incarnation-${peer}`), o.region, updatesTopic(peer), 50, timeoutMs, [0]));
    } catch (error) {
      o.log.warn({ err: error, peer }, 'incarnation check: could not read the peer\'s heartbeats; going by the rest');
      return [];
    }
  });
  const [own, ...peers] = await Promise.all([ownRead.then((messages) => ownTopicEvidence(o.region, messages)), ...peerReads]);
  return [...own, ...peers.flat()];
}
