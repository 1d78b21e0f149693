/**
 * Cross-region replication: catch-up rate and steady-state lag (not a test: `npm run bench`),
 * each figure beside a baseline measured in the same run on the same machine.
 *
 * Set-up: two regions, `a` and `b`, each the real program (`src/main.ts` in a child process,
 * started by infra/local's startRegionProcess) with its own database on its own private
 * PostgreSQL server (as regions have in production: one region's transactions never hold back
 * the other's relay, whose publish horizon is server-wide) and its own Kafka broker (KRaft, one
 * node each, small heaps), replicating to each other. Both servers are started for the run with
 * the same settings (wal_level = logical; never the shared server, so other users' databases
 * do not disturb them); the native baseline's two databases live on a's server.
 *
 * 1. Catch-up rate. b's link from a is paused (`POST /v1/replication/peers/a/pause`); a takes a
 *    backlog of N lww writes (distinct keys, one ~100-byte JSON value each) over concurrent HTTP
 *    connections; once a's relay has published every outbox row to a's Kafka, the link is
 *    resumed and timed until b's applied sequence of a reaches a's high-water. Updates applied
 *    per second = N / that time.
 *    Baseline: PostgreSQL's own logical replication between two databases of one such server,
 *    apply-only catch-up of the same N single-row transactions (upserts of distinct keys into a
 *    table shaped like meridian_keys, state bytes of the size Meridian stored). Why comparable:
 *    both replay an already-captured log of N committed single-row writes into another
 *    database on a server with the same settings, and both end with the same rows on the
 *    receiving side; native replication is the cost floor of doing that inside PostgreSQL (WAL
 *    decoding and a C apply worker), Meridian adds Kafka, decoding, causal merges and its
 *    exactly-once bookkeeping. Ratio = Meridian ÷ native.
 * 2. Steady-state lag. Both regions write at a fixed rate at once (counter increments on a
 *    shared key space, so concurrent updates merge), for S seconds. Each write's lag runs from
 *    its 200 answer in its region to the moment the other region's applied outbox id of that
 *    origin reaches the write's own (the position in its session token): when a session read
 *    in the other region would see it. Applied positions are polled from the other region's
 *    database every BENCH_POLL_MS (the lag is late by at most that plus one query). The
 *    origin's outbox `published_at` splits each lag into relay and apply stages. A shorter
 *    diagnostic phase first runs at a tenth of the rate: the lag of the pipeline itself, far
 *    from saturating the machine; there a bare consumer of each updates topic also splits Kafka
 *    from the apply (only there: it costs the brokers a consumer's fetches, ~0.2 cores).
 *    Baseline: raw Kafka produce → consume latency through each region's broker at the same
 *    message rate per broker, at the same time (kafkajs, acks = all, the messages due at each
 *    ≈1 ms tick in one send, values of the size of Meridian's envelopes, the same partition
 *    count): the transport floor under Meridian's lag. Ratio = Meridian ÷ Kafka.

 * CPU of each process group (region Nodes, PostgreSQL, Kafka, this process, the rest of the
 * shared machine) is sampled around every measured phase, and pg_stat_statements on b's server
 * counts the statements b's replicator runs per applied update during the catch-up.
 *
 * Settings (environment): BENCH_N (20000) backlog writes; BENCH_RATE (500) writes/s per region
 * and BENCH_SECONDS (20) for the lag phase; BENCH_CONNECTIONS (32) HTTP connections for the
 * backlog; BENCH_PARTITIONS (12, the service's default) partitions per updates topic; BENCH_POLL_MS
 * (5); BENCH_KAFKA_HEAP_MB (256); BENCH_KAFKA_SECURITY (plaintext, or sasl_ssl: the brokers as
 * `meridian up` runs them, bench-env.ts); MERIDIAN_* variables reach both region services (e.g.
 * MERIDIAN_OTEL_INSTRUMENTATIONS=none) and are printed; BENCH_CPU_PROF_DIR (unset) writes V8 CPU profiles of both region
 * processes there. Quick smoke: BENCH_N=2000 BENCH_SECONDS=5 npm run bench:replication -w @meridian/region.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { updatesTopic } from '@meridian/protocol';
import { brokerSecurity, createAcls, createDatabase, regionAcls, startKafkaBroker, startPrivatePostgres, KAFKA_VERSION, type KafkaBroker, type RegionProcess } from '@meridian/infra-local';
import { percentile } from './load.ts';
import { AppliedPoller, TopicTap, cpuSample, cpuUse, jitUse, pacedWrites, writeAll, type AnsweredWrite, type CpuSample } from './replication-load.ts';
import { NativeReplication, kafkaLatency, type KafkaLatency } from './replication-baselines.ts';

import { benchAuth, benchKafkaSecurity, cleanupStack, describeSettings, envInt, log, serviceNodeOptions, serviceSettings, startReplicatingRegion, type BenchAuth } from './bench-env.ts';
import { fixed, markdownTable, whole } from '@meridian/testkit';

const runFile = promisify(execFile);

/**
 * 20k by default, the issue's example size: the link's restart (the consumer's first fetches
 * after `resume`) takes a fixed few hundred milliseconds, and at the catch-up's rate of 10k+
 * updates/s a 10k backlog is over in under a second, so that start would weigh as much as the
 * apply. Larger backlogs weigh it less still (and take longer to write through HTTP first).
 */
const N = envInt('BENCH_N', 20_000, 10, 10_000_000);
const RATE = envInt('BENCH_RATE', 500, 1, 100_000);
const SECONDS = envInt('BENCH_SECONDS', 20, 1, 3600);
const LOW_RATE = Math.max(1, Math.round(RATE / 10));
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 32, 1, 1000);
const PARTITIONS = envInt('BENCH_PARTITIONS', 12, 1, 1024);
const POLL_MS = envInt('BENCH_POLL_MS', 5, 1, 1000);
const KAFKA_HEAP_MB = envInt('BENCH_KAFKA_HEAP_MB', 256, 128, 8192);
const CPU_PROF_DIR = process.env['BENCH_CPU_PROF_DIR'] || undefined;
/**
 * The lag phases measure a steady state: first the regions write at the full rate for this long
 * into the measured phase's namespace (its keys get their first writes), unmeasured. Freshly
 * started processes are slower at first: V8 optimizes the services' hot paths, and the brokers
 * compile Kafka's (with C2, as infra/local ran them before decision 0006, its threads still took
 * 0.22 to 0.32 cores, more than the brokers' request handling, 90 s after start).
 */
