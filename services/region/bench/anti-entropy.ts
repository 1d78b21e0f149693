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
 * 3. The cost of mutual TLS (the default), measured in interleaved pairs: each region runs two
 *    processes on its database, one serving gRPC plaintext and one mutual TLS (certificates of
 *    a throwaway CA; this process calls it with the operator's, as the CLI does). Every
 *    measurement above is taken in pairs, plaintext then TLS, TLS then plaintext, …: verifies,
 *    and find + repair of a fresh set of D differing keys per exchange. Reported: the median of
 *    the per-pair ratios TLS ÷ plaintext (time; CPU of the regions' Node, of their PostgreSQL
 *    backends, of this process) with their range (testkit's pairedRatios).
 *
 * Settings (environment): BENCH_AE_KEYS (1000000) keys per region, BENCH_AE_DIFFER (1000) keys
 * made to differ, BENCH_AE_CHUNK (100000) rows per loading statement, BENCH_AE_VERIFIES (5)
 * pairs of verifies, BENCH_AE_PAIRS (6) pairs of find + repair, BENCH_SEED (1). BENCH_AUTH as for the other benchmarks
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
import { formatRatio, markdownTable, median, pairedRatios, uniqueName, whole } from '@meridian/testkit';
import { cpuSeconds, cpuSnapshot, machineBusySeconds } from './cpu.ts';
import { benchAuth, cleanupStack, describeSettings, envInt, log, serviceSettings } from './bench-env.ts';
import { keyStream } from './workloads.ts';

const KEYS = envInt('BENCH_AE_KEYS', 1_000_000, 100, 50_000_000);
const DIFFER = envInt('BENCH_AE_DIFFER', 1000, 2, 1_000_000);
const CHUNK = envInt('BENCH_AE_CHUNK', 100_000, 1000, 10_000_000);
const VERIFIES = envInt('BENCH_AE_VERIFIES', 5, 1, 50);
const PAIRS = envInt('BENCH_AE_PAIRS', 6, 1, 50);
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
  /** CPU seconds of the same (NaN when unknown), and of this process. */
  readonly cpu: { readonly node: number; readonly postgres: number; readonly coordinator: number };
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
    type Variant = 'plain' | 'tls';
    /** A region's process serving gRPC one way, and this process's client of it. */
    interface Served {
      readonly process: RegionProcess;
      readonly grpc: GrpcReplica;
    }
    const regions: Record<'a' | 'b', { url: string; db: pg.Client; via: Record<Variant, Served> }> = {} as never;
    const ca = testCertificateAuthority();
    const operator = ensureGrpcCertificate(ca, { kind: 'operator' });
    /** Region `id` on its database serving gRPC one way; the client calls it as the CLI does. */
    const serve = async (id: 'a' | 'b', url: string, variant: Variant): Promise<Served> => {
      const grpcPort = await freePort();
      const tls: TlsFiles | 'off' = variant === 'tls' ? ensureGrpcCertificate(ca, { kind: 'region', region: id }) : 'off';
      // The other region named as a peer: a standalone region merges repaired states from its
      // configured peers only. No continuous loop: this process runs every exchange.
      const process = await startRegionProcess({
        region: id,
        databaseUrl: url,
        grpcPort,
        grpcTls: tls,
        peerGrpc: { [id === 'a' ? 'b' : 'a']: '127.0.0.1:1' },
        logFile: join(workDir, `region-${id}-${variant}.log`),
        logLevel: 'warn',
        auth: bench.auth,
        env: { ...bench.env, ...serviceSettings(), MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '0' },
      });
      cleanups.push(() => process.stop());
      const grpc = new GrpcReplica({ address: `127.0.0.1:${grpcPort}`, credentials: channelCredentials(variant === 'tls' ? operator : undefined, { kind: 'region', region: id }) });
      cleanups.push(() => Promise.resolve(grpc.close()));
      return { process, grpc };
    };
    for (const id of ['a', 'b'] as const) {
      const dbName = uniqueName(`bench_ae_${id}`);
      const url = await createDatabase(dbName, admin);
      cleanups.push(() => dropDatabase(dbName, admin));
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      cleanups.push(() => db.end());
      // Two processes of the same region on its database (as replicas behind one address are).
      regions[id] = { url, db, via: { plain: await serve(id, url, 'plain'), tls: await serve(id, url, 'tls') } };
      const declared = await fetch(`${regions[id].via.plain.process.url}/v1/namespaces/${NS}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...bench.header('admin') }, body: JSON.stringify({ policy: 'counter' }) });
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
    /** One exchange a ↔ b as the CLI runs it, over plaintext or mutual TLS, timed, with its bytes and CPU. */
    const exchange = async (repair: boolean, variant: Variant): Promise<Timed> => {
      const [x, y] = [a.via[variant], b.via[variant]];
      x.grpc.bytes = 0;
      y.grpc.bytes = 0;
      const regionPids = [x.process.process.pid ?? -1, y.process.process.pid ?? -1];
      const pgPids = await backends();
      const [regionBefore, pgBefore, machineBefore] = [await cpuSnapshot(regionPids), await cpuSnapshot(pgPids), machineBusySeconds()];
      const phases = new Map<ExchangeProgress['phase'], number>();
      let phase: ExchangeProgress['phase'] = 'compare';
      let phaseAt = performance.now();
      const t0 = phaseAt;
      const selfBefore = process.cpuUsage();
      const report = await runExchange(x.grpc, y.grpc, {
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
      const [node, postgres, coordinator] = [cpuSeconds(regionBefore, regionAfter), cpuSeconds(pgBefore, pgAfter), (self.user + self.system) / 1e6];
      return {
        seconds,
        bytes: x.grpc.bytes + y.grpc.bytes,
        report,
        phases,
        regionCores: cores(node),
        postgresCores: cores(postgres),
        cpu: { node: node ?? Number.NaN, postgres: postgres ?? Number.NaN, coordinator },
        machineCores: (machineBusySeconds() - machineBefore) / seconds,
        coordinatorCores: coordinator / seconds,
      };
    };

    // ---- 1. verify of identical regions, in pairs over plaintext and mutual TLS -------------------
    /** Pair i's order: plaintext first in even pairs, TLS first in odd ones, so a drift favours neither. */
    const order = (i: number): Variant[] => (i % 2 === 0 ? ['plain', 'tls'] : ['tls', 'plain']);
    // Warm-up: channels, TLS handshakes, prepared plans.
    for (const v of order(0)) await exchange(false, v);
    const baselineSame = [await fullComparison(a.db, b.url)];
    const verifies: Record<Variant, Timed[]> = { plain: [], tls: [] };
    for (let i = 0; i < VERIFIES; i++) {
      for (const v of order(i)) {
        const t = await exchange(false, v);
        if (t.report.differences.length !== 0) throw new Error(`verify (${v}) of identical regions found ${t.report.differences.length} differences`);
        verifies[v].push(t);
        log(`verify ${i + 1}/${VERIFIES} (${v}): ${fmt(t.seconds, 3)} s, ${fmtBytes(t.bytes)}`);
      }
    }
    baselineSame.push(await fullComparison(a.db, b.url));
    for (const r of baselineSame) if (r.differing !== 0) throw new Error(`the full comparison found ${r.differing} differing rows between identical regions`);
    log(`full comparison (baseline): ${baselineSame.map((r) => fmt(r.seconds, 2)).join(' s, ')} s`);

    // ---- 2. D keys differ: updates each region took and the other never received ----------------
    const half = Math.floor(DIFFER / 2);
    /** D/2 increments through a's API and D/2 through b's, never replicated. */
    const diverge = async (seed: number): Promise<void> => {
      const writes = pickKeys(DIFFER, seed).map((k, i) => ({ url: (i < half ? a : b).via.plain.process.url, key: `k${k}` }));
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < writes.length) {
            const w = writes[next++]!;
            const res = await fetch(`${w.url}/v1/ns/${NS}/keys/${w.key}/ops`, { method: 'POST', headers: { 'content-type': 'application/json', ...bench.header('writer') }, body: JSON.stringify({ increment: 1 }) });
            if (res.status !== 200) throw new Error(`increment of ${w.key}: ${res.status} ${await res.text()}`);
          }
        }),
      );
    };
    /** Find + repair, checked: every differing key found and repaired, then a verify finds none. */
    const findAndRepair = async (variant: Variant): Promise<{ repair: Timed; after: Timed }> => {
      const repair = await exchange(true, variant);
      const repaired = repair.report.repairedLocal.length + repair.report.repairedRemote.length;
      if (repair.report.differences.length !== DIFFER) throw new Error(`find + repair (${variant}) found ${repair.report.differences.length} differing keys, expected ${DIFFER}`);
      if (repaired !== DIFFER) throw new Error(`find + repair (${variant}) changed ${repaired} key states, expected ${DIFFER}`);
      log(`find + repair (${variant}): ${fmt(repair.seconds, 2)} s, ${fmtBytes(repair.bytes)}`);
      const after = await exchange(false, variant);
      if (after.report.differences.length !== 0) throw new Error(`after the repair (${variant}), verify still finds ${after.report.differences.length} differing keys`);
      return { repair, after };
    };
    // Pairs of find + repair, a fresh set of D differing keys before each exchange.
    const repairs: Record<Variant, { repair: Timed; after: Timed }[]> = { plain: [], tls: [] };
    let baselineDiff: { seconds: number; differing: number } | undefined;
    for (let i = 0; i < PAIRS; i++) {
      for (const v of order(i)) {
        await diverge(SEED + repairs.plain.length + repairs.tls.length);
        if (baselineDiff === undefined) {
          baselineDiff = await fullComparison(a.db, b.url);
          if (baselineDiff.differing !== DIFFER) throw new Error(`the full comparison found ${baselineDiff.differing} differing rows, expected ${DIFFER}`);
          log(`${DIFFER} keys differ; full comparison (baseline) ${fmt(baselineDiff.seconds, 2)} s`);
        }
        repairs[v].push(await findAndRepair(v));
      }
    }
    const baselineAfter = await fullComparison(a.db, b.url);
    if (baselineAfter.differing !== 0) throw new Error(`after the repairs, the full comparison finds ${baselineAfter.differing} differing rows`);

    // ---- report ---------------------------------------------------------------------------------
    const cpu = cpus();
    const baseSame = median(baselineSame.map((r) => r.seconds));
    const baseDiff = baselineDiff!.seconds;
    const phaseList = (t: Timed): string => [...t.phases].map(([p, s]) => `${p} ${fmt(s, 2)} s`).join(', ');
    const cores = (t: Timed): string => `Cores during it: the regions' Node ${t.regionCores === undefined ? '—' : fmt(t.regionCores)}, their PostgreSQL backends ${t.postgresCores === undefined ? '—' : fmt(t.postgresCores)}, the coordinator ${fmt(t.coordinatorCores)}, the whole machine ${fmt(t.machineCores)}`;
    const names: Record<Variant, string> = { plain: 'plaintext', tls: 'mutual TLS' };
    const out: string[] = [];
    out.push('## Anti-entropy (services/region/bench/anti-entropy.ts)\n');
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ${serverVersion}; 1-minute load average ${fmt(loadBefore, 1)} before the run, ${fmt(loadavg()[0]!, 1)} after.`);
    out.push(
      `Parameters: ${whole(KEYS)} keys per region in one counter namespace (${whole(checks[0].segments)} non-empty segments of 2^20; loaded in ${fmt(loadSeconds, 1)} s through the triggers, both trees equal to rebuilt ones), ${DIFFER} keys made to differ before each find + repair (${half} incremented in a, ${DIFFER - half} in b), the CLI's defaults (confirmation after ${CONFIRM_MS} ms, repair at ${REPAIR_RATE} keys/s), ${VERIFIES} pairs of verifies and ${PAIRS} of find + repair over gRPC plaintext and mutual TLS (a process of each kind per region), ${bench.auth === 'off' ? 'authentication off' : 'authentication on'}, ${describeSettings(serviceSettings())}. Baseline: a's PostgreSQL compares every row with b's (dblink, FULL JOIN on (namespace, key), state compared), moving ${fmtBytes(tableBytes)} of row payload.\n`,
    );
    const rows: string[][] = [];
    for (const v of ['tls', 'plain'] as const) {
      const verifySeconds = median(verifies[v].map((t) => t.seconds));
      const verifyBytes = median(verifies[v].map((t) => t.bytes));
      const repairSeconds = median(repairs[v].map((r) => r.repair.seconds));
      const repairBytes = median(repairs[v].map((r) => r.repair.bytes));
      rows.push(
        [`verify, ${whole(KEYS)} identical keys, ${names[v]} (median of ${VERIFIES})`, `${fmt(verifySeconds, 3)} s, ${fmtBytes(verifyBytes)}`, `${fmt(baseSame, 2)} s, ${fmtBytes(tableBytes)}`, `${fmt(baseSame / verifySeconds, 1)} (bytes ${fmt(tableBytes / Math.max(1, verifyBytes), 0)})`, '< 10 s, < 1 MB', verifySeconds < 10 && verifyBytes < 1e6 ? 'yes' : 'no'],
        [`find + repair ${DIFFER} of ${whole(KEYS)} keys, ${names[v]} (median of ${PAIRS})`, `${fmt(repairSeconds, 2)} s, ${fmtBytes(repairBytes)}`, `${fmt(baseDiff, 2)} s (finds only)`, fmt(baseDiff / repairSeconds, 2), '< 30 s', repairSeconds < 30 ? 'yes' : 'no'],
      );
    }
    const last = repairs.tls.at(-1)!;
    rows.push([`verify after a repair, ${names.tls}`, `${fmt(last.after.seconds, 3)} s, ${fmtBytes(last.after.bytes)}`, `${fmt(baselineAfter.seconds, 2)} s`, fmt(baselineAfter.seconds / last.after.seconds, 1), '—', '—']);
    out.push(markdownTable(['measurement', 'anti-entropy', 'baseline: full comparison', 'ratio (baseline ÷ anti-entropy)', 'target', 'met?'], rows));
    out.push('');
    for (const v of ['tls', 'plain'] as const) {
      out.push(`- Verifies, ${names[v]}: ${verifies[v].map((t) => `${fmt(t.seconds, 3)} s / ${fmtBytes(t.bytes)}`).join('; ')}. Find + repair: ${repairs[v].map((r) => `${fmt(r.repair.seconds, 2)} s`).join(', ')}.`);
    }
    out.push(`- Full comparisons: ${baselineSame.map((r) => `${fmt(r.seconds, 2)} s`).join(', ')} (identical), ${fmt(baseDiff, 2)} s (${DIFFER} differing), ${fmt(baselineAfter.seconds, 2)} s (after the repairs).`);
    out.push(
      `- The last find + repair over ${names.tls}: ${last.repair.report.divergentSegments} divergent segments, ${last.repair.report.differences.length} keys found, ${last.repair.report.repairedLocal.length} repaired in a and ${last.repair.report.repairedRemote.length} in b; by phase: ${phaseList(last.repair)} (compare: roots, branches and segments; confirm: the CLI's ${CONFIRM_MS} ms wait, then the differing segments' keys read again). ${cores(last.repair)}. Verify after it: ${phaseList(last.after)}.`,
    );
    /** Mutual TLS ÷ plaintext per pair, for one figure of each exchange. */
    const tlsRatio = (runs: Record<Variant, Timed[]>, figure: (t: Timed) => number): string => formatRatio(pairedRatios(runs.tls.map((t, i) => ({ variant: figure(t), baseline: figure(runs.plain[i]!) }))));
    /** CPU figures only where an exchange takes whole seconds: `top` counts hundredths, and a verify takes about as few. */
    const ratioRow = (what: string, runs: Record<Variant, Timed[]>, cpu: boolean): string[] => [
      what,
      tlsRatio(runs, (t) => t.seconds),
      ...(cpu ? [tlsRatio(runs, (t) => t.cpu.node), tlsRatio(runs, (t) => t.cpu.postgres), tlsRatio(runs, (t) => t.cpu.coordinator)] : ['—', '—', '—']),
      tlsRatio(runs, (t) => t.bytes),
    ];
    out.push('\nThe cost of mutual TLS: per pair, TLS ÷ plaintext; median (min–max, pairs):\n');
    out.push(
      markdownTable(
        ['exchange', 'time', "regions' Node CPU", 'PostgreSQL CPU', 'coordinator CPU', 'protobuf bytes'],
        [ratioRow('verify, identical', verifies, false), ratioRow(`find + repair ${DIFFER}`, { plain: repairs.plain.map((r) => r.repair), tls: repairs.tls.map((r) => r.repair) }, true)],
      ),
    );
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
