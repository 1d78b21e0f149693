import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { SpanAttribute, SpanName } from './span-names.ts';
import { meridianTracer, withSpan } from './spans.ts';
import { startTelemetry, type Telemetry } from './start-telemetry.ts';
import { TelemetryErrorCode, type TelemetryError } from './telemetry-error.ts';
import { currentTraceparent, linksFromTraceparents } from './trace-context.ts';

let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function start(sampleRatio = 1): Telemetry {
  telemetry = startTelemetry({ serviceName: 'meridian-region', serviceInstanceId: 'eu-1', region: 'eu', traces: { exporter: 'memory', sampleRatio } });
  return telemetry;
}

function spans(t: Telemetry) {
  return t.memoryExporter!.getFinishedSpans();
}

describe('startTelemetry', () => {
  it('captures a span with its attributes and resource in the memory exporter', async () => {
    const t = start();
    const result = await withSpan(SpanName.write, { [SpanAttribute.namespace]: 'carts', [SpanAttribute.key]: 'k1' }, async (span) => {
      span.setAttribute(SpanAttribute.dot, 'eu.1:7');
      await Promise.resolve();
      return 'stored';
    });
    expect(result).toBe('stored');
    const [span] = spans(t);
    expect(span?.name).toBe(SpanName.write);
    expect(span?.attributes).toEqual({ 'meridian.namespace': 'carts', 'meridian.key': 'k1', 'meridian.dot': 'eu.1:7' });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.resource.attributes).toMatchObject({ 'service.name': 'meridian-region', 'service.instance.id': 'eu-1', 'meridian.region': 'eu' });
    expect(span?.instrumentationScope.name).toBe('meridian');
  });

  it('records a conflict span with links to the concurrent writes and their trace ids as an attribute', () => {
    const t = start(0);
    // Two writes in their own traces, forced past ratio 0 the way a test or a debug flag would.
    const tpA = withSpan(SpanName.write, { [SpanAttribute.alwaysSample]: true }, () => currentTraceparent(), { root: true });
    const tpB = withSpan(SpanName.write, { [SpanAttribute.alwaysSample]: true }, () => currentTraceparent(), { root: true });
    const { links, traceIds } = linksFromTraceparents([tpA, tpB]);
    withSpan(SpanName.replicateApply, {}, () =>
      withSpan(SpanName.conflict, { [SpanAttribute.conflictId]: 'c-1', [SpanAttribute.conflictTraceIds]: traceIds }, () => undefined, { links }),
    );
    const [writeA, writeB, conflict, ...rest] = spans(t);
    expect(rest).toEqual([]); // the apply span was not sampled at ratio 0
    expect(conflict?.name).toBe(SpanName.conflict);
    expect(conflict?.links.map((l) => l.context.spanId)).toEqual([writeA!.spanContext().spanId, writeB!.spanContext().spanId]);
    expect(conflict?.links.map((l) => l.context.traceId)).toEqual([writeA!.spanContext().traceId, writeB!.spanContext().traceId]);
    expect(conflict?.attributes[SpanAttribute.conflictTraceIds]).toEqual([writeA!.spanContext().traceId, writeB!.spanContext().traceId]);
    expect(writeA!.spanContext().traceId).not.toBe(writeB!.spanContext().traceId);
  });

  it('withSpan records an exception, sets ERROR and rethrows, for sync and async functions', async () => {
    const t = start();
    const failure = Object.assign(new Error('row lock timeout'), { code: 'MERIDIAN_STORE_LOCK_TIMEOUT' });
    expect(() => withSpan('sync', {}, () => { throw failure; })).toThrow(failure);
    await expect(withSpan('async', {}, () => Promise.reject(new TypeError('bad')))).rejects.toThrow('bad');
    const [sync, async] = spans(t);
    expect(sync?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'row lock timeout' });
    expect(sync?.attributes['error.type']).toBe('MERIDIAN_STORE_LOCK_TIMEOUT');
    expect(sync?.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([['exception', 'row lock timeout']]);
    expect(async?.status.code).toBe(SpanStatusCode.ERROR);
    expect(async?.attributes['error.type']).toBe('TypeError');
    expect(sync?.ended && async?.ended).toBe(true);
  });

  it('withSpan makes its span active for everything it awaits, and nests', async () => {
    const t = start();
    await withSpan('outer', {}, async (outer) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(trace.getActiveSpan()).toBe(outer);
      await withSpan('inner', {}, async () => Promise.resolve(), { kind: SpanKind.PRODUCER });
    });
    expect(trace.getActiveSpan()).toBeUndefined();
    const [inner, outer] = spans(t);
    expect(inner?.parentSpanContext?.spanId).toBe(outer?.spanContext().spanId);
    expect(inner?.kind).toBe(SpanKind.PRODUCER);
  });

  it('propagates W3C trace context through the global propagator, both ways', () => {
    start();
    const carrier: Record<string, string> = {};
    const traceId = withSpan('outgoing', {}, (span) => {
      propagation.inject(context.active(), carrier);
      return span.spanContext().traceId;
    });
    expect(carrier['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const incoming = propagation.extract(context.active(), { traceparent: carrier['traceparent'] });
    expect(withSpan('incoming', {}, (span) => span.spanContext().traceId, { parent: incoming })).toBe(traceId);
  });

  it('refuses a second start while one runs, and starts again after shutdown', async () => {
    const first = start();
    let refused: unknown;
    try {
      startTelemetry({ serviceName: 'other', region: 'eu', traces: { exporter: 'memory' } });
    } catch (error) {
      refused = error;
    }
    expect((refused as TelemetryError).code).toBe(TelemetryErrorCode.AlreadyStarted);
    withSpan('before', {}, () => undefined);
    const before = spans(first).map((s) => s.name);
    await first.shutdown();
    await first.shutdown(); // idempotent
    withSpan('between', {}, () => undefined); // no SDK: a no-op span, nowhere to go
    const second = start();
    withSpan('after', {}, () => undefined);
    expect(before).toEqual(['before']);
    expect(spans(second).map((s) => s.name)).toEqual(['after']);
    expect(meridianTracer()).toBeDefined();
  });

  it('refuses to start when another SDK owns a global, taking none of them, and starts once it is gone', async () => {
    const foreign = new TracerProvider();
    expect(trace.setGlobalTracerProvider(foreign)).toBe(true);
    const diagnostics: string[] = [];
    const collect = (message: string): number => diagnostics.push(message);
    let refused: unknown;
    try {
      startTelemetry(
        { serviceName: 'meridian-region', region: 'eu', traces: { exporter: 'memory' } },
        { diagLogger: { error: collect, warn: collect, info: collect, debug: collect, verbose: collect } },
      );
    } catch (error) {
      refused = error;
    }
    expect(diagnostics.join('\n')).toContain('duplicate registration of API: trace');
    expect((refused as TelemetryError).code).toBe(TelemetryErrorCode.GlobalsTaken);
    expect((refused as Error).message).toBe('another OpenTelemetry SDK already registered the global tracer provider');
    // What it had taken before the refusal (the context manager) was given back.
    expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager())).toBe(true);
    context.disable();
    trace.disable();
    await foreign.shutdown();
    const t = start();
    withSpan('after', {}, () => undefined);
    expect(spans(t).map((s) => s.name)).toEqual(['after']);
  });

  it('serves its metrics through the handle, with the resource in target_info', async () => {
    const t = start();
    t.metrics.writes.add(1, { namespace: 'carts', policy: 'lww' });
    const text = await t.metricsText();
    expect(text).toContain('meridian_writes_total{namespace="carts",policy="lww"} 1');
    expect(text).toMatch(/^target_info\{.*service_name="meridian-region".*service_instance_id="eu-1".*meridian_region="eu".*\} 1$/m);
    expect(t.metricsContentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('validates its configuration with messages that say what was expected', () => {
    const attempt = (config: unknown): string => {
      try {
        startTelemetry(config as Parameters<typeof startTelemetry>[0]).shutdown().catch(() => undefined);
        return 'started';
      } catch (error) {
        return `${(error as TelemetryError).code}: ${(error as Error).message}`;
      }
    };
    expect(attempt({ serviceName: '', region: 'eu' })).toBe('MERIDIAN_TELEMETRY_INVALID_CONFIG: telemetry config serviceName: expected a non-empty string without surrounding spaces (got "")');
    expect(attempt({ serviceName: 's', region: 'eu', traces: { exporter: 'jaeger' } })).toBe(
      'MERIDIAN_TELEMETRY_INVALID_CONFIG: telemetry config traces.exporter: expected one of otlp, zipkin, none, memory (got "jaeger")',
    );
    expect(attempt({ serviceName: 's', region: 'eu', traces: { sampleRatio: 1.5 } })).toBe(
      'MERIDIAN_TELEMETRY_INVALID_CONFIG: telemetry config traces.sampleRatio: expected a number from 0 to 1 (got 1.5)',
    );
    expect(attempt({ serviceName: 's', region: 'eu', traces: { exporter: 'otlp', endpoint: 'localhost:4318' } })).toBe(
      'MERIDIAN_TELEMETRY_INVALID_CONFIG: telemetry config traces.endpoint: expected an http(s) URL (got "localhost:4318")',
    );
    expect(attempt({ serviceName: 's', region: ' eu' })).toMatch(/region: expected a non-empty string/);
  });
});
