/**
 * The replicator's in-memory apply path on in-memory data (not a test: no Kafka, no PostgreSQL):
 * consumed messages decoded (`decode`), planned against applied vectors (`planUpdates`), each
 * key folded into its stored state (`foldKey`) and the new states concatenated as `saveKeys`
 * sends them. This is the part of a region's CPU per applied update that does not depend on the
 * machine's I/O, so it measures a change to it far more repeatably than the catch-up benchmark.
 * It reports the process's CPU time per update (a median over rounds), not wall time.
 *
 * The messages are what the catch-up benchmark's backlog puts on the topic: lww writes of
 * distinct keys (a ~90-byte JSON value, a traceparent, the relay's headers), cut into partition
 * batches. Two cases: keys never seen here (the catch-up's case: no stored row), and keys whose
 * stored state the update supersedes (a key written again at the origin).
 *
 * Settings (environment): BENCH_N (20000) updates per round, BENCH_ROUNDS (15; the first third
 * warms up), BENCH_BATCH (400) messages per partition batch.
 *
 *   npm run bench:apply -w @meridian/region
 */
import type { KafkaMessage } from 'kafkajs';
import { DvvSet } from '@meridian/causality';
import { encodeRecord, withSequence, type UpdateRecord } from '@meridian/protocol';
import { encodeRegisterSet, writeRegister, type RegisterSet, type RegisterVersion } from '@meridian/crdt';
import { AppliedVector } from '@meridian/replication-link';
import { decode, type Decoded } from '../src/replication/batch-applier.ts';
import { foldKey, planUpdates, type StoredKey } from '../src/replication/key-fold.ts';
import { envInt } from './bench-env.ts';

/** The bench's HLCs are all near now: no drift bound applies. */
const NO_CEILING = (1n << 64n) - 1n;

const N = envInt('BENCH_N', 20_000, 10, 10_000_000);
const ROUNDS = envInt('BENCH_ROUNDS', 15, 3, 1000);
const BATCH = envInt('BENCH_BATCH', 400, 1, 100_000);
const ORIGIN = { region: 'a', epoch: 1 };
const NAMESPACE = 'bench_catchup';

function traceparent(i: number): string {
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0').slice(-width);
  return `00-${hex(i + 1, 16)}${hex((i + 1) * 7919, 16)}-${hex((i + 1) * 104729, 16)}-01`;
}

/** A's write `i`: the key's version set after it (on top of `before`), as the relay publishes it. */
function message(i: number, before: RegisterSet): { message: KafkaMessage; set: RegisterSet } {
  const key = `key-${String(i).padStart(8, '0')}`;
  const hlc = ((1_790_000_000_000n + BigInt(i)) << 16n) | 3n;
  const value = { text: `value ${i} `.padEnd(80, 'x'), n: i };
  const { set } = writeRegister(before, 'lww', undefined, 'a.1', { value, hlc, traceparent: traceparent(i) });
  const record: UpdateRecord = {
    kind: 'update',
    schemaVersion: 1,
    origin: ORIGIN,
    originSequence: 0n,
    outboxId: BigInt(i + 1),
    namespace: NAMESPACE,
    key,
    policy: 'lww',
    hlc,
    traceparent: traceparent(i),
    payload: { kind: 'register', state: encodeRegisterSet(set) },
  };
  const value_ = Buffer.from(withSequence(encodeRecord(record), BigInt(i + 1)));
  const headers = { 'meridian-origin': Buffer.from('a.1'), 'meridian-sequence': Buffer.from(String(i + 1)), 'meridian-outbox-id': Buffer.from(String(i + 1)), traceparent: Buffer.from(traceparent(i)) };
  return { message: { key: Buffer.from(`${NAMESPACE}/${key}`), value: value_, headers, offset: String(i), timestamp: '0', attributes: 0 }, set };
}

interface Case {
  readonly name: string;
  readonly messages: readonly KafkaMessage[];
  /** The stored row of each key (by key), as `lockKeys` returns it. */
  readonly rows: ReadonlyMap<string, StoredKey>;
}

function buildCases(): Case[] {
  const fresh: KafkaMessage[] = [];
  const again: KafkaMessage[] = [];
  const rows = new Map<string, StoredKey>();
  for (let i = 0; i < N; i++) {
    const first = message(i, DvvSet.empty<RegisterVersion>());
    fresh.push(first.message);
    const second = message(i, first.set);
    again.push(second.message);
    rows.set(`key-${String(i).padStart(8, '0')}`, { state: encodeRegisterSet(first.set), maxHlc: 0n });
  }
  const unwritten: StoredKey = { state: undefined, maxHlc: 0n };
  return [
    { name: 'new keys (no stored state)', messages: fresh, rows: new Map([...rows.keys()].map((k) => [k, unwritten])) },
    { name: 'stored keys, superseded', messages: again, rows },
  ];
}

/** One round: every message decoded, planned and folded in batches; the bytes saveKeys would send. */
function round(c: Case): number {
  let bytes = 0;
  for (let start = 0; start < c.messages.length; start += BATCH) {
    const decoded: Decoded[] = c.messages.slice(start, start + BATCH).map((m) => decode(m));
    const updates = decoded.map((d) => d.record).filter((r): r is UpdateRecord => r?.kind === 'update');
    const vectors = new Map([['a.1', AppliedVector.empty('a.1', 'a')]]);
    const { keys } = planUpdates(updates, vectors);
    const states: Uint8Array[] = [];
    for (const k of keys) {
      const fold = foldKey(k, 'lww', c.rows.get(k.key), k.updates, 0, NO_CEILING);
      if (fold.save) states.push(fold.save.state);
    }
    bytes += Buffer.concat(states).byteLength;
  }
  return bytes;
}

for (const c of buildCases()) {
  const times: number[] = [];
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // CPU time, not wall time: on a shared machine the process may wait for a core.
    const started = process.cpuUsage();
    bytes = round(c);
    const used = process.cpuUsage(started);
    times.push((used.user + used.system) / 1000);
  }
  const measured = times.slice(Math.floor(ROUNDS / 3)).sort((a, b) => a - b);
  const median = measured[Math.floor(measured.length / 2)]!;
  console.log(`${c.name}: ${((median * 1000) / N).toFixed(2)} µs of CPU per update (median of ${measured.length} rounds of ${N}; min ${((measured[0]! * 1000) / N).toFixed(2)}), ${(bytes / N).toFixed(0)} B stored per update`);
}
