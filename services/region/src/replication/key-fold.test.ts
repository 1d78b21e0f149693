import { describe, expect, it } from 'vitest';
import { DvvSet } from '@meridian/causality';
import { crdtKind, encodeRegisterSet, type RegisterVersion } from '@meridian/crdt';
import type { UpdateRecord } from '@meridian/protocol';
import type { NamespacePolicy } from '@meridian/store';
import { foldKey as foldKeyUpdates } from '@meridian/replication-link';
import { foldKey, touchesRow } from './key-fold.ts';

const NO_CEILING = (1n << 64n) - 1n;
const TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function update(fields: { origin: string; sequence: number; policy: NamespacePolicy; hlc: bigint; payload: UpdateRecord['payload'] }): UpdateRecord {
  const [region, epoch] = fields.origin.split('.') as [string, string];
  return { kind: 'update', schemaVersion: 1, origin: { region, epoch: Number(epoch) }, originSequence: BigInt(fields.sequence), outboxId: BigInt(fields.sequence * 10), namespace: 'ns', key: 'k', hlc: fields.hlc, policy: fields.policy, traceparent: '', payload: fields.payload };
}

/** Two concurrent writes of `k`, from `us.1` and `ap.1`, 5 ms apart. */
function concurrentWrites(policy: 'lww' | 'mv'): UpdateRecord[] {
  const write = (actor: string, value: string, ms: number, traceparent: string | undefined): Uint8Array =>
    encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, actor, { value, hlc: BigInt(ms) << 16n, traceparent }).set);
  return [
    update({ origin: 'us.1', sequence: 1, policy, hlc: 1000n << 16n, payload: { kind: 'register', state: write('us.1', 'a', 1000, TRACE) } }),
    update({ origin: 'ap.1', sequence: 1, policy, hlc: 1005n << 16n, payload: { kind: 'register', state: write('ap.1', 'b', 1005, undefined) } }),
  ];
}

describe('the region\'s key fold: the pure fold, its conflicts recorded', () => {
  it('an update written under another policy is kept in a conflict record, not applied, and needs no row', () => {
    const counter = crdtKind('counter')!;
    const delta = counter.apply(counter.empty(), counter.validateOp({ increment: 1 }), { actor: 'us.1' }).delta;
    const foreign = update({ origin: 'us.1', sequence: 7, policy: 'counter', hlc: 5n, payload: { kind: 'crdt', delta: counter.encode(delta) } });
    expect(touchesRow('lww', [foreign])).toBe(false);
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'lww', undefined, [foreign], 0, NO_CEILING);
    expect(fold.save).toBeUndefined();
    expect(fold.conflicts.map((c) => [c.record.id, c.record.kind, c.record.outcome])).toEqual([['nsu-us.1-7', 'namespace-policy-update', { kept: 'lww', dropped: 'counter' }]]);
  });

  it('a register conflict is recorded with its id, its regions, its trace links and the skew flag; the rest is the pure fold\'s', () => {
    const updates = concurrentWrites('lww');
    const row = { state: undefined, maxHlc: 0n };
    const pure = foldKeyUpdates({ namespace: 'ns', key: 'k' }, 'lww', row, updates, NO_CEILING);
    const within = foldKey({ namespace: 'ns', key: 'k' }, 'lww', row, updates, 10, NO_CEILING);
    const beyond = foldKey({ namespace: 'ns', key: 'k' }, 'lww', row, updates, 1, NO_CEILING);
    expect(pure.conflicts).toHaveLength(1);
    const fact = pure.conflicts[0]!;
    expect(within.conflicts.map((c) => [c.kind, c.record.id, c.record.regions, c.record.traceIds])).toEqual([['register', fact.kind === 'register' ? fact.conflict.id : '', ['ap', 'us'], ['0af7651916cd43dd8448eb211c80319c']]]);
    expect(within.conflicts[0]!.record.skewFlagged).toBe(true);
    expect(beyond.conflicts[0]!.record.skewFlagged).toBe(false);
    expect({ ...within, conflicts: [] }).toEqual({ ...pure, conflicts: [] });
    expect(foldKey({ namespace: 'ns', key: 'k' }, 'mv', row, concurrentWrites('mv'), 10, NO_CEILING).conflicts[0]!.record.skewFlagged).toBe(false);
  });
});
