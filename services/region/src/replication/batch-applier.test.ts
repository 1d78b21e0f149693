/**
 * The apply path on the in-memory store (no PostgreSQL): a peer's namespace and register updates
 * are merged into key state, the applied vector and the offsets advance in the same transaction,
 * a replayed offset applies nothing twice, a fenced partition stores nothing, and poison is
 * dead-lettered without stopping the batch. batch-applier.pg.test.ts holds the same applier to
 * PostgreSQL at scale; the store contract holds the two stores to each other.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { DvvSet, HybridLogicalClock } from '@meridian/causality';
import { encodeRecord, type NamespaceRecord, type UpdateRecord } from '@meridian/protocol';
import { MemoryStore } from '@meridian/store';
import { decodeRegisterSet, encodeRegisterSet, ORSet, touchedRows, type RegisterSet, type RegisterVersion } from '@meridian/crdt';
import { BatchApplier, decode, rowsReached } from './batch-applier.ts';

const HLC = 1_000_000n << 16n;

/** us's stream on one partition: the `prefs` namespace, then register writes of `prefs/k`. */
function usStream(values: readonly string[]): KafkaMessage[] {
  const messages: KafkaMessage[] = [];
  const push = (record: NamespaceRecord | UpdateRecord): void => {
    messages.push({ key: Buffer.from('prefs/k'), value: Buffer.from(encodeRecord(record)), timestamp: '0', attributes: 0, offset: String(messages.length), headers: {} });
  };
  const fields = (n: number) => ({ schemaVersion: 1, origin: { region: 'us', epoch: 1 }, originSequence: BigInt(n), outboxId: BigInt(n * 10), namespace: 'prefs', policy: 'lww' as const, hlc: HLC + BigInt(n), traceparent: '' });
  push({ kind: 'namespace', ...fields(1) });
  let set: RegisterSet = DvvSet.empty<RegisterVersion>();
  values.forEach((value, i) => {
    set = set.update(set.context(), 'us.1', { value, hlc: HLC + BigInt(i + 2), traceparent: undefined }).set;
    push({ kind: 'update', ...fields(i + 2), key: 'k', payload: { kind: 'register', state: encodeRegisterSet(set) } });
  });
  return messages;
}

const applierOn = (store: MemoryStore, deadLetters: string[] = []): BatchApplier =>
  new BatchApplier({ store, peer: 'us', clock: new HybridLogicalClock({ now: () => 1_000_000, maxDriftMs: 60_000 }), hooks: { onDeadLetter: (_origin, reason) => deadLetters.push(reason) } });

async function valuesOf(store: MemoryStore): Promise<string[]> {
  const { key } = await store.readView('prefs', 'k');
  return key?.state ? decodeRegisterSet(key.state).values().map((v) => v.value as string) : [];
}

