import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DvvSet } from '@meridian/causality';
import { crdtKind } from '@meridian/crdt';
import type { Policy as NamespacePolicy, UpdateRecord } from '@meridian/protocol';
import { decodeRegisterSet, encodeRegisterSet, encodeRegisterVersion, type RegisterSet, type RegisterVersion } from '@meridian/crdt';
import { AppliedVector } from './applied-vector.ts';
import { foldKey, planUpdates, touchesRow, type FoldConflict, type StoredKey } from './key-fold.ts';

const ACTORS = ['eu.1', 'us.1', 'ap.1'] as const;
/** These histories' HLCs are small: no drift bound applies (clock-bounds.test.ts tests the bound). */
const NO_CEILING = (1n << 64n) - 1n;

const idOf = (c: FoldConflict): string => (c.kind === 'register' ? c.conflict.id : `${c.update.origin.region}.${c.update.origin.epoch}/${c.update.originSequence}`);

function update(fields: { origin?: string; sequence: number; key?: string; namespace?: string; policy: NamespacePolicy; hlc: bigint; payload: UpdateRecord['payload'] }): UpdateRecord {
  const [region, epoch] = (fields.origin ?? 'us.1').split('.') as [string, string];
  return {
    kind: 'update',
    schemaVersion: 1,
    origin: { region, epoch: Number(epoch) },
    originSequence: BigInt(fields.sequence),
    outboxId: BigInt(fields.sequence * 10),
    namespace: fields.namespace ?? 'ns',
    key: fields.key ?? 'k',
    hlc: fields.hlc,
    policy: fields.policy,
    traceparent: '',
    payload: fields.payload,
  };
}

/** What applying updates one at a time did: each in its own step, the key's state stored (encoded) between them. */
function oneAtATime(policy: NamespacePolicy, row: StoredKey, updates: readonly UpdateRecord[]): { row: StoredKey; conflicts: string[]; merges: number } {
  let current = row;
  const conflicts: string[] = [];
  let merges = 0;
  for (const u of updates) {
    const fold = foldKey({ namespace: 'ns', key: 'k' }, policy, current, [u], NO_CEILING);
    if (fold.save) current = { state: fold.save.state, maxHlc: fold.save.maxHlc };
    conflicts.push(...fold.conflicts.map((c) => idOf(c)));
    merges += fold.merges;
  }
  return { row: current, conflicts, merges };
}

/** Register histories: regions write (with what they have seen) and sync with each other; every write ships its region's whole version set. */
const registerHistory = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('write' as const), actor: fc.integer({ min: 0, max: 2 }), value: fc.string({ maxLength: 3 }), blind: fc.boolean() }),
    fc.record({ op: fc.constant('sync' as const), actor: fc.integer({ min: 0, max: 2 }), from: fc.integer({ min: 0, max: 2 }) }),
  ),
  { minLength: 1, maxLength: 25 },
);

type Step = { op: 'write'; actor: number; value: string; blind: boolean } | { op: 'sync'; actor: number; from: number };

function registerUpdates(policy: 'mv' | 'lww', history: readonly Step[]): { local: RegisterSet; updates: UpdateRecord[] } {
  const sets: RegisterSet[] = ACTORS.map(() => DvvSet.empty<RegisterVersion>());
  const updates: UpdateRecord[] = [];
  let hlc = 1000n;
  let sequence = 0;
  for (const step of history) {
    if (step.op === 'sync') {
      sets[step.actor] = sets[step.actor]!.sync(sets[step.from]!);
      continue;
    }
    hlc += 1n;
    const set = sets[step.actor]!;
    const context = policy === 'lww' || !step.blind ? set.context() : undefined;
    sets[step.actor] = set.update(context, ACTORS[step.actor]!, { value: step.value, hlc, traceparent: undefined }).set;
    // Region 0 is "here": its writes are local; the others' reach here as updates.
    if (step.actor !== 0) updates.push(update({ origin: ACTORS[step.actor]!, sequence: ++sequence, policy, hlc, payload: { kind: 'register', state: encodeRegisterSet(sets[step.actor]!) } }));
  }
  return { local: sets[0]!, updates };
}

