/** Proves the tracing backend is real: a span exported with OpenTelemetry's Zipkin exporter is read back through Zipkin's HTTP API, by trace id and by tag. */
import { describe, expect, inject, it } from 'vitest';
import { TracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { uniqueName, waitFor } from '@meridian/testkit';

const infra = inject('infra');

describe('Zipkin server', () => {
  it('receives an OpenTelemetry span and serves it back by trace id and by tag', async () => {
    const service = uniqueName('smoke-svc').replace(/_/g, '-');
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: new ZipkinExporter({ url: `${infra.zipkinUrl}/api/v2/spans` }) })],
    });
    const tag = uniqueName('tag');
    const span = provider.getTracer('smoke').startSpan('meridian.smoke', { attributes: { 'meridian.smoke.tag': tag } });
    const traceId = span.spanContext().traceId;
    span.end();
    await provider.forceFlush();
    await provider.shutdown();

    const trace = await waitFor(
      async () => (await fetch(`${infra.zipkinUrl}/api/v2/trace/${traceId}`)).json() as Promise<{ name: string; tags: Record<string, string> }[]>,
      (spans) => Array.isArray(spans) && spans.length === 1,
      { timeoutMs: 15_000, what: `trace ${traceId} in zipkin` },
    );
    expect(trace[0]?.name).toBe('meridian.smoke');
    expect(trace[0]?.tags['meridian.smoke.tag']).toBe(tag);

    const query = new URLSearchParams({ serviceName: service, annotationQuery: `meridian.smoke.tag=${tag}`, limit: '10' });
    const found = (await (await fetch(`${infra.zipkinUrl}/api/v2/traces?${query.toString()}`)).json()) as { traceId: string }[][];
    expect(found.map((t) => t[0]?.traceId)).toEqual([traceId]);
  });
});
