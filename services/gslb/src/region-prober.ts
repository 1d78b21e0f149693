/**
 * The I/O edge that feeds the health board: one loop per region that, every interval, asks the
 * region's `GET /health/ready` (200 = good, anything else, an error or no answer within the
 * timeout = failed) and, alongside, its `GET /v1/replication` (lag and applied vector; a region
 * that does not serve it yet — 404 — has unknown freshness, which never demotes it).
 *
 * Timing: probe starts are `intervalMs` apart, and the configuration guarantees
 * timeout ≤ interval, so a region's probes never overlap and a region that fails at time t is
 * down by t + F × interval + timeout (its F-th failed probe starts at most F intervals later and
 * concludes within the timeout). Loops are independent: a region that hangs never delays the
 * probes of another.
 *
 * `run()`/`stop()`: stop aborts probes in flight (their results are dropped, not recorded as
 * failures — the GSLB is going away, not the region) and resolves when every loop has ended.
 */
import type { HealthBoard, ProbeResult, ReplicationObservation } from './health-board.ts';
import { decodeReplicationStatus } from './replication-status.ts';
import type { RegionSpec } from './config.ts';

export interface RegionProberOptions {
  readonly regions: readonly RegionSpec[];
  readonly board: HealthBoard;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The clock stamped on results (ms); Date.now by default. */
  readonly clock?: () => number;
  /** Called after every health probe (metrics). */
  readonly onProbe?: (region: string, result: ProbeResult) => void;
  /** A bearer token with the read scope, for the regions' `/v1/replication` (health probes need none). */
  readonly regionToken?: string | undefined;
}

/** At most this much of an answer's body is read into a failure reason. */
const REASON_LIMIT = 300;

/** A short reason from a failed /health/ready answer: the failing checks, if the body names them. */
function reasonFromAnswer(status: number, body: string): string {
  let detail = '';
  try {
    const parsed = JSON.parse(body) as { checks?: Record<string, { ok?: boolean; reason?: string }> };
    detail = Object.entries(parsed.checks ?? {})
      .filter(([, c]) => c.ok === false)
      .map(([name, c]) => `${name}: ${c.reason ?? 'failed'}`)
      .join('; ');
  } catch {
    detail = body.trim();
  }
  return `HTTP ${status}${detail ? ` — ${detail}` : ''}`.slice(0, REASON_LIMIT);
}

function reasonFromError(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return (e.cause?.code ?? e.cause?.message ?? e.message).slice(0, REASON_LIMIT);
}

export class RegionProber {
  readonly #options: RegionProberOptions;
  readonly #clock: () => number;
  readonly #stop = new AbortController();
  readonly #wakers = new Set<() => void>();
  #loops: Promise<void>[] = [];

  constructor(options: RegionProberOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Starts one loop per region; the first probes go out at once. */
  run(): void {
    if (this.#loops.length > 0) return;
    this.#loops = this.#options.regions.map((region) => this.#loop(region));
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    for (const wake of this.#wakers) wake();
    await Promise.all(this.#loops);
  }

  async #loop(region: RegionSpec): Promise<void> {
    while (!this.#stop.signal.aborted) {
      const started = performance.now();
      await this.probeOnce(region);
      await this.#sleep(this.#options.intervalMs - (performance.now() - started));
    }
  }

  /** One probe cycle of one region: health and replication, side by side, recorded on the board. */
  async probeOnce(region: RegionSpec): Promise<void> {
    const [health, replication] = await Promise.all([this.#probeHealth(region), this.#probeReplication(region)]);
    if (this.#stop.signal.aborted) return;
    this.#options.board.recordReplication(region.id, replication);
    this.#options.board.recordProbe(region.id, health);
    this.#options.onProbe?.(region.id, health);
  }

  #signal(): AbortSignal {
    return AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#options.timeoutMs)]);
  }

  async #probeHealth(region: RegionSpec): Promise<ProbeResult> {
    const started = performance.now();
    const latency = (): number => Math.round((performance.now() - started) * 10) / 10;
    try {
      const response = await fetch(`${region.url}/health/ready`, { signal: this.#signal(), headers: { accept: 'application/json' } });
      const body = await response.text();
      const ok = response.status === 200;
      return { at: this.#clock(), ok, httpStatus: response.status, latencyMs: latency(), reason: ok ? undefined : reasonFromAnswer(response.status, body) };
    } catch (error) {
      return { at: this.#clock(), ok: false, httpStatus: undefined, latencyMs: latency(), reason: reasonFromError(error, this.#options.timeoutMs) };
    }
  }

  async #probeReplication(region: RegionSpec): Promise<ReplicationObservation> {
    try {
      const response = await fetch(`${region.url}/v1/replication`, { signal: this.#signal(), headers: { accept: 'application/json', ...(this.#options.regionToken ? { authorization: `Bearer ${this.#options.regionToken}` } : {}) } });
      const body = await response.text();
      if (response.status !== 200) return { at: this.#clock(), status: undefined, reason: `HTTP ${response.status}${response.status === 404 ? ' (not served yet)' : ''}` };
      return { at: this.#clock(), status: decodeReplicationStatus(JSON.parse(body)), reason: undefined };
    } catch (error) {
      return { at: this.#clock(), status: undefined, reason: reasonFromError(error, this.#options.timeoutMs) };
    }
  }

  /** Waits `ms`, or less if stopped. */
  async #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#stop.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }
}
