/**
 * The instrumentations against the real PostgreSQL and Kafka, in a service-shaped Node process
 * (`instrumented-service.fixture.ts`): telemetry started by the entry module, the app — with its
 * static imports of fastify, pg and kafkajs — imported afterwards. Proves the start-up order the
 * README prescribes gives pg, kafkajs, http and fastify spans, in the right traces.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import type {} from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { Observed } from './instrumented-app.fixture.ts';
import { SpanName } from './span-names.ts';

const infra = inject('infra');

interface FixtureSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly attributes: Record<string, unknown>;
}

let observed: Observed;
let spans: FixtureSpan[];

const traceIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[1];
const spanIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[2];

beforeAll(async () => {
  const topic = uniqueName('telemetry');
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ clientId: 'telemetry-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const entry = fileURLToPath(new URL('./instrumented-service.fixture.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=meridian-source', '--disable-warning=TimeoutNegativeWarning', entry, infra.kafka[0], infra.postgresUrl, topic], {
    env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    timeout: 60_000,
  });
  const lastLine = stdout.trim().split('\n').at(-1)!;
  ({ observed, spans } = JSON.parse(lastLine) as { observed: Observed; spans: FixtureSpan[] });
}, 90_000);

describe('instrumentations in a service started the README way', () => {
  it('traces an incoming request: the http server span named by the fastify route, with the write span inside', () => {
    const traceId = traceIdOf(observed.writeTraceparent);
    const inTrace = spans.filter((s) => s.traceId === traceId);
    const server = inTrace.find((s) => s.kind === SpanKind.SERVER);
    expect(server?.name, inTrace.map((s) => s.name).join(', ')).toBe('PUT /v1/ns/:ns/keys/:key');
    expect(server?.parentSpanId).toBeUndefined();
    expect(server?.attributes['http.route']).toBe('/v1/ns/:ns/keys/:key');
    expect(inTrace.some((s) => s.name === 'request' && s.parentSpanId === server?.spanId)).toBe(true);
    expect(inTrace.find((s) => s.name === SpanName.write)?.spanId).toBe(spanIdOf(observed.writeTraceparent));
  });

  it('traces pg queries inside a span, never the ones outside any span, and never their parameters', () => {
    const queries = spans.filter((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql');
    const queryNames = queries.map((s) => s.name).join(', ');
    expect(queries.filter((s) => s.name.startsWith('pg.query')).map((s) => s.parentSpanId), queryNames).toEqual([spanIdOf(observed.writeTraceparent)]);
    expect(queries.every((s) => s.kind === SpanKind.CLIENT || s.name.startsWith('pg.'))).toBe(true);
    expect(JSON.stringify(spans)).not.toContain('user data');
  });

  it('traces a kafkajs send under the relay span, carries traceparent in the message, and continues the trace in the consumer', () => {
    const relayTrace = traceIdOf(observed.relayTraceparent);
    const send = spans.find((s) => s.kind === SpanKind.PRODUCER);
    expect(send, spans.map((s) => s.name).join(', ')).toMatchObject({ traceId: relayTrace, parentSpanId: spanIdOf(observed.relayTraceparent) });
    expect(traceIdOf(observed.messageTraceparent)).toBe(relayTrace);
    expect(spanIdOf(observed.messageTraceparent)).toBe(send?.spanId);
    expect(traceIdOf(observed.consumerTraceparent)).toBe(relayTrace);
    expect(spans.some((s) => s.kind === SpanKind.CONSUMER && s.traceId === relayTrace)).toBe(true);
  });
});
