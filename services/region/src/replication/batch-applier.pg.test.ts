/**
 * The set-based apply against a real PostgreSQL: a group of several partitions' batches (many
 * keys of three policies, republished duplicates, replays of applied offsets, a conflict, poison
 * with a held update, heartbeats) leaves exactly the database that applying the same messages one
 * at a time leaves; a group costs a constant number of statements; a fenced partition drops only
 * its own batch; a failed group stores nothing; an update whose payload is invalid is
 * dead-lettered, quarantines its key and holds its later updates, while the rest applies.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import pg from 'pg';
import type { KafkaMessage } from 'kafkajs';
import { DvvSet, HybridLogicalClock } from '@meridian/causality';
import { crdtKind } from '@meridian/crdt';
import { encodeRecord, type NamespaceRecord, type Policy, type ReplicationRecord, type UpdateRecord } from '@meridian/protocol';
import { PgStore, ReplicationTx, type KeyRow } from '@meridian/store';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { decodeRegisterSet, encodeRegisterSet, type RegisterSet, type RegisterVersion } from '@meridian/crdt';
import { BatchApplier, decode, type Decoded, type PartitionBatch, type ReplicatorHooks } from './batch-applier.ts';

const infra = inject('infra');
const PARTITIONS = 4;
const dbs = [uniqueName('apply_group'), uniqueName('apply_single'), uniqueName('apply_fence'), uniqueName('apply_invalid')];
const stores: PgStore[] = [];

beforeAll(async () => {
  const urls = await Promise.all(dbs.map((db) => createDatabase(db, infra.postgresUrl)));
  stores.push(...(await Promise.all(urls.map((url) => PgStore.open({ connectionString: url, poolSize: 3 })))));
}, 120_000);

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(dbs.map((db) => dropDatabase(db, infra.postgresUrl)));
});

const clock = (): HybridLogicalClock => new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 });
const applier = (store: PgStore, peer: string, hooks?: ReplicatorHooks): BatchApplier => new BatchApplier({ store, peer, clock: clock(), hooks });

/** A peer's topic, built record by record: sequences and outbox ids in order, each message in its key's partition. */
class Topic {
  readonly partitions: KafkaMessage[][] = Array.from({ length: PARTITIONS }, () => []);
  readonly region: string;
  #sequence = 0;
  #hlc = 1_000_000n << 16n;

  constructor(region: string) {
    this.region = region;
  }

