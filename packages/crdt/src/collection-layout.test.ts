/**
 * A split collection (a header and a row per element or field) is the same collection as its
 * whole state: split then joined gives the same bytes, and an operation planned from the header
 * and the rows it names alone stores the rows, header and count of the whole-state operation and
 * ships the same delta — at every step of random operations at two replicas whose deltas cross.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CausalContext } from '@meridian/causality';
import { COLLECTION_SPLIT_ROWS, collectionOpRows, collectionRowCount, deltaRowNames, joinCollection, planCollectionWrite, splitCollection, splitRows, touchedRows } from './collection-layout.ts';
import { CrdtError } from './crdt-error.ts';
import { mapKind, setKind } from './crdt-kind.ts';
import { type MapOp, type SetOp } from './crdt-ops.ts';
import { ORMap } from './or-map.ts';
import { ORSet } from './or-set.ts';
import { mapOpBody, smallJson } from './testing/type-specs.ts';

type Collection = ORSet | ORMap;
type Op = { readonly policy: 'set'; readonly op: SetOp } | { readonly policy: 'map'; readonly op: MapOp };

const setOps = fc.oneof(fc.record({ add: fc.array(smallJson, { minLength: 1, maxLength: 3 }) }), fc.record({ remove: fc.array(smallJson, { minLength: 1, maxLength: 3 }) }));
const mapOps = mapOpBody.map((body) => mapKind.validateOp(body));

type Step = { readonly r: 0 | 1; readonly op: Op; readonly observed: boolean; readonly deliver: boolean };
const steps = (op: fc.Arbitrary<Op>): fc.Arbitrary<Step[]> => fc.array(fc.record({ r: fc.constantFrom(0 as const, 1 as const), op, observed: fc.boolean(), deliver: fc.boolean() }), { maxLength: 40 });

function wholeApply(state: Collection, op: Op, actor: string, hlc: bigint, observed: CausalContext | undefined): { state: Collection; delta: Collection } {
  if (op.policy === 'set') return (state as ORSet).update(op.op, actor, observed);
  return (state as ORMap).update(op.op, { actor: actor, hlc, ...(observed ? { observed } : {}) });
}

function run(empty: Collection, plan: readonly Step[]): void {
  const actors = ['eu.1', 'us.1'];
  const states: Collection[] = [empty, empty];
  const seen: (CausalContext | undefined)[] = [undefined, undefined];
  let hlc = 0n;
  for (const step of plan) {
    const state = states[step.r]!;
    const observed = step.observed ? seen[step.r] : undefined;
    hlc++;
    let whole: { state: Collection; delta: Collection };
    try {
      whole = wholeApply(state, step.op, actors[step.r]!, hlc, observed);
    } catch (error) {
      if (!(error instanceof CrdtError)) throw error;
      continue;
    }
    // The same operation on the state stored split (threshold 0: any non-empty collection splits).
    const split = splitCollection(state.encode(), 0);
    if (split) {
      const named = new Map(collectionOpRows(step.op.policy, step.op.op).flatMap((name) => (split.rows.has(name) ? [[name, split.rows.get(name)!] as const] : [])));
      const plan = planCollectionWrite(split.header, split.rows.size, named, step.op.op, { actor: actors[step.r] as never, hlc, observed });
      expect(plan.delta === undefined ? undefined : Buffer.from(plan.delta).toString('hex')).toBe(whole.delta.isBottom() ? undefined : Buffer.from(whole.delta.encode()).toString('hex'));
      const rows = new Map(split.rows);
      for (const name of plan.deletes) rows.delete(name);
      for (const [name, row] of plan.upserts) rows.set(name, row);
      expect(plan.count).toBe(rows.size);
      expect(Buffer.from(joinCollection(plan.header, rows)).toString('hex')).toBe(Buffer.from(whole.state.encode()).toString('hex'));
      expect(plan.context.equals(whole.state.context)).toBe(true);
    }
    states[step.r] = whole.state;
    seen[step.r] = whole.state.context;
    if (step.deliver) {
      const other = step.r === 0 ? 1 : 0;
      states[other] = (states[other] as ORSet).join(whole.delta as ORSet);
    }
    // Split and joined again: the same bytes; the row count read from the frame.
    const bytes = states[step.r]!.encode();
    const count = states[step.r] instanceof ORSet ? [...(states[step.r] as ORSet).entries()].length : (states[step.r] as ORMap).fields().length;
    expect(collectionRowCount(bytes)).toBe(count);
    const again = splitCollection(bytes, 0);
    if (count === 0) expect(again).toBeUndefined();
    else expect(Buffer.from(joinCollection(again!.header, again!.rows)).equals(Buffer.from(bytes))).toBe(true);
  }
}

/**
 * A peer's updates applied as a region storing the collection split applies them: read the header
 * and the rows the updates reach (their entries' rows and `touchedRows`), join the deltas into that
 * partial state one after the other, store back the rows read. Three replicas write; deltas reach
 * the others late, out of order, twice, in batches. The split replica must hold, row for row, the
 * state of one that joins every delta into the whole collection.
 */
type Shipped = { readonly policy: 'set' | 'map'; readonly delta: Uint8Array; readonly touched: readonly string[] };
type PeerStep = { readonly kind: 'write'; readonly r: number; readonly op: Op; readonly observed: boolean } | { readonly kind: 'deliver'; readonly r: number; readonly picks: readonly number[] };

const peerSteps = (op: fc.Arbitrary<Op>): fc.Arbitrary<PeerStep[]> =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('write' as const), r: fc.integer({ min: 0, max: 2 }), op, observed: fc.boolean() }),
      fc.record({ kind: fc.constant('deliver' as const), r: fc.integer({ min: 0, max: 2 }), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
    ),
    { maxLength: 50 },
  );

