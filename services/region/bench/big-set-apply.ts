/**
 * What applying a peer's one-element add costs as the set grows (not a test:
 * `npm run bench:big-set-apply`): the replicated half of issue 21 item 3 — a write's cost must not
 * grow with the collection at the regions that apply it either (decision 0013).
 *
 * The replicator's apply (`BatchApplier.applyGroup`, one transaction per update, as a caught-up
 * link applies them) in this process, against a PgStore on a fresh database with the default
 * split threshold. Per set size (BENCH_SET_SIZES), one key is filled by one update of a peer
 * (`src`, its whole set as a delta); then BENCH_ROUNDS rounds in which each size takes
 * BENCH_WRITES applies of one update that adds a fresh element (the order of sizes reversed
 * every other round), after BENCH_WARMUP_WRITES unmeasured. Per size: p50 and p99 time of an
 * apply, Node CPU (this process) and PostgreSQL CPU (its backends) per apply, and their ratios to
 * the smallest size — the baseline. A second key of each size gets the same updates without
 * `touchedRows` (what an older writer ships): it is joined into the whole collection, the cost the
 * row-wise apply removes, shown beside it.
 *
 * Settings (environment): BENCH_SET_SIZES (10,100000), BENCH_ROUNDS (6), BENCH_WRITES (30),
 * BENCH_WARMUP_WRITES (10). Smoke: BENCH_SET_SIZES=10,2000 BENCH_ROUNDS=1 BENCH_WRITES=5.
 */
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import type { KafkaMessage } from 'kafkajs';
import { HybridLogicalClock } from '@meridian/causality';
import { ORSet, touchedRows } from '@meridian/crdt';
import { encodeRecord, withSequence, type NamespaceRecord, type UpdateRecord } from '@meridian/protocol';
import { PgStore } from '@meridian/store';
import { adminUrl, createDatabase, dropDatabase, ensurePostgres } from '@meridian/infra-local';
import { fixed, markdownTable, uniqueName } from '@meridian/testkit';
import { BatchApplier, decode } from '../src/replication/batch-applier.ts';
import { percentile } from './load.ts';
import { cpuSeconds, cpuSnapshot } from './cpu.ts';
import { cleanupStack, envInt, envSizes, log } from './bench-env.ts';

const SIZES = envSizes('BENCH_SET_SIZES', '10,100000');
const ROUNDS = envInt('BENCH_ROUNDS', 6, 1, 100);
const WRITES = envInt('BENCH_WRITES', 30, 1, 100_000);
const WARMUP = envInt('BENCH_WARMUP_WRITES', 10, 0, 100_000);
const NS = 'bigsets';
const ACTOR = 'src.1';
type Variant = 'rows' | 'whole';

/** The peer's topic on one partition: records numbered in order, as its relay publishes them. */
class PeerTopic {
  #sequence = 0n;
  #offset = 0;
  #hlc = BigInt(Date.now()) << 16n;

