import { createHash } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Context } from '@opentelemetry/api';
import { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { MeridianSampler } from './meridian-sampler.ts';
import { SpanAttribute, SpanName } from './span-names.ts';

/** Deterministic, well-spread trace ids, so the ratio checks never flake. */
const traceIds = Array.from({ length: 4000 }, (_, i) => createHash('sha256').update(`trace-${i}`).digest('hex').slice(0, 32));

function parent(flags: TraceFlags): Context {
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: traceIds[0]!, spanId: '00f067aa0ba902b7', traceFlags: flags, isRemote: true });
}

function decide(sampler: MeridianSampler, name: string, attributes = {}, ctx: Context = ROOT_CONTEXT, traceId = traceIds[1]!): SamplingDecision {
  return sampler.shouldSample(ctx, traceId, name, SpanKind.INTERNAL, attributes, []).decision;
}

describe('MeridianSampler', () => {
  it('samples conflict spans at ratio 0, as roots and under an unsampled parent', () => {
    const sampler = new MeridianSampler(0);
    for (const traceId of traceIds.slice(0, 200)) {
      expect(decide(sampler, SpanName.conflict, {}, ROOT_CONTEXT, traceId)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    }
    expect(decide(sampler, SpanName.conflict, {}, parent(TraceFlags.NONE))).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('samples any span that starts with meridian.always_sample=true, and only with exactly true', () => {
    const sampler = new MeridianSampler(0);
    expect(decide(sampler, SpanName.write, { [SpanAttribute.alwaysSample]: true })).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(sampler, SpanName.write, { [SpanAttribute.alwaysSample]: true }, parent(TraceFlags.NONE))).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(sampler, SpanName.write, { [SpanAttribute.alwaysSample]: 'true' })).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(sampler, SpanName.write, { [SpanAttribute.alwaysSample]: false })).toBe(SamplingDecision.NOT_RECORD);
  });

  it('drops every other root span at ratio 0 and keeps every one at ratio 1', () => {
    const none = new MeridianSampler(0);
    const all = new MeridianSampler(1);
    for (const traceId of traceIds.slice(0, 500)) {
      expect(decide(none, SpanName.write, {}, ROOT_CONTEXT, traceId)).toBe(SamplingDecision.NOT_RECORD);
      expect(decide(all, SpanName.write, {}, ROOT_CONTEXT, traceId)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    }
  });

  it('samples root spans by trace id at the configured ratio', () => {
    for (const ratio of [0.1, 0.25, 0.5, 0.9]) {
      const sampler = new MeridianSampler(ratio);
      const reference = new TraceIdRatioBasedSampler(ratio);
      let sampled = 0;
      for (const traceId of traceIds) {
        const decision = decide(sampler, SpanName.replicateApply, {}, ROOT_CONTEXT, traceId);
        // The same trace id gets the same decision in every region and every process.
        expect(decision).toBe(reference.shouldSample(ROOT_CONTEXT, traceId).decision);
        if (decision === SamplingDecision.RECORD_AND_SAMPLED) sampled += 1;
      }
      expect(sampled / traceIds.length).toBeGreaterThan(ratio - 0.04);
      expect(sampled / traceIds.length).toBeLessThan(ratio + 0.04);
    }
  });

  it("follows the parent's decision for ordinary spans", () => {
    expect(decide(new MeridianSampler(0), SpanName.write, {}, parent(TraceFlags.SAMPLED))).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(new MeridianSampler(1), SpanName.write, {}, parent(TraceFlags.NONE))).toBe(SamplingDecision.NOT_RECORD);
  });

  it('in a tracer provider at ratio 0, exports the conflict span and its children but not its unsampled parent', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ sampler: new MeridianSampler(0), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const tracer = provider.getTracer('test');
    const apply = tracer.startSpan(SpanName.replicateApply);
    const conflict = tracer.startSpan(SpanName.conflict, {}, trace.setSpan(ROOT_CONTEXT, apply));
    const child = tracer.startSpan('meridian.conflict.record', {}, trace.setSpan(ROOT_CONTEXT, conflict));
    for (const span of [child, conflict, apply]) span.end();
    const exported = exporter.getFinishedSpans();
    expect(exported.map((s) => s.name).sort()).toEqual([SpanName.conflict, 'meridian.conflict.record']);
    expect(apply.isRecording()).toBe(false);
    // The conflict span stays in the apply span's trace, under it.
    const conflictSpan = exported.find((s) => s.name === SpanName.conflict)!;
    expect(conflictSpan.spanContext().traceId).toBe(apply.spanContext().traceId);
    expect(conflictSpan.parentSpanContext?.spanId).toBe(apply.spanContext().spanId);
  });
});
