/**
 * Soak: does storage stay proportional to live data under deletes? (not a test: `npm run bench`;
 * issue 21 item 5, decision 0012's garbage collection and retention).
 *
 * Set-up: two regions, `a` and `b`, each the real program (`src/main.ts`, started by infra/local's
 * startRegionProcess) on its own database of one private PostgreSQL server (autovacuum on, as
 * deployed: without it no deleted row's space is reused), replicating to each other through one
 * private Kafka broker (each region's updates topic on it), authentication on
 * as deployed (BENCH_AUTH). Retention is shortened so that a 30-minute run spans many GC
 * periods: MERIDIAN_TOMBSTONE_MIN_AGE 30s (which needs MERIDIAN_MAX_CLOCK_DRIFT_MS ≤ 3000),
 * MERIDIAN_IDEMPOTENCY_TTL, MERIDIAN_CONFLICT_RETENTION and MERIDIAN_OUTBOX_RETENTION 1m; any MERIDIAN_* variable set for
 * the run overrides them and reaches both regions.
 *
 * The workload (WriteStream): live data of a fixed size — per region a window of BENCH_KEYS lww
 * registers, BENCH_ELEMENTS elements of BENCH_COLLECTIONS sets and as many fields of as many maps
 * (the collections shared by both regions, which write them at once) — through which everything
 * slides: of every three writes of a kind one adds a new item, one rewrites a live one, one
 * deletes the oldest (register DELETE, set remove, map field delete). So a third of the writes
 * delete, every deleted item is garbage never touched again, and without GC and retention the
 * tables would grow with the writes. Every write carries a fresh Idempotency-Key.
 *
 * 0. The windows are filled (adds only), and the regions catch up with each other.
 * 1. Maximum rate: both regions written at once as fast as BENCH_CONNECTIONS connections each
 *    allow, for BENCH_MAX_SECONDS.
 * 2. Soak: half that rate (split between the regions, open loop) for BENCH_SOAK_MINUTES. Every
 *    BENCH_SAMPLE_SECONDS each region's `/metrics` gives its tables' sizes
 *    (`meridian_table_bytes`) and tombstones held (`meridian_tombstones`), its database the row
 *    counts of the tables that grow with writes, /proc the region process's RSS.
 * 3. Verdict (soak-verdict.ts): each table's size and each RSS must be flat after the first GC
 *    period — the last third's highest sample at most the period's level × (1 + BENCH_TOLERANCE
 *    %) + 1 MiB for tables. The baseline of every figure is thus the same run's own level once
 *    GC has run; a run that is not flat exits with status 1.
 *
 * Settings (environment): BENCH_SOAK_MINUTES (30), BENCH_SAMPLE_SECONDS (30), BENCH_MAX_SECONDS
 * (20), BENCH_CONNECTIONS (16 per region), BENCH_KEYS (300), BENCH_COLLECTIONS (10),
 * BENCH_ELEMENTS (100), BENCH_TOLERANCE (25, %), BENCH_SEED (1), BENCH_KAFKA_HEAP_MB (256),
 * BENCH_AUTH (on), BENCH_LOG_DIR (unset: the regions' logs are removed). Validation run: BENCH_SOAK_MINUTES=3.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDatabase, startKafkaBroker, startPrivatePostgres, startRegionProcess, type RegionProcess } from '@meridian/infra-local';
import { fixed, markdownTable, whole } from '@meridian/testkit';
import { benchAuth, cleanupStack, describeSettings, envInt, log, serviceSettings } from './bench-env.ts';
import { RawConnectionPool } from './raw-http.ts';
import { judgeFlatness, type SoakSample } from './soak-verdict.ts';
import { keyStream } from './workloads.ts';

const MINUTES = envInt('BENCH_SOAK_MINUTES', 30, 1, 24 * 60);
const SAMPLE_SECONDS = envInt('BENCH_SAMPLE_SECONDS', 30, 1, 3600);
const MAX_SECONDS = envInt('BENCH_MAX_SECONDS', 20, 1, 600);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 16, 1, 1000);
const KEYS = envInt('BENCH_KEYS', 300, 10, 10_000_000);
const COLLECTIONS = envInt('BENCH_COLLECTIONS', 10, 1, 1_000_000);
const ELEMENTS = envInt('BENCH_ELEMENTS', 100, 10, 1_000_000);
/** Live items of each kind per region. */
const WINDOW = { lww: KEYS, set: ELEMENTS, map: ELEMENTS } as const;
const TOLERANCE = envInt('BENCH_TOLERANCE', 25, 0, 1000) / 100;
const SEED = envInt('BENCH_SEED', 1, 0, 2 ** 31 - 1);
const KAFKA_HEAP_MB = envInt('BENCH_KAFKA_HEAP_MB', 256, 128, 8192);
const TABLE_SLACK = 1024 * 1024;