const WARMUP_SECONDS = envInt('BENCH_WARMUP_SECONDS', 30, 0, 3600);
/** The regions' PostgreSQL pool (MERIDIAN_PG_POOL_SIZE's default, set explicitly so the pool figures below hold). */
const POOL_SIZE = 8;
/** Keys of the lag phase's counters, shared by both regions (concurrent increments merge). */
const LAG_KEYS = 1000;

/** How long a lag phase waits for answers after its last scheduled write before giving up on the rest. */
const WRITE_GRACE_MS = 5000;

/** The issue's targets ("Cross-region replication", item 10). */
const TARGET_CATCHUP_RATIO = 0.25;
const TARGET_LAG_P99_MS = 250;

const A = 'a';
const B = 'b';
const CATCHUP_NS = 'bench_catchup';
const LAG_NS = 'bench_lag';
const LOW_LAG_NS = 'bench_lag_low';
const KAFKA_GROUP = 'Kafka (Java)';
const LWW_BODY = JSON.stringify({ value: { user: 'u0042', score: 1234, note: 'a register value of about one hundred bytes, padded..' } });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number | undefined, digits = 1): string => (n === Infinity ? 'never (within the drain)' : fixed(n, digits));

interface ReplicationView {
  readonly applied: Record<string, number>;
  readonly peers: Record<string, { readonly state: string; readonly lagSeconds: number | null; readonly lagSequence: number | null }>;
}

/** The regions' bearer tokens (BENCH_AUTH), set once they are started. */
let bench: BenchAuth | undefined;

