/**
 * A peer's heartbeats as the apply stores them, against a real PostgreSQL, and what the
 * sequence-gap check then reads (DESIGN §4, §6):
 * - a restored peer starts a new actor, and its topic may have been recreated: the earlier
 *   actor's tail that the link had not consumed is in no partition any more. Every actor's
 *   high-water is kept, so the check finds that tail missing instead of the link reading caught up;
 * - a record of another region on the peer's topic (misrouted, or another producer) is
 *   dead-lettered: never applied, nor stored as the peer's heartbeat.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { HybridLogicalClock } from '@meridian/causality';
import { crdtKind } from '@meridian/crdt';
import { encodeRecord, type ReplicationRecord } from '@meridian/protocol';
import { PgStore } from '@meridian/store';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { BatchApplier, decode, FOREIGN_ORIGIN_CODE } from './batch-applier.ts';
import { earlierTailsPending, sequenceGap } from './reseed-plan.ts';

const infra = inject('infra');
const db = uniqueName('peer_beats');
let store: PgStore;

beforeAll(async () => {
  store = await PgStore.open({ connectionString: await createDatabase(db, infra.postgresUrl), poolSize: 3 });
}, 120_000);

afterAll(async () => {
  await store?.close();
  await dropDatabase(db, infra.postgresUrl);
});

const HLC = 1_000_000n << 16n;
const counter = crdtKind('counter')!;
const delta = counter.encode(counter.apply(counter.empty(), counter.validateOp({ increment: 1 }), { actor: 'rp.1' }).delta);

/** One partition's messages from `offset` on. */
class Partition {
  readonly messages: KafkaMessage[] = [];
  #offset: number;
  constructor(offset = 0) {
    this.#offset = offset;
  }
  push(record: ReplicationRecord, key: string): void {
    this.messages.push({ key: Buffer.from(key), value: Buffer.from(encodeRecord(record)), timestamp: '0', attributes: 0, offset: String(this.#offset++), headers: {} });
  }
  get end(): bigint {
    return BigInt(this.#offset);
  }
}

const origin = (actor: string) => {
  const [region, epoch] = actor.split('.');
  return { region: region!, epoch: Number(epoch) };
};
const update = (actor: string, sequence: number, key: string): ReplicationRecord => ({ kind: 'update', schemaVersion: 1, origin: origin(actor), originSequence: BigInt(sequence), outboxId: BigInt(sequence), namespace: 'hits', policy: 'counter', hlc: HLC + BigInt(sequence), traceparent: '', key, payload: { kind: 'crdt', delta } });
const beat = (actor: string, wallMs: number, highWater: number): ReplicationRecord => ({ kind: 'heartbeat', schemaVersion: 1, origin: origin(actor), originWallMs: wallMs, highWaterSequence: BigInt(highWater), applied: new Map(), hlc: HLC });

function applierFor(peer: string, deadLetters: string[] = []): BatchApplier {
  return new BatchApplier({ store, peer, clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), hooks: { onDeadLetter: (_origin, reason) => deadLetters.push(reason) } });
}

async function applyAll(apply: BatchApplier, peer: string, partitions: ReadonlyMap<number, Partition>): Promise<void> {
  const claimed = await store.replication.claimPartitions(peer, [...partitions.keys()]);
  const batches = [...partitions].map(([partition, p]) => ({ partition, epoch: claimed.get(partition)!.epoch, messages: p.messages.map(decode) }));
  expect(await apply.applyGroup(batches)).toEqual(batches.map(() => 'applied'));
}

describe('a restored peer whose topic was recreated (review: the earlier actor\'s unread tail)', () => {
  it('the earlier actor\'s tail the link never consumed is a gap, not a tail the link reads as settled', async () => {
    const peer = 'rp';
    const apply = applierFor(peer);
    // rp.1 publishes 1..6; heartbeats go to partition 0. The link consumes partition 0 whole (its
    // last heartbeat says 6 was published) and partition 1 only up to sequence 3: 5 and 6 wait there.
    const [old0, old1] = [new Partition(), new Partition()];
    old0.push(update('rp.1', 1, 'a'), 'hits/a');
    old1.push(update('rp.1', 2, 'b'), 'hits/b');
    old1.push(update('rp.1', 3, 'b'), 'hits/b');
    old0.push(update('rp.1', 4, 'a'), 'hits/a');
    old0.push(beat('rp.1', 1_000, 6), '~heartbeat');
    await applyAll(apply, peer, new Map([[0, old0], [1, old1]]));
    // Then rp is put back from a copy and its topic recreated: rp.1's 5 and 6 are in no partition
    // any more. The new actor rp.2 publishes 1..8 into the new topic; the link's stored offsets lie
    // beyond its ends, so the link failed and a reseed restarted both partitions at the log start
    // (0), which consumes the new topic whole.
    const [new0, new1] = [new Partition(), new Partition()];
    for (let s = 1; s <= 8; s++) (s % 2 === 0 ? new0 : new1).push(update('rp.2', s, s % 2 === 0 ? 'c' : 'd'), s % 2 === 0 ? 'hits/c' : 'hits/d');
    new0.push(beat('rp.2', 2_000, 8), '~heartbeat');
    await store.transaction((tx) => tx.restartPeerOffsets(peer, [{ partition: 0, nextOffset: 0n }, { partition: 1, nextOffset: 0n }]));
    await applyAll(apply, peer, new Map([[0, new0], [1, new1]]));

    const s = await store.replication.linkStream(peer);
    expect(s.published).toEqual(new Map([['rp.1', 6n], ['rp.2', 8n]])); // the earlier actor's high-water outlives the switch
    expect(s.current).toBe('rp.2');
    const ends = new Map([[0, new0.end + 2n], [1, new1.end + 2n]]); // rp.2 writes on: neither partition read to its end
    // Every partition delivered rp.2's records, so the earlier actor reads settled (lag follows rp.2: 0)...
    expect(earlierTailsPending(s, 'rp.2', new Map([...ends].map(([p, high]) => [p, { low: 0n, high }])))).toEqual([]);
    // ...and what it never delivered is found missing: the link fails "needs a reseed" on it,
    // instead of reading caught up with rp.1's 5 and 6 never applied.
    expect(sequenceGap(s, ends)).toMatchObject({ origin: 'rp.1', sequence: 5n, floor: 7n });
    // Read to the ends once rp.2 stops writing: the same.
    expect(sequenceGap(s, new Map([[0, new0.end], [1, new1.end]]))).toMatchObject({ origin: 'rp.1', sequence: 5n, floor: 7n });
  });

  it('a group spanning the switch keeps both actors\' highest high-waters', async () => {
    const peer = 'rq';
    const p0 = new Partition();
    p0.push(update('rq.1', 1, 'a'), 'hits/a');
    p0.push(beat('rq.1', 1_000, 4), '~heartbeat');
    p0.push(beat('rq.1', 900, 5), '~heartbeat'); // the next relay host, its clock behind the last one's
    p0.push(beat('rq.2', 2_000, 0), '~heartbeat');
    await applyAll(applierFor(peer), peer, new Map([[0, p0]]));
    const s = await store.replication.linkStream(peer);
    expect(s.published).toEqual(new Map([['rq.1', 5n], ['rq.2', 0n]]));
    expect(s.current).toBe('rq.2');
  });
});

describe('a heartbeat of another region on the peer\'s topic (review)', () => {
  it('is dead-lettered and never stored as the peer\'s heartbeat or high-water', async () => {
    const peer = 'hp';
    const deadLetters: string[] = [];
    const p0 = new Partition();
    p0.push(update('hp.1', 1, 'a'), 'hits/a');
    p0.push(beat('hp.1', 1_000, 1), '~heartbeat');
    // Misrouted, or another producer: a later wall clock and a high-water far ahead.
    p0.push(beat('other.1', 9_000, 500), '~heartbeat');
    await applyAll(applierFor(peer, deadLetters), peer, new Map([[0, p0]]));
    const [row] = (await store.replication.heartbeats()).filter((h) => h.peer === peer);
    expect(row).toMatchObject({ origin: 'hp.1', wallMs: 1_000n, highWater: 1n });
    const s = await store.replication.linkStream(peer);
    expect(s.published).toEqual(new Map([['hp.1', 1n]]));
    expect(s.current).toBe('hp.1');
    expect(deadLetters).toEqual([FOREIGN_ORIGIN_CODE]);
    const letters = await store.pool.query<{ code: string; origin: string; partition: number; offset: string }>(`SELECT code, origin, partition, kafka_offset::text AS offset FROM meridian_dead_letters WHERE peer = $1`, [peer]);
    expect(letters.rows).toEqual([{ code: FOREIGN_ORIGIN_CODE, origin: 'other.1', partition: 0, offset: '2' }]);
    // The sequence-gap check sees no sequence of `other.1` published by `hp`.
    expect(sequenceGap(s, new Map([[0, p0.end]]))).toBeUndefined();
  });
});

describe('an update or a declaration of another region on the peer\'s topic (review)', () => {
  it('is dead-lettered: it neither applies nor marks that region\'s sequence, whose real update then still applies', async () => {
    const deadLetters: string[] = [];
    const p0 = new Partition();
    p0.push(update('fp.1', 1, 'own'), 'hits/own');
    // Misrouted, or another producer: records naming region fq, on fp's topic.
    p0.push({ kind: 'namespace', schemaVersion: 1, origin: origin('fq.1'), originSequence: 1n, outboxId: 1n, namespace: 'forged', policy: 'lww', hlc: HLC, traceparent: '' }, 'forged/');
    p0.push(update('fq.1', 2, 'forged'), 'hits/forged');
    await applyAll(applierFor('fp', deadLetters), 'fp', new Map([[0, p0]]));
    expect(deadLetters).toEqual([FOREIGN_ORIGIN_CODE, FOREIGN_ORIGIN_CODE]);
    const applied = await store.pool.query<{ origin: string }>(`SELECT origin FROM meridian_applied WHERE origin IN ('fp.1', 'fq.1') ORDER BY origin`);
    expect(applied.rows).toEqual([{ origin: 'fp.1' }]);
    expect(await store.readKey('hits', 'forged')).toBeUndefined();
    expect((await store.pool.query(`SELECT name FROM meridian_namespaces WHERE name = 'forged'`)).rows).toEqual([]);
    const letters = await store.pool.query<{ origin: string; sequence: string; namespace: string; key: string | null }>(`SELECT origin, sequence::text, namespace, key FROM meridian_dead_letters WHERE peer = 'fp' ORDER BY sequence`);
    expect(letters.rows).toEqual([
      { origin: 'fq.1', sequence: '1', namespace: 'forged', key: null },
      { origin: 'fq.1', sequence: '2', namespace: 'hits', key: 'forged' },
    ]);
    expect((await store.replication.linkStream('fp')).partitions.get(0)?.highest).toEqual(new Map([['fp.1', 1n]]));

    // fq's own update at that sequence, from fq's topic, applies (it is not a duplicate).
    const q0 = new Partition();
    q0.push(update('fq.1', 2, 'real'), 'hits/real');
    await applyAll(applierFor('fq'), 'fq', new Map([[0, q0]]));
    expect(await store.readKey('hits', 'real')).toBeDefined();
  });

  it('can only be discarded: a retry would apply another region\'s record as the peer\'s (review)', async () => {
    const p0 = new Partition();
    p0.push(update('xq.1', 1, 'redriven'), 'hits/redriven');
    const applier = applierFor('xp');
    await applyAll(applier, 'xp', new Map([[0, p0]]));
    const { rows } = await store.pool.query<{ id: string }>(`SELECT id::text FROM meridian_dead_letters WHERE peer = 'xp'`);
    await expect(applier.redrive(BigInt(rows[0]!.id), 'retry')).rejects.toThrow(/can only be discarded/);
    expect(await store.readKey('hits', 'redriven')).toBeUndefined();
    await expect(applier.redrive(BigInt(rows[0]!.id), 'discard')).resolves.toEqual({ applied: 0, released: false });
  });
});

