/**
 * What Kafka's SASL_SSL costs replication (not a test: `npm run bench`), measured against the
 * same replication over plaintext brokers in interleaved pairs in one run.
 *
 * Two deployments side by side, each two regions `a` and `b` (the real program, `src/main.ts`,
 * each with its own private PostgreSQL server and its own Kafka broker) replicating to each
 * other: `plaintext` (brokers without security) and `sasl_ssl` (the brokers as `meridian up`
 * runs them: TLS, SCRAM-SHA-512, a principal per region, the local cluster's ACLs). They take
 * turns in slices: pairs plaintext then SASL_SSL, then the reverse, … (a drift in the shared
 * machine's load favours neither). In a slice both regions of one deployment write counter
 * increments (1,000 shared keys) at BENCH_RATE/s each for BENCH_SLICE_SECONDS, open loop, and the
 * slice ends when each region has applied everything the other committed. The other deployment
 * idles meanwhile.
 *
 * Per slice, over the writes and the drain: CPU per replicated write by process group (both
 * regions' Node processes, their PostgreSQL servers, both brokers' JVMs: /proc, as
 * replication-catchup.ts samples it) and the lag p50/p99 (a write's answer → the other region's
 * applied position reaching it, polled every BENCH_POLL_MS). Reported: per pair, SASL_SSL ÷
 * plaintext, as the median of the pairs' ratios and their range (testkit's pairedRatios).
 * PostgreSQL's CPU per write is the control: Kafka's TLS does not touch it, so the spread of its
 * ratio says how far the machine's noise alone moves a ratio. On a crowded machine every
 * process's CPU per write rises and falls together (caches and cores shared with other users),
 * so the Node's and the brokers' CPU are also reported divided by PostgreSQL's in the same slice:
 * a ratio of those cancels what the machine's load did to all of them.
 *
 * Settings (environment): BENCH_PAIRS (10), BENCH_SLICE_SECONDS (8), BENCH_RATE (300) writes/s per
 * region, BENCH_WARMUP_SECONDS (15, one unmeasured slice per deployment), BENCH_POLL_MS (5),
 * BENCH_PARTITIONS (12), BENCH_KAFKA_HEAP_MB (256), BENCH_AUTH (bench-env.ts); MERIDIAN_*
 * variables reach every region. Smoke: BENCH_PAIRS=2 BENCH_SLICE_SECONDS=3 BENCH_WARMUP_SECONDS=3.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createAcls, createDatabase, brokerSecurity, regionAcls, startKafkaBroker, startPrivatePostgres, KAFKA_VERSION, type KafkaBroker, type RegionProcess } from '@meridian/infra-local';
import { fixed, formatRatio, markdownTable, median, pairedRatios, whole } from '@meridian/testkit';
import { percentile } from './load.ts';
import { AppliedPoller, cpuSample, cpuUse, pacedWrites, type AnsweredWrite } from './replication-load.ts';
import { benchAuth, benchKafkaSecurity, cleanupStack, describeSettings, envInt, log, serviceSettings, startReplicatingRegion } from './bench-env.ts';

const PAIRS = envInt('BENCH_PAIRS', 10, 1, 100);
const SLICE = envInt('BENCH_SLICE_SECONDS', 8, 1, 600);
const RATE = envInt('BENCH_RATE', 300, 1, 100_000);
const WARMUP = envInt('BENCH_WARMUP_SECONDS', 15, 0, 600);
const POLL_MS = envInt('BENCH_POLL_MS', 5, 1, 1000);
const PARTITIONS = envInt('BENCH_PARTITIONS', 12, 1, 1024);
const KAFKA_HEAP_MB = envInt('BENCH_KAFKA_HEAP_MB', 256, 128, 8192);
const POOL_SIZE = 8;
const KEYS = 1000;
const NS = 'bench_kafka';
const A = 'a';
const B = 'b';
const GRACE_MS = 5000;

type Mode = 'plaintext' | 'sasl_ssl';
const MODES: readonly Mode[] = ['plaintext', 'sasl_ssl'];
const GROUPS = ['Node', 'PostgreSQL', 'Kafka'] as const;
type Group = (typeof GROUPS)[number];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Deployment {
  readonly mode: Mode;
  readonly regions: Record<string, RegionProcess>;
  readonly dbUrl: Record<string, string>;
  readonly db: Record<string, pg.Client>;
  /** The process group of one of this deployment's direct children, or undefined. */
  readonly groupOf: (pid: number, cmdline: string) => Group | undefined;
}