describe('folding a key\'s updates in memory', () => {
  for (const policy of ['mv', 'lww'] as const) {
    it(`${policy}: gives the same state, max HLC and conflicts as applying the updates one at a time`, () => {
      fc.assert(
        fc.property(registerHistory, fc.boolean(), (history, stored) => {
          const { local, updates } = registerUpdates(policy, history);
          const row: StoredKey = stored && local.size() > 0 ? { state: encodeRegisterSet(local), maxHlc: 999n } : { state: undefined, maxHlc: 0n };
          const folded = foldKey({ namespace: 'ns', key: 'k' }, policy, row, updates, NO_CEILING);
          const reference = oneAtATime(policy, row, updates);
          const state = folded.save?.state ?? row.state;
          expect(state === undefined ? undefined : Buffer.from(state).toString('hex')).toBe(reference.row.state === undefined ? undefined : Buffer.from(reference.row.state).toString('hex'));
          expect(folded.save?.maxHlc ?? row.maxHlc).toBe(reference.row.maxHlc);
          expect(folded.conflicts.map((c) => idOf(c))).toEqual(reference.conflicts);
          // A new key is always stored once something reaches it; a known one only when it changes.
          if (row.state === undefined && updates.length > 0) expect(folded.save).toBeDefined();
        }),
        { numRuns: 300 },
      );
    });
  }

  for (const policy of ['mv', 'lww'] as const) {
    it(`${policy}: stores the canonical encoding of the merged set, whether the updates' bytes were canonical or not`, () => {
      // The same version sets, each version's JSON indented: they decode to the same sets.
      const spaced = (v: RegisterVersion): Uint8Array => new TextEncoder().encode(JSON.stringify(JSON.parse(new TextDecoder().decode(encodeRegisterVersion(v))), null, 1));
      fc.assert(
        fc.property(registerHistory, fc.boolean(), (history, stored) => {
          const { local, updates } = registerUpdates(policy, history);
          const row: StoredKey = stored && local.size() > 0 ? { state: encodeRegisterSet(local), maxHlc: 999n } : { state: undefined, maxHlc: 0n };
          const respelled = updates.map((u) => (u.payload.kind === 'register' ? { ...u, payload: { kind: 'register' as const, state: decodeRegisterSet(u.payload.state).encode(spaced) } } : u));
          const folded = foldKey({ namespace: 'ns', key: 'k' }, policy, row, updates, NO_CEILING);
          const fromRespelled = foldKey({ namespace: 'ns', key: 'k' }, policy, row, respelled, NO_CEILING);
          const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));
          expect(hex(fromRespelled.save?.state)).toBe(hex(folded.save?.state));
          if (folded.save) expect(hex(folded.save.state)).toBe(hex(encodeRegisterSet(decodeRegisterSet(folded.save.state))));
        }),
        { numRuns: 300 },
      );
    });
  }

  it('a new key\'s state is the incoming bytes themselves when they are canonical, and a re-encoding when they are not', () => {
    const set = DvvSet.empty<RegisterVersion>().update(undefined, 'us.1', { value: { x: 1 }, hlc: 10n, traceparent: undefined }).set;
    const canonical = update({ sequence: 1, policy: 'lww', hlc: 10n, payload: { kind: 'register', state: encodeRegisterSet(set) } });
    expect(foldKey({ namespace: 'ns', key: 'k' }, 'lww', { state: undefined, maxHlc: 0n }, [canonical], NO_CEILING).save?.state).toBe(canonical.payload.kind === 'register' && canonical.payload.state);
    const spaced = set.encode((v) => new TextEncoder().encode(` ${new TextDecoder().decode(encodeRegisterVersion(v))}`));
    const other = update({ sequence: 1, policy: 'lww', hlc: 10n, payload: { kind: 'register', state: spaced } });
    expect(Buffer.from(foldKey({ namespace: 'ns', key: 'k' }, 'lww', { state: undefined, maxHlc: 0n }, [other], NO_CEILING).save!.state).toString('hex')).toBe(Buffer.from(encodeRegisterSet(set)).toString('hex'));
  });

  it('counter: the same state and the same count of concurrent merges as one at a time', () => {
    const counter = crdtKind('counter')!;
    fc.assert(
      fc.property(fc.array(fc.record({ actor: fc.integer({ min: 1, max: 2 }), by: fc.integer({ min: -5, max: 5 }).filter((n) => n !== 0) }), { minLength: 1, maxLength: 20 }), fc.boolean(), (ops, stored) => {
        let here: unknown = counter.empty();
        if (stored) here = counter.apply(here, counter.validateOp({ increment: 3 }), { actor: 'eu.1' }).state;
        const states: unknown[] = [counter.empty(), counter.empty(), counter.empty()];
        const updates = ops.map((op, i) => {
          const { state, delta } = counter.apply(states[op.actor], counter.validateOp({ increment: op.by }), { actor: ACTORS[op.actor]! });
          states[op.actor] = state;
          return update({ origin: ACTORS[op.actor]!, sequence: i + 1, policy: 'counter', hlc: BigInt(2000 + i), payload: { kind: 'crdt', delta: counter.encode(delta) } });
        });
        const row: StoredKey = stored ? { state: counter.encode(here), maxHlc: 1n } : { state: undefined, maxHlc: 0n };
        const folded = foldKey({ namespace: 'ns', key: 'k' }, 'counter', row, updates, NO_CEILING);
        const reference = oneAtATime('counter', row, updates);
        expect(Buffer.from(folded.save!.state).toString('hex')).toBe(Buffer.from(reference.row.state!).toString('hex'));
        expect(folded.save!.maxHlc).toBe(reference.row.maxHlc);
        expect(folded.merges).toBe(reference.merges);
      }),
    );
  });

  it('an update written under another policy is returned as a conflict, not applied, and needs no row', () => {
    const counter = crdtKind('counter')!;
    const delta = counter.apply(counter.empty(), counter.validateOp({ increment: 1 }), { actor: 'us.1' }).delta;
    const foreign = update({ sequence: 7, policy: 'counter', hlc: 5n, payload: { kind: 'crdt', delta: counter.encode(delta) } });
    expect(touchesRow('lww', [foreign])).toBe(false);
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'lww', undefined, [foreign], NO_CEILING);
    expect(fold.save).toBeUndefined();
    expect(fold.conflicts).toEqual([{ kind: 'namespace', update: foreign }]);
  });

  it('a stored key an update cannot change is not written', () => {
    const set = DvvSet.empty<RegisterVersion>().update(undefined, 'us.1', { value: 'a', hlc: 10n, traceparent: undefined }).set;
    const u = update({ sequence: 1, policy: 'mv', hlc: 10n, payload: { kind: 'register', state: encodeRegisterSet(set) } });
    expect(foldKey({ namespace: 'ns', key: 'k' }, 'mv', { state: encodeRegisterSet(set), maxHlc: 10n }, [u], NO_CEILING).save).toBeUndefined();
  });
});

