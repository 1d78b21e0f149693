/**
 * A replay from the log start (a gap reseed restarts every partition there; a relay republishes)
 * consumes poison again that was dead-lettered long ago, maybe discarded by an operator since. Its
 * place in the peer's sequence (the relay's headers) is already in the applied vector: it is a
 * duplicate, never dead-lettered again, and its key is not quarantined again (the peer's new
 * updates of the key apply).
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { DvvSet, HybridLogicalClock } from '@meridian/causality';
import { encodeRecord, type NamespaceRecord, type UpdateRecord } from '@meridian/protocol';
import { MemoryStore } from '@meridian/store';
import { decodeRegisterSet, encodeRegisterSet, type RegisterSet, type RegisterVersion } from '@meridian/crdt';
import { BatchApplier, decode } from './batch-applier.ts';

const HLC = 1_000_000n << 16n;
const headers = (n: number) => ({ 'meridian-origin': Buffer.from('us.1'), 'meridian-sequence': Buffer.from(String(n)), 'meridian-outbox-id': Buffer.from(String(n * 10)) });
const fields = (n: number) => ({ schemaVersion: 1, origin: { region: 'us', epoch: 1 }, originSequence: BigInt(n), outboxId: BigInt(n * 10), namespace: 'prefs', policy: 'lww' as const, hlc: HLC + BigInt(n), traceparent: '' });
const msg = (offset: number, key: string, value: Buffer, n: number): KafkaMessage => ({ key: Buffer.from(key), value, timestamp: '0', attributes: 0, offset: String(offset), headers: headers(n) });
function update(n: number, key: string, value: string): Buffer {
  let set: RegisterSet = DvvSet.empty<RegisterVersion>();
  set = set.update(set.context(), 'us.1', { value, hlc: HLC + BigInt(n), traceparent: undefined }).set;
  const r: UpdateRecord = { kind: 'update', ...fields(n), key, payload: { kind: 'register', state: encodeRegisterSet(set) } };
  return Buffer.from(encodeRecord(r));
}

describe('poison consumed again from the log start', () => {
  it('does not dead-letter again a poison message the applied vector already holds, nor hold the key\'s new updates', async () => {
    const store = new MemoryStore();
    const deadLetters: string[] = [];
    const applier = new BatchApplier({ store, peer: 'us', clock: new HybridLogicalClock({ now: () => 1_000_000, maxDriftMs: 60_000 }), hooks: { onDeadLetter: (_o, reason) => deadLetters.push(reason) } });
    const ns: NamespaceRecord = { kind: 'namespace', ...fields(1) };
    const log: KafkaMessage[] = [
      msg(0, 'prefs/', Buffer.from(encodeRecord(ns)), 1),
      msg(1, 'prefs/x', Buffer.from('garbled \u0000\u00ff'), 2), // poison, with its place in us.1's stream
    ];
    let epoch = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    await applier.applyGroup([{ partition: 0, epoch, messages: log.map(decode) }]);
    expect(deadLetters).toHaveLength(1);
    expect((await store.readView('prefs', 'k')).applied.get('us.1')).toBe(20n); // sequence 2 counted as handled
    // The operator gives the poison up: the key is released.
    expect(await applier.redrive(1n, 'discard')).toMatchObject({ released: true });

    // The link fails on a sequence gap; the reseed restarts every partition at its log start.
    await store.transaction(async (tx) => tx.saveOffsets('us', [{ partition: 0, nextOffset: 0n }]));
    epoch = (await store.claimPartitions('us', [0])).get(0)!.epoch;
    // Everything in Kafka is consumed again, then the peer's new write of prefs/x.
    const again = [...log, msg(2, 'prefs/x', update(3, 'x', 'new'), 3)];
    await applier.applyGroup([{ partition: 0, epoch, messages: again.map(decode) }]);

    expect(deadLetters).toHaveLength(1); // nothing new is poison: sequence 2 was handled long ago
    const { key } = await store.readView('prefs', 'x');
    expect(key?.state ? decodeRegisterSet(key.state).values().map((v) => v.value) : []).toEqual(['new']);
  });
});
