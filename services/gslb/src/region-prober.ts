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
 * Membership: each configured region's probe cycle also reads its `GET /v1/members` (read scope,
 * the same token); the regions members of some configured region and removed from none are put
 * on the board (`track`) and probed by loops of their own, started and stopped as membership
 * changes (membership-discovery.ts). A configured region that does not answer keeps its last
 * answer: a region is not dropped because one peer is unreachable.
 *
 * `run()`/`stop()`: stop aborts probes in flight (their results are dropped, not recorded as
 * failures — the GSLB is going away, not the region) and resolves when every loop has ended.
 */
import type { HealthBoard, ProbeResult, ReplicationObservation } from './health-board.ts';
import { decodeReplicationStatus } from './replication-status.ts';
import { decodeMembers, discoveredRegions, type MemberEntry } from './membership-discovery.ts';
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
  /** Per region probed: its loop and what stops it alone (a region membership dropped). */
  readonly #loops = new Map<string, { readonly stop: AbortController; readonly done: Promise<void> }>();
  /** Each configured region's last usable members answer. */
  readonly #members = new Map<string, readonly MemberEntry[]>();
  #running = false;

  constructor(options: RegionProberOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Starts one loop per region; the first probes go out at once. */
  run(): void {
    if (this.#running) return;
    this.#running = true;
    for (const region of this.#options.regions) this.#start(region);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    for (const wake of this.#wakers) wake();
    await Promise.all([...this.#loops.values()].map((l) => l.done));
  }

  #start(region: RegionSpec): void {
    const stop = new AbortController();
    this.#loops.set(region.id, { stop, done: this.#loop(region, stop.signal) });
  }

  async #loop(region: RegionSpec, own: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([this.#stop.signal, own]);
    while (!signal.aborted) {
      const started = performance.now();
      await this.probeOnce(region, signal);
      await this.#sleep(this.#options.intervalMs - (performance.now() - started), signal);
    }
  }

  /** One probe cycle of one region: health and replication (and, for a configured region, its members), side by side, recorded on the board. */
  async probeOnce(region: RegionSpec, signal: AbortSignal = this.#stop.signal): Promise<void> {
    const configured = this.#options.regions.includes(region);
    const [health, replication, members] = await Promise.all([this.#probeHealth(region, signal), this.#probeReplication(region, signal), configured ? this.#probeMembers(region, signal) : undefined]);
    if (signal.aborted || !this.#options.board.knows(region.id)) return;
    this.#options.board.recordReplication(region.id, replication);
    this.#options.board.recordProbe(region.id, health);
    this.#options.onProbe?.(region.id, health);
    if (members !== undefined) {
      this.#members.set(region.id, members);
      this.#rediscover();
    }
  }

  /** Puts the regions membership names on the board; starts and stops their loops. */
  #rediscover(): void {
    const { added, removed } = this.#options.board.track(discoveredRegions(this.#options.regions, this.#members));
    for (const id of removed) {
      this.#loops.get(id)?.stop.abort();
      this.#loops.delete(id);
    }
    if (this.#running && !this.#stop.signal.aborted) for (const region of added) this.#start(region);
  }

  #signal(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs)]);
  }

  #auth(): Record<string, string> {
    return this.#options.regionToken ? { authorization: `Bearer ${this.#options.regionToken}` } : {};
  }

  /** A configured region's members; undefined when it gave no usable answer (its last one stands). */
  async #probeMembers(region: RegionSpec, signal: AbortSignal): Promise<MemberEntry[] | undefined> {
    try {
      const response = await fetch(`${region.url}/v1/members`, { signal: this.#signal(signal), headers: { accept: 'application/json', ...this.#auth() } });
      const body = await response.text();
      return response.status === 200 ? decodeMembers(JSON.parse(body)) : undefined;
    } catch {
      return undefined;
    }
  }

  async #probeHealth(region: RegionSpec, signal: AbortSignal): Promise<ProbeResult> {
    const started = performance.now();
    const latency = (): number => Math.round((performance.now() - started) * 10) / 10;
    try {
      const response = await fetch(`${region.url}/health/ready`, { signal: this.#signal(signal), headers: { accept: 'application/json' } });
      const body = await response.text();
      const ok = response.status === 200;
      return { at: this.#clock(), ok, httpStatus: response.status, latencyMs: latency(), reason: ok ? undefined : reasonFromAnswer(response.status, body) };
    } catch (error) {
      return { at: this.#clock(), ok: false, httpStatus: undefined, latencyMs: latency(), reason: reasonFromError(error, this.#options.timeoutMs) };
    }
  }

  async #probeReplication(region: RegionSpec, signal: AbortSignal): Promise<ReplicationObservation> {
    try {
      const response = await fetch(`${region.url}/v1/replication`, { signal: this.#signal(signal), headers: { accept: 'application/json', ...this.#auth() } });
      const body = await response.text();
      if (response.status !== 200) return { at: this.#clock(), status: undefined, reason: `HTTP ${response.status}${response.status === 404 ? ' (not served yet)' : ''}` };
      return { at: this.#clock(), status: decodeReplicationStatus(JSON.parse(body)), reason: undefined };
    } catch (error) {
      return { at: this.#clock(), status: undefined, reason: reasonFromError(error, this.#options.timeoutMs) };
    }
  }

  /** Waits `ms`, or less if stopped. */
  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0 || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
}
