/**
 * The "application" of `instrumented-service.fixture.ts`: statically imports fastify, pg and
 * kafkajs, as a service's app module does, and exercises each once inside Meridian spans.
 */
import Fastify from 'fastify';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { SpanName } from './span-names.ts';
import { withSpan } from './spans.ts';
import { currentTraceparent } from './trace-context.ts';

export interface Observed {
  /** The write span's traceparent as the route answered it. */
  readonly writeTraceparent: string;
  readonly relayTraceparent: string;
  /** The `traceparent` header the consumer found on the message. */
  readonly messageTraceparent: string | undefined;
  /** The traceparent active while the consumer processed the message. */
  readonly consumerTraceparent: string | undefined;
}

export async function runApp(options: { kafka: string; postgresUrl: string; topic: string }): Promise<Observed> {
  const pool = new pg.Pool({ connectionString: options.postgresUrl, max: 1 });
  const app = Fastify();
  app.put<{ Params: { key: string } }>('/v1/ns/:ns/keys/:key', async () =>
    withSpan(SpanName.write, {}, async () => {
      await pool.query('SELECT $1::text AS value', ['user data']);
      return { traceparent: currentTraceparent() };
    }),
  );
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  let writeTraceparent: string;
  try {
    await pool.query('SELECT 1 AS outside_any_span');
    const response = await fetch(`${address}/v1/ns/carts/keys/k1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    writeTraceparent = ((await response.json()) as { traceparent: string }).traceparent;
  } finally {
    await app.close();
    await pool.end();
  }

  const kafka = new Kafka({ clientId: 'telemetry-fixture', brokers: [options.kafka], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const relayTraceparent = await withSpan(SpanName.relayPublish, {}, async () => {
    await producer.send({ topic: options.topic, messages: [{ key: 'carts/k1', value: 'envelope' }] });
    return currentTraceparent()!;
  });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${options.topic}-group` });
  await consumer.connect();
  const seen = await new Promise<{ message: string | undefined; active: string | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${options.topic} within 30 s`)), 30_000);
    consumer
      .subscribe({ topic: options.topic, fromBeginning: true })
      .then(() =>
        consumer.run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer);
            resolve({ message: message.headers?.['traceparent']?.toString(), active: currentTraceparent() });
            await Promise.resolve();
          },
        }),
      )
      .catch(reject);
  });
  await consumer.disconnect();
  return { writeTraceparent, relayTraceparent, messageTraceparent: seen.message, consumerTraceparent: seen.active };
}
