/**
 * Write throughput and latency of the region service (not a test: `npm run bench`), each figure
 * beside pgbench measured in the same run on the same PostgreSQL server.
 *
 * What is measured: the real program (`src/main.ts` in a child process; standalone, no Kafka, so
 * a write ends at the commit of its key row and its outbox row) on a fresh database, loaded over
 * HTTP from this process:
 * - `lww`: PUT /v1/ns/{ns}/keys/{key} of a ~100-byte JSON value, blind (no context);
 * - `counter`: POST /v1/ns/{ns}/keys/{key}/ops {"increment": 1}.
 * Every key of the key space (10k) is first written once, in order (that phase is reported too);
 * the measured phases then write keys drawn at random, so they update existing rows and two
 * writes rarely wait on one row lock. A CHECKPOINT then restarts the server's checkpoint clock,
 * so that no timed checkpoint falls in the measured phases (the report shows the checkpointer's
 * writes in each). After an unmeasured warm-up of each workload at the maximum rate (V8
 * compiles the update path; pgbench gets the same seconds), first the maximum rate (autocannon,
 * N connections in a closed loop, taking turns with pgbench), then latency at half that rate
 * from a paced open-loop generator (load.ts says why not autocannon's `overallRate`, which
 * BENCH_AUTOCANNON_RATE=1 runs beside it for comparison).
 *
 * Why pgbench is a comparable baseline: it is PostgreSQL's own client, on the same server and
 * database, with as many connections as the service's pool, running the smallest transaction
 * that does what one write must do: durably upsert one row of the same size (the service's
 * stored state, measured) under a random key of the same prefilled key space, over the same
 * protocol (extended: parse/bind/execute, as node-postgres sends parameterised queries). The ratio
 * service ÷ pgbench is the share of the database's single-row write rate that the service keeps
 * after HTTP, validation, causality metadata, its outbox row and its extra round trips. A third
 * pgbench run replays the service's own SQL for an lww write (same statements, no Node) to
 * separate the cost of that SQL from the cost of the process around it; pgbench at half its own
 * maximum (`-R`, each latency from its scheduled start) is the baseline of the latency figures. CPU time of the service,
 * its PostgreSQL backends, the load generator and the rest of the machine (a shared machine's
 * other users) is sampled around every phase.
 *
 * Settings (environment): BENCH_SECONDS (10) per measured phase, BENCH_SLICES (4) turns the
 * service and pgbench take within it, BENCH_CONNECTIONS (32) HTTP connections, BENCH_POOL (8,
 * see POOL) service pool = pgbench clients, BENCH_KEYS (10000), BENCH_SEED (1),
 * BENCH_REPLICAS (2) service processes, BENCH_SQL_BASELINE (1) and BENCH_AUTOCANNON_RATE (0): 1 runs that diagnostic phase,
 * BENCH_PGBENCH (pgbench's path, when neither `pg_config --bindir` nor PATH has it),
 * BENCH_WARMUP_SECONDS (10) of unmeasured load per workload before the measured phases,
 * BENCH_SERVICE_NODE_OPTIONS (unset) Node flags for the service processes, as NODE_OPTIONS
 * allows them (e.g. `--cpu-prof --cpu-prof-dir=…`, or `--import=` of a probe module; their
 * output goes to each process's log, which is then kept).
 * MERIDIAN_* variables reach the service (e.g. MERIDIAN_TRACE_SAMPLE_RATIO) and are printed.
 * Quick smoke: BENCH_SECONDS=2 BENCH_KEYS=1000 npm run bench -w @meridian/region.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { adminUrl, createDatabase, dropDatabase, ensurePostgres, freePort, startRegionProcess } from '@meridian/infra-local';
import { fixed, markdownTable, uniqueName, whole } from '@meridian/testkit';
import { autocannonRate, assertNoFailures, closedLoop, paced, percentile, type LoadResult } from './load.ts';
import { cpuSeconds, cpuSnapshot, machineBusySeconds, machineIowaitSeconds, type CpuSnapshot } from './cpu.ts';
import { findPgbench, startPgbench, type PgbenchResult, type PgbenchRun } from './pgbench.ts';
import { COUNTER_NS, LWW_NS, LWW_VALUE, WORKLOADS, keyStream } from './workloads.ts';

import { benchAuth, cleanupStack, describeSettings, envInt, log, serviceNodeOptions, serviceSettings } from './bench-env.ts';

const runFile = promisify(execFile);

const SECONDS = envInt('BENCH_SECONDS', 10, 1, 600);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 32, 1, 1000);
/**
 * The service's pool, and pgbench's clients: 8, the service's default (what operators run).
 * On two cores the service's one Node thread, at about 1 ms of CPU per write, is the constraint,
 * not the pool: 4, 8 and 16 gave ratios within the machine's noise of each other (sweep in
 * docs/benchmarks.md), and pgbench's rate on this server hardly moves between 4 and 16 clients.
 */
