/**
 * The start-up check's reading of a topic's tail (stream-tail.ts) against real Kafka: the end of a
 * partition is its high watermark, not its last stable offset. While another producer holds a
 * transaction open on a partition, the records appended after the transaction began — the relay's
 * last records, a peer's latest heartbeats — lie beyond the last stable offset; a tail read up to
 * it misses them, and a region restored from a copy could judge itself not behind its own past
 * (and reuse sequences its peers have applied).
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { encodeRecord, updatesTopic } from '@meridian/protocol';
import { streamEvidence } from './stream-tail.ts';
import { silentLogger } from './logger.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [SELF, PEER] = [`st${suffix}`, `sp${suffix}`];
const kafka = new Kafka({ clientId: 'stream-tail-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
const open: Producer[] = [];

afterAll(async () => {
  await Promise.all(open.map((p) => p.disconnect().catch(() => undefined)));
});

/** A relay's record of `actor`'s sequence (its headers are what the check reads). */
const relayed = (actor: string, sequence: number) => ({ key: 'ns/k', value: 'relayed', partition: 0, headers: { 'meridian-origin': actor, 'meridian-sequence': String(sequence), 'meridian-outbox-id': String(sequence) } });
const heartbeat = (region: string, applied: [string, bigint][]) => ({
  key: '~heartbeat',
  value: Buffer.from(encodeRecord({ kind: 'heartbeat', schemaVersion: 1, origin: { region, epoch: 1 }, originWallMs: Date.now(), highWaterSequence: 1n, applied: new Map(applied), hlc: 1n << 16n })),
  partition: 0,
});

/** Opens a transaction of another producer on partition 0 of `topic` and leaves it open. */
async function holdTransactionOpen(topic: string): Promise<void> {
  const producer = kafka.producer({ transactionalId: `foreign-${topic}`, idempotent: true, maxInFlightRequests: 1 });
  open.push(producer);
  await producer.connect();
  const transaction = await producer.transaction();
  await transaction.send({ topic, messages: [{ key: 'foreign', value: 'not meridian', partition: 0 }] });
}

describe('reading the tail of a topic with another producer\'s transaction open', () => {
  it('reads up to the high watermark: the region\'s last records and the peer\'s latest heartbeat behind the transaction count', async () => {
    const [own, peers] = [updatesTopic(SELF), updatesTopic(PEER)];
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [own, peers].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })), waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    open.push(producer);
    await producer.connect();
    await producer.send({ topic: own, messages: [relayed(`${SELF}.1`, 1)] });
    await producer.send({ topic: peers, messages: [heartbeat(PEER, [[`${SELF}.1`, 1n]])] });
    await holdTransactionOpen(own);
    await holdTransactionOpen(peers);
    // Appended after the open transactions began: beyond each partition's last stable offset.
    await producer.send({ topic: own, messages: [relayed(`${SELF}.1`, 2), relayed(`${SELF}.1`, 3)] });
    await producer.send({ topic: peers, messages: [heartbeat(PEER, [[`${SELF}.1`, 5n]])] });

    const evidence = await streamEvidence({ region: SELF, brokers: [infra.kafka[0]], peers: new Map([[PEER, [infra.kafka[0]]]]), log: silentLogger, timeoutMs: 20_000 });
    expect(evidence).toEqual(
      expect.arrayContaining([
        { source: `its topic ${own}`, epoch: 1, sequence: 3n, outboxId: 3n },
        { source: `${PEER}'s heartbeat`, epoch: 1, sequence: 5n },
      ]),
    );
    expect(evidence).toHaveLength(2);
  }, 60_000);
});
