/**
 * The GSLB's metrics in the Prometheus text exposition format (version 0.0.4), written by hand:
 * three counters and two gauges do not justify a metrics SDK in a process whose job is to stay
 * up. Counters live here; gauges are computed from the health board at scrape time, so they can
 * never disagree with `/v1/regions`.
 *
 * Series:
 * - meridian_gslb_probes_total{region,result="ok"|"failed"}    counter
 * - meridian_gslb_routes_total{region}                          counter (region="none": no
 *                                                               healthy region to choose)
 * - meridian_gslb_region_up{region}                             gauge, 1 when routable
 * - meridian_gslb_region_lag_seconds{region}                    gauge, the worst peer lag
 *                                                               (absent while unknown)
 * Every configured region has its probe and route series from the start (at 0), so rates work
 * from the first scrape.
 */
import { isRoutable } from './region-health.ts';
import type { RegionObservation } from './health-board.ts';

export const MetricName = {
  probes: 'meridian_gslb_probes_total',
  routes: 'meridian_gslb_routes_total',
  regionUp: 'meridian_gslb_region_up',
  regionLag: 'meridian_gslb_region_lag_seconds',
} as const;

export const NO_REGION = 'none';

/** Escapes a label value: backslash, double quote and newline (the format's only escapes). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly [Record<string, string>, number][]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([l, v]) => `${name}${labels(l)} ${v}`)].join('\n');
}

export class GslbMetrics {
  readonly #probes = new Map<string, { ok: number; failed: number }>();
  readonly #routes = new Map<string, number>();

  constructor(regionIds: readonly string[]) {
    for (const id of regionIds) {
      this.#probes.set(id, { ok: 0, failed: 0 });
      this.#routes.set(id, 0);
    }
    this.#routes.set(NO_REGION, 0);
  }

  probe(region: string, ok: boolean): void {
    const counts = this.#probes.get(region) ?? { ok: 0, failed: 0 };
    if (ok) counts.ok += 1;
    else counts.failed += 1;
    this.#probes.set(region, counts);
  }

  /** Counts a routing answer by the region chosen (undefined: none was healthy). */
  route(chosen: string | undefined): void {
    const key = chosen ?? NO_REGION;
    this.#routes.set(key, (this.#routes.get(key) ?? 0) + 1);
  }

  render(observations: readonly RegionObservation[]): string {
    const probes = [...this.#probes].flatMap(([region, c]): [Record<string, string>, number][] => [
      [{ region, result: 'ok' }, c.ok],
      [{ region, result: 'failed' }, c.failed],
    ]);
    const routes = [...this.#routes].map(([region, n]): [Record<string, string>, number] => [{ region }, n]);
    const up = observations.map((o): [Record<string, string>, number] => [{ region: o.region.id }, isRoutable(o.health.status) ? 1 : 0]);
    const lag = observations.flatMap((o): [Record<string, string>, number][] => {
      const seconds = o.replication?.status?.maxLagSeconds;
      return seconds === undefined ? [] : [[{ region: o.region.id }, seconds]];
    });
    return `${[
      family(MetricName.probes, 'counter', 'Health probes of each region, by result.', probes),
      family(MetricName.routes, 'counter', 'Routing answers (route and redirect), by the region chosen.', routes),
      family(MetricName.regionUp, 'gauge', '1 when the region is routable (up, or failing fewer than F probes).', up),
      family(MetricName.regionLag, 'gauge', 'The region\'s worst replication lag behind a peer, in seconds.', lag),
    ].join('\n')}\n`;
  }
}