const POOL = envInt('BENCH_POOL', 8, 1, 200);
const KEYS = envInt('BENCH_KEYS', 10_000, 1, 100_000_000);
const SEED = envInt('BENCH_SEED', 1, 0, 2 ** 31 - 1);
const SQL_BASELINE = envInt('BENCH_SQL_BASELINE', 1, 0, 1) === 1;
const AUTOCANNON_RATE = envInt('BENCH_AUTOCANNON_RATE', 0, 0, 1) === 1;
/** Turns the service and pgbench take at the maximum rate (see the max-rate loop). */
const SLICES = envInt('BENCH_SLICES', 4, 1, 100);
/**
 * Seconds of unmeasured load at the maximum rate for each workload (and as many of pgbench)
 * before the measured phases: V8's warm-up of the update path (see the warm-up phase).
 */
const WARMUP = envInt('BENCH_WARMUP_SECONDS', 10, 0, 600);
const PGBENCH_THREADS = 2;
/**
 * Processes of the service on the database (BENCH_REPLICAS, default 2): one Node process is
 * single-threaded, and a region scales out by running more of them (docs/deploy.md); two use
 * the machine's two cores. They share the POOL connections (POOL / REPLICAS each), so the
 * service and pgbench keep the same number of database connections.
 */
const REPLICAS = envInt('BENCH_REPLICAS', 2, 1, 16);
const REPLICA_POOL = Math.max(1, Math.round(POOL / REPLICAS));

const SQL_NS = 'bench_sql';
const hexBytes = (size: number): string => `'\\x${'78'.repeat(size)}'::bytea`;

/** pgbench's single-row transaction for each workload: an upsert under a random key. */
function pgbenchScript(workload: string, stateBytes: number): string {
  const key = `\\set k random(1, ${KEYS})\n`;
  if (workload === 'lww') {
    return `${key}INSERT INTO pgbench_register (k, v) VALUES (:k, ${hexBytes(stateBytes)}) ON CONFLICT (k) DO UPDATE SET v = excluded.v, updated_at = now();\n`;
  }
  return `${key}INSERT INTO pgbench_counter (k, n) VALUES (:k, 1) ON CONFLICT (k) DO UPDATE SET n = pgbench_counter.n + 1, updated_at = now();\n`;
}

/**
 * The statement of the service's lww write to a key it wrote before (its snapshot cached), as
 * PgStore.compareAndWrite sends it (packages/store/src/conditional-write.ts, `SQL.updateIfUnchanged`
 * and `SNAPSHOT_ON_MISS`: keep in step), without the service: the conditional update of the row
 * with its outbox row, and the snapshot it would answer with had the row changed. The condition
 * compares the stored state and HLC with themselves (a pgbench script cannot carry the bytes).
 */
function serviceSqlScript(stateBytes: number, envelopeBytes: number): string {
  const key = `'k' || :k`;
  return [
    `\\set k random(1, ${KEYS})`,
    `WITH saved AS (UPDATE meridian_keys SET state = ${hexBytes(stateBytes)}, max_hlc = max_hlc + 1, updated_at = now() WHERE namespace = '${SQL_NS}' AND key = ${key} AND state IS NOT DISTINCT FROM state AND max_hlc = max_hlc AND EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = '${SQL_NS}' AND policy = 'lww') RETURNING pg_current_xact_id()), ` +
      `queued AS (INSERT INTO meridian_outbox (message_key, envelope) SELECT '${SQL_NS}/' || ${key}, ${hexBytes(envelopeBytes)} FROM saved RETURNING id) ` +
      `SELECT id AS outbox_id, NULL AS policy, NULL::boolean AS has_row, NULL::bytea AS state, NULL::bigint AS max_hlc FROM queued UNION ALL ` +
      `SELECT NULL, n.policy, k.key IS NOT NULL, k.state, k.max_hlc FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = ${key} WHERE n.name = '${SQL_NS}' AND NOT EXISTS (SELECT 1 FROM saved);`,
    '',
  ].join('\n');
}

/** CPU seconds over `wall` seconds; undefined where not measured. */
interface CpuSample {
  readonly wall: number;
  readonly service?: number | undefined;
  readonly postgres?: number | undefined;
  readonly loadGenerator?: number | undefined;
  /** Busy CPU seconds of the whole machine (every process). */
  readonly machine: number;
  /** WAL the whole server wrote and the times it was flushed to disk (every database; the bench is the server's only writer). */
  readonly wal?: WalSample | undefined;
  /** Seconds the machine's cores waited for disk I/O (Linux). */
  readonly iowait?: number | undefined;
  /** Major garbage collections of the service processes during the slice (their /metrics). */
  readonly majorGc?: MajorGcSample | undefined;
}

interface MajorGcSample {
  readonly count: number;
  /** Their pauses, summed over the processes. */
  readonly pauseMs: number;
}

/**
 * The major collections the service processes have made since they started, and their summed
 * pauses, from `meridian_gc_pause_seconds` on their /metrics; undefined if one did not answer.
 */
