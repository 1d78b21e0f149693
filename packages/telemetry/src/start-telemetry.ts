/**
 * Starting and stopping the OpenTelemetry SDK for one service process: resource, sampler, span
 * exporter, the pull-based metric reader behind `/metrics`, W3C propagation, async context, and
 * the auto-instrumentations.
 *
 * The OpenTelemetry API keeps its providers in process-wide globals, and module patching is
 * process-wide too, so there is at most one running `Telemetry` per process: a second
 * `startTelemetry` before the first one's `shutdown()` is refused. `shutdown()` flushes, disables
 * the instrumentations and releases every global it took, after which telemetry can be started
 * again (tests do; a service starts it once).
 *
 * Order matters and is the caller's to keep: `startTelemetry` must run before the service
 * imports pg and kafkajs and before it creates its fastify app — see the README.
 */
import {
  DiagConsoleLogger,
  DiagLogLevel,
  context,
  diag,
  metrics,
  propagation,
  trace,
  type DiagLogger,
  type Meter,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { createInstrumentations } from './instrumentations.ts';
import { createMeridianMetrics, METER_NAME, type MeridianMetrics } from './meridian-metrics.ts';
import { MeridianSampler } from './meridian-sampler.ts';
import { installModuleHooks } from './module-hooks.ts';
import { PROMETHEUS_CONTENT_TYPE, PrometheusPullReader } from './prometheus-reader.ts';
import { TRACER_NAME } from './spans.ts';
import { resolveTelemetryConfig, TraceExporterKind, type ResolvedTelemetryConfig, type TelemetryConfig } from './telemetry-config.ts';
import { TelemetryError, TelemetryErrorCode } from './telemetry-error.ts';

/** The resource attribute naming the Meridian region of a process. */
export const REGION_RESOURCE_ATTRIBUTE = 'meridian.region';

export interface Telemetry {
  readonly config: ResolvedTelemetryConfig;
  readonly resource: Resource;
  /** Meridian's tracer (the same as `meridianTracer()` while this handle runs). */
  readonly tracer: Tracer;
  /** The meter Meridian's instruments live on, for a service's own extra instruments. */
  readonly meter: Meter;
  readonly metrics: MeridianMetrics;
  /**
   * The exporter holding finished spans when `traces.exporter` is `memory`, otherwise undefined.
   * Read it before `shutdown()`, which empties it.
   */
  readonly memoryExporter: InMemorySpanExporter | undefined;
  /** The content type to serve `metricsText()` with. */
  readonly metricsContentType: string;
  /** Every instrument's current reading in the Prometheus text format, for `GET /metrics`. */
  metricsText(): Promise<string>;
  /** Exports every finished span now. */
  forceFlush(): Promise<void>;
  /** Flushes, stops the SDK and releases the process-wide globals. Idempotent. */
  shutdown(): Promise<void>;
}

export interface StartTelemetryOptions {
  /**
   * Where the SDK reports its own trouble (an exporter that cannot reach its backend, a failing
   * metric callback), at warning level and above. Default: the console (stderr for warnings).
   */
  readonly diagLogger?: DiagLogger;
}

let running: Telemetry | undefined;

function withDefaultPath(endpoint: string, path: string): string {
  const url = new URL(endpoint);
  if (url.pathname === '/' || url.pathname === '') url.pathname = path;
  return url.toString();
}

function spanExporterFor(config: ResolvedTelemetryConfig): SpanExporter | undefined {
  const { exporter, endpoint } = config.traces;
  switch (exporter) {
    case TraceExporterKind.otlp:
      return new OTLPTraceExporter(endpoint === undefined ? {} : { url: withDefaultPath(endpoint, '/v1/traces') });
    case TraceExporterKind.zipkin:
      return new ZipkinExporter({ url: withDefaultPath(endpoint ?? 'http://localhost:9411', '/api/v2/spans') });
    case TraceExporterKind.memory:
      return new InMemorySpanExporter();
    case TraceExporterKind.none:
      return undefined;
  }
}

/**
 * Starts telemetry for this process. Synchronous, so that a service's entry module can call it
 * before it `import()`s anything that must be instrumented.
 */
export function startTelemetry(input: TelemetryConfig, options: StartTelemetryOptions = {}): Telemetry {
  const config = resolveTelemetryConfig(input);
  if (running) {
    throw new TelemetryError(
      TelemetryErrorCode.AlreadyStarted,
      `telemetry is already running in this process (service ${running.config.serviceName}); shut it down first`,
    );
  }
  if (config.instrumentations.pg || config.instrumentations.kafkajs || config.instrumentations.http) installModuleHooks();
  // Without a diagnostics logger the SDK fails silently: spans that never reach the backend
  // would leave no trace of why.
  diag.setLogger(options.diagLogger ?? new DiagConsoleLogger(), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

  const resource = defaultResource().merge(
    resourceFromAttributes({
      'service.name': config.serviceName,
      'service.instance.id': config.serviceInstanceId,
      [REGION_RESOURCE_ATTRIBUTE]: config.region,
    }),
  );
  const exporter = spanExporterFor(config);
  const spanProcessors: SpanProcessor[] = [];
  if (exporter instanceof InMemorySpanExporter) spanProcessors.push(new SimpleSpanProcessor({ exporter }));
  else if (exporter) spanProcessors.push(new BatchSpanProcessor({ exporter }));
  const tracerProvider = new TracerProvider({ resource, sampler: new MeridianSampler(config.traces.sampleRatio), spanProcessors });
  const reader = new PrometheusPullReader();
  const meterProvider = new MeterProvider({ resource, readers: [reader] });

  // Take the globals all or nothing: if another SDK owns one, give back what was taken.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const releases: (() => void)[] = [];
  const take = (what: string, set: () => boolean, release: () => void): void => {
    if (!set()) {
      for (const undo of releases.reverse()) undo();
      contextManager.disable();
      diag.disable();
      void tracerProvider.shutdown();
      void meterProvider.shutdown();
      throw new TelemetryError(TelemetryErrorCode.GlobalsTaken, `another OpenTelemetry SDK already registered the global ${what}`);
    }
    releases.push(release);
  };
  take('context manager', () => context.setGlobalContextManager(contextManager), () => context.disable());
  take('tracer provider', () => trace.setGlobalTracerProvider(tracerProvider), () => trace.disable());
  take(
    'propagator',
    () => propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] })),
    () => propagation.disable(),
  );
  take('meter provider', () => metrics.setGlobalMeterProvider(meterProvider), () => metrics.disable());

  const unloadInstrumentations = registerInstrumentations({
    instrumentations: createInstrumentations(config),
    tracerProvider,
    meterProvider,
  });

  const meter = meterProvider.getMeter(METER_NAME);
  const meridianMetrics = createMeridianMetrics(meter);
  const stopGcObserver = meridianMetrics.observeGarbageCollection();
  let stopping: Promise<void> | undefined;
  const telemetry: Telemetry = {
    config,
    resource,
    tracer: tracerProvider.getTracer(TRACER_NAME),
    meter,
    metrics: meridianMetrics,
    memoryExporter: exporter instanceof InMemorySpanExporter ? exporter : undefined,
    metricsContentType: PROMETHEUS_CONTENT_TYPE,
    metricsText: () => reader.collectText(),
    forceFlush: () => tracerProvider.forceFlush(),
    shutdown() {
      stopping ??= (async () => {
        stopGcObserver();
        unloadInstrumentations();
        try {
          await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
        } finally {
          for (const release of releases.reverse()) release();
          contextManager.disable();
          diag.disable();
          if (running === telemetry) running = undefined;
        }
      })();
      return stopping;
    },
  };
  running = telemetry;
  return telemetry;
}
