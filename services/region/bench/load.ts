/**
 * Load generators for the region write benchmark, run inside the bench process (the service
 * runs in its own process).
 *
 * - `closedLoop`: autocannon with N connections, each sending its next write as soon as the
 *   previous one answers. That finds the maximum rate: the service is never idle for want of work.
 * - `paced`: an open-loop generator at a fixed rate, one write every 1/rate s on a schedule that
 *   does not wait for answers; latency is measured from the scheduled send time, so a write
 *   held back because every connection was busy counts its wait (no coordinated omission).
 * - `autocannonRate`: autocannon's own `overallRate`, kept for comparison only. Its limiter is
 *   a per-connection quota refilled once a second (`reqsMadeThisSecond` in its http client):
 *   each connection spends its quota back to back at the top of every second and then idles,
 *   so "half the maximum rate" is really full load for about half of each second, and its
 *   coordinated-omission correction uses an expected interval of ceil(1 / per-connection
 *   rate) = 1 ms. Its percentiles are reported beside the paced ones, not instead of them.
 *
 * Latencies are taken from every response (float milliseconds); autocannon's own histogram
 * has 1 ms resolution, too coarse for a 2 ms median.
 */
import autocannon from 'autocannon';
import { RawConnection } from './raw-http.ts';

/** One kind of write: `path(k)` writes key number k. */
export interface WriteTarget {
  readonly name: string;
  readonly method: 'PUT' | 'POST';
  path(k: number): string;
  readonly body: string;
  /** Extra request headers (the bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Failures {
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  /** Count per status code, for the error message. */
  readonly statuses: Readonly<Record<string, number>>;
}

export interface LoadResult {
  readonly ok: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** Every 2xx latency, ms. */
  readonly latencies: Float64Array;
  readonly failures: Failures;
  /** Paced runs only: where in time the slowest 1% of writes were scheduled (see `tailWindows`). */
  readonly tail?: TailWindows | undefined;
}

/**
 * Where the slowest 1% of a paced run sit: in how many 100 ms windows of the schedule, the worst
 * windows, and how much of those writes' latency was spent before sending (every connection
 * busy). A few windows holding most of them mean stalls that hit every write in flight (a disk
 * flush, a GC burst, a busy machine); many windows mean a slow path that some writes take.
 */
export interface TailWindows {
  readonly threshold: number;
  readonly windows: number;
  readonly worst: readonly { readonly atSeconds: number; readonly writes: number; readonly maxMs: number }[];
  /** The mean share of the slowest 1%'s latency spent waiting for a free connection. */
  readonly waitShare: number;
}

const TAIL_WINDOW_MS = 100;

function tailWindows(scheduled: Float64Array, latency: Float64Array, waited: Float64Array, threshold: number): TailWindows {
  const byWindow = new Map<number, { writes: number; maxMs: number }>();
  let slowLatency = 0;
  let slowWaited = 0;
  for (let i = 0; i < latency.length; i++) {
    if (latency[i]! < threshold) continue;
    slowLatency += latency[i]!;
    slowWaited += waited[i]!;
    const w = Math.floor(scheduled[i]! / TAIL_WINDOW_MS);
    const entry = byWindow.get(w) ?? { writes: 0, maxMs: 0 };
    entry.writes++;
    entry.maxMs = Math.max(entry.maxMs, latency[i]!);
    byWindow.set(w, entry);
  }
  const worst = [...byWindow]
    .sort((a, b) => b[1].writes - a[1].writes)
    .slice(0, 3)
    .map(([w, e]) => ({ atSeconds: (w * TAIL_WINDOW_MS) / 1000, ...e }));
  return { threshold, windows: byWindow.size, worst, waitShare: slowLatency > 0 ? slowWaited / slowLatency : 0 };
}

/** Nearest-rank percentile of an unsorted sample (sorted in place). */
export function percentile(sample: Float64Array, p: number): number {
  if (sample.length === 0) return Number.NaN;
  sample.sort();
  const rank = Math.min(sample.length, Math.max(1, Math.ceil((p / 100) * sample.length)));
  return sample[rank - 1]!;
}

/** A growable array of latencies in ms. */
class Latencies {
  #values = new Float64Array(1 << 16);
  #length = 0;

  add(ms: number): void {
    if (this.#length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#length++] = ms;
  }

  get sample(): Float64Array {
    return this.#values.subarray(0, this.#length);
  }
}

function failed(failures: Failures): boolean {
  return failures.errors > 0 || failures.non2xx > 0;
}

/** Throws, naming what went wrong, unless every write answered 2xx. */
export function assertNoFailures(what: string, failures: Failures): void {
  if (!failed(failures)) return;
  throw new Error(
    `${what}: ${failures.errors} connection errors/timeouts and ${failures.non2xx} non-2xx answers (status counts ${JSON.stringify(failures.statuses)}); every write must succeed`,
  );
}

interface AutocannonRun {
  /** The service; several replicas share the connections (autocannon spreads them over the URLs). */
  readonly baseUrls: readonly string[];
  readonly target: WriteTarget;
  readonly nextKey: () => number;
  readonly connections: number;
  readonly seconds: number;
  /** Stop after this many requests instead of after `seconds`. */
  readonly amount?: number;
  /** Requests per second over all connections; absent: as fast as the service answers. */
  readonly overallRate?: number;
}

async function runAutocannon(options: AutocannonRun): Promise<LoadResult> {
  const latencies = new Latencies();
  const { target, nextKey } = options;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        // autocannon takes several URLs and spreads the connections over them; its types say string only.
        url: (options.baseUrls.length === 1 ? options.baseUrls[0]! : [...options.baseUrls]) as unknown as string,
        connections: options.connections,
        duration: options.seconds,
        ...(options.amount !== undefined ? { amount: options.amount } : {}),
        timeout: 10,
        ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
        requests: [
          {
            method: target.method,
            path: target.path(1),
            headers: { 'content-type': 'application/json', ...target.headers },
            body: target.body,
            setupRequest: (req) => ({ ...req, path: target.path(nextKey()) }),
          },
        ],
      },
      (error: unknown, done) => (error ? reject(error instanceof Error ? error : new Error(`autocannon failed: ${JSON.stringify(error)}`)) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.add(responseTime);
    });
  });
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  const sample = latencies.sample;
  return {
    ok: result['2xx'],
    seconds: result.duration,
    perSecond: result['2xx'] / result.duration,
    p50: percentile(sample, 50),
    p99: percentile(sample, 99),
    latencies: sample,
    failures: { errors: result.errors + result.timeouts, non2xx: result.non2xx + result.mismatches, statuses },
  };
}