async function majorGcTotals(baseUrls: readonly string[], headers: Readonly<Record<string, string>>): Promise<MajorGcSample | undefined> {
  let count = 0;
  let pauseMs = 0;
  for (const url of baseUrls) {
    const text = await fetch(`${url}/metrics`, { headers }).then((r) => (r.ok ? r.text() : undefined), () => undefined);
    if (text === undefined) return undefined;
    const series = (suffix: string): number => Number(new RegExp(`^meridian_gc_pause_seconds_${suffix}\\{kind="major"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    count += series('count');
    pauseMs += series('sum') * 1000;
  }
  return { count, pauseMs };
}

interface WalSample {
  readonly bytes: number;
  readonly syncs: number;
  /** Buffers the checkpointer wrote (pg_stat_bgwriter): more than none means a checkpoint was in progress. */
  readonly checkpointBuffers: number;
}

/** The server's WAL position, flush count and checkpoint writes (pg_stat_wal's counters lag by up to a second of a backend's activity). */
async function walSnapshot(client: pg.Client): Promise<WalSample> {
  const { rows } = await client.query<{ bytes: string; syncs: string; checkpoint_buffers: string }>(
    "SELECT (pg_current_wal_lsn() - '0/0')::text AS bytes, (SELECT wal_sync FROM pg_stat_wal)::text AS syncs, (SELECT buffers_checkpoint FROM pg_stat_bgwriter)::text AS checkpoint_buffers",
  );
  return { bytes: Number(rows[0]!.bytes), syncs: Number(rows[0]!.syncs), checkpointBuffers: Number(rows[0]!.checkpoint_buffers) };
}

const walBetween = (before: WalSample, after: WalSample): WalSample => ({
  bytes: after.bytes - before.bytes,
  syncs: after.syncs - before.syncs,
  checkpointBuffers: after.checkpointBuffers - before.checkpointBuffers,
});

const sumOf = (values: readonly (number | undefined)[]): number | undefined => (values.some((v) => v === undefined) ? undefined : values.reduce<number>((a, b) => a + (b ?? 0), 0));

/** Cores (CPU seconds per second) of the samples together. */
function cores(samples: readonly CpuSample[]): { service?: number | undefined; postgres?: number | undefined; loadGenerator?: number | undefined; rest?: number | undefined } {
  const wall = samples.reduce((a, s) => a + s.wall, 0);
  if (samples.length === 0 || wall <= 0) return {};
  const per = (v: number | undefined): number | undefined => (v === undefined ? undefined : v / wall);
  const service = per(sumOf(samples.map((s) => s.service)));
  const postgres = per(sumOf(samples.map((s) => s.postgres)));
  const loadGenerator = per(sumOf(samples.map((s) => s.loadGenerator)));
  const machine = samples.reduce((a, s) => a + s.machine, 0) / wall;
  // Every other process: other users of a shared machine, PostgreSQL's background writers.
  const rest = Math.max(0, machine - (service ?? 0) - (postgres ?? 0) - (loadGenerator ?? 0));
  return { service, postgres, loadGenerator, rest };
}

interface Phase {
  readonly name: string;
  readonly writesPerSecond: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly cpu: readonly CpuSample[];
}

/** Several slices of one load, as one: total writes over total time, percentiles over every latency. */
function merge(results: readonly LoadResult[]): LoadResult {
  const seconds = results.reduce((a, r) => a + r.seconds, 0);
  const ok = results.reduce((a, r) => a + r.ok, 0);
  const latencies = new Float64Array(results.reduce((a, r) => a + r.latencies.length, 0));
  let at = 0;
  for (const r of results) {
    latencies.set(r.latencies, at);
    at += r.latencies.length;
  }
  const statuses: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.failures.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  return {
    ok,
    seconds,
    perSecond: ok / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    latencies,
    failures: { errors: results.reduce((a, r) => a + r.failures.errors, 0), non2xx: results.reduce((a, r) => a + r.failures.non2xx, 0), statuses },
  };
}

const perWriteMs = (cores: number | undefined, rate: number): string => (cores === undefined || rate <= 0 ? '—' : ((cores * 1000) / rate).toFixed(3));

/** WAL bytes per write and writes per WAL flush of a phase: [bytes, writes] as printed. */
function walPerWrite(phase: Phase): [string, string] {
  const samples = phase.cpu.filter((c) => c.wal !== undefined);
  if (samples.length === 0) return ['—', '—'];
  const writes = phase.writesPerSecond * samples.reduce((a, c) => a + c.wall, 0);
  const bytes = samples.reduce((a, c) => a + c.wal!.bytes, 0);
  const syncs = samples.reduce((a, c) => a + c.wal!.syncs, 0);
  return [whole(bytes / writes), syncs > 0 ? fixed(writes / syncs, 1) : '—'];
}

/** Buffers the checkpointer wrote during a phase's samples (none: no checkpoint in progress). */
function checkpointWrites(samples: readonly CpuSample[]): number | undefined {
  const measured = samples.filter((c) => c.wal !== undefined);
  return measured.length === 0 ? undefined : measured.reduce((a, c) => a + c.wal!.checkpointBuffers, 0);
}

async function gitState(): Promise<string> {
  try {
    const { stdout: head } = await runFile('git', ['rev-parse', '--short', 'HEAD']);
    const { stdout: dirty } = await runFile('git', ['status', '--porcelain', '--', '.', '../../packages']);
    const changed = dirty.split('\n').filter(Boolean).length;
    return `${head.trim()}${changed > 0 ? ` + ${changed} uncommitted paths in services/region or packages/` : ''}`;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();

  try {
    const bench = await benchAuth();
    // Every write carries the writer's token (BENCH_AUTH=off: none, the regions run open).
    const workloads = WORKLOADS.map((t) => ({ ...t, headers: bench.header('writer') }));
    const pgbench = await findPgbench();
    const admin = await ensurePostgres(adminUrl());
    const dbName = uniqueName('bench_region_write');
    const databaseUrl = await createDatabase(dbName, admin);
    cleanups.push(() => dropDatabase(dbName, admin));
    const workDir = mkdtempSync(join(tmpdir(), 'meridian-region-bench-'));
    // The services' logs are kept when they carry what BENCH_SERVICE_NODE_OPTIONS asked for.
    if (serviceNodeOptions()['NODE_OPTIONS'] === undefined) cleanups.push(() => Promise.resolve(rmSync(workDir, { recursive: true, force: true })));
    else log(`service logs kept in ${workDir}`);

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    cleanups.push(() => db.end());
    const setting = async (name: string): Promise<string> => (await db.query<{ v: string }>(`SELECT current_setting('${name}') AS v`)).rows[0]!.v;
    const serverVersion = await setting('server_version');
    const serverSettings = ['fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'checkpoint_timeout'];
    const settings: string[] = [];
    for (const name of serverSettings) settings.push(`${name}=${await setting(name)}`);
    const loadBefore = loadavg()[0]!;

    // REPLICAS processes of the service on the one database (as a deployment scales a region
    // out), sharing POOL connections and the HTTP load between them.
    const replicas: Awaited<ReturnType<typeof startRegionProcess>>[] = [];
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      const service = await startRegionProcess({
        region: 'bench',
        databaseUrl,
        port,
        logFile: join(workDir, `region-${i + 1}.log`),
        logLevel: 'warn',
        contextSecret: 'region-write-bench-secret',
        auth: bench.auth,
        env: { ...bench.env, ...serviceSettings(), ...serviceNodeOptions(), MERIDIAN_PG_POOL_SIZE: String(REPLICA_POOL) },
      });
      cleanups.push(() => service.stop());
      replicas.push(service);
    }
    const region = {
      baseUrl: replicas[0]!.url,
      baseUrls: replicas.map((r) => r.url),
      get running() {
        return replicas.every((r) => r.process.running);
      },
      get pids() {
        return replicas.map((r) => r.process.pid ?? -1);
      },
      logTail: () => replicas.map((r, i) => `--- replica ${i + 1}\n${r.process.logTail()}`).join('\n'),
    };
    log(`region service ready: ${REPLICAS} × ${region.baseUrls.join(', ')} (pids ${region.pids.join(', ')}, pool ${REPLICA_POOL} each)`);

    for (const [ns, policy] of [[LWW_NS, 'lww'], [COUNTER_NS, 'counter'], [SQL_NS, 'lww']] as const) {
      const response = await fetch(`${region.baseUrl}/v1/namespaces/${ns}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...bench.header('admin') }, body: JSON.stringify({ policy }) });
      if (response.status !== 201) throw new Error(`declaring namespace ${ns}: ${response.status} ${await response.text()}`);
    }
    await db.query('CREATE TABLE pgbench_register (k integer PRIMARY KEY, v bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())');
    await db.query('CREATE TABLE pgbench_counter (k integer PRIMARY KEY, n bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())');

    const nextKey = keyStream(SEED, KEYS);
    const serviceBackends = async (): Promise<number[]> =>
      (await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'meridian-region-%'")).rows.map((r) => r.pid);

    /** Runs one load slice against the service with CPU snapshots around it; every write must succeed. */
    const serviceSlice = async (name: string, load: () => Promise<LoadResult>): Promise<{ result: LoadResult; cpu: CpuSample }> => {
      if (!region.running) throw new Error(`the region service died; log:\n${region.logTail()}`);
      const servicePids = new Set(region.pids);
      const isService = (pid: number): boolean => servicePids.has(pid);
      const backends = await serviceBackends();
      // The services' /metrics are read outside the CPU snapshots, so scraping costs the slice nothing.
      const gcBefore = await majorGcTotals(region.baseUrls, bench.header('admin'));
      const before = await cpuSnapshot([...servicePids, ...backends]);
      const walBefore = await walSnapshot(db);
      const iowaitBefore = machineIowaitSeconds();
      const selfBefore = process.cpuUsage();
      const machineBefore = machineBusySeconds();
      const wallBefore = performance.now();
      const result = await load();
      const wall = (performance.now() - wallBefore) / 1000;
      const self = process.cpuUsage(selfBefore);
      const machine = machineBusySeconds() - machineBefore;
      const iowaitAfter = machineIowaitSeconds();
      const wal = walBetween(walBefore, await walSnapshot(db));
      // Backends opened during the slice count from their start.
      const after = await cpuSnapshot([...servicePids, ...new Set([...backends, ...(await serviceBackends())])]);
      const gcAfter = await majorGcTotals(region.baseUrls, bench.header('admin'));
      assertNoFailures(`${name} against the region service`, result.failures);
      if (!region.running) throw new Error(`the region service died during ${name}; log:\n${region.logTail()}`);
      const only = (snapshot: CpuSnapshot, keep: (pid: number) => boolean): CpuSnapshot => new Map([...snapshot].filter(([pid]) => keep(pid)));
      const cpu: CpuSample = {
        wall,
        service: cpuSeconds(only(before, isService), only(after, isService)),
        postgres: cpuSeconds(only(before, (p) => !isService(p)), only(after, (p) => !isService(p))),
        loadGenerator: (self.user + self.system) / 1e6,
        machine,
        wal,
        iowait: iowaitBefore === undefined || iowaitAfter === undefined ? undefined : iowaitAfter - iowaitBefore,
        majorGc: gcBefore && gcAfter ? { count: gcAfter.count - gcBefore.count, pauseMs: gcAfter.pauseMs - gcBefore.pauseMs } : undefined,
      };
      log(`${name}: ${whole(result.perSecond)} writes/s, p50 ${fixed(result.p50, 2)} ms, p99 ${fixed(result.p99, 2)} ms`);
      return { result, cpu };
    };

    let running: PgbenchRun | undefined;
    cleanups.push(() => Promise.resolve(running?.kill()));
    /** Runs pgbench for `seconds`, with CPU snapshots of its backends and its own process from 1 s in to 0.5 s before the end. */
    const pgbenchSlice = async (name: string, script: string, seconds: number, rate?: number): Promise<{ result: PgbenchResult; cpu: CpuSample | undefined }> => {
      running = startPgbench({ command: pgbench.command, databaseUrl, script, clients: POOL, threads: PGBENCH_THREADS, seconds, ...(rate !== undefined ? { rate } : {}) });
      const run = running;
      let cpu: CpuSample | undefined;
      if (seconds >= 2) {
        await new Promise((r) => setTimeout(r, 1000));
        const backends = (await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbench'")).rows.map((r) => r.pid);
        const pids = [run.pid ?? -1, ...backends];
        const before = await cpuSnapshot(pids);
        const walBefore = await walSnapshot(db);
        const machineBefore = machineBusySeconds();
        const wallBefore = performance.now();
        await new Promise((r) => setTimeout(r, (seconds - 1.5) * 1000));
        const after = await cpuSnapshot(pids);
        const client = (snapshot: CpuSnapshot): CpuSnapshot => new Map([...snapshot].filter(([pid]) => pid === run.pid));
        const server = (snapshot: CpuSnapshot): CpuSnapshot => new Map([...snapshot].filter(([pid]) => pid !== run.pid));
        cpu = {
          wall: (performance.now() - wallBefore) / 1000,
          postgres: cpuSeconds(server(before), server(after)),
          loadGenerator: cpuSeconds(client(before), client(after)),
          machine: machineBusySeconds() - machineBefore,
          wal: walBetween(walBefore, await walSnapshot(db)),
        };
      }
      const result = await run.done;
      running = undefined;
      const lat = result.latencies;
      log(`${name}: ${whole(result.tps)} tps${lat ? `, p50 ${fixed(percentile(lat, 50), 2)} ms, p99 ${fixed(percentile(lat, 99), 2)} ms` : ''}`);
      return { result, cpu };
    };

    // ---- every key written once through the service (also the JIT's warm-up) ------------------
    // The measured phases then update existing rows, as pgbench's upserts do on its prefilled
    // tables: a first write costs the service an extra INSERT, which the prefill row shows.
    const phases: Phase[] = [];
    for (const target of workloads) {
      let next = 0;
      const sequential = (): number => (next++ % KEYS) + 1;
      const name = `service ${target.name}, first write of each key`;
      const prefill = await serviceSlice(name, () => closedLoop({ baseUrls: region.baseUrls, target, nextKey: sequential, connections: CONNECTIONS, seconds: 600, amount: KEYS }));
      phases.push({ name, writesPerSecond: prefill.result.perSecond, p50: prefill.result.p50, p99: prefill.result.p99, cpu: [prefill.cpu] });
      const ns = target.name === 'lww' ? LWW_NS : COUNTER_NS;
      const keys = Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM meridian_keys WHERE namespace = $1', [ns])).rows[0]!.n);
      if (keys < KEYS * 0.99) log(`prefill of ${ns}: only ${keys} of ${KEYS} keys written`);
    }
    const sizes = await db.query<{ state: number; envelope: number }>(
      `SELECT (SELECT avg(octet_length(state))::int FROM meridian_keys WHERE namespace = $1) AS state,
              (SELECT avg(octet_length(envelope))::int FROM meridian_outbox WHERE message_key LIKE $1 || '/%') AS envelope`,
      [LWW_NS],
    );
    const stateBytes = sizes.rows[0]!.state;
    const envelopeBytes = sizes.rows[0]!.envelope;
    await db.query(`INSERT INTO pgbench_register (k, v) SELECT g, ${hexBytes(stateBytes)} FROM generate_series(1, $1::int) AS g`, [KEYS]);
    await db.query('INSERT INTO pgbench_counter (k, n) SELECT g, 0 FROM generate_series(1, $1::int) AS g', [KEYS]);
    // The replay of the service's SQL gets its own namespace, its rows written directly.
    await db.query(`INSERT INTO meridian_keys (namespace, key, state, max_hlc) SELECT $1, 'k' || g, ${hexBytes(stateBytes)}, 1 FROM generate_series(1, $2::int) AS g`, [SQL_NS, KEYS]);
    await db.query('VACUUM ANALYZE');

    // ---- a checkpoint of the bench's own, so that the server's next one falls after the phases --
    // The server checkpoints every checkpoint_timeout. While a checkpoint is in progress, its
    // writes and its closing fsync share the disk with the commits, and the first change of each
    // page after its start writes the whole page to the WAL (a third more WAL per lww write in
    // a probe run whose half-rate phases all ran during one, pgbench's own p99 at half rate
    // reaching 162 ms); and whether a phase overlapped one depended on when the server had last
    // checkpointed, not on the code. A CHECKPOINT here restarts that clock: the warm-up below
    // pays for the full-page images, and every measured phase runs before the next timed
    // checkpoint (the report says whether one ran into a phase anyway: max_wal_size can start
    // one early).
    const checkpointTimeout = Number((await db.query<{ s: string }>("SELECT setting AS s FROM pg_settings WHERE name = 'checkpoint_timeout'")).rows[0]!.s);
    const sliceSeconds = Math.max(2, Math.round(SECONDS / SLICES));
    const plannedSeconds =
      WORKLOADS.length * (2 * WARMUP + 2 * SLICES * sliceSeconds + 2 * SECONDS + (AUTOCANNON_RATE ? SECONDS : 0)) + (SQL_BASELINE ? Math.max(2, Math.round(SECONDS / 2)) + SECONDS : 0);
    try {
      await db.query('CHECKPOINT');
      if (plannedSeconds > checkpointTimeout) log(`the phases take about ${plannedSeconds} s, more than checkpoint_timeout (${checkpointTimeout} s): a timed checkpoint will fall within them`);
    } catch (error) {
      log(`CHECKPOINT refused (${(error as Error).message}); a timed checkpoint may fall within the measured phases`);
    }

    // ---- warm-up: each workload's update path, and pgbench's, before anything is measured ------
    // The first writes above warm the HTTP path but not the update path (cached snapshot,
    // group-committed compare-and-write), and V8 goes on compiling for tens of seconds of load:
    // with --trace-opt, a process still finished about 100 optimizing compiles in the first 4 s
    // of updates at the maximum rate, and the service's CPU per write fell by a third over the
    // first 12 s (docs/benchmarks.md). A long-running service is past that, so the measured
    // phases start after it. pgbench gets the same seconds on its own tables, so both sides'
    // rows have the same kind of update history.
    if (WARMUP > 0) {
      for (const target of workloads) {
        const name = `service ${target.name}, warm-up (not measured)`;
        const warm = await serviceSlice(name, () => closedLoop({ baseUrls: region.baseUrls, target, nextKey, connections: CONNECTIONS, seconds: WARMUP }));
        phases.push({ name, writesPerSecond: warm.result.perSecond, p50: warm.result.p50, p99: warm.result.p99, cpu: [warm.cpu] });
        await pgbenchSlice(`pgbench ${target.name} upsert, warm-up (not measured)`, pgbenchScript(target.name, stateBytes), WARMUP);
      }
    }

    // ---- maximum rate, alternating with its baseline ----------------------------------------
    // A shared machine's load drifts over tens of seconds: the service and pgbench take turns
    // in SLICES slices each (ABBA order), so that both see the same drift.
    const max = new Map<string, LoadResult>();
    const baseline = new Map<string, number>();
    for (const target of workloads) {
      const serviceResults: LoadResult[] = [];
      const serviceCpu: CpuSample[] = [];
      const pgbenchCpu: CpuSample[] = [];
      let pgbenchTransactions = 0;
      let pgbenchSeconds = 0;
      for (let slice = 0; slice < SLICES; slice++) {
        const runService = async (): Promise<void> => {
          const { result, cpu } = await serviceSlice(`service ${target.name}, max rate (slice ${slice + 1}/${SLICES})`, () =>
            closedLoop({ baseUrls: region.baseUrls, target, nextKey, connections: CONNECTIONS, seconds: sliceSeconds }),
          );
          serviceResults.push(result);
          serviceCpu.push(cpu);
        };
        const runPgbench = async (): Promise<void> => {
          const { result, cpu } = await pgbenchSlice(`pgbench ${target.name} upsert (slice ${slice + 1}/${SLICES})`, pgbenchScript(target.name, stateBytes), sliceSeconds);
          pgbenchTransactions += result.tps * sliceSeconds;
          pgbenchSeconds += sliceSeconds;
          if (cpu) pgbenchCpu.push(cpu);
        };
        if (slice % 2 === 0) {
          await runPgbench();
          await runService();
        } else {
          await runService();
          await runPgbench();
        }
      }
      const measured = merge(serviceResults);
      max.set(target.name, measured);
      baseline.set(target.name, pgbenchTransactions / pgbenchSeconds);
      phases.push(
        { name: `service ${target.name}, max rate`, writesPerSecond: measured.perSecond, p50: measured.p50, p99: measured.p99, cpu: serviceCpu },
        { name: `pgbench ${target.name} upsert`, writesPerSecond: pgbenchTransactions / pgbenchSeconds, cpu: pgbenchCpu },
      );
    }
    if (SQL_BASELINE) {
      try {
        const name = "pgbench: the service's lww SQL";
        const { result, cpu } = await pgbenchSlice(name, serviceSqlScript(stateBytes, envelopeBytes), Math.max(2, Math.round(SECONDS / 2)));
        phases.push({ name, writesPerSecond: result.tps, cpu: cpu ? [cpu] : [] });
      } catch (error) {
        log(`the service-SQL baseline failed (the store's schema may have changed): ${(error as Error).message}`);
      }
    }

    // ---- latency at half the maximum rate ----------------------------------------------------
    const half = new Map<string, LoadResult>();
    const halfCpu = new Map<string, CpuSample>();
    const halfAutocannon = new Map<string, LoadResult>();
    const baselineHalf = new Map<string, { p50: number; p99: number }>();
    for (const target of workloads) {
      const rate = Math.max(1, Math.floor(max.get(target.name)!.perSecond / 2));
      const name = `service ${target.name}, paced at ${rate}/s (half)`;
      const measured = await serviceSlice(name, () => paced({ baseUrls: region.baseUrls, target, nextKey, connections: CONNECTIONS, seconds: SECONDS, rate }));
      half.set(target.name, measured.result);
      halfCpu.set(target.name, measured.cpu);
      phases.push({ name, writesPerSecond: measured.result.perSecond, p50: measured.result.p50, p99: measured.result.p99, cpu: [measured.cpu] });
      // The baseline's latency at half its own maximum, on a schedule as well.
      const pgRate = Math.max(1, Math.floor(baseline.get(target.name)! / 2));
      const pgName = `pgbench ${target.name} upsert, at ${pgRate}/s (half)`;
      const pgHalf = await pgbenchSlice(pgName, pgbenchScript(target.name, stateBytes), SECONDS, pgRate);
      const pgLatencies = pgHalf.result.latencies ?? new Float64Array();
      baselineHalf.set(target.name, { p50: percentile(pgLatencies, 50), p99: percentile(pgLatencies, 99) });
      phases.push({ name: pgName, writesPerSecond: pgHalf.result.tps, p50: percentile(pgLatencies, 50), p99: percentile(pgLatencies, 99), cpu: pgHalf.cpu ? [pgHalf.cpu] : [] });
      // The service's own SQL at the service's rate, without the service: the share of the tail
      // that PostgreSQL and the disk give that SQL on their own.
      if (SQL_BASELINE && target.name === 'lww') {
        const sqlName = `pgbench: the service's lww SQL, at ${rate}/s`;
        try {
          const sqlHalf = await pgbenchSlice(sqlName, serviceSqlScript(stateBytes, envelopeBytes), SECONDS, rate);
          const sqlLatencies = sqlHalf.result.latencies ?? new Float64Array();
          phases.push({ name: sqlName, writesPerSecond: sqlHalf.result.tps, p50: percentile(sqlLatencies, 50), p99: percentile(sqlLatencies, 99), cpu: sqlHalf.cpu ? [sqlHalf.cpu] : [] });
        } catch (error) {
          log(`the service-SQL baseline failed (the store's schema may have changed): ${(error as Error).message}`);
        }
      }
      if (AUTOCANNON_RATE) {
        const acName = `service ${target.name}, autocannon overallRate ${rate}/s`;
        const ac = await serviceSlice(acName, () => autocannonRate({ baseUrls: region.baseUrls, target, nextKey, connections: CONNECTIONS, seconds: SECONDS, overallRate: rate }));
        halfAutocannon.set(target.name, ac.result);
        phases.push({ name: acName, writesPerSecond: ac.result.perSecond, p50: ac.result.p50, p99: ac.result.p99, cpu: [ac.cpu] });
      }
    }

    // ---- report -------------------------------------------------------------------------------
    const cpu = cpus();
    const out: string[] = [];
    out.push('## Region service writes (services/region/bench/write-throughput.ts)\n');
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ${serverVersion} (${settings.join(', ')}), ${pgbench.version}; code ${await gitState()}; 1-minute load average ${loadBefore.toFixed(1)} before the run, ${loadavg()[0]!.toFixed(1)} after.`);
    out.push(
      `Parameters: after every key was written once${WARMUP > 0 ? ` and ${WARMUP} s of each workload at the maximum rate as warm-up (pgbench the same)` : ''}, max rate ${SLICES} × ${sliceSeconds} s alternating with pgbench (ABBA), half rate ${SECONDS} s for the service (paced) and for pgbench (-R, latency from the scheduled start), ${CONNECTIONS} HTTP connections, ${REPLICAS === 1 ? 'one service process' : `${REPLICAS} service processes on the database (replicas; HTTP connections spread over them)`}, service pool ${REPLICAS === 1 ? POOL : `${REPLICAS} × ${REPLICA_POOL}`} = pgbench clients ${POOL} (-j ${PGBENCH_THREADS}, -M extended), ${KEYS.toLocaleString('en')} keys (seed ${SEED}), lww value ${JSON.stringify({ value: LWW_VALUE }).length} B of JSON (stored state ${stateBytes} B, outbox envelope ${envelopeBytes} B; the pgbench row carries ${stateBytes} B), service log level warn, ${describeSettings(serviceSettings())}; ${bench.auth === 'off' ? 'authentication OFF (BENCH_AUTH=off: no token checks)' : 'authentication on (every write\'s bearer token verified; BENCH_AUTH=off measures without)'}.\n`,
    );
    out.push(
      markdownTable(
        ['workload', 'writes/s (max)', 'p50 ms @ half rate', 'p99 ms @ half rate', 'pgbench tps', 'ratio (service ÷ pgbench)', 'pgbench p50 / p99 ms @ half its rate'],
        WORKLOADS.map((t) => {
          const m = max.get(t.name)!;
          const h = half.get(t.name)!;
          const b = baseline.get(t.name)!;
          return [t.name === 'lww' ? 'lww PUT (one register)' : 'counter increment (POST …/ops)', whole(m.perSecond), fixed(h.p50, 2), fixed(h.p99, 2), whole(b), (m.perSecond / b).toFixed(2), `${fixed(baselineHalf.get(t.name)?.p50, 2)} / ${fixed(baselineHalf.get(t.name)?.p99, 2)}`];
        }),
      ),
    );
    out.push('');
    for (const t of WORKLOADS) {
      const ratio = max.get(t.name)!.perSecond / baseline.get(t.name)!;
      const p99 = half.get(t.name)!.p99;
      out.push(
        `- ${t.name}: ratio ${ratio.toFixed(2)} ${ratio >= 0.3 ? 'meets' : 'misses'} the target ≥ 0.30; p99 ${fixed(p99, 2)} ms at half rate ${p99 < 25 ? 'meets' : 'misses'} the target < 25 ms (pgbench's own p99 at half its rate: ${fixed(baselineHalf.get(t.name)?.p99, 2)} ms).`,
      );
    }
    out.push('\nWhere the slowest 1% at half rate sit (100 ms windows of the schedule; a few windows holding most of them are stalls that hit every write in flight):\n');
    for (const t of WORKLOADS) {
      const h = half.get(t.name)!;
      const tail = h.tail;
      if (!tail) continue;
      const iowait = halfCpu.get(t.name)?.iowait;
      const gc = halfCpu.get(t.name)?.majorGc;
      const checkpoint = checkpointWrites([halfCpu.get(t.name)!]);
      out.push(
        `- ${t.name}: the ${Math.ceil(h.ok / 100)} writes ≥ ${fixed(tail.threshold, 1)} ms fall in ${tail.windows} windows; the worst ${tail.worst.map((w) => `at ${w.atSeconds.toFixed(1)} s (${w.writes} writes, up to ${fixed(w.maxMs, 0)} ms)`).join(', ')}; ${(tail.waitShare * 100).toFixed(0)}% of their time waiting for a free connection${iowait === undefined ? '' : `; the machine's cores waited ${iowait.toFixed(2)} s for disk I/O during the phase`}${checkpoint === undefined ? '' : checkpoint > 0 ? `; a checkpoint was in progress (it wrote ${checkpoint.toLocaleString('en')} buffers)` : '; no checkpoint in progress'}${gc === undefined ? '' : `; ${gc.count === 0 ? 'no major collection of the service processes' : `${gc.count} major collection${gc.count === 1 ? '' : 's'} of the service processes (pauses ${fixed(gc.pauseMs, 1)} ms in all)`}`}.`,
      );
    }
    out.push('\nWhere the CPU goes (cores = CPU seconds per second; PostgreSQL = the backends serving the phase, not its background writers):\n');
    out.push(
      markdownTable(
        ['phase', 'writes/s', 'p50 ms', 'p99 ms', 'service (Node)', 'PostgreSQL backends', 'load generator', 'rest of the machine', 'CPU ms per write: Node / PostgreSQL', 'WAL bytes per write', 'writes per WAL flush', 'checkpoint buffers written', 'service major GCs (pauses ms)'],
        phases.map((p) => {
          const c = cores(p.cpu);
          const gcs = p.cpu.map((s) => s.majorGc);
          return [
            p.name,
            whole(p.writesPerSecond),
            fixed(p.p50, 2),
            fixed(p.p99, 2),
            fixed(c.service, 2),
            fixed(c.postgres, 2),
            fixed(c.loadGenerator, 2),
            fixed(c.rest, 2),
            `${perWriteMs(c.service, p.writesPerSecond)} / ${perWriteMs(c.postgres, p.writesPerSecond)}`,
            ...walPerWrite(p),
            checkpointWrites(p.cpu)?.toLocaleString('en') ?? '—',
            gcs.length === 0 || gcs.some((g) => g === undefined) ? '—' : `${gcs.reduce((n, g) => n + g!.count, 0)} (${fixed(gcs.reduce((n, g) => n + g!.pauseMs, 0), 1)})`,
          ];
        }),
      ),
    );
    if (AUTOCANNON_RATE) {
      out.push(
        `\nautocannon's overallRate at the same half rates gave p99 ${WORKLOADS.map((t) => `${t.name} ${fixed(halfAutocannon.get(t.name)?.p99, 2)} ms`).join(', ')} (paced: ${WORKLOADS.map((t) => `${t.name} ${fixed(half.get(t.name)?.p99, 2)} ms`).join(', ')}): its quota per connection per second makes the load bursty (load.ts).`,
      );
    }
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
