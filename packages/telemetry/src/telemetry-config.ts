/**
 * The telemetry configuration: what a service passes to `startTelemetry`, its defaults, and its
 * validation. The service maps its own environment onto this shape; it is checked once, at
 * start-up, with messages of the form "expected X (got Y)", and then frozen, so a typo in an
 * exporter name stops the process instead of silently exporting nothing.
 */
import { randomUUID } from 'node:crypto';
import { TelemetryError, TelemetryErrorCode } from './telemetry-error.ts';

/** Where finished spans go. `memory` keeps them in the process for tests; `none` exports nothing. */
export const TraceExporterKind = { otlp: 'otlp', zipkin: 'zipkin', none: 'none', memory: 'memory' } as const;
export type TraceExporterKind = (typeof TraceExporterKind)[keyof typeof TraceExporterKind];

export interface TraceConfig {
  /** Default `otlp` (http/protobuf). */
  readonly exporter?: TraceExporterKind | undefined;
  /**
   * The exporter's span-ingest URL. A URL without a path gets the exporter's usual one
   * (`/v1/traces` for OTLP, `/api/v2/spans` for Zipkin). Without an endpoint, OTLP honours
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318;
   * Zipkin defaults to http://localhost:9411.
   */
  readonly endpoint?: string | undefined;
  /**
   * Fraction of new traces sampled, 0..1 (default 1). A span with a parent follows its parent's
   * decision; `meridian.conflict` spans are always sampled whatever this says.
   */
  readonly sampleRatio?: number | undefined;
  /**
   * Incoming request paths that get no spans (exact match; default: the health probes and
   * /metrics, which the GSLB and Prometheus call every few seconds and which would otherwise
   * drown every real trace).
   */
  readonly ignorePaths?: readonly string[] | undefined;
}

/** Which auto-instrumentations to enable (all by default). */
export interface InstrumentationSwitches {
  readonly http?: boolean;
  readonly fastify?: boolean;
  readonly pg?: boolean;
  readonly kafkajs?: boolean;
}

/** Optional fields accept `undefined` too, so a service can map unset environment variables straight in. */
export interface TelemetryConfig {
  readonly serviceName: string;
  /** Default: a random UUID per process (OpenTelemetry's recommendation for service.instance.id). */
  readonly serviceInstanceId?: string | undefined;
  /** The Meridian region this process serves; becomes the `meridian.region` resource attribute. */
  readonly region: string;
  readonly traces?: TraceConfig | undefined;
  readonly instrumentations?: InstrumentationSwitches | undefined;
}

export interface ResolvedTelemetryConfig {
  readonly serviceName: string;
  readonly serviceInstanceId: string;
  readonly region: string;
  readonly traces: {
    readonly exporter: TraceExporterKind;
    readonly endpoint: string | undefined;
    readonly sampleRatio: number;
    readonly ignorePaths: readonly string[];
  };
  readonly instrumentations: Required<InstrumentationSwitches>;
}

export const DEFAULT_IGNORED_PATHS: readonly string[] = Object.freeze(['/health/live', '/health/ready', '/metrics']);

const EXPORTER_KINDS: readonly string[] = Object.values(TraceExporterKind);

function invalid(field: string, expected: string, got: unknown): TelemetryError {
  let shown: string;
  try {
    shown = got === undefined ? 'undefined' : (JSON.stringify(got) ?? typeof got);
  } catch {
    shown = typeof got;
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return new TelemetryError(TelemetryErrorCode.InvalidConfig, `telemetry config ${field}: expected ${expected} (got ${shown})`);
}

function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value !== value.trim()) {
    throw invalid(field, 'a non-empty string without surrounding spaces', value);
  }
  return value;
}

function flag(field: string, value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw invalid(field, 'a boolean', value);
  return value;
}

function endpointUrl(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && URL.canParse(value)) {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value;
  }
  throw invalid('traces.endpoint', 'an http(s) URL', value);
}

/** Validates a configuration, fills in the defaults and freezes the result. */
export function resolveTelemetryConfig(config: TelemetryConfig): ResolvedTelemetryConfig {
  if (typeof config !== 'object' || config === null) throw invalid('', 'an object', config);
  const traces: TraceConfig = config.traces ?? {};
  const exporter = traces.exporter ?? TraceExporterKind.otlp;
  if (!EXPORTER_KINDS.includes(exporter)) throw invalid('traces.exporter', `one of ${EXPORTER_KINDS.join(', ')}`, exporter);
  const sampleRatio = traces.sampleRatio ?? 1;
  if (typeof sampleRatio !== 'number' || !Number.isFinite(sampleRatio) || sampleRatio < 0 || sampleRatio > 1) {
    throw invalid('traces.sampleRatio', 'a number from 0 to 1', sampleRatio);
  }
  const ignorePaths: readonly unknown[] = traces.ignorePaths ?? DEFAULT_IGNORED_PATHS;
  if (!Array.isArray(ignorePaths) || !ignorePaths.every((p): p is string => typeof p === 'string' && p.startsWith('/'))) {
    throw invalid('traces.ignorePaths', 'an array of paths starting with "/"', ignorePaths);
  }
  const switches = config.instrumentations ?? {};
  return Object.freeze({
    serviceName: nonEmptyString('serviceName', config.serviceName),
    serviceInstanceId: config.serviceInstanceId === undefined ? randomUUID() : nonEmptyString('serviceInstanceId', config.serviceInstanceId),
    region: nonEmptyString('region', config.region),
    traces: Object.freeze({ exporter, endpoint: endpointUrl(traces.endpoint), sampleRatio, ignorePaths: Object.freeze([...ignorePaths]) }),
    instrumentations: Object.freeze({
      http: flag('instrumentations.http', switches.http),
      fastify: flag('instrumentations.fastify', switches.fastify),
      pg: flag('instrumentations.pg', switches.pg),
      kafkajs: flag('instrumentations.kafkajs', switches.kafkajs),
    }),
  });
}
