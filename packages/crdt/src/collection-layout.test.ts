/**
 * A split collection (a header and a row per element or field) is the same collection as its
 * whole state: split then joined gives the same bytes, and an operation planned from the header
 * and the rows it names alone stores the rows, header and count of the whole-state operation and
 * ships the same delta — at every step of random operations at two replicas whose deltas cross.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CausalContext } from '@meridian/causality';
import { COLLECTION_SPLIT_ROWS, collectionOpRows, collectionRowCount, joinCollection, planCollectionWrite, splitCollection } from './collection-layout.ts';
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

describe('collection layout', () => {
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
