/**
 * Anti-entropy between two regions (not a test: `npm run bench`): verify of identical regions,
 * and finding and repairing a few differing keys among many, each beside a full comparison of
 * the two tables' contents measured in the same run on the same machine.
 *
 * Set-up: two regions `a` and `b`, each the real program (`src/main.ts` in a child process) on
 * its own database of the same PostgreSQL server, standalone (no Kafka), each with its gRPC
 * anti-entropy server. This process is the coordinator, as `meridian verify` / `meridian repair`
 * are: it reads both regions over gRPC (`GrpcReplica`) and drives `runExchange` with the CLI's
 * defaults (a difference seen while updates were in flight is confirmed by a second comparison
 * 2 s later; repair at 1,000 keys/s with a burst of as many).
 *
 * Both databases are loaded with the same N keys of a `counter` namespace by SQL (INSERT …
 * SELECT in chunks, so the tree's statement triggers fold every chunk as they fold any write;
 * states are real PN-counter encodings of region a's actor, 1,000 distinct values), and the
 * maintained tree is checked against one rebuilt from the rows before anything is measured.
 *
 * 1. Verify, identical regions: the exchange (roots first: equal roots end it) — time and the
 *    protobuf bytes both gRPC channels carried (requests and responses).
 * 2. D keys made to differ by real writes: D/2 counter increments through a's HTTP API and D/2
 *    through b's (keys drawn at random), which the other region never receives (no replication):
 *    lost updates. Find + repair: one `runExchange` with repair (both regions' changed keys
 *    merged into the other through its repair merge), then a verify that must find nothing.
 * Baseline: a full comparison of the two tables' contents, the fastest simple way PostgreSQL
 * offers: a's backend reads b's (namespace, key, state) rows through dblink and hash-joins them
 * (FULL JOIN) with its own, counting the rows whose state differs or that one side lacks. It
 * finds the same keys, never repairs, and moves the whole table (its payload bytes reported).
 * Ratios: baseline time ÷ anti-entropy time (above 1: anti-entropy is faster).
 * 3. The cost of mutual TLS (the default): both regions restart with certificates of a throwaway
 *    CA, this process calls them with the operator's, and verify and find + repair (another D
 *    keys) run again. Ratio: TLS time ÷ plaintext time.
 *
 * Settings (environment): BENCH_AE_KEYS (1000000) keys per region, BENCH_AE_DIFFER (1000) keys
 * made to differ, BENCH_AE_CHUNK (100000) rows per loading statement, BENCH_AE_VERIFIES (3)
 * measured verifies (median reported), BENCH_SEED (1). BENCH_AUTH as for the other benchmarks
 * (the HTTP writes carry tokens). MERIDIAN_* reach both
 * regions. Smoke: BENCH_AE_KEYS=20000 BENCH_AE_DIFFER=100.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runExchange, TokenBucket, type ExchangeProgress, type ExchangeReport } from '@meridian/anti-entropy';
import { GrpcReplica, channelCredentials, type TlsFiles } from '@meridian/anti-entropy-grpc';
import { hlc } from '@meridian/causality';
import { PNCounter } from '@meridian/crdt';
import { adminUrl, createDatabase, dropDatabase, ensureGrpcCertificate, ensurePostgres, freePort, startRegionProcess, testCertificateAuthority, type RegionProcess } from '@meridian/infra-local';
import { markdownTable, uniqueName, whole } from '@meridian/testkit';
import { cpuSeconds, cpuSnapshot, machineBusySeconds } from './cpu.ts';
import { benchAuth, cleanupStack, describeSettings, envInt, log, serviceSettings } from './bench-env.ts';
import { keyStream } from './workloads.ts';

const KEYS = envInt('BENCH_AE_KEYS', 1_000_000, 100, 50_000_000);
const DIFFER = envInt('BENCH_AE_DIFFER', 1000, 2, 1_000_000);
const CHUNK = envInt('BENCH_AE_CHUNK', 100_000, 1000, 10_000_000);
const VERIFIES = envInt('BENCH_AE_VERIFIES', 3, 1, 50);
const SEED = envInt('BENCH_SEED', 1, 0, 2 ** 31 - 1);
/** The CLI's defaults (packages/cli/src/cli-args.ts): `--confirm-ms` and `--rate`. */
const CONFIRM_MS = 2000;
const REPAIR_RATE = 1000;
const NS = 'ae';
const DISTINCT_STATES = 1000;

