/**
 * A set or map stored a row per element or field behaves as the same collection stored whole:
 * random operations at three replicas, each replica kept both ways, deltas delivered in any order,
 * duplicated, and whole states synced (a repair). After every step each replica's rows assemble
 * to its whole state (same bytes), read the same values and pages, and the hash kept up to date by
 * XORs of the changed rows equals the hash of the whole state; once every delta has arrived
 * everywhere, all replicas hold the same state and the same hash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CausalContext, dotKey, type Dot } from '@meridian/causality';
import { type MapOp, type SetOp } from './crdt-ops.ts';
import { mapKind, setKind } from './crdt-kind.ts';
import { CrdtError } from './crdt-error.ts';
import { contextHash, joinIntoRows, layoutHash, mapRows, setRows, updateMapRows, updateSetRows, type RowChanges, type RowLayout, type RowsReader } from './element-rows.ts';
import { type FieldJson, ORMap } from './or-map.ts';
import { ORSet } from './or-set.ts';
import { mapOpBody, smallJson } from './testing/type-specs.ts';

/** A split key's store in memory: rows, a dot index, and the hash kept by XORs. */
class RowStore<S, R> implements RowsReader<R> {
  context: CausalContext = CausalContext.empty;
  hash: bigint = contextHash(CausalContext.empty);
  readonly #layout: RowLayout<S, R>;
  readonly #rows = new Map<string, R>();
  readonly #index = new Map<string, { dot: Dot; name: string }>();
  /** Rows read since the counter was last reset (how much of the collection a write touched). */
  reads = 0;

  constructor(layout: RowLayout<S, R>) {
    this.#layout = layout;
  }

  row(name: string): R | undefined {
    this.reads++;
    return this.#rows.get(name);
  }

  *rowsHolding(context: CausalContext): Iterable<string> {
    for (const { dot, name } of this.#index.values()) if (context.contains(dot)) yield name;
  }

  apply(changes: RowChanges<R>): void {
    for (const name of changes.deletes) this.#drop(name);
    for (const [name, row] of changes.upserts) {
      this.#drop(name);
      this.#rows.set(name, row);
      for (const d of this.#layout.dots(row)) this.#index.set(dotKey(d), { dot: d, name });
      this.hash ^= this.#layout.hashRow(name, row);
    }
    this.hash ^= contextHash(this.context) ^ contextHash(changes.context);
    this.context = changes.context;
  }

  #drop(name: string): void {
    const old = this.#rows.get(name);
    if (old === undefined) return;
    this.hash ^= this.#layout.hashRow(name, old);
    for (const d of this.#layout.dots(old)) this.#index.delete(dotKey(d));
    this.#rows.delete(name);
  }

  assemble(): S {
    return this.#layout.fromRows(this.context, this.#rows);
  }
}

/** How the property drives one collection type. */
interface Subject<S extends { encode(): Uint8Array; join(o: S): S; equals(o: S): boolean; isBottom(): boolean; readonly context: CausalContext }, R, O> {
  readonly layout: RowLayout<S, R>;
  readonly empty: S;
  readonly op: fc.Arbitrary<O>;
  /** The write on the whole state and on the rows, with the client's observed context if any. */
  whole(state: S, op: O, actor: string, observed: CausalContext | undefined): { state: S; delta: S };
  rows(rows: RowStore<S, R>, op: O, actor: string, observed: CausalContext | undefined): { delta: S; changes: RowChanges<R> };
  value(state: S): unknown;
  page(state: S): unknown;
}

const setSubject: Subject<ORSet, readonly Dot[], SetOp> = {
  layout: setRows,
  empty: ORSet.empty,
  op: fc.oneof(fc.record({ add: fc.array(smallJson, { minLength: 1, maxLength: 3 }) }), fc.record({ remove: fc.array(smallJson, { minLength: 1, maxLength: 3 }) })),
  whole: (state, op, actor, observed) => state.update(op, actor, observed),
  rows: (rows, op, actor, observed) => updateSetRows(rows, op, actor, observed),
  value: (state) => setKind.value(state),
  page: (state) => state.page(undefined, 2),
};

type MapWrite = { readonly op: MapOp; readonly hlc: bigint };
const mapSubject: Subject<ORMap, FieldJson, MapWrite> = {
  layout: mapRows,
  empty: ORMap.empty,
  op: fc.record({ op: mapOpBody.map((body) => mapKind.validateOp(body)), hlc: fc.bigInt({ min: 1n, max: 6n }) }),
  whole: (state, { op, hlc }, actor, observed) => state.update(op, { actor, hlc, ...(observed ? { observed } : {}) }),
  rows: (rows, { op, hlc }, actor, observed) => updateMapRows(rows, op, { actor, hlc, ...(observed ? { observed } : {}) }),
  value: (state) => mapKind.value(state),
  page: (state) => state.page(undefined, 2),
};

type Step<O> = { t: 'op'; r: number; op: O; observed: number | undefined } | { t: 'deliver'; delta: number; r: number } | { t: 'sync'; from: number; to: number };

const REPLICAS = 3;
const replica = fc.nat({ max: REPLICAS - 1 });
function steps<O>(op: fc.Arbitrary<O>): fc.Arbitrary<Step<O>[]> {
  return fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('op' as const), r: replica, op, observed: fc.option(fc.nat(), { nil: undefined }) }) },
      { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), delta: fc.nat(), r: replica }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('sync' as const), from: replica, to: replica }) },
    ),
    { maxLength: 60 },
  );
}