describe('the batch applier on the in-memory store', () => {
  it('merges a peer\'s updates and advances the applied vector and the offset with them', async () => {
    const store = new MemoryStore();
    const epoch = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    const results = await applierOn(store).applyGroup([{ partition: 0, epoch, messages: usStream(['a', 'b']).map(decode) }]);
    expect(results).toEqual(['applied']);
    expect(await valuesOf(store)).toEqual(['b']);
    const view = await store.readView('prefs', 'k');
    expect(view.namespace).toMatchObject({ name: 'prefs', policy: 'lww', declaredBy: 'us.1' });
    expect(view.applied.get('us.1')).toBe(30n);
    expect((await store.claimPartitions('us', [0])).get(0)).toMatchObject({ nextOffset: 3n, known: true });
  });

  it('a replayed offset applies nothing twice; a fenced partition stores nothing', async () => {
    const store = new MemoryStore();
    const messages = usStream(['a', 'b', 'c']).map(decode);
    const first = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    await applierOn(store).applyGroup([{ partition: 0, epoch: first, messages: messages.slice(0, 3) }]);
    const second = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    expect(await applierOn(store).applyGroup([{ partition: 0, epoch: first, messages: messages.slice(3) }])).toEqual(['fenced']);
    expect(await valuesOf(store)).toEqual(['b']);
    expect(await applierOn(store).applyGroup([{ partition: 0, epoch: second, messages }])).toEqual(['applied']);
    expect(await valuesOf(store)).toEqual(['c']);
    expect((await store.readView('prefs', 'k')).applied.get('us.1')).toBe(40n);
  });

  it('stores the offset past trailing control records (caught up is exact), for a batch of them alone too, and never moves it back', async () => {
    const store = new MemoryStore();
    const epoch = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    const messages = usStream(['a', 'b']).map(decode);
    // Offsets 0..2 are records, 3 a commit marker kafkajs filtered out of the batch.
    expect(await applierOn(store).applyGroup([{ partition: 0, epoch, messages, through: 4n }])).toEqual(['applied']);
    const claimed = (await store.claimPartitions('us', [0])).get(0)!;
    expect(claimed.nextOffset).toBe(4n);
    // A fetch of markers only (offsets 4, 5): no message, its end stored.
    expect(await applierOn(store).applyGroup([{ partition: 0, epoch: claimed.epoch, messages: [], through: 6n }])).toEqual(['applied']);
    const again = (await store.claimPartitions('us', [0])).get(0)!;
    expect(again.nextOffset).toBe(6n);
    // A late copy of an older batch moves nothing back.
    await applierOn(store).applyGroup([{ partition: 0, epoch: again.epoch, messages, through: 4n }]);
    expect((await store.claimPartitions('us', [0])).get(0)!.nextOffset).toBe(6n);
  });

  it('poison is dead-lettered and the rest of the batch applies', async () => {
    const store = new MemoryStore();
    const messages = usStream(['a']);
    messages.push({ key: Buffer.from('prefs/x'), value: Buffer.from('garbled \u0000\u00ff'), timestamp: '0', attributes: 0, offset: String(messages.length), headers: {} });
    const epoch = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    const deadLetters: string[] = [];
    expect(await applierOn(store, deadLetters).applyGroup([{ partition: 0, epoch, messages: messages.map(decode) }])).toEqual(['applied']);
    expect(deadLetters).toHaveLength(1);
    expect(await valuesOf(store)).toEqual(['a']);
    expect((await store.claimPartitions('us', [0])).get(0)?.nextOffset).toBe(3n);
  });
});

describe('rowsReached', () => {
  const fields = { schemaVersion: 1, origin: { region: 'us', epoch: 1 }, originSequence: 1n, outboxId: 1n, namespace: 's', policy: 'set' as const, hlc: HLC, traceparent: '', key: 'k' };
  let set = ORSet.empty;
  for (const e of ['a', 'b', 'c']) set = set.join(set.add('us.1', [e]));
  const removed = set.update({ remove: ['b'] }, 'us.1').delta.encode();
  const added = set.update({ add: ['d'] }, 'us.1').delta.encode();
  const update = (delta: Uint8Array, touched: readonly string[] | undefined): UpdateRecord => ({ kind: 'update', ...fields, payload: { kind: 'crdt', delta }, ...(touched === undefined ? {} : { touchedRows: touched }) });
  const k = (updates: UpdateRecord[]) => ({ namespace: 's', key: 'k', id: '["s","k"]', updates });

  it("names each update's delta entries and touched rows", () => {
    const lock = rowsReached(k([update(removed, touchedRows('set', { remove: ['b'] }, removed)), update(added, [])]), 'set');
    expect([...(lock.rows ?? [])].sort()).toEqual(['"b"', '"d"']);
  });

  it('reads the whole collection when an update does not name its rows (an older writer), or for other policies', () => {
    expect(rowsReached(k([update(added, []), update(removed, undefined)]), 'set').rows).toBeUndefined();
    expect(rowsReached(k([update(added, [])]), 'counter').rows).toBeUndefined();
    expect(rowsReached(k([update(Uint8Array.of(1, 2, 3), [])]), 'set').rows).toBeUndefined();
  });

  it('leaves out an update written under another policy (a conflict record, not applied)', () => {
    const other: UpdateRecord = { ...update(added, undefined), policy: 'map' };
    expect(rowsReached(k([other, update(added, [])]), 'set').rows).toEqual(['"d"']);
  });
});
