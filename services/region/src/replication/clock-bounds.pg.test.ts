/**
 * Clock bounds against a real PostgreSQL: a peer's HLC far in the future — even beyond the range
 * of a bigint — never wedges a link. An update is applied (its version keeps its HLC) with the
 * key's `max_hlc` held at the drift bound; an early update of an undeclared namespace makes a
 * stand-in that any declaration outranks; a declaration whose HLC cannot be ranked is
 * dead-lettered with the reason, and the link goes on.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { DvvSet, HybridLogicalClock, hlc } from '@meridian/causality';
import { encodeRecord, type NamespaceRecord, type Policy, type UpdateRecord } from '@meridian/protocol';
import { PgStore } from '@meridian/store';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { decodeRegisterSet, encodeRegisterSet, type RegisterVersion } from '@meridian/crdt';
import { BatchApplier, decode, DECLARATION_UNRANKABLE_CODE } from './batch-applier.ts';
import { STAND_IN_HLC } from './namespace-declaration.ts';

const infra = inject('infra');
const db = uniqueName('clock_bounds');
let store: PgStore;
const NOW = Date.now();
const DRIFT = 60_000;
const BEYOND_BIGINT = (1n << 64n) - 1n;

beforeAll(async () => {
  store = await PgStore.open({ connectionString: await createDatabase(db, infra.postgresUrl), poolSize: 3 });
}, 120_000);

afterAll(async () => {
  await store.close();
  await dropDatabase(db, infra.postgresUrl);
});

/** us's stream on one partition: sequences and offsets in order. */
class Stream {
  readonly messages: KafkaMessage[] = [];
  #sequence = 0;

  #fields(namespace: string, policy: Policy, at: bigint) {
    this.#sequence++;
    return { schemaVersion: 1, origin: { region: 'us', epoch: 1 }, originSequence: BigInt(this.#sequence), outboxId: BigInt(this.#sequence), namespace, policy, hlc: at, traceparent: '' };
  }

  #push(record: NamespaceRecord | UpdateRecord, key: string): KafkaMessage {
    const m: KafkaMessage = { key: Buffer.from(key), value: Buffer.from(encodeRecord(record)), timestamp: '0', attributes: 0, offset: String(this.messages.length), headers: {} };
    this.messages.push(m);
    return m;
  }

  declare(namespace: string, policy: Policy, at: bigint): void {
    this.#push({ kind: 'namespace', ...this.#fields(namespace, policy, at) }, `${namespace}/`);
  }

  write(namespace: string, key: string, value: string, at: bigint): void {
    const set = DvvSet.empty<RegisterVersion>().update(undefined, 'us.1', { value, hlc: at, traceparent: undefined }).set;
    this.#push({ kind: 'update', ...this.#fields(namespace, 'lww', at), key, payload: { kind: 'register', state: encodeRegisterSet(set) } }, `${namespace}/${key}`);
  }
}

describe('clock bounds in the apply', () => {
  it('a far-future or beyond-bigint HLC is applied within bounds or dead-lettered with the reason, and the link goes on', async () => {
    const clock = new HybridLogicalClock({ now: () => NOW, maxDriftMs: DRIFT });
    const applier = new BatchApplier({ store, peer: 'us', clock });
    const [claim] = [...(await store.replication.claimPartitions('us', [0])).values()];
    const s = new Stream();
    const near = hlc(NOW, 0);
    s.declare('prefs', 'lww', near);
    s.write('prefs', 'fast', 'from a year ahead', hlc(NOW + 365 * 24 * 3600 * 1000, 0));
    s.write('prefs', 'huge', 'beyond a bigint', BEYOND_BIGINT);
    // An update before its namespace's declaration (a stand-in), the declaration beyond a bigint, then a real one.
    s.write('early', 'k', 'early', BEYOND_BIGINT);
    s.declare('early', 'lww', BEYOND_BIGINT);
    s.declare('late', 'mv', BEYOND_BIGINT);
    s.write('prefs', 'after', 'still streaming', near + 1n);
    expect(await applier.applyGroup([{ partition: 0, epoch: claim!.epoch, messages: s.messages.map((m) => decode(m)) }])).toEqual(['applied']);

    const keys = new Map((await store.pool.query<{ namespace: string; key: string; state: Buffer; max_hlc: string }>('SELECT namespace, key, state, max_hlc::text FROM meridian_keys')).rows.map((r) => [`${r.namespace}/${r.key}`, r]));
    const bound = hlc(NOW + DRIFT, 0xffff);
    for (const k of ['prefs/fast', 'prefs/huge', 'early/k']) {
      expect(BigInt(keys.get(k)!.max_hlc)).toBe(bound);
      expect(decodeRegisterSet(keys.get(k)!.state).versions()).toHaveLength(1);
    }
    expect(decodeRegisterSet(keys.get('prefs/huge')!.state).versions()[0]!.value.hlc).toBe(BEYOND_BIGINT);
    expect(decodeRegisterSet(keys.get('prefs/after')!.state).versions()[0]!.value.value).toBe('still streaming');

    const namespaces = (await store.pool.query<{ name: string; policy: string; declared_by: string; declared_hlc: string }>('SELECT name, policy, declared_by, declared_hlc::text FROM meridian_namespaces ORDER BY name')).rows;
    expect(namespaces).toEqual([
      { name: 'early', policy: 'lww', declared_by: 'us.1', declared_hlc: STAND_IN_HLC.toString() },
      { name: 'prefs', policy: 'lww', declared_by: 'us.1', declared_hlc: near.toString() },
    ]);
    const letters = await store.replication.deadLetters(10);
    expect(letters.map((l) => [l.code, l.namespace, l.sequence]).sort()).toEqual([
      [DECLARATION_UNRANKABLE_CODE, 'early', 5n],
      [DECLARATION_UNRANKABLE_CODE, 'late', 6n],
    ]);
    expect(letters[0]!.reason).toMatch(/beyond the range/);
    const [applied] = await store.replication.appliedPositions();
    expect(applied!.contiguous).toBe(7n);

    // A real declaration later replaces the stand-in, whatever its HLC.
    const later = new Stream();
    for (let i = 0; i < 7; i++) later.write('prefs', 'filler', `f${i}`, near);
    later.declare('early', 'lww', hlc(NOW + 10 * DRIFT, 0));
    const messages = later.messages.slice(7).map((m) => ({ ...m, offset: String(Number(m.offset)) }));
    expect(await applier.applyGroup([{ partition: 0, epoch: claim!.epoch, messages: messages.map((m) => decode(m)) }])).toEqual(['applied']);
    const early = (await store.pool.query<{ declared_hlc: string }>("SELECT declared_hlc::text FROM meridian_namespaces WHERE name = 'early'")).rows[0]!;
    expect(BigInt(early.declared_hlc)).toBe(hlc(NOW + 10 * DRIFT, 0));
  });
});