function run<S extends { encode(): Uint8Array; join(o: S): S; equals(o: S): boolean; isBottom(): boolean; readonly context: CausalContext }, R, O>(subject: Subject<S, R, O>, plan: readonly Step<O>[]): void {
  const replicas = Array.from({ length: REPLICAS }, (_, i) => ({ actor: `r${i}.1`, whole: subject.empty, rows: new RowStore(subject.layout), seen: [] as CausalContext[] }));
  type Replica = (typeof replicas)[number];
  const deltas: S[] = [];
  const same = (r: Replica): void => {
    const assembled = r.rows.assemble();
    expect(Buffer.from(assembled.encode()).equals(Buffer.from(r.whole.encode())), r.actor).toBe(true);
    expect(subject.value(assembled)).toEqual(subject.value(r.whole));
    expect(subject.page(assembled)).toEqual(subject.page(r.whole));
    expect(r.rows.hash).toBe(layoutHash(subject.layout, r.whole));
  };
  const join = (r: Replica, delta: S): void => {
    r.rows.apply(joinIntoRows(subject.layout, r.rows, delta));
    r.whole = r.whole.join(delta);
    same(r);
  };
  for (const s of plan) {
    if (s.t === 'op') {
      const r = replicas[s.r]!;
      const observed = s.observed !== undefined && r.seen.length > 0 ? r.seen[s.observed % r.seen.length] : undefined;
      let whole: { state: S; delta: S };
      try {
        whole = subject.whole(r.whole, s.op, r.actor, observed);
      } catch (error) {
        // Refused (a map field used as another type): the rows refuse it the same way.
        expect(error).toBeInstanceOf(CrdtError);
        expect(() => subject.rows(r.rows, s.op, r.actor, observed)).toThrow((error as Error).message);
        continue;
      }
      const split = subject.rows(r.rows, s.op, r.actor, observed);
      // The split write ships the delta the whole-state write ships.
      expect(Buffer.from(split.delta.encode()).equals(Buffer.from(whole.delta.encode()))).toBe(true);
      r.rows.apply(split.changes);
      r.whole = whole.state;
      r.seen.push(r.whole.context);
      if (!whole.delta.isBottom()) deltas.push(whole.delta);
      same(r);
    } else if (s.t === 'deliver') {
      if (deltas.length > 0) join(replicas[s.r]!, deltas[s.delta % deltas.length]!);
    } else join(replicas[s.to]!, replicas[s.from]!.whole);
  }
  for (const delta of deltas) for (const r of replicas) join(r, delta);
  for (const r of replicas) {
    expect(r.whole.equals(replicas[0]!.whole)).toBe(true);
    expect(r.rows.hash).toBe(replicas[0]!.rows.hash);
  }
}

