/**
 * The auto-instrumentations every Meridian service runs: incoming HTTP (the server span and W3C
 * context extraction), fastify's routes (@fastify/otel, fastify's own instrumentation, which
 * supports fastify 5; it hooks fastify's `fastify.initialization` diagnostics channel rather than
 * patching the module, so it only needs to be enabled before the app is *created*), PostgreSQL
 * and Kafka (module patching: enabled before those packages are imported).
 *
 * Choices that keep traces readable: the health probes and /metrics get no spans (the GSLB probes
 * every region every second); PostgreSQL queries are traced only inside a span, so the relay's
 * and replicators' polling do not start a trace each; query parameters are never recorded (they
 * are user data); fastify's per-hook spans are off (one span per request and one per handler).
 */
import type { IncomingMessage } from 'node:http';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { type Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import type { ResolvedTelemetryConfig } from './telemetry-config.ts';

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/** The instrumentations a configuration asks for, not yet enabled. */
export function createInstrumentations(config: ResolvedTelemetryConfig): Instrumentation[] {
  const ignored = new Set(config.traces.ignorePaths);
  const enabled = config.instrumentations;
  const list: Instrumentation[] = [];
  if (enabled.http) {
    list.push(
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request: IncomingMessage) => ignored.has(pathOf(request.url)),
      }),
    );
  }
  if (enabled.fastify) {
    list.push(
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        ignorePaths: (route) => ignored.has(pathOf(route.url)),
      }),
    );
  }
  if (enabled.pg) list.push(new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false, ignoreConnectSpans: true }));
  if (enabled.kafkajs) list.push(new KafkaJsInstrumentation());
  return list;
}