if (DIFFER > KEYS) throw new Error(`BENCH_AE_DIFFER (${DIFFER}) exceeds BENCH_AE_KEYS (${KEYS})`);

/** `count` distinct key numbers in 1..KEYS. */
function pickKeys(count: number, seed: number): number[] {
  const next = keyStream(seed, KEYS);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(next());
  return [...picked];
}

const fmt = (n: number, digits = 2): string => n.toFixed(digits);
const fmtBytes = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} KB` : `${n} B`);
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Loads KEYS rows into a region's database in chunks: each statement fires the tree's insert trigger as any write does. */
async function load(db: pg.Client, states: readonly Uint8Array[], maxHlc: bigint): Promise<void> {
  for (let from = 1; from <= KEYS; from += CHUNK) {
    const to = Math.min(KEYS, from + CHUNK - 1);
    await db.query(
      `INSERT INTO meridian_keys (namespace, key, state, max_hlc)
       SELECT $1, 'k' || g, ($4::bytea[])[g % ${DISTINCT_STATES} + 1], $5 FROM generate_series($2::int, $3::int) AS g`,
      [NS, from, to, states.map((s) => Buffer.from(s)), maxHlc],
    );
  }
  await db.query('VACUUM ANALYZE meridian_keys');
  await db.query('VACUUM ANALYZE meridian_tree_segments');
}

/** Segments where the trigger-maintained tree differs from one rebuilt from the rows (must be none), and the segment count. */
async function treeCheck(db: pg.Client): Promise<{ mismatched: number; segments: number }> {
  const { rows } = await db.query<{ mismatched: string; segments: string }>(
    `SELECT count(*) FILTER (WHERE r.hash IS DISTINCT FROM t.hash OR r.keys IS DISTINCT FROM t.keys)::text AS mismatched, count(t.segment)::text AS segments
       FROM (SELECT namespace, segment, bit_xor(key_hash) AS hash, count(*)::int AS keys FROM meridian_keys WHERE key_hash IS NOT NULL GROUP BY 1, 2) AS r
       FULL JOIN (SELECT * FROM meridian_tree_segments WHERE keys <> 0) AS t USING (namespace, segment)`,
  );
  return { mismatched: Number(rows[0]!.mismatched), segments: Number(rows[0]!.segments) };
}

/** The baseline: a's backend compares its rows with b's (through dblink), in full. */
async function fullComparison(db: pg.Client, otherUrl: string): Promise<{ seconds: number; differing: number }> {
  const started = performance.now();
  const { rows } = await db.query<{ differing: string }>(
    `SELECT count(*)::text AS differing
       FROM (SELECT namespace, key, state FROM meridian_keys) AS a
       FULL JOIN dblink($1, 'SELECT namespace, key, state FROM meridian_keys') AS b(namespace text, key text, state bytea)
         ON a.namespace = b.namespace AND a.key = b.key
      WHERE a.key IS NULL OR b.key IS NULL OR a.state IS DISTINCT FROM b.state`,
    [otherUrl],
  );
  return { seconds: (performance.now() - started) / 1000, differing: Number(rows[0]!.differing) };
}

interface Timed {
  readonly seconds: number;
  readonly bytes: number;
  readonly report: ExchangeReport;
  /** Seconds spent in each phase (from the exchange's progress reports). */
  readonly phases: Map<ExchangeProgress['phase'], number>;
  /** Cores the two regions' processes and their PostgreSQL backends used during the exchange. */
  readonly regionCores: number | undefined;
  readonly postgresCores: number | undefined;
  readonly machineCores: number;
  /** This process (the coordinator: protobuf decoding and comparing). */
  readonly coordinatorCores: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();
  try {
    const bench = await benchAuth();
    const admin = await ensurePostgres(adminUrl());
    const workDir = mkdtempSync(join(tmpdir(), 'meridian-ae-bench-'));
    cleanups.push(() => Promise.resolve(rmSync(workDir, { recursive: true, force: true })));
    const regions: Record<'a' | 'b', { url: string; db: pg.Client; grpcPort: number; process: RegionProcess; grpc: GrpcReplica }> = {} as never;
    /** Region `id` on its database; gRPC plaintext, or mutual TLS with these files. */
    const startRegion = (id: 'a' | 'b', url: string, grpcPort: number, grpcTls: TlsFiles | 'off', port?: number): Promise<RegionProcess> =>
      startRegionProcess({ region: id, databaseUrl: url, port, grpcPort, grpcTls, logFile: join(workDir, `region-${id}.log`), logLevel: 'warn', auth: bench.auth, env: { ...bench.env, ...serviceSettings() } });
    for (const id of ['a', 'b'] as const) {
      const dbName = uniqueName(`bench_ae_${id}`);
      const url = await createDatabase(dbName, admin);
      cleanups.push(() => dropDatabase(dbName, admin));
      const grpcPort = await freePort();
      // Plaintext first: the exchange's own cost; mutual TLS (the default) is measured after.
      const process = await startRegion(id, url, grpcPort, 'off');
      cleanups.push(() => regions[id].process.stop());
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      cleanups.push(() => db.end());
      const grpc = new GrpcReplica({ address: `127.0.0.1:${grpcPort}`, credentials: channelCredentials(undefined, { kind: 'region', region: id }) });
      cleanups.push(() => Promise.resolve(regions[id].grpc.close()));
      regions[id] = { url, db, grpcPort, process, grpc };
      const declared = await fetch(`${process.url}/v1/namespaces/${NS}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...bench.header('admin') }, body: JSON.stringify({ policy: 'counter' }) });
      if (declared.status !== 201) throw new Error(`declaring ${NS} in ${id}: ${declared.status} ${await declared.text()}`);
    }
    const { a, b } = regions;
    const serverVersion = (await a.db.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const loadBefore = loadavg()[0]!;

    // ---- load: the same KEYS rows in both regions ------------------------------------------------
    const states = Array.from({ length: DISTINCT_STATES }, (_, i) => PNCounter.empty.increment('a.1', i + 1).encode());
    const maxHlc = hlc(Date.now() - 60_000, 0);
    log(`loading ${whole(KEYS)} keys into each region`);
    const loadStarted = performance.now();
    await Promise.all([load(a.db, states, maxHlc), load(b.db, states, maxHlc)]);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const checks = await Promise.all([treeCheck(a.db), treeCheck(b.db)]);
    for (const [i, c] of checks.entries()) if (c.mismatched !== 0) throw new Error(`region ${i === 0 ? 'a' : 'b'}: ${c.mismatched} segments of the trigger-maintained tree differ from the rebuilt one`);
    log(`loaded in ${fmt(loadSeconds, 1)} s; trees equal to rebuilt ones (${whole(checks[0].segments)} segments each)`);
    const tableBytes = Number((await b.db.query<{ n: string }>('SELECT sum(octet_length(namespace) + octet_length(key) + octet_length(state))::text AS n FROM meridian_keys')).rows[0]!.n);
    await a.db.query('CREATE EXTENSION IF NOT EXISTS dblink');

    const backends = async (): Promise<number[]> =>
      (await a.db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'meridian-region-%' AND datname IN ($1, $2)", [a.db.database, b.db.database])).rows.map((r) => r.pid);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    /** One exchange a ↔ b as the CLI runs it, timed, with its bytes and CPU. */
    const exchange = async (repair: boolean): Promise<Timed> => {
      a.grpc.bytes = 0;
      b.grpc.bytes = 0;
      const regionPids = [a.process.process.pid ?? -1, b.process.process.pid ?? -1];
      const pgPids = await backends();
      const [regionBefore, pgBefore, machineBefore] = [await cpuSnapshot(regionPids), await cpuSnapshot(pgPids), machineBusySeconds()];
      const phases = new Map<ExchangeProgress['phase'], number>();
      let phase: ExchangeProgress['phase'] = 'compare';
      let phaseAt = performance.now();
      const t0 = phaseAt;
      const selfBefore = process.cpuUsage();
      const report = await runExchange(a.grpc, b.grpc, {
        repair,
        limiter: new TokenBucket({ perSecond: REPAIR_RATE, now: Date.now }),
        confirmAfterMs: CONFIRM_MS,
        sleep,
        onProgress: (p) => {
          if (p.phase === phase) return;
          const now = performance.now();
          phases.set(phase, (phases.get(phase) ?? 0) + (now - phaseAt) / 1000);
          [phase, phaseAt] = [p.phase, now];
        },
      });
      const end = performance.now();
      phases.set(phase, (phases.get(phase) ?? 0) + (end - phaseAt) / 1000);
      const seconds = (end - t0) / 1000;
      const self = process.cpuUsage(selfBefore);
      const [regionAfter, pgAfter] = [await cpuSnapshot(regionPids), await cpuSnapshot([...new Set([...pgPids, ...(await backends())])])];
      const cores = (v: number | undefined): number | undefined => (v === undefined ? undefined : v / seconds);
      return { seconds, bytes: a.grpc.bytes + b.grpc.bytes, report, phases, regionCores: cores(cpuSeconds(regionBefore, regionAfter)), postgresCores: cores(cpuSeconds(pgBefore, pgAfter)), machineCores: (machineBusySeconds() - machineBefore) / seconds, coordinatorCores: (self.user + self.system) / 1e6 / seconds };
    };

    // ---- 1. verify of identical regions ----------------------------------------------------------
    await exchange(false); // warm-up: channels, prepared plans
    const baselineSame = [await fullComparison(a.db, b.url)];
    const verifies: Timed[] = [];
    for (let i = 0; i < VERIFIES; i++) {
      const v = await exchange(false);
      if (v.report.differences.length !== 0) throw new Error(`verify of identical regions found ${v.report.differences.length} differences`);
      verifies.push(v);
      log(`verify ${i + 1}/${VERIFIES}: ${fmt(v.seconds, 3)} s, ${fmtBytes(v.bytes)}`);
    }
    baselineSame.push(await fullComparison(a.db, b.url));
    for (const r of baselineSame) if (r.differing !== 0) throw new Error(`the full comparison found ${r.differing} differing rows between identical regions`);
    log(`full comparison (baseline): ${baselineSame.map((r) => fmt(r.seconds, 2)).join(' s, ')} s`);

    // ---- 2. D keys differ: updates each region took and the other never received ----------------
    const half = Math.floor(DIFFER / 2);
    /** D/2 increments through a's API and D/2 through b's, never replicated. */
    const diverge = async (seed: number): Promise<void> => {
      const writes = pickKeys(DIFFER, seed).map((k, i) => ({ region: i < half ? a : b, key: `k${k}` }));
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < writes.length) {
            const w = writes[next++]!;
            const res = await fetch(`${w.region.process.url}/v1/ns/${NS}/keys/${w.key}/ops`, { method: 'POST', headers: { 'content-type': 'application/json', ...bench.header('writer') }, body: JSON.stringify({ increment: 1 }) });
            if (res.status !== 200) throw new Error(`increment of ${w.key}: ${res.status} ${await res.text()}`);
          }
        }),
      );
    };
    /** Find + repair, checked: every differing key found and repaired, then a verify finds none. */
    const findAndRepair = async (): Promise<{ repair: Timed; after: Timed }> => {
      const repair = await exchange(true);
      const repaired = repair.report.repairedLocal.length + repair.report.repairedRemote.length;
      if (repair.report.differences.length !== DIFFER) throw new Error(`find + repair found ${repair.report.differences.length} differing keys, expected ${DIFFER}`);
      if (repaired !== DIFFER) throw new Error(`find + repair changed ${repaired} key states, expected ${DIFFER}`);
      log(`find + repair: ${fmt(repair.seconds, 2)} s, ${fmtBytes(repair.bytes)}`);
      const after = await exchange(false);
      if (after.report.differences.length !== 0) throw new Error(`after the repair, verify still finds ${after.report.differences.length} differing keys`);
      return { repair, after };
    };
    await diverge(SEED);
    const baselineDiff = await fullComparison(a.db, b.url);
    if (baselineDiff.differing !== DIFFER) throw new Error(`the full comparison found ${baselineDiff.differing} differing rows, expected ${DIFFER}`);
    log(`${DIFFER} keys differ; full comparison (baseline) ${fmt(baselineDiff.seconds, 2)} s`);
    const { repair, after } = await findAndRepair();
    const baselineAfter = await fullComparison(a.db, b.url);
    if (baselineAfter.differing !== 0) throw new Error(`after the repair, the full comparison finds ${baselineAfter.differing} differing rows`);

    // ---- 3. the same over mutual TLS (the default): what encryption costs the exchange ---------
    // Both regions restart on their databases with certificates of a throwaway CA; this process
    // calls them with the operator's, as `meridian verify`/`repair` do.
    const ca = testCertificateAuthority();
    const operator = ensureGrpcCertificate(ca, { kind: 'operator' });
    for (const id of ['a', 'b'] as const) {
      const r = regions[id];
      r.grpc.close();
      const port = r.process.port;
      await r.process.stop();
      r.process = await startRegion(id, r.url, r.grpcPort, ensureGrpcCertificate(ca, { kind: 'region', region: id }), port);
      r.grpc = new GrpcReplica({ address: `127.0.0.1:${r.grpcPort}`, credentials: channelCredentials(operator, { kind: 'region', region: id }) });
    }
    await exchange(false); // warm-up: TLS handshakes, prepared plans
    const tlsVerifies: Timed[] = [];
    for (let i = 0; i < VERIFIES; i++) {
      const v = await exchange(false);
      if (v.report.differences.length !== 0) throw new Error(`verify over TLS of identical regions found ${v.report.differences.length} differences`);
      tlsVerifies.push(v);
    }
    await diverge(SEED + 1);
    const tls = await findAndRepair();

    // ---- report ---------------------------------------------------------------------------------
    const cpu = cpus();
    const verifySeconds = median(verifies.map((v) => v.seconds));
    const verifyBytes = median(verifies.map((v) => v.bytes));
    const baseSame = median(baselineSame.map((r) => r.seconds));
    const phaseList = (t: Timed): string => [...t.phases].map(([p, s]) => `${p} ${fmt(s, 2)} s`).join(', ');
    const cores = (t: Timed): string => `Cores during it: the regions' Node ${t.regionCores === undefined ? '—' : fmt(t.regionCores)}, their PostgreSQL backends ${t.postgresCores === undefined ? '—' : fmt(t.postgresCores)}, the coordinator ${fmt(t.coordinatorCores)}, the whole machine ${fmt(t.machineCores)}`;
    const out: string[] = [];
    out.push('## Anti-entropy (services/region/bench/anti-entropy.ts)\n');
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ${serverVersion}; 1-minute load average ${fmt(loadBefore, 1)} before the run, ${fmt(loadavg()[0]!, 1)} after.`);
    out.push(
      `Parameters: ${whole(KEYS)} keys per region in one counter namespace (${whole(checks[0].segments)} non-empty segments of 2^20; loaded in ${fmt(loadSeconds, 1)} s through the triggers, both trees equal to rebuilt ones), ${DIFFER} keys made to differ (${half} incremented in a, ${DIFFER - half} in b), the CLI's defaults (confirmation after ${CONFIRM_MS} ms, repair at ${REPAIR_RATE} keys/s), gRPC plaintext, ${bench.auth === 'off' ? 'authentication off' : 'authentication on'}, ${describeSettings(serviceSettings())}. Baseline: a's PostgreSQL compares every row with b's (dblink, FULL JOIN on (namespace, key), state compared), moving ${fmtBytes(tableBytes)} of row payload.\n`,
    );
    out.push(
      markdownTable(
        ['measurement', 'anti-entropy', 'baseline: full comparison', 'ratio (baseline ÷ anti-entropy)', 'target', 'met?'],
        [
          [`verify, ${whole(KEYS)} identical keys (median of ${VERIFIES})`, `${fmt(verifySeconds, 3)} s, ${fmtBytes(verifyBytes)}`, `${fmt(baseSame, 2)} s, ${fmtBytes(tableBytes)}`, `${fmt(baseSame / verifySeconds, 1)} (bytes ${fmt(tableBytes / Math.max(1, verifyBytes), 0)})`, '< 10 s, < 1 MB', verifySeconds < 10 && verifyBytes < 1e6 ? 'yes' : 'no'],
          [`find + repair ${DIFFER} of ${whole(KEYS)} keys`, `${fmt(repair.seconds, 2)} s, ${fmtBytes(repair.bytes)}`, `${fmt(baselineDiff.seconds, 2)} s (finds only)`, fmt(baselineDiff.seconds / repair.seconds, 2), '< 30 s', repair.seconds < 30 ? 'yes' : 'no'],
          ['verify after the repair', `${fmt(after.seconds, 3)} s, ${fmtBytes(after.bytes)}`, `${fmt(baselineAfter.seconds, 2)} s`, fmt(baselineAfter.seconds / after.seconds, 1), '—', '—'],
        ],
      ),
    );
    out.push('');
    out.push(`- Verify runs: ${verifies.map((v) => `${fmt(v.seconds, 3)} s / ${fmtBytes(v.bytes)}`).join('; ')}; full comparisons ${baselineSame.map((r) => `${fmt(r.seconds, 2)} s`).join(', ')}.`);
    out.push(
      `- Find + repair: ${repair.report.divergentSegments} divergent segments, ${repair.report.differences.length} keys found, ${repair.report.repairedLocal.length} repaired in a and ${repair.report.repairedRemote.length} in b; by phase: ${phaseList(repair)} (compare: roots, branches and segments; confirm: the CLI's ${CONFIRM_MS} ms wait, then the differing segments' keys read again). ${cores(repair)}.`,
    );
    out.push(`- Verify after the repair: ${phaseList(after)}.`);
    const tlsVerify = median(tlsVerifies.map((v) => v.seconds));
    out.push('\nThe same over mutual TLS (regions restarted with certificates; another set of keys made to differ):\n');
    out.push(
      markdownTable(
        ['measurement', 'mutual TLS', 'plaintext (above)', 'ratio (TLS ÷ plaintext)'],
        [
          [`verify (median of ${VERIFIES})`, `${fmt(tlsVerify, 3)} s, ${fmtBytes(median(tlsVerifies.map((v) => v.bytes)))}`, `${fmt(verifySeconds, 3)} s`, fmt(tlsVerify / verifySeconds, 2)],
          [`find + repair ${DIFFER} of ${whole(KEYS)} keys`, `${fmt(tls.repair.seconds, 2)} s, ${fmtBytes(tls.repair.bytes)}`, `${fmt(repair.seconds, 2)} s`, fmt(tls.repair.seconds / repair.seconds, 2)],
        ],
      ),
    );
    out.push(`\n- Find + repair over TLS by phase: ${phaseList(tls.repair)}. ${cores(tls.repair)}.`);
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
