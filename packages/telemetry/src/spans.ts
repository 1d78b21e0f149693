/**
 * Running code inside a span. Every Meridian span goes through `withSpan`, so every one of them
 * ends exactly once, records the exception that escaped it, and is marked as an error — a span
 * left open or an error shown as success makes a trace lie about what happened.
 *
 * The tracer is looked up from the global API at each call, not cached at import: a module-level
 * tracer would keep pointing at the first SDK after a test shut it down and started another.
 */
import {
  SpanStatusCode,
  context,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
  type Tracer,
} from '@opentelemetry/api';

/** The instrumentation scope of Meridian's own spans. */
export const TRACER_NAME = 'meridian';

/** Meridian's tracer (a no-op tracer while no telemetry is started). */
export function meridianTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

export interface WithSpanOptions {
  readonly links?: readonly Link[];
  readonly kind?: SpanKind;
  /** Start a new trace instead of a child of the parent context. */
  readonly root?: boolean;
  /** The parent context (default: the active one); see `contextFromTraceparent`. */
  readonly parent?: Context;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Marks a span as failed by `error`: the exception event, ERROR status, and `error.type`. */
export function recordSpanError(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    const code = (error as { code?: unknown }).code;
    span.setAttribute('error.type', typeof code === 'string' ? code : error.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    span.recordException(String(error));
    span.setAttribute('error.type', '_OTHER');
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
  }
}

/**
 * Runs `fn` inside a new span `name` (active for `fn` and everything it awaits) and ends the span
 * when `fn` returns or, for a promise, settles. An exception or rejection is recorded on the span,
 * sets its status to ERROR, and is rethrown unchanged. Success leaves the status unset, as the
 * OpenTelemetry specification asks of instrumentation.
 *
 * Attributes given here are seen by the sampler (e.g. `meridian.always_sample`); ones set later on
 * the span are not.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T, options: WithSpanOptions = {}): T {
  const parent = options.parent ?? context.active();
  const span = meridianTracer().startSpan(
    name,
    {
      attributes,
      ...(options.links ? { links: [...options.links] } : {}),
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(options.root === undefined ? {} : { root: options.root }),
    },
    parent,
  );
  let result: T;
  try {
    result = context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (error) {
    recordSpanError(span, error);
    span.end();
    throw error;
  }
  if (isPromiseLike(result)) {
    return Promise.resolve(result).then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        recordSpanError(span, error);
        span.end();
        throw error;
      },
    ) as T;
  }
  span.end();
  return result;
}
