/**
 * A new updates topic is waited for until every partition has a leader, through the answers a
 * broker gives while the topic's metadata is still reaching it. kafkajs's own wait gave up on
 * UNKNOWN_TOPIC_OR_PARTITION, and a region failed to start (seen in CI against SASL_SSL brokers);
 * this replays that answer against a scripted admin.
 */
import { describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { ensureUpdatesTopic, UpdatesTopicError } from './updates-topic.ts';

const spec = { topic: 'meridian.eu.updates', partitions: 2, replicationFactor: 1 };
const brokerError = (type: string): Error => Object.assign(new Error(type), { type, retriable: true });
type Metadata = Awaited<ReturnType<Admin['fetchTopicMetadata']>>;
const withLeaders = (...leaders: number[]): Metadata => ({ topics: [{ name: spec.topic, partitions: leaders.map((leader, partitionId) => ({ partitionId, leader, replicas: [1], isr: [1], offlineReplicas: [], partitionErrorCode: 0 })) }] });

/** An admin that creates the topic and then answers metadata requests from `answers`, in order. */
function scriptedAdmin(answers: readonly (Metadata | Error)[]): { admin: Admin; asked: () => number; waitedForLeaders: () => boolean | undefined } {
  let asked = 0;
  let waitForLeaders: boolean | undefined;
  const admin = {
    createTopics: (options: { waitForLeaders?: boolean }) => {
      waitForLeaders = options.waitForLeaders;
      return Promise.resolve(true);
    },
    fetchTopicMetadata: () => {
      const answer = answers[Math.min(asked++, answers.length - 1)]!;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  } as unknown as Admin;
  return { admin, asked: () => asked, waitedForLeaders: () => waitForLeaders };
}

const noSleep = (): Promise<void> => Promise.resolve();

describe('ensureUpdatesTopic on a new topic', () => {
  it('waits through UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE and leaderless partitions until every partition has a leader', async () => {
    const broker = scriptedAdmin([brokerError('UNKNOWN_TOPIC_OR_PARTITION'), brokerError('LEADER_NOT_AVAILABLE'), withLeaders(1, -1), withLeaders(1, 1)]);
    await ensureUpdatesTopic(broker.admin, spec, noSleep);
    expect(broker.asked()).toBe(4);
    expect(broker.waitedForLeaders()).toBe(false);
  });

  it('fails on any other error, and after its deadline says what it last saw', async () => {
    await expect(ensureUpdatesTopic(scriptedAdmin([brokerError('TOPIC_AUTHORIZATION_FAILED')]).admin, spec, noSleep)).rejects.toThrow('TOPIC_AUTHORIZATION_FAILED');
    await expect(ensureUpdatesTopic(scriptedAdmin([withLeaders(1, -1)]).admin, spec, noSleep)).rejects.toThrow(UpdatesTopicError);
    await expect(ensureUpdatesTopic(scriptedAdmin([brokerError('UNKNOWN_TOPIC_OR_PARTITION')]).admin, spec, noSleep)).rejects.toThrow(/no leaders after 30 s \(UNKNOWN_TOPIC_OR_PARTITION\)/);
  });
});