  #fields(namespace: string, policy: Policy) {
    this.#sequence++;
    this.#hlc += 1n;
    return { schemaVersion: 1, origin: { region: this.region, epoch: 1 }, originSequence: BigInt(this.#sequence), outboxId: BigInt(this.#sequence), namespace, policy, hlc: this.#hlc, traceparent: '' };
  }

  static partitionOf(namespace: string, key: string): number {
    let h = 0;
    for (const c of `${namespace}/${key}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return h % PARTITIONS;
  }

  push(partition: number, value: Uint8Array | Buffer, key: string): KafkaMessage {
    const list = this.partitions[partition]!;
    const message: KafkaMessage = { key: Buffer.from(key), value: Buffer.from(value), timestamp: '0', attributes: 0, offset: String(list.length), headers: {} };
    list.push(message);
    return message;
  }

  namespace(namespace: string, policy: Policy): void {
    const record: NamespaceRecord = { kind: 'namespace', ...this.#fields(namespace, policy) };
    for (let p = 0; p < PARTITIONS; p++) this.push(p, encodeRecord(record), `${namespace}/`);
  }

  update(namespace: string, key: string, policy: Policy, payload: UpdateRecord['payload']): KafkaMessage {
    const record: UpdateRecord = { kind: 'update', ...this.#fields(namespace, policy), key, payload };
    return this.push(Topic.partitionOf(namespace, key), encodeRecord(record), `${namespace}/${key}`);
  }

  heartbeat(): void {
    const record: ReplicationRecord = { kind: 'heartbeat', schemaVersion: 1, origin: { region: this.region, epoch: 1 }, originWallMs: Date.now(), highWaterSequence: BigInt(this.#sequence), applied: new Map(), hlc: this.#hlc };
    this.push(0, encodeRecord(record), '~heartbeat');
  }

  /** Undecodable bytes in the next sequence slot, with the relay's headers naming that slot. */
  poisonInSequence(partition: number, key: string): void {
    this.#sequence++;
    const message = this.push(partition, Buffer.from('garbled \u0000\u00ff'), key);
    message.headers = { 'meridian-origin': `${this.region}.1`, 'meridian-sequence': String(this.#sequence), 'meridian-outbox-id': String(this.#sequence) };
  }

  /** The relay republishing a message (a takeover before the mark): the same record, a new offset. */
  republish(message: KafkaMessage): void {
    const partition = this.partitions.findIndex((list) => list.includes(message));
    this.push(partition, message.value!, message.key!.toString());
  }

  get lastHlc(): bigint {
    return this.#hlc;
  }

  get lastSequence(): number {
    return this.#sequence;
  }
}

const v = (value: string, hlc: bigint): RegisterVersion => ({ value, hlc, traceparent: undefined });

/** us's stream: namespaces, ~300 updates of many keys in three policies, duplicates, a conflict with ap's earlier write, poison, heartbeats. */
function usTopic(): Topic {
  const t = new Topic('us');
  const counter = crdtKind('counter')!;
  t.namespace('docs', 'mv');
  t.namespace('hits', 'counter');
  t.namespace('prefs', 'lww');
  const docs = new Map<string, RegisterSet>();
  const write = (ns: 'docs' | 'prefs', key: string, value: string, blind = false): KafkaMessage => {
    const before = docs.get(`${ns}/${key}`) ?? DvvSet.empty<RegisterVersion>();
    const after = before.update(blind ? undefined : before.context(), 'us.1', v(value, t.lastHlc + 1n)).set;
    docs.set(`${ns}/${key}`, after);
    return t.update(ns, key, ns === 'docs' ? 'mv' : 'lww', { kind: 'register', state: encodeRegisterSet(after) });
  };
  const counters = new Map<string, unknown>();
  const increment = (key: string, by: number): KafkaMessage => {
    const { state, delta } = counter.apply(counters.get(key) ?? counter.empty(), counter.validateOp({ increment: by }), { actor: 'us.1' });
    counters.set(key, state);
    return t.update('hits', key, 'counter', { kind: 'crdt', delta: counter.encode(delta) });
  };
  // Poison first in its key's partition: the key is quarantined, its later update held.
  t.push(Topic.partitionOf('docs', 'poisoned'), Buffer.from('not a protobuf \u0000\u00ff'), 'docs/poisoned');
  // Valid envelopes with invalid payloads: dead-lettered, their keys quarantined, their later updates held.
  t.update('docs', 'corrupt', 'mv', { kind: 'register', state: Buffer.from('not a version set') });
  t.update('hits', 'h-corrupt', 'counter', { kind: 'crdt', delta: Buffer.from('not a counter') });
  const republished: KafkaMessage[] = [];
  for (let i = 0; i < 120; i++) {
    const m = write('docs', `doc-${i}`, `v1-${i}`);
    if (i % 17 === 0) republished.push(m);
    if (i % 3 === 0) write('docs', `doc-${i}`, `v2-${i}`);
    if (i % 10 === 0) t.heartbeat();
  }
  for (let round = 1; round <= 3; round++) for (let j = 0; j < 30; j++) republished.push(...(j % 11 === round ? [increment(`h-${j}`, round * (j + 1))] : [increment(`h-${j}`, round)]));
  for (let i = 0; i < 50; i++) {
    write('prefs', `p-${i}`, `first-${i}`);
    if (i % 4 === 0) write('prefs', `p-${i}`, `second-${i}`);
  }
  write('docs', 'clash', 'us-side', true);
  write('docs', 'poisoned', 'held back');
  write('docs', 'corrupt', 'held back');
  increment('h-corrupt', 1);
  for (const m of republished.slice(0, 12)) t.republish(m);
  t.heartbeat();
  return t;
}

/** ap's earlier write of docs/clash, which us's is concurrent with. */
function apTopic(): Topic {
  const t = new Topic('ap');
  t.update('docs', 'clash', 'mv', { kind: 'register', state: encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, 'ap.1', v('ap-side', 5n << 16n)).set) });
  return t;
}

const decoded = (messages: readonly KafkaMessage[]): Decoded[] => messages.map((m) => decode(m));

async function claim(store: PgStore, peer: string, partitions: number[]): Promise<Map<number, bigint>> {
  return new Map([...(await store.replication.claimPartitions(peer, partitions))].map(([p, c]) => [p, c.epoch]));
}

/** The whole replicated state of a database, for comparison. */
async function snapshot(store: PgStore): Promise<Record<string, unknown>> {
  const q = async (sql: string): Promise<unknown[]> => (await store.pool.query(sql)).rows;
  return {
    namespaces: await q('SELECT name, policy, declared_by, declared_hlc::text FROM meridian_namespaces ORDER BY name'),
    keys: await q("SELECT namespace, key, encode(state, 'hex') AS state, max_hlc::text FROM meridian_keys ORDER BY namespace, key"),
    conflicts: await q('SELECT id, namespace, key, policy, kind, versions, outcome, regions, trace_ids, skew_flagged FROM meridian_conflicts ORDER BY id'),
    applied: await q('SELECT origin, region, contiguous::text, contiguous_outbox_id::text, beyond FROM meridian_applied ORDER BY origin'),
    offsets: await q('SELECT peer, partition, next_offset::text FROM meridian_offsets ORDER BY peer, partition'),
    deadLetters: await q('SELECT peer, partition, code, namespace, key, origin, sequence::text, redriven_at IS NOT NULL AS redriven FROM meridian_dead_letters ORDER BY code, namespace, key, sequence'),
    quarantine: await q('SELECT namespace, key FROM meridian_quarantine ORDER BY namespace, key'),
    heartbeats: await q('SELECT peer, origin, wall_ms::text, high_water::text FROM meridian_peer_heartbeats ORDER BY peer'),
  };
}

/** The statements sent while `fn` runs (the spy calls through to node-postgres). */
async function statements<T>(fn: () => Promise<T>): Promise<{ result: T; count: number; texts: string[] }> {
  const spy = vi.spyOn(pg.Client.prototype, 'query');
  try {
    const result = await fn();
    const texts = spy.mock.calls.map((args) => {
      const first: unknown = args[0];
      return typeof first === 'string' ? first : (first as { text: string }).text;
    });
    return { result, count: texts.length, texts };
  } finally {
    spy.mockRestore();
  }
}

describe('set-based apply of a group of partitions', () => {
  it('applies a multi-partition group exactly as applying its messages one at a time does', async () => {
    const [grouped, single] = [stores[0]!, stores[1]!];
    const us = usTopic();
    const ap = apTopic();
    for (const store of [grouped, single]) {
      const epochs = await claim(store, 'ap', [0, 1, 2, 3]);
      const p = Topic.partitionOf('docs', 'clash');
      expect(await applier(store, 'ap').applyGroup([{ partition: p, epoch: epochs.get(p)!, messages: decoded(ap.partitions[p]!) }])).toEqual(['applied']);
    }
    const usEpochs = await Promise.all([grouped, single].map((s) => claim(s, 'us', [0, 1, 2, 3])));

    // One at a time: every message in its own transaction, the partitions interleaved.
    const one = applier(single, 'us');
    const longest = Math.max(...us.partitions.map((l) => l.length));
    for (let i = 0; i < longest; i++) {
      for (let p = 0; p < PARTITIONS; p++) {
        const m = us.partitions[p]![i];
        if (m) expect(await one.applyGroup([{ partition: p, epoch: usEpochs[1]!.get(p)!, messages: decoded([m]) }])).toEqual(['applied']);
      }
    }

    // Grouped: three transactions over all four partitions, the second replaying part of the first.
    // The hook that keeps the write path's cache in step hears of every key row as stored.
    const saved = new Map<string, KeyRow>();
    const many = applier(grouped, 'us', { onKeysSaved: (rows) => rows.forEach((r) => saved.set(`${r.namespace.name}/${r.key.key}`, r.key)) });
    const thirds = us.partitions.map((list) => [list.slice(0, Math.ceil(list.length / 3)), list.slice(Math.ceil(list.length / 3), Math.ceil((2 * list.length) / 3)), list.slice(Math.ceil((2 * list.length) / 3))]);
    const batch = (p: number, messages: readonly KafkaMessage[]): PartitionBatch => ({ partition: p, epoch: usEpochs[0]!.get(p)!, messages: decoded(messages) });
    const groups: PartitionBatch[][] = [
      [0, 1, 2, 3].map((p) => batch(p, thirds[p]![0]!)),
      [3, 0, 1, 2].map((p) => batch(p, p === 2 ? [...thirds[p]![0]!, ...thirds[p]![1]!] : thirds[p]![1]!)),
      [0, 1, 2, 3].map((p) => batch(p, thirds[p]![2]!)),
    ];
    let updates = 0;
    for (const group of groups) {
      const { result, count } = await statements(() => many.applyGroup(group));
      expect(result).toEqual(group.map(() => 'applied'));
      updates += group.reduce((n, b) => n + b.messages.length, 0);
      // A constant number per transaction, plus the rare paths (namespaces, poison, held updates).
      expect(count).toBeLessThanOrEqual(30);
    }
    expect(updates).toBeGreaterThan(300);

    const [a, b] = await Promise.all([snapshot(grouped), snapshot(single)]);
    expect(a).toEqual(b);
    // What the comparison covers: the conflict, the held update, the duplicates and every key.
    expect((a['conflicts'] as { key: string; kind: string }[]).filter((c) => c.kind === 'register').map((c) => c.key)).toEqual(['clash']);
    expect((a['deadLetters'] as { code: string; key: string }[]).map((d) => [d.code, d.key])).toEqual([
      ['MERIDIAN_ENVELOPE_UNDECODABLE', 'poisoned'],
      ['MERIDIAN_KEY_QUARANTINED', 'corrupt'],
      ['MERIDIAN_KEY_QUARANTINED', 'poisoned'],
      ['MERIDIAN_KEY_QUARANTINED', 'h-corrupt'],
      ['MERIDIAN_PAYLOAD_INVALID', 'corrupt'],
      ['MERIDIAN_PAYLOAD_INVALID', 'h-corrupt'],
    ]);
    expect(a['quarantine']).toEqual([{ namespace: 'docs', key: 'corrupt' }, { namespace: 'docs', key: 'poisoned' }, { namespace: 'hits', key: 'h-corrupt' }]);
    expect((a['keys'] as unknown[]).length).toBe(120 + 1 + 30 + 50);
    const applied = (a['applied'] as { origin: string; contiguous: string; beyond: unknown[] }[]).find((r) => r.origin === 'us.1')!;
    expect(applied.contiguous).toBe(String(us.lastSequence));
    expect(applied.beyond).toEqual([]);
    const clash = (await grouped.readKey('docs', 'clash'))!;
    expect(Buffer.from(clash.state!).toString()).toMatch(/ap-side[\s\S]*us-side|us-side[\s\S]*ap-side/);
    expect(saved.size).toBeGreaterThan(100);
    for (const row of saved.values()) {
      const stored = await grouped.readKey(row.namespace, row.key);
      expect(stored?.maxHlc).toBe(row.maxHlc);
      expect(Buffer.from(stored!.state!).equals(Buffer.from(row.state!))).toBe(true);
    }
  });

  it('a group of new updates of known keys costs a constant number of statements', async () => {
    const [grouped, single] = [stores[0]!, stores[1]!];
    const counter = crdtKind('counter')!;
    // More updates of hits' keys from a third origin (its own topic: one more peer link).
    const eu = new Topic('eu');
    const states = new Map<string, unknown>();
    for (let n = 0; n < 200; n++) {
      const key = `h-${n % 30}`;
      const { state, delta } = counter.apply(states.get(key) ?? counter.empty(), counter.validateOp({ increment: 1 }), { actor: 'eu.1' });
      states.set(key, state);
      eu.update('hits', key, 'counter', { kind: 'crdt', delta: counter.encode(delta) });
    }
    const counts: number[] = [];
    for (const store of [grouped, single]) {
      const epochs = await claim(store, 'eu', [0, 1, 2, 3]);
      const apply = applier(store, 'eu');
      // Warm up the origin's applied row (a first batch inserts it).
      await apply.applyGroup([{ partition: 0, epoch: epochs.get(0)!, messages: decoded(eu.partitions[0]!.slice(0, 1)) }]);
      const group = [0, 1, 2, 3].map((p) => ({ partition: p, epoch: epochs.get(p)!, messages: decoded(eu.partitions[p]!.slice(p === 0 ? 1 : 0)) }));
      if (store === single) {
        for (const b of group) for (const m of b.messages) await apply.applyGroup([{ ...b, messages: [m] }]);
        continue;
      }
      const { texts } = await statements(() => apply.applyGroup(group));
      counts.push(texts.length);
      expect(texts.map((t) => t.split(/\s+/).slice(0, 3).join(' '))).toEqual([
        'BEGIN',
        'SELECT partition, next_offset,',
        'SELECT * FROM',
        'SELECT q.namespace, q.key',
        'SELECT name, policy,',
        'SELECT namespace, key,',
        'UPDATE meridian_keys AS',
        'UPDATE meridian_applied AS',
        'WITH moved AS', // the offsets, and the highest sequence of each origin per partition
        'COMMIT',
      ]);
    }
    expect(counts).toEqual([10]);
    expect(await snapshot(grouped)).toEqual(await snapshot(single));
  });
});

describe('fencing within a group', () => {
  it('a partition claimed by a newer consumer drops only its own batch; the others apply; the new owner applies it later', async () => {
    const store = stores[2]!;
    const t = new Topic('us');
    t.namespace('n', 'lww');
    for (let i = 0; i < 40; i++) t.update('n', `k-${i}`, 'lww', { kind: 'register', state: encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, 'us.1', v(`v-${i}`, BigInt(i + 1) << 16n)).set) });
    const old = await claim(store, 'us', [0, 1, 2, 3]);
    const newer = await claim(store, 'us', [1]); // another consumer took partition 1 over
    const keysOf = (p: number): string[] => t.partitions[p]!.map((m) => m.key!.toString()).filter((k) => k.startsWith('n/k-')).map((k) => k.slice(2));
    expect(keysOf(1).length).toBeGreaterThan(0);

    const apply = applier(store, 'us');
    const results = await apply.applyGroup([0, 1, 2, 3].map((p) => ({ partition: p, epoch: old.get(p)!, messages: decoded(t.partitions[p]!) })));
    expect(results).toEqual(['applied', 'fenced', 'applied', 'applied']);
    for (const key of keysOf(1)) expect(await store.readKey('n', key)).toBeUndefined();
    for (const p of [0, 2, 3]) for (const key of keysOf(p)) expect(await store.readKey('n', key)).toBeDefined();
    const offsets = async (): Promise<Record<number, string>> => Object.fromEntries((await store.pool.query<{ partition: number; next_offset: string }>("SELECT partition, next_offset::text FROM meridian_offsets WHERE peer = 'us'")).rows.map((r) => [r.partition, r.next_offset]));
    expect((await offsets())[1]).toBe('0');
    expect((await offsets())[0]).toBe(String(t.partitions[0]!.length));
    const [before] = await store.replication.applied();
    expect(before!.contiguous).toBeLessThan(41n); // partition 1's sequences are missing
    expect(before!.beyond.length).toBeGreaterThan(0);
    // The positions alone (what status and heartbeats read): the same rows without `beyond`.
    const { beyond: _beyond, ...position } = before!;
    expect(await store.replication.appliedPositions()).toEqual([position]);

    expect(await apply.applyGroup([{ partition: 1, epoch: newer.get(1)!, messages: decoded(t.partitions[1]!) }])).toEqual(['applied']);
    for (const key of keysOf(1)) expect(await store.readKey('n', key)).toBeDefined();
    const [after] = await store.replication.applied();
    expect(after!.contiguous).toBe(41n);
    expect(after!.beyond).toEqual([]);
  });

  it('a group whose transaction fails stores nothing of any of its batches', async () => {
    const store = stores[2]!;
    const t = new Topic('eu');
    t.namespace('m', 'counter');
    const epochs = await claim(store, 'eu', [0, 1, 2, 3]);
    const counter = crdtKind('counter')!;
    t.update('m', 'x', 'counter', { kind: 'crdt', delta: counter.encode(counter.apply(counter.empty(), counter.validateOp({ increment: 1 }), { actor: 'eu.1' }).delta) });
    // The database fails the statement that writes the keys' states (an invalid payload no longer fails a group: it is dead-lettered).
    const failing = vi.spyOn(ReplicationTx.prototype, 'saveKeys').mockRejectedValue(new Error('the disk is full'));
    try {
      await expect(applier(store, 'eu').applyGroup([0, 1, 2, 3].map((p) => ({ partition: p, epoch: epochs.get(p)!, messages: decoded(t.partitions[p]!) })))).rejects.toThrow('the disk is full');
    } finally {
      failing.mockRestore();
    }
    expect((await store.pool.query("SELECT next_offset FROM meridian_offsets WHERE peer = 'eu' AND next_offset > 0")).rowCount).toBe(0);
    expect(await store.getNamespace('m')).toBeUndefined();
  });
});

describe('insert-or-lock of a batch\'s keys', () => {
  it('a key a concurrent transaction inserts first is waited for, then locked and read with its committed state', async () => {
    const store = stores[2]!;
    await store.pool.query("INSERT INTO meridian_namespaces (name, policy, declared_by, declared_hlc) VALUES ('race', 'mv', 'us.1', 1)");
    const other = await store.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query("INSERT INTO meridian_keys (namespace, key, state, max_hlc) VALUES ('race', 'x', '\\x01', 7)");
      let done = false;
      const locking = store.transaction(async (tx) => tx.lockKeys([{ namespace: 'race', key: 'w' }, { namespace: 'race', key: 'x' }])).finally(() => (done = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toBe(false); // its insert of x waits for the other transaction
      await other.query('COMMIT');
      const rows = await locking;
      expect(rows.get(JSON.stringify(['race', 'x']))).toEqual({ namespace: 'race', key: 'x', state: new Uint8Array([1]), maxHlc: 7n });
      expect(rows.get(JSON.stringify(['race', 'w']))).toEqual({ namespace: 'race', key: 'w', state: undefined, maxHlc: 0n });
    } finally {
      other.release();
    }
  });
});

describe('an update whose envelope decodes but whose payload is invalid', () => {
  const counter = crdtKind('counter')!;
  const corrupt = Buffer.from('\u00ffcorrupt\u0000payload');

  /** The dead letters of a key, oldest first. */
  async function letters(store: PgStore, namespace: string, key: string): Promise<{ id: string; partition: number; kafka_offset: string; raw: Buffer; code: string; reason: string; origin: string; sequence: string; redriven: boolean }[]> {
    return (await store.pool.query('SELECT id::text, partition, kafka_offset::text, raw, code, reason, origin, sequence::text, redriven_at IS NOT NULL AS redriven FROM meridian_dead_letters WHERE namespace = $1 AND key = $2 ORDER BY id', [namespace, key])).rows;
  }
  const quarantined = async (store: PgStore): Promise<string[]> => (await store.pool.query<{ k: string }>("SELECT namespace || '/' || key AS k FROM meridian_quarantine ORDER BY 1")).rows.map((r) => r.k);
  const values = async (store: PgStore, namespace: string, key: string): Promise<unknown[] | undefined> => {
    const row = await store.readKey(namespace, key);
    return row && decodeRegisterSet(row.state!).versions().map((x) => x.value.value).sort();
  };
  const count = async (store: PgStore, key: string): Promise<unknown> => {
    const row = await store.readKey('hits', key);
    return row && counter.toJSON(counter.decode(row.state!));
  };

  it('is dead-lettered with its raw bytes and the reason and quarantines its key; the rest of the batch and later batches apply; redrive refuses it, discard releases the held updates', async () => {
    const store = stores[3]!;
    const deadLetters: [string, string][] = [];
    const apply = applier(store, 'us', { onDeadLetter: (origin, reason) => deadLetters.push([origin, reason]) });
    const t = new Topic('us');
    t.namespace('docs', 'mv');
    t.namespace('hits', 'counter');
    const reg = (value: string, set = DvvSet.empty<RegisterVersion>()): RegisterSet => set.update(set.context(), 'us.1', v(value, t.lastHlc + 1n)).set;
    const mixed1 = reg('m1');
    const counterStates = new Map<string, unknown>();
    const increment = (key: string, by: number): KafkaMessage => {
      const { state, delta } = counter.apply(counterStates.get(key) ?? counter.empty(), counter.validateOp({ increment: by }), { actor: 'us.1' });
      counterStates.set(key, state);
      return t.update('hits', key, 'counter', { kind: 'crdt', delta: counter.encode(delta) });
    };

    // One group: every key's updates in one batch of its partition.
    for (let i = 0; i < 20; i++) t.update('docs', `ok-${i}`, 'mv', { kind: 'register', state: encodeRegisterSet(reg(`ok-${i}`)) });
    const badRegister = t.update('docs', 'bad', 'mv', { kind: 'register', state: corrupt });
    t.update('docs', 'mixed', 'mv', { kind: 'register', state: encodeRegisterSet(mixed1) });
    const badMixed = t.update('docs', 'mixed', 'mv', { kind: 'register', state: corrupt });
    increment('x', 2);
    const badDelta = t.update('hits', 'broken', 'counter', { kind: 'crdt', delta: corrupt });
    const badLater = reg('bad-later');
    t.update('docs', 'bad', 'mv', { kind: 'register', state: encodeRegisterSet(badLater) });
    const mixed3 = reg('m3', mixed1);
    t.update('docs', 'mixed', 'mv', { kind: 'register', state: encodeRegisterSet(mixed3) });
    increment('broken', 5);
    increment('y', 3);
    // A payload of the wrong kind for its policy (the protocol refuses one on the wire; a record built here is one).
    const wrongKind = t.update('hits', 'wrong', 'counter', { kind: 'crdt', delta: counter.encode(counter.empty()) });
    // Twice in a row: the second is held behind the first, and dead-lettered itself when released.
    const twice1 = t.update('docs', 'twice', 'mv', { kind: 'register', state: corrupt });
    const twice2 = t.update('docs', 'twice', 'mv', { kind: 'register', state: Buffer.from('also corrupt') });
    t.update('docs', 'twice', 'mv', { kind: 'register', state: encodeRegisterSet(reg('twice-valid')) });
    const epochs = await claim(store, 'us', [0, 1, 2, 3]);
    const batches = (from: number[] = [0, 0, 0, 0]): PartitionBatch[] =>
      [0, 1, 2, 3].map((p) => ({
        partition: p,
        epoch: epochs.get(p)!,
        messages: decoded(t.partitions[p]!.slice(from[p])).map((d) => (d.message === wrongKind && d.record?.kind === 'update' ? { ...d, record: { ...d.record, payload: { kind: 'register' as const, state: encodeRegisterSet(reg('w')) } } } : d)),
      }));
    expect(await apply.applyGroup(batches())).toEqual(['applied', 'applied', 'applied', 'applied']);

    // Everything else applied: other keys, and the valid updates before the invalid one of the same key.
    for (let i = 0; i < 20; i++) expect(await values(store, 'docs', `ok-${i}`)).toEqual([`ok-${i}`]);
    expect(await values(store, 'docs', 'mixed')).toEqual(['m1']);
    expect(await count(store, 'x')).toEqual(counter.toJSON(counterStates.get('x')));
    expect(await count(store, 'y')).toEqual(counter.toJSON(counterStates.get('y')));
    // The invalid ones: dead letters with the bytes they arrived in and the reason; their keys quarantined, the updates after them held.
    const partitionOf = (m: KafkaMessage): number => t.partitions.findIndex((list) => list.includes(m));
    for (const [ns, key, message, reason] of [
      ['docs', 'bad', badRegister, /^its register_state cannot be decoded: ./],
      ['docs', 'mixed', badMixed, /^its register_state cannot be decoded: ./],
      ['hits', 'broken', badDelta, /^its crdt_delta cannot be decoded as a counter: ./],
      ['hits', 'wrong', wrongKind, /^a register_state payload does not fit policy counter \(it ships crdt_delta\)$/],
      ['docs', 'twice', twice1, /^its register_state cannot be decoded: ./],
    ] as const) {
      const [letter, ...held] = await letters(store, ns, key);
      expect(letter).toMatchObject({ code: 'MERIDIAN_PAYLOAD_INVALID', partition: partitionOf(message), kafka_offset: message.offset, origin: 'us.1', redriven: false });
      expect(letter!.reason).toMatch(reason);
      expect(letter!.raw.equals(message.value!)).toBe(true);
      expect(held.map((h) => h.code)).toEqual(key === 'wrong' ? [] : key === 'twice' ? ['MERIDIAN_KEY_QUARANTINED', 'MERIDIAN_KEY_QUARANTINED'] : ['MERIDIAN_KEY_QUARANTINED']);
    }
    expect(await quarantined(store)).toEqual(['docs/bad', 'docs/mixed', 'docs/twice', 'hits/broken', 'hits/wrong']);
    // A key whose first update was invalid has no row (not even an empty one).
    expect((await store.pool.query("SELECT 1 FROM meridian_keys WHERE (namespace, key) IN (('docs', 'bad'), ('hits', 'broken'), ('hits', 'wrong'), ('docs', 'twice'))")).rowCount).toBe(0);
    // Handled: the applied vector passed every sequence, the offsets every message.
    const [applied] = await store.replication.applied();
    expect(applied).toMatchObject({ contiguous: BigInt(t.lastSequence), beyond: [] });
    expect((await store.pool.query<{ next_offset: string }>("SELECT next_offset::text FROM meridian_offsets WHERE peer = 'us' ORDER BY partition")).rows.map((r) => Number(r.next_offset))).toEqual(t.partitions.map((l) => l.length));
    expect(deadLetters.filter(([, code]) => code === 'MERIDIAN_PAYLOAD_INVALID')).toEqual(Array.from({ length: 5 }, () => ['us', 'MERIDIAN_PAYLOAD_INVALID']));
    expect(deadLetters.filter(([, code]) => code === 'MERIDIAN_KEY_QUARANTINED')).toHaveLength(5);

    // A later batch: a quarantined key's update is held, the others apply.
    const ends = t.partitions.map((l) => l.length);
    t.update('docs', 'bad', 'mv', { kind: 'register', state: encodeRegisterSet(reg('bad-latest', badLater)) });
    increment('broken', 7);
    t.update('docs', 'fine', 'mv', { kind: 'register', state: encodeRegisterSet(reg('fine')) });
    expect(await apply.applyGroup(batches(ends))).toEqual(['applied', 'applied', 'applied', 'applied']);
    expect(await values(store, 'docs', 'fine')).toEqual(['fine']);
    expect(await store.readKey('docs', 'bad')).toBeUndefined();
    expect((await letters(store, 'docs', 'bad')).map((l) => l.code)).toEqual(['MERIDIAN_PAYLOAD_INVALID', 'MERIDIAN_KEY_QUARANTINED', 'MERIDIAN_KEY_QUARANTINED']);

    // A redrive of a payload that is still invalid fails and changes nothing.
    const idOf = async (ns: string, key: string): Promise<bigint> => BigInt((await letters(store, ns, key)).find((l) => l.code === 'MERIDIAN_PAYLOAD_INVALID' && !l.redriven)!.id);
    await expect(apply.redrive(await idOf('docs', 'bad'), 'retry')).rejects.toMatchObject({ code: 'MERIDIAN_REDRIVE_FAILED', message: expect.stringMatching(/still cannot be applied: its register_state cannot be decoded/) });
    await expect(apply.redrive(await idOf('hits', 'broken'), 'retry')).rejects.toMatchObject({ code: 'MERIDIAN_REDRIVE_FAILED', message: expect.stringMatching(/still cannot be applied: its crdt_delta cannot be decoded as a counter/) });
    expect(await quarantined(store)).toEqual(['docs/bad', 'docs/mixed', 'docs/twice', 'hits/broken', 'hits/wrong']);
    expect((await letters(store, 'docs', 'bad')).some((l) => l.redriven)).toBe(false);
    expect(await store.readKey('docs', 'bad')).toBeUndefined();

    // Discarding it lifts the quarantine and applies the held updates, in order.
    expect(await apply.redrive(await idOf('docs', 'bad'), 'discard')).toEqual({ applied: 2, released: true });
    expect(await values(store, 'docs', 'bad')).toEqual(['bad-latest']);
    expect(await apply.redrive(await idOf('docs', 'mixed'), 'discard')).toEqual({ applied: 1, released: true });
    expect(await values(store, 'docs', 'mixed')).toEqual(['m3']);
    expect(await apply.redrive(await idOf('hits', 'broken'), 'discard')).toEqual({ applied: 2, released: true });
    expect(await count(store, 'broken')).toEqual(counter.toJSON(counterStates.get('broken')));
    expect(await apply.redrive(await idOf('hits', 'wrong'), 'discard')).toEqual({ applied: 0, released: true });
    expect(await quarantined(store)).toEqual(['docs/twice']);

    // Released, a held update that is invalid itself is dead-lettered in turn (its envelope's bytes again) and holds the rest.
    const first = await idOf('docs', 'twice');
    expect(await apply.redrive(first, 'discard')).toEqual({ applied: 2, released: true });
    const twice = await letters(store, 'docs', 'twice');
    const second = twice.find((l) => l.code === 'MERIDIAN_PAYLOAD_INVALID' && !l.redriven)!;
    expect(second.sequence).toBe(String((decode(twice2).record as UpdateRecord).originSequence));
    expect(second.raw.equals(twice2.value!)).toBe(true);
    expect(twice.filter((l) => !l.redriven).map((l) => l.code)).toEqual(['MERIDIAN_PAYLOAD_INVALID', 'MERIDIAN_KEY_QUARANTINED']);
    expect(deadLetters.at(-2)).toEqual(['us', 'MERIDIAN_PAYLOAD_INVALID']);
    expect(await store.readKey('docs', 'twice')).toBeUndefined();
    expect(await apply.redrive(BigInt(second.id), 'discard')).toEqual({ applied: 1, released: true });
    expect(await values(store, 'docs', 'twice')).toEqual(['twice-valid']);
    expect(await quarantined(store)).toEqual([]);
  });
});

describe('an undecodable message in the middle of a peer\'s sequence', () => {
  it('is dead-lettered at its place: the applied prefix moves past it when the relay\'s headers name its sequence', async () => {
    const store = stores[2]!;
    const apply = applier(store, 'eu');
    const t = new Topic('eu');
    t.namespace('seq', 'counter');
    const counterKind = crdtKind('counter')!;
    const delta = counterKind.encode(counterKind.apply(counterKind.empty(), counterKind.validateOp({ increment: 1 }), { actor: 'eu.1' }).delta);
    t.update('seq', 'before', 'counter', { kind: 'crdt', delta });
    t.poisonInSequence(Topic.partitionOf('seq', 'garbled'), 'seq/garbled');
    t.update('seq', 'after', 'counter', { kind: 'crdt', delta });
    const epochs = await claim(store, 'eu', [0, 1, 2, 3]);
    const batches = [0, 1, 2, 3].map((p) => ({ partition: p, epoch: epochs.get(p)!, messages: decoded(t.partitions[p]!) }));
    expect(await apply.applyGroup(batches)).toEqual(['applied', 'applied', 'applied', 'applied']);
    const { rows } = await store.pool.query<{ contiguous: string }>(`SELECT contiguous::text FROM meridian_applied WHERE origin = 'eu.1'`);
    expect(rows).toEqual([{ contiguous: String(t.lastSequence) }]);
    const letters = await store.pool.query<{ code: string; sequence: string }>(`SELECT code, sequence::text FROM meridian_dead_letters WHERE peer = 'eu'`);
    expect(letters.rows).toEqual([{ code: 'MERIDIAN_ENVELOPE_UNDECODABLE', sequence: String(t.lastSequence - 1) }]);
  });
});