/** The maximum rate: N connections, each writing as soon as its last write answered. */
export function closedLoop(options: Omit<AutocannonRun, 'overallRate'>): Promise<LoadResult> {
  return runAutocannon(options);
}

/** autocannon's `overallRate` (bursty, see the header); for comparison with `paced`. */
export function autocannonRate(options: AutocannonRun & { readonly overallRate: number }): Promise<LoadResult> {
  return runAutocannon(options);
}

export interface PacedRun {
  /** The service; writes go to its replicas in turn. */
  readonly baseUrls: readonly string[];
  readonly target: WriteTarget;
  readonly nextKey: () => number;
  /** Keep-alive connections the writes are spread over (a write waits when all are busy). */
  readonly connections: number;
  readonly seconds: number;
  readonly rate: number;
}

/** Open loop at a fixed rate; each latency runs from the write's scheduled time to its answer. */
export async function paced(options: PacedRun): Promise<LoadResult> {
  // The generator collects its own garbage first (with --expose-gc, as `npm run bench` runs it):
  // the phase before may have left it a heap to collect (pgbench's latency log, parsed), and a
  // major GC of the generator in the first second would count as the service's latency.
  (globalThis as { gc?: () => void }).gc?.();
  const { target, nextKey, rate } = options;
  const connections = options.baseUrls.flatMap((u, r) =>
    Array.from({ length: Math.max(1, Math.ceil(options.connections / options.baseUrls.length)) }, () => ({ replica: r, connection: new RawConnection(new URL(u)) })),
  );
  const hosts = options.baseUrls.map((u) => new URL(u).host);
  const body = Buffer.from(target.body);
  const extraHeaders = Object.entries(target.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const total = Math.max(1, Math.round(rate * options.seconds));
  const latencies = new Latencies();
  const statuses: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  // Per 2xx write, in the order of `latencies`: when it was due, and how long it waited to be sent.
  const scheduledOffsets = new Latencies();
  const waits = new Latencies();
  // Every connection is open before the schedule starts: a client of a live service reuses its
  // keep-alive connections, and opening them all at the first tick would count their set-up
  // (on both ends) in the first writes' latency.
  await Promise.all(connections.map((c) => c.connection.connected));
  const started = performance.now();
  /** Writes due but not sent: every connection was busy (their wait counts in their latency). */
  const backlog: number[] = [];
  let turn = 0;

  const idleConnection = (): RawConnection | undefined => {
    for (let i = 0; i < connections.length; i++) {
      const c = connections[(turn + i) % connections.length]!;
      if (!c.connection.busy) {
        turn = (turn + i + 1) % connections.length;
        return c.connection;
      }
    }
    return undefined;
  };
  const replicaOf = new Map(connections.map((c) => [c.connection, c.replica]));

  const send = (connection: RawConnection, scheduledAt: number): void => {
    const head = `${target.method} ${target.path(nextKey())} HTTP/1.1\r\nhost: ${hosts[replicaOf.get(connection)!]}\r\ncontent-type: application/json\r\n${extraHeaders}content-length: ${body.length}\r\n\r\n`;
    const sentAt = performance.now();
    const done = connection.send(Buffer.concat([Buffer.from(head, 'latin1'), body])).then(
      ({ status: code }) => {
        statuses[code] = (statuses[code] ?? 0) + 1;
        if (code >= 200 && code < 300) {
          ok++;
          latencies.add(performance.now() - scheduledAt);
          scheduledOffsets.add(scheduledAt - started);
          waits.add(sentAt - scheduledAt);
        } else non2xx++;
      },
      () => {
        errors++;
      },
    );
    inFlight.add(done);
    void done.then(() => {
      inFlight.delete(done);
      // A connection came free: the oldest write waiting for one goes now.
      const waiting = backlog.shift();
      if (waiting !== undefined) send(connection, waiting);
    });
  };
  const schedule = (scheduledAt: number): void => {
    const connection = backlog.length === 0 ? idleConnection() : undefined;
    if (connection) send(connection, scheduledAt);
    else backlog.push(scheduledAt);
  };

  const interval = 1000 / rate;
  let issued = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      while (issued < due) schedule(started + issued++ * interval);
      if (issued < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  while (inFlight.size > 0 || backlog.length > 0) await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  for (const c of connections) c.connection.close();
  const sample = latencies.sample;
  // Before `percentile` sorts the sample in place: the tail needs each latency beside its write.
  const tail = tailWindows(scheduledOffsets.sample, sample, waits.sample, percentile(sample.slice(), 99));
  return { ok, seconds, perSecond: ok / seconds, p50: percentile(sample, 50), p99: percentile(sample, 99), latencies: sample, failures: { errors, non2xx, statuses }, tail };
}