async function call<T>(region: RegionProcess, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${region.url}${path}`, {
    method,
    headers: { ...bench?.header('admin'), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (response.status < 200 || response.status > 299) throw new Error(`${region.region}: ${method} ${path} → ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const replicationOf = (region: RegionProcess): Promise<ReplicationView> => call<ReplicationView>(region, 'GET', '/v1/replication');

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

async function gitState(): Promise<string> {
  try {
    const { stdout: head } = await runFile('git', ['rev-parse', '--short', 'HEAD']);
    const { stdout: dirty } = await runFile('git', ['status', '--porcelain', '--', '.', '../../packages', '../../infra']);
    const changed = dirty.split('\n').filter(Boolean).length;
    return `${head.trim()}${changed > 0 ? ` + ${changed} uncommitted paths in services/region, packages/ or infra/` : ''}`;
  } catch {
    return 'unknown';
  }
}

async function uptime(): Promise<string> {
  try {
    return (await runFile('uptime')).stdout.trim();
  } catch {
    return `load average ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
  }
}

/** A phase's CPU as "group cores" cells, largest first. */
function cpuCells(use: ReadonlyMap<string, number>): string {
  return [...use].sort(([, x], [, y]) => y - x).map(([group, cores]) => `${group} ${cores.toFixed(2)}`).join(', ');
}

interface StatementUse {
  readonly query: string;
  readonly calls: number;
  readonly ms: number;
}

/** The statements of b's database since the last reset, most called or most time inside PostgreSQL first. */
async function statementUse(stats: pg.Client, by: 'calls' | 'time'): Promise<StatementUse[]> {
  const { rows } = await stats.query<{ query: string; calls: string; ms: number }>(
    `SELECT query, calls, total_exec_time AS ms FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
     ORDER BY ${by === 'calls' ? 'calls' : 'total_exec_time'} DESC`,
  );
  return rows.map((r) => ({ query: r.query.replace(/\s+/g, ' '), calls: Number(r.calls), ms: r.ms }));
}

interface LagPhase {
  readonly rate: number;
  readonly seconds: number;
  /** Both directions together, then each. */
  readonly all: LagFigures;
  readonly ab: LagFigures;
  readonly ba: LagFigures;
  /** answered → published by the origin's relay → fetchable from its Kafka → applied in the other region. */
  readonly relay: LagFigures;
  /** published → applied in the other region: Kafka and apply together (without a tap). */
  readonly published: LagFigures;
  /** Split by the tap (diagnostic phase only; NaN without). */
  readonly kafka: LagFigures;
  readonly apply: LagFigures;
  /** b's apply transactions (one per partition batch) during the phase, and a's updates they applied. */
  readonly bBatches: number;
  readonly aUpdates: number;
  /** b's statements during the phase (its writes, relay and apply, and this bench's polls), by time inside PostgreSQL. */
  readonly statements: readonly StatementUse[];
  readonly writeLatency: LagFigures;
  readonly answeredPerSecond: number;
  readonly drainSeconds: number;
  readonly drained: boolean;
  readonly meanPollMs: number;
  /** The regions' pools during the writes and the drain: mean connections busy, share of samples with all busy. */
  readonly pool: { readonly meanBusy: number; readonly saturated: number };
  readonly cpu: ReadonlyMap<string, number>;
  /** Of `cpu`, the JVMs' JIT compiler threads (Kafka's, warming up). */
  readonly jit: ReadonlyMap<string, number>;
  /** From the first write to the end of the drain, and how long that was. */
  readonly cpuEndToEnd: ReadonlyMap<string, number>;
  readonly endToEndSeconds: number;
  /** Writes answered in both regions, and given up unanswered. */
  readonly writes: number;
  readonly abandoned: number;
  /** Outbox rows committed in both regions during the phase (given-up writes the service still did included). */
  readonly committed: number;
}

/** The process groups that do Meridian's work (not this process, not other users). */
const MERIDIAN_GROUPS = ['region a (Node)', 'region b (Node)', 'PostgreSQL a', 'PostgreSQL b', 'Kafka (Java)'] as const;

/** CPU ms per replicated write (write, relay, Kafka, apply in the other region), by group and in total. */
function cpuPerWrite(p: LagPhase): { total: number; parts: string } {
  const ms = (group: string): number => (((p.cpuEndToEnd.get(group) ?? 0) * p.endToEndSeconds) / p.committed) * 1000;
  const node = ms('region a (Node)') + ms('region b (Node)');
  const postgres = ms('PostgreSQL a') + ms('PostgreSQL b');
  const kafka = ms('Kafka (Java)');
  return { total: MERIDIAN_GROUPS.reduce((n, g) => n + ms(g), 0), parts: `Node ${node.toFixed(2)} + PostgreSQL ${postgres.toFixed(2)} + Kafka ${kafka.toFixed(2)}` };
}

interface LagFigures {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly unseen: number;
}

/**
 * Lag of each write from `origin`, as seen by `poller` in the other region. A write never seen
 * within the drain counts as an infinite lag: it stays in the percentiles (leaving it out would
 * flatter the tail exactly when the link cannot keep up).
 */
function lags(writes: readonly AnsweredWrite[], origin: string, poller: AppliedPoller): { sample: Float64Array; unseen: number } {
  const out: number[] = [];
  let unseen = 0;
  for (const w of writes) {
    const at = poller.visibleAt(origin, w.position);
    if (at === undefined) unseen++;
    // Visible before the client had its answer (the 200 was still on its way): no lag.
    out.push(at === undefined ? Infinity : Math.max(0, at - w.answeredAt));
  }
  return { sample: Float64Array.from(out), unseen };
}

function figures(sample: Float64Array, unseen = 0): LagFigures {
  const copy = Float64Array.from(sample);
  const p50 = percentile(copy, 50);
  return { count: copy.length, p50, p99: percentile(copy, 99), max: copy.length > 0 ? copy[copy.length - 1]! : Number.NaN, unseen };
}

const concat = (...parts: Float64Array[]): Float64Array => {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();

  try {
    const uptimeBefore = await uptime();
    const workDir = mkdtempSync(join(tmpdir(), 'meridian-replication-bench-'));
    cleanups.push(() => Promise.resolve(rmSync(workDir, { recursive: true, force: true })));
    const kafkaSecurity = benchKafkaSecurity(workDir, [A, B]);

    // ---- infrastructure: one private PostgreSQL, two brokers, two regions -----------------------
    log('starting two private PostgreSQL servers (wal_level=logical) and two Kafka brokers');
    const serverSettings = {
      wal_level: 'logical',
      max_replication_slots: '4',
      max_wal_senders: '4',
      max_connections: '100',
      shared_buffers: '128MB',
      shared_preload_libraries: "'pg_stat_statements'",
    };
    const [serverA, serverB, brokerA, brokerB] = await Promise.all([
      startPrivatePostgres({ settings: serverSettings }),
      startPrivatePostgres({ settings: serverSettings }),
      startKafkaBroker({ name: `bench-${A}`, heapMb: KAFKA_HEAP_MB, ...(kafkaSecurity ? { security: brokerSecurity(kafkaSecurity, A) } : {}) }),
      startKafkaBroker({ name: `bench-${B}`, heapMb: KAFKA_HEAP_MB, ...(kafkaSecurity ? { security: brokerSecurity(kafkaSecurity, B) } : {}) }),
    ]);
    // Undone in reverse order: regions stop before their brokers and servers go. The databases
    // go with each private server's data directory.
    cleanups.push(() => serverA.destroy());
    cleanups.push(() => serverB.destroy());
    cleanups.push(() => brokerA.destroy());
    cleanups.push(() => brokerB.destroy());
    const brokers: Record<string, KafkaBroker> = { [A]: brokerA, [B]: brokerB };
    if (kafkaSecurity) {
      const principals = new Map([...kafkaSecurity.regions].map(([id, user]) => [id, user.username]));
      await Promise.all([A, B].map((region) => createAcls(brokers[region]!.bootstrap, brokers[region]!.adminSecurity!, regionAcls(region, principals))));
    }

    const admin = new pg.Client({ connectionString: serverA.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    const setting = async (name: string): Promise<string> => (await admin.query<{ v: string }>(`SELECT current_setting('${name}') AS v`)).rows[0]!.v;
    const serverFacts = [`PostgreSQL ${await setting('server_version')}`];
    for (const name of ['fsync', 'synchronous_commit', 'shared_buffers', 'wal_level']) serverFacts.push(`${name}=${await setting(name)}`);

    const dbUrl: Record<string, string> = {
      [A]: await createDatabase(`bench_region_${A}`, serverA.url),
      [B]: await createDatabase(`bench_region_${B}`, serverB.url),
    };
    await createDatabase('bench_native_a', serverA.url);
    await createDatabase('bench_native_b', serverA.url);

    log('starting regions a and b');
    const nodeOptions = [serviceNodeOptions()['NODE_OPTIONS'], CPU_PROF_DIR ? `--cpu-prof --cpu-prof-dir=${CPU_PROF_DIR}` : undefined].filter((o) => o !== undefined).join(' ');
    const profileEnv: Record<string, string> = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {};
    bench = await benchAuth();
    const secured = bench;
    const start = (region: string, peer: string): Promise<RegionProcess> =>
      startReplicatingRegion({
        region,
        peer,
        databaseUrl: dbUrl[region]!,
        brokers,
        security: kafkaSecurity,
        bench: secured,
        logFile: join(workDir, `region-${region}.log`),
        env: { MERIDIAN_TOPIC_PARTITIONS: String(PARTITIONS), MERIDIAN_PG_POOL_SIZE: String(POOL_SIZE), ...profileEnv },
      });
    const [regionA, regionB] = await Promise.all([start(A, B), start(B, A)]);
    const regions: Record<string, RegionProcess> = { [A]: regionA, [B]: regionB };
    for (const region of [regionA, regionB]) {
      cleanups.push(async () => {
        await region.stop();
        if (region.process.logTail(200).match(/"level":(50|60)/)) log(`${region.name} logged errors; tail:\n${region.process.logTail(20)}`);
      });
    }
    const regionDb: Record<string, pg.Client> = {};
    for (const region of [A, B]) {
      const client = new pg.Client({ connectionString: dbUrl[region]! });
      await client.connect();
      cleanups.push(() => client.end());
      regionDb[region] = client;
    }

    /** Both links joined and streaming (the peer's topic exists, offsets claimed). */
    const linkUp = async (at: RegionProcess, from: string): Promise<boolean> => ['streaming', 'catching-up'].includes((await replicationOf(at)).peers[from]?.state ?? '');
    await waitUntil('replication links up', 60_000, async () => (await linkUp(regionA, B)) && (await linkUp(regionB, A)), 200);
    /** Until `at` has applied everything `origin` has committed so far (published first: a write answers before its relay publishes it). */
    const caughtUp = async (at: RegionProcess, origin: RegionProcess, timeoutMs: number): Promise<void> => {
      let high = 0;
      await waitUntil(`${origin.region}'s relay publishing its outbox`, timeoutMs, async () => {
        const { rows } = await regionDb[origin.region]!.query<{ unpublished: number; high: number }>(
          'SELECT count(*) FILTER (WHERE sequence IS NULL)::int AS unpublished, coalesce(max(sequence), 0)::int AS high FROM meridian_outbox',
        );
        high = rows[0]!.high;
        return rows[0]!.unpublished === 0;
      });
      await waitUntil(`${at.region} applying ${origin.region} up to ${high}`, timeoutMs, async () => ((await replicationOf(at)).applied[origin.region] ?? 0) >= high);
    };
    const groupOf = (pid: number, command: string): string => {
      if (pid === regionA.process.pid) return 'region a (Node)';
      if (pid === regionB.process.pid) return 'region b (Node)';
      if (command.includes('kafka.Kafka')) return KAFKA_GROUP;
      if (command.includes(serverA.dataDir)) return 'PostgreSQL a';
      if (command.includes(serverB.dataDir)) return 'PostgreSQL b';
      return 'other children';
    };
    const sample = (): CpuSample => cpuSample(groupOf);

    // ---- 1. catch-up ------------------------------------------------------------------------
    log(`catch-up: declaring ${CATCHUP_NS} in a, pausing b's link from a`);
    await call(regionA, 'PUT', `/v1/namespaces/${CATCHUP_NS}`, { policy: 'lww' });
    await caughtUp(regionB, regionA, 60_000);
    const paused = await call<{ state: string }>(regionB, 'POST', `/v1/replication/peers/${A}/pause`);
    if (paused.state !== 'paused') throw new Error(`pausing b's link from a left it ${paused.state}`);

    log(`catch-up: writing a backlog of ${N} lww writes into a over ${CONNECTIONS} connections`);
    const backlog = await writeAll({ baseUrl: regionA.url, count: N, connections: CONNECTIONS, write: (i) => ({ method: 'PUT', path: `/v1/ns/${CATCHUP_NS}/keys/k${i + 1}`, body: LWW_BODY }), headers: secured.header('writer') });
    log(`catch-up: a took ${whole(backlog.perSecond)} writes/s; waiting for a's relay to publish them all`);
    const outboxRows = async (): Promise<{ rows: number; unsequenced: number; mismatched: number }> => {
      const { rows } = await regionDb[A]!.query<{ rows: number; unsequenced: number; mismatched: number }>(
        'SELECT count(*)::int AS rows, count(*) FILTER (WHERE sequence IS NULL)::int AS unsequenced, count(*) FILTER (WHERE sequence IS DISTINCT FROM id)::int AS mismatched FROM meridian_outbox',
      );
      return rows[0]!;
    };
    await waitUntil("a's relay publishing the backlog", 120_000, async () => {
      const [outbox, view] = await Promise.all([outboxRows(), replicationOf(regionA)]);
      return outbox.unsequenced === 0 && (view.applied[A] ?? 0) === outbox.rows;
    }, 100);
    const outbox = await outboxRows();
    const highWater = (await replicationOf(regionA)).applied[A]!;
    const before = (await replicationOf(regionB)).applied[A] ?? 0;
    if (before + N > highWater) throw new Error(`b applied a's updates while its link was paused (b at ${before}, a's high-water ${highWater}, backlog ${N})`);
    const sizes = await regionDb[A]!.query<{ state: number; envelope: number }>(
      `SELECT (SELECT avg(octet_length(state))::int FROM meridian_keys WHERE namespace = $1) AS state,
              (SELECT avg(octet_length(envelope))::int FROM meridian_outbox WHERE message_key LIKE $1 || '/%') AS envelope`,
      [CATCHUP_NS],
    );
    const stateBytes = sizes.rows[0]!.state;

    const statsB = new pg.Client({ connectionString: dbUrl[B]! });
    await statsB.connect();
    cleanups.push(() => statsB.end());
    await statsB.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await statsB.query('SELECT pg_stat_statements_reset()');

    log(`catch-up: resuming b's link from a (${highWater - before} updates behind)`);
    // Progress straight from b's database (the row /v1/replication's applied[a] is read from),
    // so the polling does not load b's event loop: the contiguous sequence every 20 ms, and
    // every 250 ms also the sequences applied beyond it (updates arrive partition by partition,
    // so the contiguous prefix jumps near the end while the applied count grows steadily).
    const appliedOfA = async (withBeyond: boolean): Promise<{ contiguous: number; beyond: number }> => {
      const { rows } = await regionDb[B]!.query<{ contiguous: string | null; beyond: number | null }>(
        `SELECT max(contiguous)::text AS contiguous, ${withBeyond ? 'max(jsonb_array_length(beyond))' : '0'}::int AS beyond FROM meridian_applied WHERE region = $1`,
        [A],
      );
      return { contiguous: Number(rows[0]?.contiguous ?? 0), beyond: rows[0]?.beyond ?? 0 };
    };
    const progress: { at: number; applied: number }[] = [];
    let contiguous = 0;
    let beyondMax = 0;
    const cpuBefore = sample();
    const resumeAt = performance.now();
    await call(regionB, 'POST', `/v1/replication/peers/${A}/resume`);
    const catchupTimeoutMs = Math.max(120_000, N * 10);
    let lastBeyondCheck = 0;
    for (;;) {
      const withBeyond = performance.now() - lastBeyondCheck >= 250;
      const applied = await appliedOfA(withBeyond);
      const now = performance.now();
      contiguous = applied.contiguous;
      if (withBeyond) {
        lastBeyondCheck = now;
        beyondMax = Math.max(beyondMax, applied.beyond);
        progress.push({ at: now, applied: applied.contiguous + applied.beyond });
      }
      if (contiguous >= highWater) break;
      if (now - resumeAt > catchupTimeoutMs) throw new Error(`catch-up: b applied a up to ${contiguous} of ${highWater} in ${catchupTimeoutMs} ms`);
      await sleep(20);
    }
    const doneAt = performance.now();
    progress.push({ at: doneAt, applied: highWater });
    const viewB = await replicationOf(regionB);
    if ((viewB.applied[A] ?? 0) !== highWater) throw new Error(`catch-up: b's /v1/replication says applied[a] = ${viewB.applied[A]}, its database ${highWater}`);
    const catchupSeconds = (doneAt - resumeAt) / 1000;
    const cpuCatchup = cpuUse(cpuBefore, sample());
    const meridianRate = (highWater - before) / catchupSeconds;
    log(`catch-up: ${whole(meridianRate)} updates/s (${catchupSeconds.toFixed(2)} s)`);
    /** Updates/s over a slice of the backlog (fractions of it), from the progress samples. */
    const sliceRate = (from: number, to: number): number => {
      const total = highWater - before;
      const at = (fraction: number): number => progress.find((p) => p.applied - before >= total * fraction)?.at ?? progress.at(-1)!.at;
      const seconds = (at(to) - (from === 0 ? resumeAt : at(from))) / 1000;
      return (total * (to - from)) / seconds;
    };
    const quarters = [0, 0.25, 0.5, 0.75].map((q) => sliceRate(q, q + 0.25));
    const statements = await statementUse(statsB, 'calls');
    const totalCalls = statements.reduce((n, r) => n + r.calls, 0);
    const totalExecMs = statements.reduce((n, r) => n + r.ms, 0);
    const [digestA, digestB] = await Promise.all([regionA, regionB].map((r) => call<{ keys: number; digest: string }>(r, 'GET', `/v1/digest?ns=${CATCHUP_NS}`)));
    if (digestA!.keys !== N || digestA!.digest !== digestB!.digest) throw new Error(`catch-up: b's ${CATCHUP_NS} differs from a's (keys ${digestA!.keys} / ${digestB!.keys})`);

    // ---- 1b. baseline: native logical replication ------------------------------------------------
    log(`native logical replication: ${N} single-row transactions of ${stateBytes} B state`);
    const native = await NativeReplication.prepare({ serverUrl: serverA.url, publisherDb: 'bench_native_a', subscriberDb: 'bench_native_b', rows: N, stateBytes, namespace: CATCHUP_NS });
    cleanups.push(() => native.close());
    const nativeWriteSeconds = await native.writeBacklog();
    const cpuNativeBefore = sample();
    const nativeSeconds = await native.catchUp(Math.max(120_000, N * 10));
    const cpuNative = cpuUse(cpuNativeBefore, sample());
    const nativeRate = N / nativeSeconds;
    log(`native logical replication: ${whole(nativeRate)} rows/s (${nativeSeconds.toFixed(2)} s)`);
    await native.close();

    // ---- 2. steady-state lag ------------------------------------------------------------------
    const keyOf = (i: number, region: string): number => 1 + ((i * 7919 + (region === A ? 0 : 500)) % LAG_KEYS);
    /** Both regions write `rate`/s into `ns` for `seconds`; the lag of every write in the other region. */
    const lagPhase = async (ns: string, rate: number, seconds: number, withTap: boolean): Promise<LagPhase> => {
      log(`lag: both regions writing ${rate}/s into ${ns} for ${seconds} s`);
      await call(regionA, 'PUT', `/v1/namespaces/${ns}`, { policy: 'counter' });
      await caughtUp(regionB, regionA, 60_000);
      await caughtUp(regionA, regionB, 60_000);
      const pollers: Record<string, AppliedPoller> = { [A]: new AppliedPoller(dbUrl[A]!, POLL_MS, POOL_SIZE), [B]: new AppliedPoller(dbUrl[B]!, POLL_MS, POOL_SIZE) };
      const stopPollers = (): Promise<unknown> => Promise.all(Object.values(pollers).map((p) => p.stop()));
      cleanups.push(() => stopPollers().then(() => undefined));
      for (const p of Object.values(pollers)) await p.start();
      const taps: Record<string, TopicTap> = withTap ? { [A]: new TopicTap(brokerA.bootstrap, updatesTopic(A), PARTITIONS, brokerA.adminSecurity), [B]: new TopicTap(brokerB.bootstrap, updatesTopic(B), PARTITIONS, brokerB.adminSecurity) } : {};
      const stopTaps = (): Promise<unknown> => Promise.all(Object.values(taps).map((t) => t.stop()));
      cleanups.push(() => stopTaps().then(() => undefined));
      await Promise.all(Object.values(taps).map((t) => t.start()));
      await sleep(500); // the taps' first offset lookups (the topics' ends)
      await statsB.query('SELECT pg_stat_statements_reset()');
      const committed = async (region: string): Promise<bigint> =>
        BigInt((await regionDb[region]!.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM meridian_outbox')).rows[0]!.id);
      const [firstA, firstB] = [await committed(A), await committed(B)];
      const cpuBefore = sample();
      const [writesA, writesB] = await Promise.all(
        [A, B].map((region) =>
          pacedWrites({
            baseUrl: regions[region]!.url,
            rate,
            seconds,
            connections: 32,
            actor: `${region}.1`,
            write: (i) => ({ method: 'POST', path: `/v1/ns/${ns}/keys/k${keyOf(i, region)}/ops`, body: '{"increment":1}' }),
            graceMs: WRITE_GRACE_MS,
            headers: secured.header('writer'),
          }),
        ),
      );
      const cpuAfter = sample();
      const cpu = cpuUse(cpuBefore, cpuAfter);
      const jit = jitUse(cpuBefore, cpuAfter);
      for (const [region, w] of [[A, writesA!], [B, writesB!]] as const) {
        if (w.failures > 0) throw new Error(`lag: ${w.failures} writes to ${region} failed, first: ${w.firstFailure ?? '?'}`);
      }
      // The drain: until the other region has applied everything each region committed (given-up
      // writes the service still committed too, so no backlog leaks into the next phase), or a
      // deadline (a link slower than the write rate would otherwise keep the run going).
      await sleep(200); // the last commits of given-up writes
      const [lastA, lastB] = [await committed(A), await committed(B)];
      const drainMs = Math.max(30_000, seconds * 2000);
      const drainStarted = performance.now();
      const drained =
        (await pollers[B]!.waitFor(A, lastA, drainMs)) && (await pollers[A]!.waitFor(B, lastB, Math.max(1000, drainMs - (performance.now() - drainStarted))));
      const drainSeconds = (performance.now() - drainStarted) / 1000;
      // Writes and drain together: the CPU of every write done end to end (its region, its
      // relay and Kafka, the other region's apply).
      const cpuEndToEnd = cpuUse(cpuBefore, sample());
      if (!drained) log(`lag: not every write applied in the other region ${drainSeconds.toFixed(0)} s after the phase (counted as infinite lag)`);
      await stopPollers();
      await stopTaps();
      const { rows: batchRows } = await statsB.query<{ calls: string | null }>(
        "SELECT sum(calls)::text AS calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE '%FROM meridian_offsets WHERE peer%FOR UPDATE%'",
      );
      const bBatches = Number(batchRows[0]?.calls ?? 0);
      const statements = await statementUse(statsB, 'time');
      const ab = lags(writesA!.writes, A, pollers[B]!);
      const ba = lags(writesB!.writes, B, pollers[A]!);
      // Where the lag goes: the origin's relay stamps each outbox row when it has published it
      // (published_at, set just after Kafka acknowledged the send; the same wall clock as
      // this process's timeOrigin + now()), and the tap saw when it became fetchable. A write's
      // lag = answered → published (relay: poll, horizon wait, Kafka send) + published →
      // fetchable (Kafka: fetch) + fetchable → applied in the other region.
      const stages = { relay: [] as number[], published: [] as number[], kafka: [] as number[], apply: [] as number[] };
      for (const [origin, writes, poller, tap] of [[A, writesA!.writes, pollers[B]!, taps[A]], [B, writesB!.writes, pollers[A]!, taps[B]]] as const) {
        const { rows } = await regionDb[origin]!.query<{ id: string; published: number }>(
          "SELECT id::text, extract(epoch FROM published_at) * 1000 AS published FROM meridian_outbox WHERE message_key LIKE $1 || '/%' AND published_at IS NOT NULL",
          [ns],
        );
        const published = new Map(rows.map((r) => [r.id, Number(r.published)]));
        for (const w of writes) {
          const at = published.get(w.position.toString());
          const fetchable = tap?.seenAt(w.position);
          const visible = poller.visibleAt(origin, w.position);
          if (at === undefined || visible === undefined) continue;
          stages.relay.push(at - (performance.timeOrigin + w.answeredAt));
          stages.published.push(performance.timeOrigin + visible - at);
          if (fetchable === undefined) continue;
          stages.kafka.push(performance.timeOrigin + fetchable - at);
          stages.apply.push(visible - fetchable);
        }
      }
      const phase: LagPhase = {
        rate,
        seconds: Math.max(writesA!.seconds, writesB!.seconds),
        all: figures(concat(ab.sample, ba.sample), ab.unseen + ba.unseen),
        ab: figures(ab.sample, ab.unseen),
        ba: figures(ba.sample, ba.unseen),
        relay: figures(Float64Array.from(stages.relay)),
        published: figures(Float64Array.from(stages.published)),
        kafka: figures(Float64Array.from(stages.kafka)),
        apply: figures(Float64Array.from(stages.apply)),
        bBatches,
        statements,
        aUpdates: writesA!.writes.length,
        writeLatency: figures(Float64Array.from([...writesA!.writes, ...writesB!.writes].map((w) => w.latencyMs))),
        answeredPerSecond: (writesA!.writes.length + writesB!.writes.length) / 2 / Math.max(writesA!.seconds, writesB!.seconds),
        drainSeconds,
        drained,
        meanPollMs: (pollers[A]!.meanPollMs + pollers[B]!.meanPollMs) / 2,
        pool: { meanBusy: (pollers[A]!.pool.meanBusy + pollers[B]!.pool.meanBusy) / 2, saturated: (pollers[A]!.pool.saturated + pollers[B]!.pool.saturated) / 2 },
        cpu,
        jit,
        cpuEndToEnd,
        endToEndSeconds: Math.max(writesA!.seconds, writesB!.seconds) + drainSeconds,
        writes: writesA!.writes.length + writesB!.writes.length,
        abandoned: writesA!.abandoned + writesB!.abandoned,
        committed: Number(lastA - firstA + (lastB - firstB)),
      };
      log(`lag at ${rate}/s: p50 ${fmt(phase.all.p50)} ms, p99 ${fmt(phase.all.p99)} ms`);
      return phase;
    };
    // A warm-up at the full rate (see WARMUP_SECONDS); then, for diagnosis, a tenth of the rate:
    // the lag of the pipeline itself, far from saturating the machine. Then the issue's rate.
    const warmup = WARMUP_SECONDS > 0 ? await lagPhase(LAG_NS, RATE, WARMUP_SECONDS, false) : undefined;
    const low = await lagPhase(LOW_LAG_NS, LOW_RATE, Math.min(SECONDS, 10), true);
    const lag = await lagPhase(LAG_NS, RATE, SECONDS, false);
    const envelope = await regionDb[A]!.query<{ bytes: number }>("SELECT avg(octet_length(envelope))::int AS bytes FROM meridian_outbox WHERE message_key LIKE $1 || '/%'", [LAG_NS]);
    const envelopeBytes = envelope.rows[0]!.bytes;

    // ---- 2b. baseline: raw Kafka produce → consume ------------------------------------------------
    log(`kafka baseline: ${RATE} messages/s through each broker for ${SECONDS} s`);
    const cpuKafkaBefore = sample();
    const kafka: KafkaLatency[] = await Promise.all(
      [brokerA, brokerB].map((broker) => kafkaLatency({ security: broker.adminSecurity, bootstrap: broker.bootstrap, topic: 'bench.kafka-baseline', partitions: PARTITIONS, rate: RATE, seconds: SECONDS, valueBytes: envelopeBytes, keys: LAG_KEYS })),
    );
    const cpuKafka = cpuUse(cpuKafkaBefore, sample());
    for (const k of kafka) if (k.received < k.sent) throw new Error(`kafka baseline: ${k.received} of ${k.sent} messages received`);
    const kafkaAll = figures(concat(...kafka.map((k) => k.sample)));
    log(`kafka baseline: p50 ${fmt(kafkaAll.p50, 2)} ms, p99 ${fmt(kafkaAll.p99, 2)} ms`);

    // ---- report -------------------------------------------------------------------------------
    const catchupRatio = meridianRate / nativeRate;
    const met = (ok: boolean): string => (ok ? 'yes' : '**no**');
    const updates = highWater - before;
    /** CPU ms per item of a phase: cores × seconds ÷ items. */
    const msPer = (use: ReadonlyMap<string, number>, group: string, seconds: number, items: number): string => fmt((((use.get(group) ?? 0) * seconds) / items) * 1000, 2);
    const cpu = cpus();
    const out: string[] = [];
    out.push('## Cross-region replication: catch-up and lag (services/region/bench/replication-catchup.ts)\n');
    out.push(
      `Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${serverFacts.join(', ')} (a private server per region, the native baseline on a's), Kafka ${KAFKA_VERSION} (KRaft, one node per region, heap ${KAFKA_HEAP_MB} MB, ${kafkaSecurity ? 'SASL_SSL with SCRAM-SHA-512 and ACLs: every client, the raw-Kafka baseline too, over TLS' : 'plaintext'}: BENCH_KAFKA_SECURITY); code ${await gitState()}.`,
    );
    out.push(`Load: \`${uptimeBefore}\` before the run, \`${await uptime()}\` after (a shared machine: other users' processes show as "rest of the machine" below).`);
    out.push(
      `Parameters: backlog N = ${N.toLocaleString('en')} lww writes of distinct keys (${LWW_BODY.length} B JSON body, stored state ${stateBytes} B, outbox envelope ${sizes.rows[0]!.envelope} B) over ${CONNECTIONS} connections; lag phase ${RATE} writes/s per region in both regions at once for ${SECONDS} s (counter increments over ${LAG_KEYS} shared keys)${WARMUP_SECONDS > 0 ? `, after a ${WARMUP_SECONDS} s warm-up at that rate into the same keys (unmeasured, before the diagnostic phase)` : ' without a warm-up'}, applied positions polled every ${POLL_MS} ms (mean query ${fmt(lag.meanPollMs, 2)} ms); ${PARTITIONS} partitions per updates topic; region pools ${POOL_SIZE} (the default), log level warn, ${describeSettings(serviceSettings())}; no injected latency.\n`,
    );
    out.push(
      markdownTable(
        ['metric', 'Meridian', 'baseline', 'ratio', 'target', 'met?'],
        [
          ['catch-up rate, updates/s applied', whole(meridianRate), `${whole(nativeRate)} (PostgreSQL logical replication, rows/s)`, catchupRatio.toFixed(3), `ratio ≥ ${TARGET_CATCHUP_RATIO}`, met(catchupRatio >= TARGET_CATCHUP_RATIO)],
          [`replication lag p50, ms (${RATE}/s per region)`, fmt(lag.all.p50), `${fmt(kafkaAll.p50, 2)} (Kafka produce→consume)`, (lag.all.p50 / kafkaAll.p50).toFixed(1), '—', '—'],
          [`replication lag p99, ms (${RATE}/s per region)`, fmt(lag.all.p99), `${fmt(kafkaAll.p99, 2)} (Kafka produce→consume)`, (lag.all.p99 / kafkaAll.p99).toFixed(1), `< ${TARGET_LAG_P99_MS} ms`, met(lag.all.p99 < TARGET_LAG_P99_MS)],
        ],
      ),
    );
    out.push('\nDetails:\n');
    out.push(
      `- Catch-up: ${whole(updates)} updates in ${catchupSeconds.toFixed(2)} s; updates/s per quarter of the backlog: ${quarters.map((q) => whole(q)).join(' → ')}; b's \`beyond\` list (sequences applied above the contiguous prefix: the partitions a transaction has not taken yet leave gaps) peaked at ${beyondMax.toLocaleString('en')} entries; digests of ${CATCHUP_NS} equal in a and b (${N.toLocaleString('en')} keys). a took the backlog at ${whole(backlog.perSecond)} writes/s over HTTP; the native backlog went in at ${whole(N / nativeWriteSeconds)} rows/s (one DO block, a COMMIT per row). a's outbox: ${outbox.rows} rows, ${outbox.mismatched} with sequence ≠ outbox id.`,
    );
    out.push(
      `- CPU per applied update (load-independent, unlike the rates): Meridian ${msPer(cpuCatchup, 'region b (Node)', catchupSeconds, updates)} ms in b's Node + ${msPer(cpuCatchup, 'PostgreSQL b', catchupSeconds, updates)} ms in b's PostgreSQL; native ${msPer(cpuNative, 'PostgreSQL a', nativeSeconds, N)} ms in PostgreSQL (walsender + apply worker).`,
    );
    out.push(
      `- b's statements during the catch-up (pg_stat_statements): ${totalCalls.toLocaleString('en')} calls = ${(totalCalls / updates).toFixed(1)} per applied update, ${(totalExecMs / 1000).toFixed(2)} s of execution inside PostgreSQL (${((totalExecMs / 1000 / catchupSeconds) * 100).toFixed(0)}% of the catch-up's wall time). Most called:`,
    );
    for (const r of statements.slice(0, 8)) {
      out.push(`  - ${(r.calls / updates).toFixed(2)}/update, ${(r.ms / r.calls).toFixed(3)} ms each: \`${r.query.slice(0, 110)}\``);
    }
    const dir = (name: string, f: LagFigures): string => `${name} p50 ${fmt(f.p50)} / p99 ${fmt(f.p99)} / max ${fmt(f.max)} ms over ${f.count} writes${f.unseen > 0 ? ` (${f.unseen} not applied within the drain)` : ''}`;
    const describe = (p: LagPhase): string =>
      `${dir('a→b', p.ab)}; ${dir('b→a', p.ba)}. By stage (percentiles of each stage on its own): answered → published by the origin's relay (its Kafka send included: \`published_at\` is stamped just after the send is acknowledged, so the next stage can come out below zero) p50 ${fmt(p.relay.p50)} / p99 ${fmt(p.relay.p99)} ms, ${
        p.kafka.count > 0
          ? `published → fetchable from Kafka (a bare consumer) p50 ${fmt(p.kafka.p50)} / p99 ${fmt(p.kafka.p99)} ms, fetchable → applied in the other region p50 ${fmt(p.apply.p50)} / p99 ${fmt(p.apply.p99)} ms`
          : `published → applied in the other region p50 ${fmt(p.published.p50)} / p99 ${fmt(p.published.p99)} ms`
      }; b applied a's ${p.aUpdates} updates in ${p.bBatches} transactions (${fmt(p.aUpdates / p.bBatches)} updates each). Pools: ${fmt(p.pool.meanBusy)} of ${POOL_SIZE} connections busy on average, all ${POOL_SIZE} in ${(p.pool.saturated * 100).toFixed(0)}% of samples (writes, relay and replicator queue for the same pool). Writes answered at ${whole(p.answeredPerSecond)}/s per region${p.abandoned > 0 ? ` (${p.abandoned} of ${p.writes + p.abandoned} still unanswered ${WRITE_GRACE_MS / 1000} s after the last was due: given up, not in the sample)` : ''}, write latency p50 ${fmt(p.writeLatency.p50, 2)} / p99 ${fmt(p.writeLatency.p99, 2)} ms; the last write was applied in the other region ${p.drainSeconds.toFixed(1)} s after the writes ended${p.drained ? '' : ' (the drain deadline passed first)'}.`;
    out.push(
      `- Lag at ${RATE}/s per region: ${describe(lag)} The apply capacity the catch-up measured (${whole(meridianRate)} updates/s) is ${meridianRate > RATE ? 'above' : '**below**'} the offered ${RATE}/s${meridianRate > RATE ? '' : ': the lag then grows for as long as the writes go on, whatever the transport does'}.`,
    );
    const perWrite = cpuPerWrite(lag);
    const perWriteLow = cpuPerWrite(low);
    out.push(
      `- CPU per replicated write (its region's write and relay, Kafka, the other region's apply; writes and drain): ${perWrite.total.toFixed(2)} ms at ${RATE}/s (${perWrite.parts}), ${perWriteLow.total.toFixed(2)} ms at ${low.rate}/s (${perWriteLow.parts}). Two regions at ${RATE}/s each need ${((perWrite.total * 2 * RATE) / 1000).toFixed(1)} cores for that alone; the machine has ${cpus().length}.`,
    );
    const lagExecMs = lag.statements.reduce((n, r) => n + r.ms, 0);
    const bWrites = lag.writes / 2;
    out.push(
      `- b's statements during the ${RATE}/s phase (pg_stat_statements; b's writes, relay and apply, and this bench's polls of b's applied positions): ${fmt(lagExecMs / bWrites, 3)} ms of execution inside PostgreSQL per write b took and applied (${fmt(lagExecMs / 1000 / lag.endToEndSeconds, 2)} of a core). By time:`,
    );
    for (const r of lag.statements.slice(0, 10)) {
      out.push(`  - ${fmt(r.ms / bWrites, 3)} ms/write, ${(r.calls / bWrites).toFixed(2)} calls/write, ${(r.ms / r.calls).toFixed(3)} ms each: \`${r.query.slice(0, 110)}\``);
    }
    const kafkaJit = (p: LagPhase): string => `${fmt(p.jit.get(KAFKA_GROUP) ?? 0, 2)} of Kafka's ${fmt(p.cpu.get(KAFKA_GROUP) ?? 0, 2)} cores`;
    out.push(
      `- Warm-up: ${warmup ? `${warmup.seconds.toFixed(0)} s at ${RATE}/s per region, lag p50 ${fmt(warmup.all.p50)} / p99 ${fmt(warmup.all.p99)} ms (not a result). The brokers' JIT compiler threads: ${kafkaJit(warmup)} in the warm-up, ${kafkaJit(low)} in the diagnostic phase, ${kafkaJit(lag)} in the measured ${RATE}/s phase.` : `none (BENCH_WARMUP_SECONDS=0); the brokers' JIT compiler threads took ${kafkaJit(lag)} in the measured ${RATE}/s phase.`}`,
    );
    out.push(`- Lag at ${low.rate}/s per region (diagnostic: a tenth of the rate, ${low.seconds.toFixed(0)} s, before the phase above): p50 ${fmt(low.all.p50)} / p99 ${fmt(low.all.p99)} ms; ${describe(low)}`);
    out.push(`- Kafka baseline per broker: ${kafka.map((k, i) => `${[A, B][i]!} p50 ${fmt(k.p50, 2)} / p99 ${fmt(k.p99, 2)} / max ${fmt(k.max, 1)} ms (${k.received}/${k.sent})`).join('; ')}; value ${envelopeBytes} B (Meridian's counter envelope), no headers, no transactions.`);
    out.push('\nWhere the CPU went (cores = CPU seconds per second of the phase):\n');
    out.push(
      markdownTable(
        ['phase', 'seconds', 'cores by process group'],
        [
          ['Meridian catch-up (b applies a)', catchupSeconds.toFixed(1), cpuCells(cpuCatchup)],
          ['native logical replication catch-up', nativeSeconds.toFixed(1), cpuCells(cpuNative)],
          [`Meridian lag phase (2 × ${low.rate}/s, diagnostic)`, low.seconds.toFixed(1), cpuCells(low.cpu)],
          [`Meridian lag phase (2 × ${RATE}/s)`, lag.seconds.toFixed(1), cpuCells(lag.cpu)],
          [`Kafka baseline (2 × ${RATE}/s)`, SECONDS.toFixed(1), cpuCells(cpuKafka)],
        ],
      ),
    );
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
