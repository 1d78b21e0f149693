/**
 * W3C trace context as data. A write stores the `traceparent` of its span with the version it
 * creates, and the envelope carries it to the peers (DESIGN §3, §4); when a peer later finds two
 * versions concurrent, the conflict span links to both writes' spans from those stored strings.
 * The stored value outlives the process that wrote it, so it is parsed defensively: a missing or
 * malformed traceparent (an old row, a peer's bug) yields no link, never an exception in the
 * merge path.
 *
 * These helpers use the W3C format directly rather than the configured global propagator: what
 * is stored must be a traceparent whatever propagators a deployment configures, and they work
 * (returning nothing) when no SDK is running.
 */
import {
  ROOT_CONTEXT,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Link,
  type SpanContext,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const w3c = new W3CTraceContextPropagator();
const TRACEPARENT = 'traceparent';

/**
 * The W3C `traceparent` header of the span active in `ctx` (default: the current context), or
 * undefined when there is none. An unsampled span has one too (flags `00`), so its trace id still
 * ties log lines and stored versions together.
 */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  w3c.inject(ctx, carrier, defaultTextMapSetter);
  return carrier[TRACEPARENT];
}

/**
 * A context whose parent is the remote span named by `traceparent`, on top of `base` (default: the
 * root context, so nothing of the caller's current trace leaks in). An absent or malformed value
 * gives `base` unchanged.
 */
export function contextFromTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context {
  if (traceparent === undefined) return base;
  return w3c.extract(base, { [TRACEPARENT]: traceparent }, defaultTextMapGetter);
}

/** The span context a `traceparent` names, or undefined if it is absent or malformed. */
export function spanContextFromTraceparent(traceparent: string | undefined): SpanContext | undefined {
  if (traceparent === undefined) return undefined;
  const spanContext = trace.getSpanContext(contextFromTraceparent(traceparent));
  return spanContext && isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * A span link to the span a `traceparent` names, for a conflict span's links to the writes that
 * caused it; undefined if the value is absent or malformed.
 */
export function linkFromTraceparent(traceparent: string | undefined, attributes?: Attributes): Link | undefined {
  const spanContext = spanContextFromTraceparent(traceparent);
  if (!spanContext) return undefined;
  return attributes ? { context: spanContext, attributes } : { context: spanContext };
}

/**
 * Links to every valid `traceparent` of `traceparents`, and their distinct trace ids in first-seen
 * order — the ids go into the `meridian.conflict.trace_ids` attribute, for backends that cannot
 * show links (Zipkin).
 */
export function linksFromTraceparents(traceparents: Iterable<string | undefined>): { links: Link[]; traceIds: string[] } {
  const links: Link[] = [];
  const traceIds: string[] = [];
  for (const traceparent of traceparents) {
    const link = linkFromTraceparent(traceparent);
    if (!link) continue;
    links.push(link);
    if (!traceIds.includes(link.context.traceId)) traceIds.push(link.context.traceId);
  }
  return { links, traceIds };
}
