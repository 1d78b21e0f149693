/**
 * Prometheus text for the service's own `/metrics` route. Metrics are pulled, not pushed: a
 * MetricReader that does nothing until asked, collected when Prometheus scrapes, and rendered by
 * OpenTelemetry's own PrometheusSerializer — the same code the Prometheus exporter runs, without
 * the separate HTTP server (a second port per replica is one more thing to secure and route).
 *
 * Label sets are exactly the instruments' attributes: no `otel_scope_*` labels on every series,
 * and the resource (service, instance, region) appears once, in `target_info`.
 */
import { diag } from '@opentelemetry/api';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { AggregationTemporality, InstrumentType, MetricReader } from '@opentelemetry/sdk-metrics';

/** The content type of the Prometheus text exposition format the serializer writes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class PrometheusPullReader extends MetricReader {
  readonly #serializer = new PrometheusSerializer('', false, undefined, false, true);

  constructor() {
    super({
      // Counters and histograms are cumulative, as Prometheus expects. Observable gauges are
      // delta: a gauge shows only what its callbacks observed in this collection, so a series
      // whose source went away (a relay that stood down, a peer removed) disappears instead of
      // repeating its last value forever, as cumulative last-value aggregation would.
      aggregationTemporalitySelector: (type) =>
        type === InstrumentType.OBSERVABLE_GAUGE ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
    });
  }

  /** Collects every instrument (running the observable callbacks) and renders the result. */
  async collectText(): Promise<string> {
    const { resourceMetrics, errors } = await this.collect();
    // A failing observable callback costs that one metric, never the whole scrape.
    for (const error of errors) diag.warn('meridian telemetry: a metric could not be collected', error);
    return this.#serializer.serialize(resourceMetrics);
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
