import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { readTail } from './stream-tail.ts';

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