/** Retention short enough for a run of minutes; MERIDIAN_* in the environment wins. */
const RETENTION: Record<string, string> = {
  MERIDIAN_TOMBSTONE_MIN_AGE: '30s',
  MERIDIAN_MAX_CLOCK_DRIFT_MS: '3000',
  MERIDIAN_IDEMPOTENCY_TTL: '1m',
  MERIDIAN_CONFLICT_RETENTION: '1m',
  MERIDIAN_OUTBOX_RETENTION: '1m',
};
const REGIONS = ['a', 'b'] as const;
const NS = { lww: 'soak_lww', set: 'soak_set', map: 'soak_map' } as const;
const VALUE = JSON.stringify({ value: { user: 'u0042', score: 1234, note: 'a register value of about one hundred bytes, padded..' } });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number | undefined): string => fixed(bytes === undefined ? undefined : bytes / 1024 / 1024, 1);

/** The tables whose rows come and go with the writes (row counts sampled). */
const COUNTED = ['meridian_keys', 'meridian_outbox', 'meridian_idempotency', 'meridian_conflicts', 'meridian_dead_letters'] as const;

interface RegionSample {
  readonly tableBytes: ReadonlyMap<string, number>;
  readonly tombstones: number | undefined;
  readonly rows: Readonly<Record<string, number>>;
  readonly rssBytes: number | undefined;
  readonly purged: number | undefined;
}

interface Sample {
  readonly atSeconds: number;
  readonly regions: Readonly<Record<string, RegionSample>>;
  /** Writes answered 2xx since the last sample, per second; failures so far. */
  readonly rate: number;
  readonly failures: number;
}

type Write = { method: string; path: string; body: string; headers: Record<string, string> };

/**
 * One region's writes over sliding windows, so that the live data stays the same size while
 * everything deleted is garbage: registers `<region>k<n>`, set elements `<region>e<n>` (in sets
 * s0…s<C-1>, shared by both regions) and map fields `<region>f<n>` (in maps m0…). Each kind has a
 * window of live items: a write adds a new item, rewrites a live one (an update, a re-add), or
 * deletes the oldest — one in three — so the window keeps its size. A region's keys are its own
 * (its deletes never race the other region's writes to them); the collections are shared.
 * `fill()` writes the first window of every kind (adds only).
 */
class WriteStream {
  readonly #region: string;
  readonly #pick: () => number;
  /** Per kind: next new item, oldest live item. */
  readonly #next = { lww: 0, set: 0, map: 0 };
  readonly #oldest = { lww: 0, set: 0, map: 0 };
  #turn = 0;
  #written = 0;

  constructor(region: string, seed: number) {
    this.#region = region;
    this.#pick = keyStream(seed, 2 ** 30);
  }