describe('a collection stored a row per element or field', () => {
  it('a set reads, encodes and hashes as the same set stored whole, under any delivery order', () => {
    fc.assert(fc.property(steps(setSubject.op), (plan) => run(setSubject, plan)), { numRuns: 150 });
  });

  it('a map reads, encodes and hashes as the same map stored whole, under any delivery order', () => {
    fc.assert(fc.property(steps(mapSubject.op), (plan) => run(mapSubject, plan)), { numRuns: 150 });
  });

  it('a write into a big set or map reads only the rows it names', () => {
    const set = new RowStore(setRows);
    set.apply(updateSetRows(set, { add: Array.from({ length: 5000 }, (_, i) => `e${i}`) }, 'eu.1').changes);
    set.reads = 0;
    const add = updateSetRows(set, { add: ['new'] }, 'eu.1');
    expect([...add.changes.upserts.keys()]).toEqual(['"new"']);
    expect(add.changes.deletes.size).toBe(0);
    set.apply(add.changes);
    const remove = updateSetRows(set, { remove: ['e7'] }, undefined);
    expect([...remove.changes.deletes]).toEqual(['"e7"']);
    expect(remove.changes.upserts.size).toBe(0);
    expect(set.reads).toBeLessThan(10);
    set.apply(remove.changes);
    expect(set.assemble().size).toBe(5000);
    expect(set.hash).toBe(layoutHash(setRows, set.assemble()));

    const map = new RowStore(mapRows);
    map.apply(updateMapRows(map, { set: Array.from({ length: 2000 }, (_, i) => [`f${i}`, i] as const) }, { actor: 'eu.1', hlc: 1n }).changes);
    map.reads = 0;
    const inc = updateMapRows(map, { increment: [['hits', 2]], delete: ['f9'] }, { actor: 'eu.1', hlc: 2n });
    expect([...inc.changes.upserts.keys()]).toEqual(['hits']);
    expect([...inc.changes.deletes]).toEqual(['f9']);
    expect(map.reads).toBeLessThan(10);
    map.apply(inc.changes);
    expect(map.assemble().fields().length).toBe(2000);
    expect(map.hash).toBe(layoutHash(mapRows, map.assemble()));
  });

  it('refuses rows that break the causal invariants or are not canonical', () => {
    const context = CausalContext.fromDots([{ actor: 'eu.1', counter: 1 }, { actor: 'eu.1', counter: 2 }]);
    const one = [{ actor: 'eu.1', counter: 1 }];
    const refusals: [string, readonly (readonly [string, readonly Dot[]])[]][] = [
      ['a dot outside the context', [['"x"', [{ actor: 'eu.1', counter: 3 }]]]],
      ['a dot held twice', [['"x"', one], ['"y"', one]]],
      ['an element without dots', [['"x"', []]]],
      ['a text that is not canonical', [['{"b":1,"a":2}', [{ actor: 'eu.1', counter: 2 }]]]],
    ];
    for (const [what, rows] of refusals) expect(() => ORSet.fromRows(context, rows), what).toThrow(CrdtError);
    expect(ORSet.fromRows(context, [['"x"', one]]).values()).toEqual(['x']);
    const field = ORMap.empty.set('eu.1', 1n, 'a', 1).fieldRows()[0]!;
    expect(() => ORMap.fromFieldRows(context, [['b', field[1]]])).toThrow(CrdtError);
    expect(() => ORMap.fromFieldRows(CausalContext.empty, [field])).toThrow(CrdtError);
  });

  it('the hash does not depend on the order rows were written in', () => {
    const a = ORSet.empty.update({ add: ['x', 'y', 1] }, 'eu.1').state;
    const b = ORSet.fromRows(a.context, [...a.entries()].reverse());
    expect(layoutHash(setRows, b)).toBe(layoutHash(setRows, a));
    expect(layoutHash(setRows, a.update({ remove: ['x'] }, undefined).state)).not.toBe(layoutHash(setRows, a));
  });
});
