/**
 * What one add costs as a set grows (not a test: `npm run bench:big-set`), the figure behind
 * issue 21 item 3 and decision 0013: an add into a set of 100,000 elements must cost at most
 * twice an add into a set of 10 (p50 latency and CPU per write).
 *
 * The region service as a program (`src/main.ts`, one process, standalone: a write ends at the
 * commit of its key row and outbox row, auth off) on a fresh database. Per set size
 * (BENCH_SET_SIZES), keys filled through the service (`POST …/ops {"add": [..]}` in batches of
 * BENCH_FILL_BATCH): sizes up to 1,000 spread the measured writes over BENCH_SMALL_KEYS keys, so
 * that each grows by a few elements only; bigger sizes take one key (the run's writes add a
 * fraction of a percent). Then BENCH_WARMUP_WRITES writes per size (unmeasured: V8 compiles
 * the path), then BENCH_ROUNDS rounds in which each size takes BENCH_WRITES sequential adds of one
 * fresh element (one request at a time, the order of sizes reversed every other round). Per
 * size: p50 and p99 latency (request sent to answer read, the answer's body included), Node CPU
 * of the service process and PostgreSQL CPU of its backends per write. The ratios are to the
 * smallest size — the service's own small-set add, the baseline the target names.
 *
 * Beside it, Yjs in the same process: a Y.Map of the same sizes used as a set (a key per
 * element), one add (`map.set(e, true)`, its update captured), p50 of BENCH_YJS_ADDS adds.
 *
 * Settings (environment): BENCH_SET_SIZES (10,1000,100000), BENCH_ROUNDS (3), BENCH_WRITES (30),
 * BENCH_WARMUP_WRITES (20), BENCH_SMALL_KEYS (20), BENCH_FILL_BATCH (2000), BENCH_YJS_ADDS
 * (2000). MERIDIAN_* variables reach the service. Smoke: BENCH_SET_SIZES=10,1000 BENCH_ROUNDS=1
 * BENCH_WRITES=5 BENCH_WARMUP_WRITES=2.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import * as Y from 'yjs';
import { adminUrl, createDatabase, dropDatabase, ensurePostgres, startRegionProcess, type RegionProcess } from '@meridian/infra-local';
import { fixed, markdownTable, uniqueName } from '@meridian/testkit';
import { percentile } from './load.ts';
import { cpuSeconds, cpuSnapshot } from './cpu.ts';
import { cleanupStack, describeSettings, envInt, envSizes, log, serviceSettings } from './bench-env.ts';

const SIZES = envSizes('BENCH_SET_SIZES', '10,1000,100000');
const ROUNDS = envInt('BENCH_ROUNDS', 3, 1, 100);
const WRITES = envInt('BENCH_WRITES', 30, 1, 100_000);
const WARMUP = envInt('BENCH_WARMUP_WRITES', 20, 0, 100_000);
const SMALL_KEYS = envInt('BENCH_SMALL_KEYS', 20, 1, 1000);
const FILL_BATCH = envInt('BENCH_FILL_BATCH', 2000, 1, 100_000);
const YJS_ADDS = envInt('BENCH_YJS_ADDS', 2000, 10, 10_000_000);
const NS = 'bigsets';
/** Sizes up to this spread their writes over BENCH_SMALL_KEYS keys. */
const SMALL = 1000;

