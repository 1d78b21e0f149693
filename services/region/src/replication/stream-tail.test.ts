import type { Kafka, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { encodeRecord } from '@meridian/protocol';
import { peerHeartbeatEvidence, readTail } from './stream-tail.ts';

/**
 * A Kafka whose topic has records but whose throwaway consumer loses its group between `run`
 * and `seek` (its runner crashed: a fresh broker's group coordinator not ready yet), as kafkajs
 * does: `seek` then throws synchronously.
 */
function kafkaLosingItsGroup(): Kafka {
  const admin = {
    connect: () => Promise.resolve(undefined),
    disconnect: () => Promise.resolve(undefined),
    listTopics: () => Promise.resolve(['a-updates']),
    fetchTopicOffsets: () => Promise.resolve([{ partition: 0, offset: '10', high: '10', low: '0' }]),
    deleteGroups: () => Promise.resolve(undefined),
  };
  const consumer = {
    connect: () => Promise.resolve(undefined),
    disconnect: () => Promise.resolve(undefined),
    subscribe: () => Promise.resolve(undefined),
    on: () => () => undefined,
    events: { CRASH: 'consumer.crash' },
    run: () => Promise.resolve(undefined),
    seek: () => {
      throw new Error('Consumer group was not initialized, consumer#run must be called first');
    },
  };
  return { admin: () => admin, consumer: () => consumer } as unknown as Kafka;
}

describe('reading the tail of a topic', () => {
  it('fails with the consumer\'s error, not an unhandled rejection, when seeking throws', async () => {
    await expect(readTail(kafkaLosingItsGroup(), 'a', 'a-updates', 5, 5000)).rejects.toThrow(/Consumer group was not initialized/);
  });
});

describe('a peer\'s heartbeats as evidence of what it applied of this region', () => {
  const beat = (region: string, wallMs: number, applied: [string, bigint][]): KafkaMessage => ({
    key: Buffer.from('~heartbeat'),
    value: Buffer.from(encodeRecord({ kind: 'heartbeat', schemaVersion: 1, origin: { region, epoch: 1 }, originWallMs: wallMs, highWaterSequence: 1n, applied: new Map(applied), hlc: 1n << 16n })),
    timestamp: '0',
    attributes: 0,
    offset: '0',
    headers: {},
  });

  it('reads the peer\'s own latest heartbeat only: another region\'s on its topic, however late, says nothing of it', () => {
    const messages = [beat('us', 1_000, [['eu.1', 40n]]), beat('zz', 9_000, [['eu.1', 3n]])];
    expect(peerHeartbeatEvidence('eu', 'us', messages)).toEqual([{ source: 'us\'s heartbeat', epoch: 1, sequence: 40n }]);
  });
});
