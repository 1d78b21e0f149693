/**
 * The sampler: parent-based with a trace-id ratio for new traces, except that conflict spans are
 * always sampled (DESIGN §5). A conflict is rare and is the one thing an operator must be able to
 * find afterwards, so it may not depend on the luck of the ratio or on whether the apply span
 * above it was sampled. A span is forced when it is named `meridian.conflict` or carries
 * `meridian.always_sample=true` among its *start* attributes (a sampler sees nothing set later).
 *
 * A forced span under an unsampled parent keeps its parent's trace id, so the backend shows it
 * with a missing parent; its children then follow it (parent-based) and are sampled too.
 */
import { type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api';
import {
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace';
import { SpanAttribute, SpanName } from './span-names.ts';

export class MeridianSampler implements Sampler {
  readonly #ratio: number;
  readonly #delegate: Sampler;

  constructor(ratio: number) {
    this.#ratio = ratio;
    this.#delegate = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }

  shouldSample(context: Context, traceId: string, spanName: string, spanKind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    if (spanName === SpanName.conflict || attributes[SpanAttribute.alwaysSample] === true) {
      return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    }
    return this.#delegate.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `MeridianSampler{always: ${SpanName.conflict} | ${SpanAttribute.alwaysSample}=true, otherwise ParentBased{root=TraceIdRatioBased{${this.#ratio}}}}`;
  }
}
