/**
 * A consumer whose connection is cut in the middle of a fetch response keeps consuming once it
 * has connected again. Without the sockets of `kafka-client.ts`, kafkajs 2.2.4 keeps the half
 * response and frames every later response on that connection wrongly: each fetch times out
 * and the consumer stops without an error (a peer region's updates stop arriving).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer, type ISocketFactory } from 'kafkajs';
import { FaultProxy, uniqueName, waitFor } from '@meridian/testkit';
import { createKafka, plainSockets, wholeResponseSockets } from './kafka-client.ts';

const infra = inject('infra');
const topic = `kafka-client-${randomBytes(3).toString('hex')}`;
/** Large enough that its fetch response arrives in several chunks; every other response is far smaller. */
const BIG = 256 * 1024;
let proxy: FaultProxy;
const direct = createKafka({ clientId: 'kafka-client-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });

beforeAll(async () => {
  proxy = await FaultProxy.start({ target: infra.kafka[0] });
  const admin = direct.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
}, 60_000);

afterAll(async () => {
  await proxy?.close();
});

async function produce(values: readonly string[]): Promise<void> {
  const producer = direct.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: values.map((v, i) => ({ key: `${i}`, value: `${v}:${'x'.repeat(BIG)}` })) });
  await producer.disconnect();
}

describe('a Kafka connection cut in the middle of a response', () => {
  it('leaves the consumer consuming once it has connected again', async () => {
    // Every connection (the bootstrap one and the broker's advertised address) goes through the proxy.
    const viaProxy: ISocketFactory = (args) => plainSockets({ ...args, host: '127.0.0.1', port: proxy.port });
    const kafka = new Kafka({ clientId: 'kafka-client-cut', brokers: [proxy.address], logLevel: logLevel.NOTHING, socketFactory: wholeResponseSockets(viaProxy), retry: { retries: 10, initialRetryTime: 100 } });
    const consumer: Consumer = kafka.consumer({ groupId: uniqueName('cut'), maxWaitTimeInMs: 100 });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        seen.push(message.value!.toString().split(':')[0]!);
        return Promise.resolve();
      },
    });
    try {
      await produce(['first']);
      await waitFor(() => seen.length, (n) => n === 1, { timeoutMs: 30_000, what: 'the first message' });
      const connections = proxy.connections;
      // The next fetch response that carries a large message is cut halfway, then reset.
      proxy.resetMidChunk(16 * 1024);
      await produce(['second']);
      await waitFor(() => proxy.cuts, (n) => n === 1, { timeoutMs: 10_000, what: 'the cut' });
      await produce(['third']);
      // Well below kafkajs's request timeout (30 s): a wedged connection never answers within it.
      await waitFor(() => seen, (s) => s.includes('third'), { timeoutMs: 15_000, what: 'the messages after the cut' });
      expect(seen).toEqual(['first', 'second', 'third']);
      expect(proxy.connections).toBeGreaterThan(connections); // it really connected again
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);
});