  /** The next write of the filling phase, or undefined once every window is full. */
  fill(): Write | undefined {
    for (const kind of ['lww', 'set', 'map'] as const) if (this.#next[kind] < WINDOW[kind]) return this.#write(kind, 'new');
    return undefined;
  }

  /** The next write of the mix: per kind, new, rewrite, delete the oldest. */
  next(): Write {
    const turn = this.#turn++ % 9;
    const kind = (['lww', 'set', 'map'] as const)[Math.floor(turn / 3)]!;
    return this.#write(kind, (['new', 'rewrite', 'delete'] as const)[turn % 3]!);
  }

  #write(kind: 'lww' | 'set' | 'map', op: 'new' | 'rewrite' | 'delete'): Write {
    const live = this.#next[kind] - this.#oldest[kind];
    // A rewrite picks among the newer nine tenths of the window: never an item whose delete may be in flight.
    const n = op === 'new' ? this.#next[kind]++ : op === 'delete' ? this.#oldest[kind]++ : this.#next[kind] - 1 - (this.#pick() % Math.max(1, Math.floor(live * 0.9)));
    const r = this.#region;
    const headers = { 'idempotency-key': `soak-${r}-${this.#written++}` };
    const collection = n % COLLECTIONS;
    switch (kind) {
      case 'lww':
        return op === 'delete' ? { method: 'DELETE', path: `/v1/ns/${NS.lww}/keys/${r}k${n}`, body: '', headers } : { method: 'PUT', path: `/v1/ns/${NS.lww}/keys/${r}k${n}`, body: VALUE, headers };
      case 'set':
        return { method: 'POST', path: `/v1/ns/${NS.set}/keys/s${collection}/ops`, body: JSON.stringify(op === 'delete' ? { remove: [`${r}e${n}`] } : { add: [`${r}e${n}`] }), headers };
      case 'map':
        return { method: 'POST', path: `/v1/ns/${NS.map}/keys/m${collection}/ops`, body: JSON.stringify(op === 'delete' ? { delete: [`${r}f${n}`] } : { set: { [`${r}f${n}`]: `a field value ${this.#written}` } }), headers };
    }
  }
}

/** Counters of one region's load since the last look. */
class LoadCounters {
  ok = 0;
  failures = 0;
  /** Open-loop writes skipped because they were due more than half a second ago. */
  skipped = 0;
  firstFailure: string | undefined;
  readonly statuses: Record<string, number> = {};
  answered(status: number, body: Buffer, what: string): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) this.ok++;
    else this.failed(`${what}: ${status} ${body.toString('utf8', 0, 300)}`);
  }
  failed(what: string): void {
    this.failures++;
    this.firstFailure ??= what;
  }
}

