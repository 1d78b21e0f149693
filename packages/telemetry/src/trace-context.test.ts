import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { MeridianSampler } from './meridian-sampler.ts';
import {
  contextFromTraceparent,
  currentTraceparent,
  linkFromTraceparent,
  linksFromTraceparents,
  spanContextFromTraceparent,
} from './trace-context.ts';

// A local provider, not the global one: these helpers take explicit contexts.
const exporter = new InMemorySpanExporter();
const tracer = new TracerProvider({ sampler: new MeridianSampler(1), spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('test');
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

describe('traceparent helpers', () => {
  it("render the span of a context as its W3C traceparent", () => {
    const span = tracer.startSpan('meridian.write');
    const tp = currentTraceparent(trace.setSpan(ROOT_CONTEXT, span));
    const { traceId, spanId } = span.spanContext();
    expect(tp).toBe(`00-${traceId}-${spanId}-01`);
    span.end();
  });

  it('give an unsampled span a traceparent with flags 00', () => {
    const span = new TracerProvider({ sampler: new MeridianSampler(0) }).getTracer('t').startSpan('meridian.write');
    expect(span.isRecording()).toBe(false);
    expect(currentTraceparent(trace.setSpan(ROOT_CONTEXT, span))).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-00`);
  });

  it('give no traceparent outside a span', () => {
    expect(currentTraceparent(ROOT_CONTEXT)).toBeUndefined();
    expect(currentTraceparent()).toBeUndefined();
  });

  it('round-trip: the context from a traceparent renders the same traceparent, and a child span continues it', () => {
    const span = tracer.startSpan('meridian.write');
    const tp = currentTraceparent(trace.setSpan(ROOT_CONTEXT, span))!;
    expect(tp).toMatch(TRACEPARENT);
    const restored = contextFromTraceparent(tp);
    expect(currentTraceparent(restored)).toBe(tp);
    expect(spanContextFromTraceparent(tp)).toEqual({ ...span.spanContext(), isRemote: true });

    const child = tracer.startSpan('meridian.replicate.apply', {}, restored);
    child.end();
    span.end();
    expect(child.spanContext().traceId).toBe(span.spanContext().traceId);
    expect(exporter.getFinishedSpans().find((s) => s.name === 'meridian.replicate.apply')?.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
  });

  it('keep the sampled flag of the traceparent they read', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    expect(spanContextFromTraceparent(tp)?.traceFlags).toBe(TraceFlags.NONE);
    expect(currentTraceparent(contextFromTraceparent(tp))).toBe(tp);
  });

  it('treat absent and malformed traceparents as no parent and no link', () => {
    const base = ROOT_CONTEXT.setValue(Symbol('marker'), 1);
    for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01']) {
      expect(contextFromTraceparent(bad, base)).toBe(base);
      expect(spanContextFromTraceparent(bad)).toBeUndefined();
      expect(linkFromTraceparent(bad)).toBeUndefined();
    }
  });

  it('build links to each write and the distinct trace ids they belong to', () => {
    const a = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const b = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const sameTraceAsA = '00-4bf92f3577b34da6a3ce929d0e0e4736-53995c3f42cd8ad8-01';
    const link = linkFromTraceparent(a, { 'meridian.region': 'eu' });
    expect(link).toEqual({ context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true }, attributes: { 'meridian.region': 'eu' } });
    const { links, traceIds } = linksFromTraceparents([a, undefined, b, 'junk', sameTraceAsA]);
    expect(links.map((l) => l.context.spanId)).toEqual(['00f067aa0ba902b7', 'b7ad6b7169203331', '53995c3f42cd8ad8']);
    expect(traceIds).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', '0af7651916cd43dd8448eb211c80319c']);
  });
});