function applyRowWise(stored: Uint8Array, batch: readonly Shipped[], decode: (bytes: Uint8Array) => Collection): Uint8Array {
  const split = splitCollection(stored, -1)!;
  const reached = new Set<string>();
  for (const u of batch) for (const name of [...deltaRowNames(u.policy, u.delta), ...u.touched]) reached.add(name);
  let partial = decode(joinCollection(split.header, [...split.rows].filter(([name]) => reached.has(name))));
  for (const u of batch) partial = (partial as ORSet).join(decode(u.delta) as ORSet);
  const back = splitRows(partial.encode());
  for (const name of back.rows.keys()) expect(reached.has(name)).toBe(true);
  const rows = new Map(split.rows);
  for (const name of reached) rows.delete(name);
  for (const [name, row] of back.rows) rows.set(name, row);
  return joinCollection(back.header, rows);
}

function runPeers(empty: Collection, plan: readonly PeerStep[]): void {
  const decode = (bytes: Uint8Array): Collection => (empty instanceof ORSet ? ORSet.decode(bytes) : ORMap.decode(bytes));
  const actors = ['eu.1', 'us.1', 'ap.1'];
  const whole: Collection[] = [empty, empty, empty];
  const rowWise: Uint8Array[] = [empty.encode(), empty.encode(), empty.encode()];
  const inbox: Shipped[][] = [[], [], []];
  let hlc = 0n;
  for (const step of plan) {
    if (step.kind === 'write') {
      hlc++;
      let made: { state: Collection; delta: Collection };
      try {
        made = wholeApply(whole[step.r]!, step.op, actors[step.r]!, hlc, step.observed ? whole[step.r]!.context : undefined);
      } catch (error) {
        if (!(error instanceof CrdtError)) throw error;
        continue;
      }
      whole[step.r] = made.state;
      rowWise[step.r] = made.state.encode();
      if (made.delta.isBottom()) continue;
      const delta = made.delta.encode();
      const shipped: Shipped = { policy: step.op.policy, delta, touched: touchedRows(step.op.policy, step.op.op, delta) };
      for (let other = 0; other < 3; other++) if (other !== step.r) inbox[other]!.push(shipped);
      continue;
    }
    const pending = inbox[step.r]!;
    if (pending.length === 0) continue;
    // Picked in any order; a pick may repeat (a redelivery); delivered ones leave the inbox at random.
    const batch = step.picks.map((p) => pending[p % pending.length]!);
    for (const u of batch) whole[step.r] = (whole[step.r] as ORSet).join(decode(u.delta) as ORSet);
    rowWise[step.r] = applyRowWise(rowWise[step.r]!, batch, decode);
    if (step.picks[0]! % 2 === 0) pending.splice(step.picks[0]! % pending.length, 1);
    expect(Buffer.from(rowWise[step.r]!).toString('hex')).toBe(Buffer.from(whole[step.r]!.encode()).toString('hex'));
  }
}

describe('collection layout', () => {
  it("a peer's set deltas applied to the rows they reach equal joining them into the whole set", () => {
    fc.assert(fc.property(peerSteps(setOps.map((op): Op => ({ policy: 'set', op }))), (plan) => runPeers(ORSet.empty, plan)), { numRuns: 300 });
  });

  it("a peer's map deltas applied to the rows they reach equal joining them into the whole map", () => {
    fc.assert(fc.property(peerSteps(mapOps.map((op): Op => ({ policy: 'map', op }))), (plan) => runPeers(ORMap.empty, plan)), { numRuns: 300 });
  });

  it('touched rows name what a remove reaches besides the delta entries, sorted', () => {
    let set = ORSet.empty;
    for (const e of ['b', 'a', 'c']) set = set.join(set.add('eu.1', [e]));
    const { delta } = set.update({ remove: ['c', 'a', 'zz'] }, 'eu.1');
    expect(touchedRows('set', { remove: ['c', 'a', 'zz'] }, delta.encode())).toEqual(['"a"', '"c"', '"zz"']);
    const added = set.update({ add: ['a', 'd'] }, 'eu.1').delta.encode();
    expect(deltaRowNames('set', added).sort()).toEqual(['"a"', '"d"']);
    expect(touchedRows('set', { add: ['a', 'd'] }, added)).toEqual([]);
  });

  it('a set planned from its header and named rows equals the whole-state write', () => {
    fc.assert(fc.property(steps(setOps.map((op): Op => ({ policy: 'set', op }))), (plan) => run(ORSet.empty, plan)), { numRuns: 200 });
  });

  it('a map planned from its header and named rows equals the whole-state write', () => {
    fc.assert(fc.property(steps(mapOps.map((op): Op => ({ policy: 'map', op }))), (plan) => run(ORMap.empty, plan)), { numRuns: 200 });
  });

  it('splits only above the threshold, and only sets and maps', () => {
    let set = ORSet.empty;
    for (let i = 0; i < 3; i++) set = set.join(set.add('eu.1', [i]));
    expect(splitCollection(set.encode(), 3)).toBeUndefined();
    expect(splitCollection(set.encode(), 2)?.rows.size).toBe(3);
    expect(collectionRowCount(setKind.encode(ORSet.empty))).toBe(0);
    expect(COLLECTION_SPLIT_ROWS).toBeGreaterThan(0);
  });

  it('a header is never read as a state', () => {
    let set = ORSet.empty;
    for (let i = 0; i < 3; i++) set = set.join(set.add('eu.1', [i]));
    const header = splitCollection(set.encode(), 0)!.header;
    expect(() => setKind.decode(header)).toThrow(CrdtError);
    expect(collectionRowCount(header)).toBeUndefined();
  });
});