  message(record: Omit<UpdateRecord, 'originSequence' | 'outboxId' | 'hlc' | 'schemaVersion' | 'origin' | 'traceparent'> | Omit<NamespaceRecord, 'originSequence' | 'outboxId' | 'hlc' | 'schemaVersion' | 'origin' | 'traceparent'>): KafkaMessage {
    this.#sequence++;
    this.#hlc++;
    const full = { ...record, schemaVersion: 1, origin: { region: 'src', epoch: 1 }, originSequence: 0n, outboxId: this.#sequence, hlc: this.#hlc, traceparent: '' } as UpdateRecord | NamespaceRecord;
    const value = Buffer.from(withSequence(encodeRecord(full), this.#sequence));
    const key = record.kind === 'update' ? `${NS}/${record.key}` : `${NS}/`;
    return { key: Buffer.from(key), value, timestamp: '0', attributes: 0, offset: String(this.#offset++), headers: { 'meridian-origin': ACTOR, 'meridian-sequence': String(this.#sequence), 'meridian-outbox-id': String(this.#sequence) } };
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { cleanups, cleanup } = cleanupStack();
  try {
    const admin = await ensurePostgres(adminUrl());
    const dbName = uniqueName('bench_big_set_apply');
    const url = await createDatabase(dbName, admin);
    cleanups.push(() => dropDatabase(dbName, admin));
    const store = await PgStore.open({ connectionString: url, poolSize: 2, applicationName: 'meridian-bench-apply' });
    cleanups.push(() => store.close());
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    cleanups.push(() => db.end());
    const applier = new BatchApplier({ store, peer: 'src', clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }) });
    const epoch = (await store.replication.claimPartitions('src', [0])).get(0)!.epoch;
    const topic = new PeerTopic();
    const apply = async (message: KafkaMessage): Promise<void> => {
      const [result] = await applier.applyGroup([{ partition: 0, epoch, messages: [decode(message)] }]);
      if (result !== 'applied') throw new Error(`apply: ${result}`);
    };
    await apply(topic.message({ kind: 'namespace', namespace: NS, policy: 'set' }));

    // The peer's sets, one per (size, variant), kept in memory to make its deltas.
    const sets = new Map<string, ORSet>();
    const keyOf = (size: number, variant: Variant): string => `s${size}-${variant}`;
    for (const size of SIZES) {
      for (const variant of ['rows', 'whole'] as const) {
        let set = ORSet.empty;
        const { state, delta } = set.update({ add: Array.from({ length: size }, (_, i) => `e${i}`) }, ACTOR);
        set = state;
        sets.set(keyOf(size, variant), set);
        await apply(topic.message({ kind: 'update', namespace: NS, policy: 'set', key: keyOf(size, variant), payload: { kind: 'crdt', delta: delta.encode() } }));
      }
      log(`set of ${size.toLocaleString('en')}: filled`);
    }
    await db.query('VACUUM ANALYZE meridian_keys, meridian_elements');

    let n = 0;
    /**
     * The peer's next `count` adds of a fresh element into the key, made before they are applied:
     * the peer's own work (an update of its in-memory set) stays out of the measured CPU.
     */
    const nextAdds = (size: number, variant: Variant, count: number): KafkaMessage[] =>
      Array.from({ length: count }, () => {
        const key = keyOf(size, variant);
        const op = { add: [`w${n++}`] };
        const { state, delta } = sets.get(key)!.update(op, ACTOR);
        sets.set(key, state);
        const bytes = delta.encode();
        return topic.message({ kind: 'update', namespace: NS, policy: 'set', key, payload: { kind: 'crdt', delta: bytes }, ...(variant === 'rows' ? { touchedRows: touchedRows('set', op, bytes) } : {}) });
      });
    /** Applies one update; its time in ms. */
    const timed = async (message: KafkaMessage): Promise<number> => {
      const t = performance.now();
      await apply(message);
      return performance.now() - t;
    };
    const backends = async (): Promise<number[]> =>
      (await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'meridian-bench-apply'")).rows.map((r) => r.pid);

    const cases = SIZES.flatMap((size) => (['rows', 'whole'] as const).map((variant) => ({ size, variant })));
    for (const c of cases) for (const m of nextAdds(c.size, c.variant, WARMUP)) await apply(m);
    log('warmed up');
    const samples = new Map(cases.map((c) => [keyOf(c.size, c.variant), { latencies: [] as number[], node: 0, postgres: 0 }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
        const sample = samples.get(keyOf(c.size, c.variant))!;
        const messages = nextAdds(c.size, c.variant, WRITES);
        const pgPids = await backends();
        const pgBefore = await cpuSnapshot(pgPids);
        const nodeBefore = process.cpuUsage();
        for (const m of messages) sample.latencies.push(await timed(m));
        const node = process.cpuUsage(nodeBefore);
        const pgAfter = await cpuSnapshot([...new Set([...pgPids, ...(await backends())])]);
        sample.node += (node.user + node.system) / 1e6;
        sample.postgres += cpuSeconds(pgBefore, pgAfter) ?? Number.NaN;
      }
      log(`round ${round + 1}/${ROUNDS} done`);
    }
    // Every key as the peer holds it: the applies lost nothing.
    for (const c of cases) {
      const key = keyOf(c.size, c.variant);
      const count = await db.query<{ elements: number | null }>('SELECT elements FROM meridian_keys WHERE namespace = $1 AND key = $2', [NS, key]);
      const want = sets.get(key)!.size;
      const stored = count.rows[0]?.elements ?? ORSet.decode((await store.readView(NS, key)).key!.state!).size;
      if (stored !== want) throw new Error(`${key}: ${stored} elements stored, the peer holds ${want}`);
    }

    const serverVersion = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const figure = (size: number, variant: Variant) => {
      const s = samples.get(keyOf(size, variant))!;
      const latencies = Float64Array.from(s.latencies);
      return { size, variant, p50: percentile(latencies, 50), p99: percentile(latencies, 99), node: (s.node * 1000) / s.latencies.length, postgres: (s.postgres * 1000) / s.latencies.length };
    };
    const base = figure(SIZES[0]!, 'rows');
    const cpu = cpus();
    const out: string[] = [];
    out.push("## A peer's one-element add applied, by the set's size (services/region/bench/big-set-apply.ts)\n");
    out.push(`Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, PostgreSQL ${serverVersion}; 1-minute load average ${fixed(loadavg()[0], 1)} at the end.`);
    out.push(`Parameters: ${ROUNDS} rounds × ${WRITES} applies per size and variant after ${WARMUP} unmeasured, one transaction per update. Ratios are to the set of ${base.size.toLocaleString('en')} applied row-wise; the target is ≤ 2 for p50 and CPU. \`whole\`: the same updates without touched rows (an older writer's), joined into the whole set.\n`);
    out.push(
      markdownTable(
        ['set size', 'apply', 'p50 ms', 'p99 ms', 'Node CPU ms/apply', 'PostgreSQL CPU ms/apply', 'p50 ÷ small', 'CPU ÷ small'],
        cases.map((c) => {
          const f = figure(c.size, c.variant);
          return [f.size.toLocaleString('en'), f.variant === 'rows' ? 'row-wise' : 'whole', fixed(f.p50, 2), fixed(f.p99, 2), fixed(f.node, 3), fixed(f.postgres, 3), fixed(f.p50 / base.p50, 2), fixed((f.node + f.postgres) / (base.node + base.postgres), 2)];
        }),
      ),
    );
    out.push(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    console.log(out.join('\n'));
  } finally {
    await cleanup();
  }
}

await main();
