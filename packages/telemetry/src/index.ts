/**
 * @meridian/telemetry: the observability wiring of every Meridian service — the OpenTelemetry
 * SDK (traces, metrics, W3C propagation, the fastify/pg/kafkajs/http instrumentations), the
 * sampler that never drops a conflict span, Meridian's metric instruments served as Prometheus
 * text, span helpers and names, and pino options that put trace ids on log lines.
 */
export { startTelemetry, REGION_RESOURCE_ATTRIBUTE, type Telemetry, type StartTelemetryOptions } from './start-telemetry.ts';
export {
  resolveTelemetryConfig,
  TraceExporterKind,
  DEFAULT_IGNORED_PATHS,
  type TelemetryConfig,
  type TraceConfig,
  type InstrumentationSwitches,
  type ResolvedTelemetryConfig,
} from './telemetry-config.ts';
export { TelemetryError, TelemetryErrorCode } from './telemetry-error.ts';
export { MeridianSampler } from './meridian-sampler.ts';
export { SpanName, SpanAttribute } from './span-names.ts';
export { withSpan, meridianTracer, recordSpanError, TRACER_NAME, type WithSpanOptions } from './spans.ts';
export {
  currentTraceparent,
  contextFromTraceparent,
  spanContextFromTraceparent,
  linkFromTraceparent,
  linksFromTraceparents,
} from './trace-context.ts';
export {
  createMeridianMetrics,
  MetricName,
  METER_NAME,
  WRITE_DURATION_BUCKETS,
  GC_PAUSE_BUCKETS,
  GcKind,
  type GcLabels,
  type MeridianMetrics,
  type PeerLag,
  type WriteCacheStats,
  type NamespaceLabels,
  type OriginLabels,
  type DeadLetterLabels,
  type RepairLabels,
  type PolicyLabels,
  type PeerLabels,
  type LinkStateLabels,
  type RegionLabels,
  type TableLabels,
  type RetentionStats,
} from './meridian-metrics.ts';
export { PrometheusPullReader, PROMETHEUS_CONTENT_TYPE } from './prometheus-reader.ts';
export {
  loggerOptions,
  requestLoggerFactory,
  traceFields,
  redactUrlPassword,
  LogLevel,
  REDACTED,
  REDACTED_PATHS,
  type LoggerConfig,
  type MeridianLoggerOptions,
} from './logger-options.ts';
export { HOOKED_MODULES } from './module-hooks.ts';