describe('an update whose payload is invalid', () => {
  const counter = crdtKind('counter')!;
  const registerOf = (value: string, hlc: bigint, set = DvvSet.empty<RegisterVersion>()): RegisterSet => set.update(set.context(), 'us.1', { value, hlc, traceparent: undefined }).set;
  const corrupt = Uint8Array.of(0xff, 0x00, 0x13, 0x37);

  it('register: stops the fold there — the updates before it are applied, it is rejected with the reason, the ones after it are held', () => {
    const first = registerOf('first', 10n);
    const later = registerOf('later', 30n, first);
    const updates = [
      update({ sequence: 1, policy: 'mv', hlc: 10n, payload: { kind: 'register', state: encodeRegisterSet(first) } }),
      update({ sequence: 2, policy: 'mv', hlc: 20n, payload: { kind: 'register', state: corrupt } }),
      update({ sequence: 3, policy: 'mv', hlc: 30n, payload: { kind: 'register', state: encodeRegisterSet(later) } }),
      update({ sequence: 4, policy: 'counter', hlc: 40n, payload: { kind: 'crdt', delta: corrupt } }),
    ];
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'mv', { state: undefined, maxHlc: 0n }, updates, NO_CEILING);
    expect(Buffer.from(fold.save!.state).toString('hex')).toBe(Buffer.from(encodeRegisterSet(first)).toString('hex'));
    expect(fold.save!.maxHlc).toBe(10n);
    expect(fold.rejected?.update).toBe(updates[1]);
    expect(fold.rejected?.reason).toMatch(/^its register_state cannot be decoded: ./);
    expect(fold.rejected?.held).toEqual([updates[2], updates[3]]);
    expect(fold.conflicts).toEqual([]); // the policy conflict after it waits too
  });

  it('crdt: a delta the kind cannot decode is rejected; a first update rejected leaves nothing to save', () => {
    const delta = counter.apply(counter.empty(), counter.validateOp({ increment: 2 }), { actor: 'us.1' }).delta;
    const updates = [
      update({ sequence: 1, policy: 'counter', hlc: 10n, payload: { kind: 'crdt', delta: corrupt } }),
      update({ sequence: 2, policy: 'counter', hlc: 20n, payload: { kind: 'crdt', delta: counter.encode(delta) } }),
    ];
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'counter', { state: undefined, maxHlc: 0n }, updates, NO_CEILING);
    expect(fold.save).toBeUndefined();
    expect(fold.rejected?.update).toBe(updates[0]);
    expect(fold.rejected?.reason).toMatch(/^its crdt_delta cannot be decoded as a counter: ./);
    expect(fold.rejected?.held).toEqual([updates[1]]);
    // A set's delta is no counter either (the kinds' encodings are told apart).
    const set = crdtKind('set')!;
    const setDelta = set.apply(set.empty(), set.validateOp({ add: ['x'] }), { actor: 'us.1' }).delta;
    expect(foldKey({ namespace: 'ns', key: 'k' }, 'counter', { state: undefined, maxHlc: 0n }, [update({ sequence: 3, policy: 'counter', hlc: 30n, payload: { kind: 'crdt', delta: set.encode(setDelta) } })], NO_CEILING).rejected?.reason).toMatch(/crdt_delta cannot be decoded as a counter/);
  });

  it('a payload of the wrong kind for the policy is rejected without being decoded', () => {
    const good = counter.apply(counter.empty(), counter.validateOp({ increment: 1 }), { actor: 'us.1' }).delta;
    const stored: StoredKey = { state: counter.encode(counter.apply(counter.empty(), counter.validateOp({ increment: 5 }), { actor: 'eu.1' }).state), maxHlc: 5n };
    const updates = [
      update({ sequence: 1, policy: 'counter', hlc: 10n, payload: { kind: 'crdt', delta: counter.encode(good) } }),
      update({ sequence: 2, policy: 'counter', hlc: 20n, payload: { kind: 'register', state: encodeRegisterSet(registerOf('x', 20n)) } }),
    ];
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'counter', stored, updates, NO_CEILING);
    expect(fold.rejected?.reason).toBe('a register_state payload does not fit policy counter (it ships crdt_delta)');
    expect(fold.rejected?.held).toEqual([]);
    expect(counter.toJSON(counter.decode(fold.save!.state))).toEqual(counter.toJSON(counter.join(counter.decode(stored.state!), good)));
    const lww = foldKey({ namespace: 'ns', key: 'k' }, 'lww', { state: undefined, maxHlc: 0n }, [update({ sequence: 3, policy: 'lww', hlc: 30n, payload: { kind: 'crdt', delta: counter.encode(good) } })], NO_CEILING);
    expect(lww.rejected?.reason).toBe('a crdt_delta payload does not fit policy lww (it ships register_state)');
    expect(lww.save).toBeUndefined();
  });
});