/** One slice's figures: CPU ms per replicated write by group (and in total), lag, the rate answered. */
interface Slice {
  readonly cpuMs: Record<Group | 'total', number>;
  readonly lagP50: number;
  readonly lagP99: number;
  readonly writesPerSecond: number;
  readonly committed: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();
  try {
    const loadBefore = loadavg()[0]!;
    const workDir = mkdtempSync(join(tmpdir(), 'meridian-kafka-security-bench-'));
    cleanups.push(() => Promise.resolve(rmSync(workDir, { recursive: true, force: true })));
    const bench = await benchAuth();
    const call = async <T>(region: RegionProcess, method: 'GET' | 'PUT', path: string, body?: unknown): Promise<{ status: number; json: T }> => {
      const res = await fetch(`${region.url}${path}`, { method, headers: { ...bench.header('admin'), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, json: (await res.json()) as T };
    };

    const deploy = async (mode: Mode): Promise<Deployment> => {
      log(`${mode}: starting two private PostgreSQL servers, two brokers, regions a and b`);
      const security = benchKafkaSecurity(join(workDir, mode), [A, B], mode);
      const broker = (region: string): Promise<KafkaBroker> => startKafkaBroker({ name: `bench-${mode}-${region}`, heapMb: KAFKA_HEAP_MB, ...(security ? { security: brokerSecurity(security, region) } : {}) });
      const [serverA, serverB, brokerA, brokerB] = await Promise.all([startPrivatePostgres(), startPrivatePostgres(), broker(A), broker(B)]);
      const servers: Record<string, { readonly url: string }> = { [A]: serverA, [B]: serverB };
      const brokers: Record<string, KafkaBroker> = { [A]: brokerA, [B]: brokerB };
      for (const x of [serverA, serverB, brokerA, brokerB]) cleanups.push(() => x.destroy());
      if (security) {
        const principals = new Map([...security.regions].map(([id, user]) => [id, user.username]));
        await Promise.all([A, B].map((region) => createAcls(brokers[region]!.bootstrap, brokers[region]!.adminSecurity!, regionAcls(region, principals))));
      }
      const dbUrl: Record<string, string> = {};
      const db: Record<string, pg.Client> = {};
      for (const region of [A, B]) {
        dbUrl[region] = await createDatabase(`bench_region_${region}`, servers[region]!.url);
        const client = new pg.Client({ connectionString: dbUrl[region] });
        await client.connect();
        cleanups.push(() => client.end());
        db[region] = client;
      }
      const start = (region: string, peer: string): Promise<RegionProcess> =>
        startReplicatingRegion({ region, peer, databaseUrl: dbUrl[region]!, brokers, security, bench, logFile: join(workDir, `${mode}-region-${region}.log`), env: { MERIDIAN_TOPIC_PARTITIONS: String(PARTITIONS), MERIDIAN_PG_POOL_SIZE: String(POOL_SIZE) } });
      const [regionA, regionB] = await Promise.all([start(A, B), start(B, A)]);
      cleanups.push(() => regionA.stop());
      cleanups.push(() => regionB.stop());
      const regions = { [A]: regionA, [B]: regionB };
      const declared = await call(regionA, 'PUT', `/v1/namespaces/${NS}`, { policy: 'counter' });
      if (declared.status !== 201) throw new Error(`${mode}: declaring ${NS}: ${declared.status}`);
      // The declaration reaches b through replication: the links are up once it has.
      const deadline = Date.now() + 120_000;
      while ((await call(regionB, 'GET', `/v1/namespaces/${NS}`)).status !== 200) {
        if (Date.now() > deadline) throw new Error(`${mode}: ${NS} not replicated to b within 120 s`);
        await sleep(200);
      }
      const groupOf = (pid: number, cmdline: string): Group | undefined => {
        if (pid === regionA.process.pid || pid === regionB.process.pid) return 'Node';
        if (cmdline.includes('kafka.Kafka') && (cmdline.includes(brokerA.dataDir) || cmdline.includes(brokerB.dataDir))) return 'Kafka';
        if (cmdline.includes(serverA.dataDir) || cmdline.includes(serverB.dataDir)) return 'PostgreSQL';
        return undefined;
      };
      return { mode, regions, dbUrl, db, groupOf };
    };
    const deployments = {} as Record<Mode, Deployment>;
    for (const mode of MODES) deployments[mode] = await deploy(mode);
    const groupOf = (pid: number, cmdline: string): string => {
      for (const d of Object.values(deployments)) {
        const group = d.groupOf(pid, cmdline);
        if (group) return `${d.mode} ${group}`;
      }
      return 'other children';
    };

    const committed = async (d: Deployment, region: string): Promise<bigint> => BigInt((await d.db[region]!.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM meridian_outbox')).rows[0]!.id);
    const keyOf = (i: number, region: string): number => 1 + ((i * 7919 + (region === A ? 0 : KEYS / 2)) % KEYS);
    /** Both regions of `d` write RATE/s for `seconds`; until each has applied all the other committed. */
    const slice = async (d: Deployment, seconds: number): Promise<Slice> => {
      const pollers: Record<string, AppliedPoller> = { [A]: new AppliedPoller(d.dbUrl[A]!, POLL_MS, POOL_SIZE), [B]: new AppliedPoller(d.dbUrl[B]!, POLL_MS, POOL_SIZE) };
      try {
        for (const p of Object.values(pollers)) await p.start();
        const first = { [A]: await committed(d, A), [B]: await committed(d, B) };
        const before = cpuSample(groupOf);
        const writes = await Promise.all(
          [A, B].map((region) =>
            pacedWrites({
              baseUrl: d.regions[region]!.url,
              rate: RATE,
              seconds,
              connections: 32,
              actor: `${region}.1`,
              write: (i) => ({ method: 'POST', path: `/v1/ns/${NS}/keys/k${keyOf(i, region)}/ops`, body: '{"increment":1}' }),
              graceMs: GRACE_MS,
              headers: bench.header('writer'),
            }),
          ),
        );
        for (const w of writes) if (w.failures > 0) throw new Error(`${d.mode}: ${w.failures} writes failed, first: ${w.firstFailure ?? '?'}`);
        await sleep(200); // the last commits of given-up writes
        const last = { [A]: await committed(d, A), [B]: await committed(d, B) };
        const drainMs = Math.max(30_000, seconds * 2000);
        if (!(await pollers[B]!.waitFor(A, last[A], drainMs)) || !(await pollers[A]!.waitFor(B, last[B], drainMs))) throw new Error(`${d.mode}: a slice's writes not applied in the other region within ${drainMs} ms`);
        const after = cpuSample(groupOf);
        const wall = (after.wallMs - before.wallMs) / 1000;
        const use = cpuUse(before, after);
        const count = Number(last[A] - first[A] + (last[B] - first[B]));
        const cpuMs = { total: 0 } as Record<Group | 'total', number>;
        for (const g of GROUPS) {
          cpuMs[g] = (((use.get(`${d.mode} ${g}`) ?? 0) * wall) / count) * 1000;
          cpuMs.total += cpuMs[g];
        }
        const lagOf = (ws: readonly AnsweredWrite[], origin: string, poller: AppliedPoller): number[] => ws.map((w) => Math.max(0, (poller.visibleAt(origin, w.position) ?? Infinity) - w.answeredAt));
        const lags = Float64Array.from([...lagOf(writes[0]!.writes, A, pollers[B]!), ...lagOf(writes[1]!.writes, B, pollers[A]!)]);
        const p50 = percentile(lags, 50);
        return { cpuMs, lagP50: p50, lagP99: percentile(lags, 99), writesPerSecond: (writes[0]!.writes.length + writes[1]!.writes.length) / Math.max(writes[0]!.seconds, writes[1]!.seconds), committed: count };
      } finally {
        await Promise.all(Object.values(pollers).map((p) => p.stop()));
      }
    };

    if (WARMUP > 0) for (const mode of MODES) await slice(deployments[mode], WARMUP);
    const results: Record<Mode, Slice[]> = { plaintext: [], sasl_ssl: [] };
    for (let i = 0; i < PAIRS; i++) {
      for (const mode of i % 2 === 0 ? MODES : [...MODES].reverse()) {
        const s = await slice(deployments[mode], SLICE);
        results[mode].push(s);
        log(`pair ${i + 1}/${PAIRS} ${mode}: ${fixed(s.cpuMs.total, 2)} ms CPU per write (Node ${fixed(s.cpuMs.Node, 2)}, PostgreSQL ${fixed(s.cpuMs.PostgreSQL, 2)}, Kafka ${fixed(s.cpuMs.Kafka, 2)}), lag p99 ${fixed(s.lagP99)} ms`);
      }
    }

    // ---- report -------------------------------------------------------------------------------
    const cpu = cpus();
    const out: string[] = [];
    out.push('## The cost of Kafka SASL_SSL on replication (services/region/bench/kafka-security.ts)\n');
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, Kafka ${KAFKA_VERSION}; 1-minute load average ${fixed(loadBefore)} before the run, ${fixed(loadavg()[0])} after.`);
    out.push(
      `Parameters: ${PAIRS} pairs of ${SLICE} s slices (plaintext and SASL_SSL taking turns, order reversed every other pair) after ${WARMUP} s of warm-up each; both regions of a deployment writing ${RATE} counter increments/s each over ${KEYS} shared keys, then drained; ${PARTITIONS} partitions per updates topic, broker heap ${KAFKA_HEAP_MB} MB, pools ${POOL_SIZE}, ${bench.auth === 'off' ? 'authentication off' : 'authentication on'}, ${describeSettings(serviceSettings())}.\n`,
    );
    const abs = (mode: Mode, figure: (s: Slice) => number, digits: number): string => fixed(median(results[mode].map(figure)), digits);
    const ratio = (figure: (s: Slice) => number): string => formatRatio(pairedRatios(results.sasl_ssl.map((s, i) => ({ variant: figure(s), baseline: figure(results.plaintext[i]!) }))));
    const figures: [string, (s: Slice) => number, number][] = [
      ['CPU ms per replicated write, total', (s) => s.cpuMs.total, 3],
      ["… both regions' Node", (s) => s.cpuMs.Node, 3],
      ['… their PostgreSQL (control)', (s) => s.cpuMs.PostgreSQL, 3],
      ['… both brokers (Kafka JVM)', (s) => s.cpuMs.Kafka, 3],
      ["both regions' Node ÷ PostgreSQL (per slice)", (s) => s.cpuMs.Node / s.cpuMs.PostgreSQL, 3],
      ['both brokers ÷ PostgreSQL (per slice)', (s) => s.cpuMs.Kafka / s.cpuMs.PostgreSQL, 3],
      ['Node and brokers ÷ PostgreSQL (per slice)', (s) => (s.cpuMs.Node + s.cpuMs.Kafka) / s.cpuMs.PostgreSQL, 3],
      ['lag p50, ms', (s) => s.lagP50, 1],
      ['lag p99, ms', (s) => s.lagP99, 1],
      ['writes answered per second (both regions)', (s) => s.writesPerSecond, 0],
    ];
    out.push(markdownTable(['figure', 'plaintext (median of slices)', 'SASL_SSL (median of slices)', 'SASL_SSL ÷ plaintext: median of pairs (min–max)'], figures.map(([name, f, digits]) => [name, abs('plaintext', f, digits), abs('sasl_ssl', f, digits), ratio(f)])));
    out.push(`\nWrites replicated per slice: ${MODES.map((m) => `${m} ${results[m].map((s) => whole(s.committed)).join(', ')}`).join('; ')}.`);
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
