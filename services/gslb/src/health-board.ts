/**
 * Everything the GSLB knows about the regions: per region its health state (driven through the
 * transition table), its recent probe results and its last replication status. No I/O and no
 * clock of its own — results arrive with their times — so it is both what the prober writes
 * into in production and what tests feed directly (the in-memory side of the prober).
 *
 * Invariants: it knows exactly the configured regions and those last learned from membership
 * (`track`; a result for another id is a bug and throws); the probe history is bounded (the newest `historySize` results, oldest first);
 * `views()` is derived from the current states only, which keeps routing a function of them.
 */
import { INITIAL_HEALTH, nextHealth, HealthEventType, HealthStatus, type HealthThresholds, type RegionHealth } from './region-health.ts';
import type { ReplicationStatus } from './replication-status.ts';
import type { RegionView } from './route-decision.ts';
import type { RegionSpec } from './config.ts';

export interface ProbeResult {
  /** When the probe concluded (ms, the prober's clock). */
  readonly at: number;
  readonly ok: boolean;
  /** The HTTP status, when an answer came. */
  readonly httpStatus: number | undefined;
  readonly latencyMs: number;
  /** Why it failed (or undefined when it did not). */
  readonly reason: string | undefined;
}

export interface ReplicationObservation {
  readonly at: number;
  /** Undefined when the region did not give a usable answer (`reason` says why). */
  readonly status: ReplicationStatus | undefined;
  readonly reason: string | undefined;
}

export interface RegionObservation {
  readonly region: RegionSpec;
  readonly health: RegionHealth;
  /** Oldest first, at most `historySize`. */
  readonly probes: readonly ProbeResult[];
  readonly probeCounts: { readonly ok: number; readonly failed: number };
  readonly replication: ReplicationObservation | undefined;
}

export interface HealthBoardOptions {
  readonly historySize?: number;
  /** Called when a region's status changes (not on every probe). */
  readonly onTransition?: (region: string, from: RegionHealth, to: RegionHealth, probe: ProbeResult) => void;
}

interface Entry {
  health: RegionHealth;
  probes: ProbeResult[];
  ok: number;
  failed: number;
  replication: ReplicationObservation | undefined;
}

export class HealthBoard {
  readonly #configured: readonly RegionSpec[];
  #discovered: readonly RegionSpec[] = [];
  readonly #thresholds: HealthThresholds;
  readonly #historySize: number;
  readonly #onTransition: HealthBoardOptions['onTransition'];
  readonly #entries = new Map<string, Entry>();

  constructor(regions: readonly RegionSpec[], thresholds: HealthThresholds, options: HealthBoardOptions = {}) {
    this.#configured = regions;
    this.#thresholds = thresholds;
    this.#historySize = options.historySize ?? 10;
    this.#onTransition = options.onTransition;
    for (const r of regions) this.#entries.set(r.id, { health: INITIAL_HEALTH, probes: [], ok: 0, failed: 0, replication: undefined });
  }

  #entry(region: string): Entry {
    const entry = this.#entries.get(region);
    if (!entry) throw new Error(`no region ${JSON.stringify(region)} on this board`);
    return entry;
  }

  /** Records a probe result and runs the state machine; returns the new health. */
  recordProbe(region: string, result: ProbeResult): RegionHealth {
    const entry = this.#entry(region);
    const before = entry.health;
    entry.health = nextHealth(before, { type: result.ok ? HealthEventType.probeOk : HealthEventType.probeFailed, at: result.at }, this.#thresholds);
    entry.probes.push(result);
    if (entry.probes.length > this.#historySize) entry.probes.shift();
    if (result.ok) entry.ok += 1;
    else entry.failed += 1;
    if (entry.health.status !== before.status) this.#onTransition?.(region, before, entry.health, result);
    return entry.health;
  }

  /** Every region routing considers: the configured ones in configuration order, then those learned from membership by id. */
  regions(): RegionSpec[] {
    return [...this.#configured, ...this.#discovered];
  }

  /**
   * Sets the regions learned from membership: a new one starts unknown (not routable until
   * probed up), one no longer listed is forgotten with its history. Returns the ids added and
   * removed, so the prober starts and stops their loops.
   */
  track(discovered: readonly RegionSpec[]): { added: RegionSpec[]; removed: string[] } {
    const next = new Set(discovered.map((r) => r.id));
    const removed = this.#discovered.filter((r) => !next.has(r.id)).map((r) => r.id);
    const added = discovered.filter((r) => !this.#entries.has(r.id));
    for (const id of removed) this.#entries.delete(id);
    for (const r of added) this.#entries.set(r.id, { health: INITIAL_HEALTH, probes: [], ok: 0, failed: 0, replication: undefined });
    this.#discovered = discovered;
    return { added, removed };
  }

  /** Whether results for this region are still wanted (false once membership dropped it). */
  knows(region: string): boolean {
    return this.#entries.has(region);
  }

  recordReplication(region: string, observation: ReplicationObservation): void {
    this.#entry(region).replication = observation;
  }

  health(region: string): RegionHealth {
    return this.#entry(region).health;
  }

  /** Every region (configured, then learned), as plain frozen-enough snapshots. */
  observations(): RegionObservation[] {
    return this.regions().map((region) => {
      const e = this.#entry(region.id);
      return { region, health: e.health, probes: [...e.probes], probeCounts: { ok: e.ok, failed: e.failed }, replication: e.replication };
    });
  }

  /** What routing reads: status, worst lag and applied vector per region. */
  views(): ReadonlyMap<string, RegionView> {
    const views = new Map<string, RegionView>();
    for (const [id, e] of this.#entries) {
      views.set(id, { status: e.health.status, maxLagSeconds: e.replication?.status?.maxLagSeconds, applied: e.replication?.status?.applied });
    }
    return views;
  }

  /** True once every configured region has been probed at least once (the GSLB's readiness; a region that just joined does not make it unready). */
  allProbed(): boolean {
    return this.#configured.every((r) => this.#entry(r.id).health.status !== HealthStatus.unknown);
  }
}
