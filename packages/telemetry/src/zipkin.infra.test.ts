/**
 * Meridian's spans in a real Zipkin, found the way an operator finds them: by tag through
 * Zipkin's HTTP API. Telemetry is started and shut down (flushing the batch exporter) in each
 * test, which also proves that a process can start it again after a shutdown.
 */
import type {} from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { describe, expect, inject, it } from 'vitest';
import { SpanAttribute, SpanName } from './span-names.ts';
import { withSpan } from './spans.ts';
import { startTelemetry } from './start-telemetry.ts';
import { currentTraceparent, linksFromTraceparents } from './trace-context.ts';

const { zipkinUrl } = inject('infra');

interface ZipkinSpan {
  readonly traceId: string;
  readonly id: string;
  readonly parentId?: string;
  readonly name: string;
  readonly kind?: string;
  readonly localEndpoint?: { serviceName?: string };
  readonly tags?: Record<string, string>;
}

/** Traces of `service` that have a span tagged `tag=value`. */
async function tracesByTag(service: string, tag: string, value: string): Promise<ZipkinSpan[][]> {
  const query = new URLSearchParams({ serviceName: service, annotationQuery: `${tag}=${value}`, limit: '10' });
  const response = await fetch(`${zipkinUrl}/api/v2/traces?${query.toString()}`);
  if (!response.ok) throw new Error(`zipkin answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as ZipkinSpan[][];
}

async function traceById(traceId: string): Promise<ZipkinSpan[]> {
  const response = await fetch(`${zipkinUrl}/api/v2/trace/${traceId}`);
  return response.ok ? ((await response.json()) as ZipkinSpan[]) : [];
}

/** Zipkin lower-cases service names; uniqueName is lower-case already. */
const serviceName = (): string => uniqueName('meridian-telemetry').replace(/_/g, '-');

describe('Meridian traces in Zipkin', () => {
  it('finds a write handled by a real fastify server by its meridian.key tag', async () => {
    const service = serviceName();
    const key = uniqueName('key');
    const telemetry = startTelemetry({ serviceName: service, region: 'eu', traces: { exporter: 'zipkin', endpoint: zipkinUrl } });
    let traceparent: string;
    try {
      // Imported after startTelemetry, as a service does (see the README).
      const { default: Fastify } = await import('fastify');
      const app = Fastify();
      app.put<{ Params: { ns: string; key: string } }>('/v1/ns/:ns/keys/:key', async (request) =>
        withSpan(SpanName.write, { [SpanAttribute.namespace]: request.params.ns, [SpanAttribute.key]: request.params.key, [SpanAttribute.policy]: 'lww' }, async () => {
          await Promise.resolve();
          return { traceparent: currentTraceparent() };
        }),
      );
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const response = await fetch(`${address}/v1/ns/carts/keys/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"value":1}' });
        expect(response.status).toBe(200);
        traceparent = ((await response.json()) as { traceparent: string }).traceparent;
      } finally {
        await app.close();
      }
    } finally {
      await telemetry.shutdown();
    }

    const traceId = traceparent.split('-')[1];
    const traces = await waitFor(() => tracesByTag(service, SpanAttribute.key, key), (found) => found.length === 1 && found[0]!.length >= 2, {
      timeoutMs: 20_000,
      what: `the write of ${key} in zipkin`,
    });
    const spans = traces[0]!;
    const write = spans.find((s) => s.name === SpanName.write)!;
    expect(write.traceId).toBe(traceId);
    expect(write.tags).toMatchObject({ 'meridian.namespace': 'carts', 'meridian.key': key, 'meridian.policy': 'lww', 'meridian.region': 'eu', 'service.name': service });
    expect(write.localEndpoint?.serviceName).toBe(service);
    // The root is the http instrumentation's server span, named by the fastify route that
    // @fastify/otel reports (Zipkin lower-cases span names); fastify's request span is under it.
    const server = spans.find((s) => s.kind === 'SERVER')!;
    expect(server.name).toBe('put /v1/ns/:ns/keys/:key');
    expect(server.parentId).toBeUndefined();
    expect(server.tags?.['http.route']).toBe('/v1/ns/:ns/keys/:key');
    expect(spans.find((s) => s.name === 'request')?.parentId).toBe(server.id);
    const ids = new Set(spans.map((s) => s.id));
    expect(spans.filter((s) => s.parentId !== undefined).every((s) => ids.has(s.parentId!))).toBe(true);
  });

  it('finds a conflict span by its id, carrying the trace ids of the writes it links to, at sample ratio 0', async () => {
    const service = serviceName();
    const conflictId = uniqueName('conflict');
    const telemetry = startTelemetry({ serviceName: service, region: 'ap', traces: { exporter: 'zipkin', endpoint: `${zipkinUrl}/api/v2/spans`, sampleRatio: 0 } });
    let writeTraceIds: string[];
    try {
      // The writes of two regions, each its own trace (forced past ratio 0, as a debug flag would).
      const writes = ['eu', 'us'].map((region) =>
        withSpan(SpanName.write, { [SpanAttribute.alwaysSample]: true, [SpanAttribute.origin]: region, [SpanAttribute.key]: conflictId }, () => currentTraceparent()!, { root: true }),
      );
      writeTraceIds = writes.map((tp) => tp.split('-')[1]!);
      // The apply span is not sampled at ratio 0; the conflict span under it must be anyway.
      await withSpan(SpanName.replicateApply, {}, async () => {
        const { links, traceIds } = linksFromTraceparents(writes);
        await withSpan(
          SpanName.conflict,
          { [SpanAttribute.conflictId]: conflictId, [SpanAttribute.conflictTraceIds]: traceIds, [SpanAttribute.policy]: 'mv', [SpanAttribute.conflictRegions]: ['eu', 'us'] },
          () => Promise.resolve(),
          { links },
        );
      });
    } finally {
      await telemetry.shutdown();
    }

    // First look-up: the conflict, by its id.
    const traces = await waitFor(() => tracesByTag(service, SpanAttribute.conflictId, conflictId), (found) => found.length === 1, {
      timeoutMs: 20_000,
      what: `conflict ${conflictId} in zipkin`,
    });
    const conflictTrace = traces[0]!;
    expect(conflictTrace.map((s) => s.name)).toEqual([SpanName.conflict]);
    const conflict = conflictTrace[0]!;
    expect(conflict.tags?.['meridian.conflict.trace_ids']).toBe(writeTraceIds.join(','));
    expect(conflict.tags?.['meridian.conflict.regions']).toBe('eu,us');
    expect(writeTraceIds).not.toContain(conflict.traceId);

    // Second look-up: each write, by the trace id the conflict carries.
    for (const [i, traceId] of conflict.tags!['meridian.conflict.trace_ids']!.split(',').entries()) {
      const spans = await waitFor(() => traceById(traceId), (found) => found.length === 1, { timeoutMs: 20_000, what: `write trace ${traceId}` });
      expect(spans[0]).toMatchObject({ name: SpanName.write, traceId, tags: { 'meridian.origin': ['eu', 'us'][i], 'meridian.key': conflictId } });
    }
  });
});