interface Sample {
  readonly latencies: number[];
  service: number;
  postgres: number;
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url}: ${res.status} ${text.slice(0, 300)}`);
}

/** p50 of one Yjs add into a map of `size` keys, in µs. */
function yjsAdd(size: number): number {
  const doc = new Y.Doc();
  const set = doc.getMap<boolean>('set');
  doc.transact(() => {
    for (let i = 0; i < size; i++) set.set(`e${i}`, true);
  });
  let last: Uint8Array | undefined;
  doc.on('update', (update: Uint8Array) => (last = update));
  const times = new Float64Array(YJS_ADDS);
  for (let i = 0; i < YJS_ADDS; i++) {
    const t = performance.now();
    set.set(`new${i}`, true);
    times[i] = (performance.now() - t) * 1000;
  }
  if (last === undefined) throw new Error('Yjs produced no update');
  return percentile(times, 50);
}

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();
  try {
    const admin = await ensurePostgres(adminUrl());
    const workDir = mkdtempSync(join(tmpdir(), 'meridian-big-set-'));
    cleanups.push(() => Promise.resolve(rmSync(workDir, { recursive: true, force: true })));
    const dbName = uniqueName('bench_big_set');
    const url = await createDatabase(dbName, admin);
    cleanups.push(() => dropDatabase(dbName, admin));
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    cleanups.push(() => db.end());
    const service: RegionProcess = await startRegionProcess({
      region: 'bench',
      databaseUrl: url,
      logFile: join(workDir, 'region.log'),
      logLevel: 'warn',
      auth: 'off',
      env: { MERIDIAN_RATE_LIMIT_PER_MINUTE: '0', MERIDIAN_BODY_LIMIT_BYTES: String(16 * 1024 * 1024), ...serviceSettings() },
    });
    cleanups.push(() => service.stop());
    const res = await fetch(`${service.url}/v1/namespaces/${NS}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'set' }) });
    if (res.status !== 201) throw new Error(`declaring ${NS}: ${res.status} ${await res.text()}`);

    const keysOf = (size: number): string[] => Array.from({ length: size <= SMALL ? SMALL_KEYS : 1 }, (_, i) => `s${size}-${i}`);
    const ops = (key: string): string => `${service.url}/v1/ns/${NS}/keys/${key}/ops`;
    for (const size of SIZES) {
      for (const key of keysOf(size)) {
        for (let from = 0; from < size; from += FILL_BATCH) {
          await post(ops(key), { add: Array.from({ length: Math.min(FILL_BATCH, size - from) }, (_, i) => `e${from + i}`) });
        }
      }
      log(`set of ${size.toLocaleString('en')}: ${keysOf(size).length} key(s) filled`);
    }
    await db.query('VACUUM ANALYZE meridian_keys');

    const counters = new Map<number, number>();
    /** One add of a fresh element into a key of `size`; its latency in ms. */
    const addOne = async (size: number): Promise<number> => {
      const n = counters.get(size) ?? 0;
      counters.set(size, n + 1);
      const keys = keysOf(size);
      const t = performance.now();
      await post(ops(keys[n % keys.length]!), { add: [`w${n}`] });
      return performance.now() - t;
    };
    const backends = async (): Promise<number[]> =>
      (await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'meridian-region-%'")).rows.map((r) => r.pid);
    const pid = service.process.pid ?? -1;

    for (const size of SIZES) for (let i = 0; i < WARMUP; i++) await addOne(size);
    log('warmed up');
    const samples = new Map<number, Sample>(SIZES.map((s) => [s, { latencies: [], service: 0, postgres: 0 }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const size of round % 2 === 0 ? SIZES : [...SIZES].reverse()) {
        if (!service.running) throw new Error(`the service died; log:\n${service.process.logTail()}`);
        const sample = samples.get(size)!;
        const pgPids = await backends();
        const [serviceBefore, pgBefore] = [await cpuSnapshot([pid]), await cpuSnapshot(pgPids)];
        for (let i = 0; i < WRITES; i++) sample.latencies.push(await addOne(size));
        const [serviceAfter, pgAfter] = [await cpuSnapshot([pid]), await cpuSnapshot([...new Set([...pgPids, ...(await backends())])])];
        sample.service += cpuSeconds(serviceBefore, serviceAfter) ?? Number.NaN;
        sample.postgres += cpuSeconds(pgBefore, pgAfter) ?? Number.NaN;
      }
      log(`round ${round + 1}/${ROUNDS} done`);
    }
    const serverVersion = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    // A set above the split threshold is a header row plus a row per element (decision 0013): both counted.
    const stored = await db.query<{ key: string; bytes: number }>(
      `SELECT k.key, octet_length(k.state) + coalesce((SELECT sum(octet_length(e.name) + octet_length(e.row))::int FROM meridian_elements e WHERE e.namespace = k.namespace AND e.key = k.key), 0) AS bytes
         FROM meridian_keys k WHERE k.namespace = $1`,
      [NS],
    );
    const bytesOf = (size: number): number => Math.max(...stored.rows.filter((r) => r.key.startsWith(`s${size}-`)).map((r) => r.bytes));

    // ---- report -------------------------------------------------------------------------------
    const figures = SIZES.map((size) => {
      const s = samples.get(size)!;
      const writes = s.latencies.length;
      const latencies = Float64Array.from(s.latencies);
      return { size, p50: percentile(latencies, 50), p99: percentile(latencies, 99), node: (s.service * 1000) / writes, postgres: (s.postgres * 1000) / writes, yjs: yjsAdd(size) };
    });
    const base = figures[0]!;
    const cpu = cpus();
    const out: string[] = [];
    out.push('## One add into a set, by the set\'s size (services/region/bench/big-set.ts)\n');
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ${serverVersion}; 1-minute load average ${fixed(loadavg()[0], 1)} at the end.`);
    out.push(`Parameters: ${ROUNDS} rounds × ${WRITES} sequential adds per size after ${WARMUP} unmeasured, sizes up to ${SMALL.toLocaleString('en')} over ${SMALL_KEYS} keys, ${describeSettings(serviceSettings())}. Ratios are to the set of ${base.size.toLocaleString('en')} (the service's small-set add); the target is ≤ 2 for p50 and CPU.\n`);
    out.push(
      markdownTable(
        ['set size', 'stored bytes', 'p50 ms', 'p99 ms', 'Node CPU ms/write', 'PostgreSQL CPU ms/write', 'p50 ÷ small', 'CPU ÷ small', 'Yjs add p50 µs (in memory)'],
        figures.map((f) => [
          f.size.toLocaleString('en'),
          bytesOf(f.size).toLocaleString('en'),
          fixed(f.p50, 2),
          fixed(f.p99, 2),
          fixed(f.node, 3),
          fixed(f.postgres, 3),
          fixed(f.p50 / base.p50, 2),
          fixed((f.node + f.postgres) / (base.node + base.postgres), 2),
          fixed(f.yjs, 1),
        ]),
      ),
    );
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