/** Writes through `pool` from `next` until `stop()` says so: closed loop (`rate` undefined) or open loop at `rate`/s. */
async function drive(pool: RawConnectionPool, next: () => Write | undefined, counters: LoadCounters, stop: () => boolean, rate?: number, connections = CONNECTIONS): Promise<void> {
  let done = false;
  const one = async (): Promise<void> => {
    const w = next();
    if (w === undefined) {
      done = true;
      return;
    }
    await pool.request(w.method, w.path, w.body, w.headers).then(
      (answer) => counters.answered(answer.status, answer.body, `${w.method} ${w.path}`),
      (error: unknown) => counters.failed(`${w.method} ${w.path}: ${(error as Error).message}`),
    );
  };
  if (rate === undefined) {
    // A failure ends the closed loop (a dead pool would otherwise fail every write at once).
    await Promise.all(Array.from({ length: connections }, async () => {
      while (!stop() && !done && counters.failures === 0) await one();
    }));
    return;
  }
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const interval = 1000 / rate;
  let issued = 0;
  while (!stop()) {
    const due = Math.floor((performance.now() - started) / interval) + 1;
    // Writes more than half a second late (the shared machine stalled this process) are skipped,
    // not sent at once: a burst would measure the stall, not the steady state the soak is about.
    if (due - issued > Math.max(1, rate / 2)) {
      counters.skipped += due - issued - 1;
      issued = due - 1;
    }
    while (issued < due) {
      issued++;
      const p = one();
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await sleep(2);
  }
  await Promise.all(inFlight);
}

/** `name{table="x"} 123` lines of a Prometheus text answer. */
function metricValues(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)`).exec(line);
    if (!match) continue;
    const table = /table="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '';
    out.set(table, Number(match[2]));
  }
  return out;
}

function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();
  let flat = false;
  try {
    // The shared test infrastructure's variables are not region settings.
    const settings = { ...RETENTION, ...Object.fromEntries(Object.entries(serviceSettings()).filter(([k]) => !k.startsWith('MERIDIAN_TEST_') && k !== 'MERIDIAN_CACHE_DIR')) };
    const minAgeMs = Number(/^(\d+)s$/.exec(settings['MERIDIAN_TOMBSTONE_MIN_AGE']!)?.[1] ?? Number.NaN) * 1000;
    if (!Number.isFinite(minAgeMs)) throw new Error(`MERIDIAN_TOMBSTONE_MIN_AGE: the soak takes whole seconds (e.g. 30s) (got ${settings['MERIDIAN_TOMBSTONE_MIN_AGE']})`);
    // The region's retention round (region.ts): a fifth of the min age, from 1 s to 10 s.
    const roundMs = Math.min(10_000, Math.max(1000, Math.floor(minAgeMs / 5)));
    const gcPeriodSeconds = (2 * minAgeMs + roundMs) / 1000;

    // The regions' logs: kept in BENCH_LOG_DIR when set, else in a temporary directory removed at the end.
    const keptLogs = process.env['BENCH_LOG_DIR'] || undefined;
    const workDir = keptLogs ?? mkdtempSync(join(tmpdir(), 'meridian-soak-'));
    if (!keptLogs) cleanups.push(() => Promise.resolve(rmSync(workDir, { recursive: true, force: true })));
    // A private server at PostgreSQL's defaults where they matter here: autovacuum on, as in any
    // deployment (a test server may run without it, and then every deleted row's space stays).
    log('starting a private PostgreSQL server and a private Kafka broker');
    const [server, broker] = await Promise.all([startPrivatePostgres({ settings: { max_connections: '100' } }), startKafkaBroker({ name: 'bench-soak', heapMb: KAFKA_HEAP_MB })]);
    cleanups.push(() => server.destroy());
    cleanups.push(() => broker.destroy());
    const admin = server.url;
    const bench = await benchAuth();
    const dbUrl: Record<string, string> = {};
    for (const region of REGIONS) {
      // The databases go with the server's data directory.
      dbUrl[region] = await createDatabase(`bench_soak_${region}`, admin);
    }
    log(`starting regions a and b (${Object.entries(RETENTION).map(([k]) => `${k}=${settings[k]}`).join(' ')})`);
    const regions: Record<string, RegionProcess> = {};
    // One after the other: two regions creating their topics at once on a fresh broker can see
    // UNKNOWN_TOPIC_OR_PARTITION from its metadata and exit before ready.
    for (const region of REGIONS) {
      const peer = region === 'a' ? 'b' : 'a';
      const started = await startRegionProcess({
        region,
        databaseUrl: dbUrl[region]!,
        auth: bench.auth,
        kafkaBrokers: broker.bootstrap,
        peers: { [peer]: broker.bootstrap },
        logLevel: 'warn',
        logFile: join(workDir, `region-${region}.log`),
        env: { ...bench.env, ...settings },
      });
      cleanups.push(async () => {
        await started.stop();
        if (started.process.logTail(200).match(/"level":(50|60)/)) log(`region ${region} logged errors; tail:\n${started.process.logTail(20)}`);
      });
      regions[region] = started;
    }
    const dbs: Record<string, pg.Client> = {};
    for (const region of REGIONS) {
      const client = new pg.Client({ connectionString: dbUrl[region]! });
      await client.connect();
      cleanups.push(() => client.end());
      dbs[region] = client;
    }
    const call = async (region: string, method: string, path: string, body?: unknown): Promise<string> => {
      const res = await fetch(`${regions[region]!.url}${path}`, {
        method,
        headers: { ...bench.header('admin'), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${region}: ${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
      return text;
    };
    for (const region of REGIONS) {
      for (const [policy, ns] of Object.entries(NS)) await call(region, 'PUT', `/v1/namespaces/${ns}`, { policy });
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const states = await Promise.all(REGIONS.map(async (r) => Object.values((JSON.parse(await call(r, 'GET', '/v1/replication')) as { peers: Record<string, { state: string }> }).peers).map((p) => p.state)));
      if (states.every((s) => s.length === 1 && s[0] === 'streaming')) break;
      if (Date.now() > deadline) throw new Error(`replication links not streaming within 60 s: ${JSON.stringify(states)}`);
      await sleep(500);
    }

    type ReplicationView = { applied: Record<string, number> };
    /** Until each region has applied everything the other has published so far. */
    const caughtUp = async (): Promise<void> => {
      const until = Date.now() + 120_000;
      for (;;) {
        const [va, vb] = await Promise.all(REGIONS.map(async (r) => JSON.parse(await call(r, 'GET', '/v1/replication')) as ReplicationView));
        if ((vb!.applied['a'] ?? 0) >= (va!.applied['a'] ?? 0) && (va!.applied['b'] ?? 0) >= (vb!.applied['b'] ?? 0)) return;
        if (Date.now() > until) throw new Error(`the regions did not catch up with each other within 120 s: ${JSON.stringify([va, vb])}`);
        await sleep(500);
      }
    };
    const pools = Object.fromEntries(REGIONS.map((r) => [r, new RawConnectionPool(new URL(regions[r]!.url), CONNECTIONS, undefined, bench.header('writer'))]));
    cleanups.push(() => Promise.resolve(Object.values(pools).forEach((p) => p.close())));
    await Promise.all(Object.values(pools).map((p) => p.connected));
    const streams = Object.fromEntries(REGIONS.map((r, i) => [r, new WriteStream(r, SEED + i * 7919)]));
    const counters = Object.fromEntries(REGIONS.map((r) => [r, new LoadCounters()]));
    const assertHealthy = (what: string): void => {
      for (const r of REGIONS) {
        if (!regions[r]!.running) throw new Error(`${what}: region ${r} died; log:\n${regions[r]!.process.logTail(20)}`);
      }
    };

    // ---- 0. the live data: every window filled, both regions caught up --------------------------
    log(`filling the windows: ${KEYS} registers, ${ELEMENTS} set elements and ${ELEMENTS} map fields per region`);
    await Promise.all(REGIONS.map((r) => drive(pools[r]!, () => streams[r]!.fill(), counters[r]!, () => false)));
    const fillFailures = REGIONS.map((r) => counters[r]!.firstFailure).find(Boolean);
    if (fillFailures) throw new Error(`filling: ${fillFailures}`);
    await caughtUp();
    for (const r of REGIONS) counters[r]!.ok = 0;

    // ---- 1. maximum rate ------------------------------------------------------------------------
    log(`maximum rate: both regions, ${CONNECTIONS} connections each, ${MAX_SECONDS} s`);
    const maxStart = performance.now();
    const maxEnd = maxStart + MAX_SECONDS * 1000;
    await Promise.all(REGIONS.map((r) => drive(pools[r]!, () => streams[r]!.next(), counters[r]!, () => performance.now() >= maxEnd)));
    const maxSeconds = (performance.now() - maxStart) / 1000;
    const maxOk = REGIONS.reduce((n, r) => n + counters[r]!.ok, 0);
    const maxFailures = REGIONS.reduce((n, r) => n + counters[r]!.failures, 0);
    if (maxFailures > 0) throw new Error(`maximum rate: ${maxFailures} writes failed (statuses ${JSON.stringify(REGIONS.map((r) => counters[r]!.statuses))}); first: ${REGIONS.map((r) => counters[r]!.firstFailure).find(Boolean)}`);
    assertHealthy('maximum rate');
    const maxRate = maxOk / maxSeconds;
    const soakRate = maxRate / 2;
    log(`maximum rate ${whole(maxRate)} writes/s; soaking at ${whole(soakRate)} writes/s for ${MINUTES} min`);

    // ---- 2. soak ------------------------------------------------------------------------------
    for (const r of REGIONS) Object.assign(counters[r]!, { ok: 0, failures: 0, firstFailure: undefined });
    for (const r of REGIONS) for (const k of Object.keys(counters[r]!.statuses)) delete counters[r]!.statuses[k];
    const serverFacts = (await dbs['a']!.query<{ v: string; a: string }>("SELECT current_setting('server_version') AS v, current_setting('autovacuum') AS a")).rows[0]!;
    const loadBefore = loadavg()[0]!;
    const soakStart = performance.now();
    const soakEnd = soakStart + MINUTES * 60_000;
    let issuedBefore = 0;
    const samples: Sample[] = [];
    const sampleRegion = async (r: string): Promise<RegionSample> => {
      const text = await call(r, 'GET', '/metrics');
      const counts = await dbs[r]!.query<Record<string, string>>(`SELECT ${COUNTED.map((t) => `(SELECT count(*) FROM ${t})::text AS ${t}`).join(', ')}`);
      return {
        tableBytes: metricValues(text, 'meridian_table_bytes'),
        tombstones: metricValues(text, 'meridian_tombstones').get(''),
        purged: metricValues(text, 'meridian_gc_purged_total').get(''),
        rows: Object.fromEntries(COUNTED.map((t) => [t, Number(counts.rows[0]![t])])),
        rssBytes: rssBytes(regions[r]!.process.pid),
      };
    };
    const takeSample = async (): Promise<void> => {
      const at = (performance.now() - soakStart) / 1000;
      const ok = REGIONS.reduce((n, r) => n + counters[r]!.ok, 0);
      const previous = samples.at(-1);
      const perRegion = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await sampleRegion(r)] as const)));
      samples.push({
        atSeconds: at,
        regions: perRegion,
        rate: previous ? (ok - issuedBefore) / (at - previous.atSeconds) : 0,
        failures: REGIONS.reduce((n, r) => n + counters[r]!.failures, 0),
      });
      issuedBefore = ok;
      const s = samples.at(-1)!;
      log(`${at.toFixed(0)} s: ${whole(s.rate)} writes/s, ${REGIONS.map((r) => `${r}: keys ${s.regions[r]!.rows['meridian_keys']} tombstones ${s.regions[r]!.tombstones ?? '—'} tables ${mb([...s.regions[r]!.tableBytes.values()].reduce((x, y) => x + y, 0))} MB RSS ${mb(s.regions[r]!.rssBytes)} MB`).join('; ')}`);
    };
    const sampler = (async () => {
      await takeSample();
      for (let next = 1; ; next++) {
        const due = soakStart + next * SAMPLE_SECONDS * 1000;
        if (due > soakEnd + 1000) return;
        await sleep(Math.max(0, due - performance.now()));
        assertHealthy('soak');
        await takeSample();
      }
    })();
    await Promise.all([...REGIONS.map((r) => drive(pools[r]!, () => streams[r]!.next(), counters[r]!, () => performance.now() >= soakEnd, soakRate / REGIONS.length)), sampler]);
    const soakSeconds = (performance.now() - soakStart) / 1000;
    const soakOk = REGIONS.reduce((n, r) => n + counters[r]!.ok, 0);
    const soakFailures = REGIONS.reduce((n, r) => n + counters[r]!.failures, 0);
    const soakSkipped = REGIONS.reduce((n, r) => n + counters[r]!.skipped, 0);
    const deadLetters = REGIONS.reduce((n, r) => n + (samples.at(-1)!.regions[r]!.rows['meridian_dead_letters'] ?? 0), 0);

    // ---- 3. verdict and report -----------------------------------------------------------------
    const judged: SoakSample[] = samples.map((s) => ({
      atSeconds: s.atSeconds,
      values: new Map(REGIONS.flatMap((r) => [...[...s.regions[r]!.tableBytes].map(([t, v]) => [`${r} ${t}`, v] as const), ...(s.regions[r]!.rssBytes === undefined ? [] : [[`${r} RSS`, s.regions[r]!.rssBytes] as const])])),
    }));
    const verdict = judgeFlatness(judged, { gcPeriodSeconds, durationSeconds: MINUTES * 60, tolerance: TOLERANCE, slack: (series) => (series.endsWith(' RSS') ? 0 : TABLE_SLACK) });
    // Writes must have gone through: failures beyond 0.1% make the run say nothing about flatness.
    const writesOk = soakFailures <= soakOk / 1000 && deadLetters === 0;
    flat = verdict.flat && writesOk;

    const cpu = cpus();
    const out: string[] = [];
    out.push('## Soak: storage and memory under deletes (services/region/bench/soak.ts)\n');
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ${serverFacts.v} (private server, autovacuum ${serverFacts.a}); 1-minute load average ${fixed(loadBefore, 1)} at the soak's start, ${fixed(loadavg()[0], 1)} at its end.`);
    out.push(
      `Parameters: regions a and b replicating through one Kafka broker, ${describeSettings(settings)}; live data per region ${whole(KEYS)} registers, ${ELEMENTS} elements of ${COLLECTIONS} shared sets and ${ELEMENTS} fields of ${COLLECTIONS} shared maps, sliding (new, rewrite, delete the oldest: a third of the writes deletes or removes), each with an Idempotency-Key. Maximum rate ${whole(maxRate)} writes/s (both regions, ${CONNECTIONS} connections each, ${MAX_SECONDS} s); soak at half: ${whole(soakRate)} writes/s for ${MINUTES} min — ${whole(soakOk)} writes answered (${whole(soakOk / soakSeconds)}/s), ${whole(soakSkipped)} skipped as late (the process stalled), ${soakFailures} failed${soakFailures > 0 ? ` (statuses ${JSON.stringify(REGIONS.map((r) => counters[r]!.statuses))}; first: ${REGIONS.map((r) => counters[r]!.firstFailure).find(Boolean)})` : ''}, ${deadLetters} dead letters.\n`,
    );
    const total = (r: RegionSample): number => [...r.tableBytes.values()].reduce((x, y) => x + y, 0);
    out.push(
      markdownTable(
        ['t (s)', 'writes/s', ...REGIONS.flatMap((r) => [`${r}: keys rows`, `${r}: tombstones`, `${r}: outbox / idempotency / conflicts rows`, `${r}: tables MB`, `${r}: RSS MB`])],
        samples.map((s) => [
          whole(s.atSeconds),
          whole(s.rate),
          ...REGIONS.flatMap((r) => {
            const x = s.regions[r]!;
            return [whole(x.rows['meridian_keys']!), x.tombstones === undefined ? '—' : whole(x.tombstones), `${whole(x.rows['meridian_outbox']!)} / ${whole(x.rows['meridian_idempotency']!)} / ${whole(x.rows['meridian_conflicts']!)}`, mb(total(x)), mb(x.rssBytes)];
          }),
        ]),
      ),
    );
    out.push('');
    // Tables that stayed under 1 MiB are judged too, but listed together.
    const big = verdict.series.filter((s) => s.series.endsWith(' RSS') || Math.max(s.reference, s.lastThirdMax) >= TABLE_SLACK);
    const small = verdict.series.filter((s) => !big.includes(s));
    out.push(
      markdownTable(
        ['series', `level in the first GC period (${whole(verdict.referenceFrom)}–${whole(verdict.referenceTo)} s), MB`, `last third's max (from ${whole(verdict.lastThirdFrom)} s), MB`, 'ratio', 'flat?'],
        big.map((s) => [s.series, mb(s.reference), mb(s.lastThirdMax), fixed(s.ratio, 2), s.flat ? 'yes' : '**no**']),
      ),
    );
    out.push(`\n${small.length} more tables stayed under 1 MiB (${small.every((s) => s.flat) ? 'all flat' : `not flat: ${small.filter((s) => !s.flat).map((s) => s.series).join(', ')}`}).`);
    out.push(
      `\nRule: GC period G = 2 × MERIDIAN_TOMBSTONE_MIN_AGE + one retention round = ${gcPeriodSeconds} s; a series is flat when its last third's highest sample ≤ its highest sample in [G, 2G] × ${fixed(1 + TOLERANCE, 2)} (+ 1 MiB for tables). Verdict: **${flat ? 'flat after the first GC period' : `NOT flat${verdict.flat ? '' : ` (${verdict.series.filter((s) => !s.flat).map((s) => s.series).join(', ')})`}${writesOk ? '' : ' (writes failed or dead-lettered)'}`}**.`,
    );
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
  if (!flat) process.exitCode = 1;
}

await main();