describe('planning a batch\'s updates', () => {
  const register = (sequence: number, key: string, origin = 'us.1'): UpdateRecord => update({ origin, sequence, key, policy: 'mv', hlc: BigInt(sequence), payload: { kind: 'register', state: new Uint8Array() } });

  it('drops duplicates by sequence first (at or below the watermark, above it, or twice in the batch), groups by key in key order and sequence order', () => {
    const vector = AppliedVector.fromRow({ origin: 'us.1', region: 'us', contiguous: 3n, contiguousOutboxId: 30n, beyond: [[6n, 60n]] });
    const vectors = new Map([['us.1', vector]]);
    const batch = [register(9, 'b'), register(2, 'a'), register(5, 'a'), register(4, 'b'), register(6, 'c'), register(5, 'a'), register(8, 'a'), register(7, 'c')];
    const { keys, duplicates } = planUpdates(batch, vectors);
    expect(duplicates).toBe(3); // 2 (below the watermark), 6 (above it, applied), the second 5
    expect(keys.map((k) => [k.key, k.updates.map((u) => Number(u.originSequence))])).toEqual([
      ['a', [5, 8]],
      ['b', [4, 9]],
      ['c', [7]],
    ]);
    expect(keys[0]!.id).toBe(JSON.stringify(['ns', 'a']));
    expect(vector.contiguous).toBe(9n);
    expect(vector.contiguousOutboxId).toBe(90n);
    expect(vector.changed).toBe(true);
  });

  it('a batch of duplicates only changes nothing', () => {
    const vector = AppliedVector.fromRow({ origin: 'us.1', region: 'us', contiguous: 10n, contiguousOutboxId: 100n, beyond: [] });
    const { keys, duplicates } = planUpdates([register(3, 'a'), register(10, 'b')], new Map([['us.1', vector]]));
    expect(keys).toEqual([]);
    expect(duplicates).toBe(2);
    expect(vector.changed).toBe(false);
  });
});
