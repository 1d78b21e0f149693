import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loggerOptions, requestLoggerFactory } from './logger-options.ts';
import { SpanAttribute, SpanName } from './span-names.ts';
import { withSpan } from './spans.ts';
import { startTelemetry, type Telemetry } from './start-telemetry.ts';
import { currentTraceparent } from './trace-context.ts';

const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_PARENT = '00f067aa0ba902b7';

let telemetry: Telemetry;
let app: FastifyInstance;
let lines: Record<string, unknown>[];

beforeEach(async () => {
  // Telemetry first, the app after: @fastify/otel attaches to each fastify instance as it is created.
  telemetry = startTelemetry({ serviceName: 'meridian-region', region: 'eu', traces: { exporter: 'memory' } });
  lines = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  app = Fastify({ logger: { ...loggerOptions({ level: 'info', serviceName: 'meridian-region', region: 'eu' }), stream }, childLoggerFactory: requestLoggerFactory });
  app.put<{ Params: { ns: string; key: string } }>('/v1/ns/:ns/keys/:key', async (request) =>
    withSpan(SpanName.write, { [SpanAttribute.namespace]: request.params.ns, [SpanAttribute.key]: request.params.key }, async () => {
      request.log.info(
        { headers: { authorization: 'Bearer s3cret', accept: 'application/json' }, config: { databaseUrl: 'postgres://meridian:hunter2@db.internal:5432/eu', password: 'pw' } },
        'writing',
      );
      await Promise.resolve();
      return { traceparent: currentTraceparent() };
    }),
  );
  app.get('/child', (request) => {
    request.log.child({ step: 'inner' }).info('from a child');
    // The request's logger holds no pino bindings (requestLoggerFactory): reqId is the mixin's.
    return { bindings: (request.log as unknown as { bindings(): Record<string, unknown> }).bindings() };
  });
  app.get('/health/live', () => ({ ok: true }));
  app.get('/metrics', async (_request, reply) => reply.type(telemetry.metricsContentType).send(await telemetry.metricsText()));
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await telemetry.shutdown();
});

describe('fastify 5 with @meridian/telemetry', () => {
  it('traces a request (continuing the caller’s W3C trace) with the handler’s span inside it', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/ns/carts/keys/k1',
      headers: { traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01` },
      payload: { value: 1 },
    });
    expect(response.statusCode).toBe(200);
    const spans = telemetry.memoryExporter!.getFinishedSpans();
    const write = spans.find((s) => s.name === SpanName.write)!;
    const request = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(request, `server span among ${spans.map((s) => s.name).join(', ')}`).toBeDefined();
    expect(request.attributes['http.route']).toBe('/v1/ns/:ns/keys/:key');
    expect(request.spanContext().traceId).toBe(INCOMING_TRACE);
    expect(request.parentSpanContext?.spanId).toBe(INCOMING_PARENT);
    expect(write.spanContext().traceId).toBe(INCOMING_TRACE);
    expect(write.attributes).toMatchObject({ 'meridian.namespace': 'carts', 'meridian.key': 'k1' });
    // The handler's span chain leads from the write span up to the request span.
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    let up = write;
    while (up.parentSpanContext && byId.has(up.parentSpanContext.spanId)) up = byId.get(up.parentSpanContext.spanId)!;
    expect(up).toBe(request);
    // What the route stores with the version is the write span's own traceparent.
    expect(response.json<{ traceparent: string }>().traceparent).toBe(`00-${INCOMING_TRACE}-${write.spanContext().spanId}-01`);
  });

  it('puts the trace and span ids on log lines written inside a span, and none outside', async () => {
    await app.inject({ method: 'PUT', url: '/v1/ns/carts/keys/k1', headers: { traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01` }, payload: {} });
    const write = telemetry.memoryExporter!.getFinishedSpans().find((s) => s.name === SpanName.write)!;
    const line = lines.find((l) => l['msg'] === 'writing')!;
    expect(line).toMatchObject({ trace_id: INCOMING_TRACE, span_id: write.spanContext().spanId, trace_flags: '01', service: 'meridian-region', region: 'eu', level: 30 });
    app.log.info('outside');
    expect(lines.find((l) => l['msg'] === 'outside')).not.toHaveProperty('trace_id');
  });

  it('writes the request id on a request’s lines and on its child loggers’, and none on the app’s', async () => {
    await app.inject({ method: 'PUT', url: '/v1/ns/carts/keys/k1', payload: {} });
    const answer = await app.inject({ method: 'GET', url: '/child' });
    expect(answer.json<{ bindings: Record<string, unknown> }>().bindings).not.toHaveProperty('reqId');
    const writing = lines.find((l) => l['msg'] === 'writing')!;
    const child = lines.find((l) => l['msg'] === 'from a child')!;
    expect(writing['reqId']).toMatch(/^req-/);
    expect(child).toMatchObject({ step: 'inner', reqId: expect.stringMatching(/^req-/) as unknown });
    expect(child['reqId']).not.toBe(writing['reqId']);
    // fastify's own "request completed" line of the same request carries the same id.
    expect(lines.filter((l) => l['reqId'] === writing['reqId']).map((l) => l['msg'])).toContain('request completed');
    app.log.info('outside');
    expect(lines.find((l) => l['msg'] === 'outside')).not.toHaveProperty('reqId');
  });

  it('redacts secrets from log lines and keeps what is not secret', async () => {
    await app.inject({ method: 'PUT', url: '/v1/ns/carts/keys/k1', payload: {} });
    const line = lines.find((l) => l['msg'] === 'writing')!;
    expect(line['headers']).toEqual({ authorization: '[redacted]', accept: 'application/json' });
    expect(line['config']).toEqual({ databaseUrl: 'postgres://meridian:***@db.internal:5432/eu', password: '[redacted]' });
    expect(JSON.stringify(lines)).not.toMatch(/s3cret|hunter2|"pw"/);
  });

  it('gives the health probes and /metrics no spans, and serves /metrics as Prometheus text', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    telemetry.metrics.writes.add(1, { namespace: 'carts', policy: 'mv' });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body).toContain('meridian_writes_total{namespace="carts",policy="mv"} 1');
    expect(telemetry.memoryExporter!.getFinishedSpans()).toEqual([]);
  });
});
