/**
 * A set stored a row per element behaves as the same set stored whole: random operations at
 * three replicas, each replica kept both ways, deltas delivered in any order, duplicated, and
 * whole states synced (a repair). After every step each replica's rows assemble to its whole state
 * (same bytes), read the same values and pages, and the hash kept up to date by XORs of the
 * changed rows equals the hash of the whole state; once every delta has arrived everywhere, all
 * replicas hold the same state and the same hash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CausalContext, dotKey, type Dot } from '@meridian/causality';
import { contextHash, joinIntoRows, rowHash, setHash, updateRows, type ElementRowsReader, type RowChanges } from './element-rows.ts';
import { CrdtError } from './crdt-error.ts';
import { ORSet } from './or-set.ts';
import { smallJson } from './testing/type-specs.ts';

/** A split set's store in memory: rows, a dot index, and the hash kept by XORs. */
class RowStore implements ElementRowsReader {
  context: CausalContext = CausalContext.empty;
  hash: bigint = contextHash(CausalContext.empty);
  readonly #rows = new Map<string, readonly Dot[]>();
  readonly #index = new Map<string, { dot: Dot; text: string }>();
  /** Rows read by the last write or apply (how much of the set it touched). */
  reads = 0;

  row(text: string): readonly Dot[] | undefined {
    this.reads++;
    return this.#rows.get(text);
  }

  *rowsHolding(context: CausalContext): Iterable<string> {
    for (const { dot, text } of this.#index.values()) if (context.contains(dot)) yield text;
  }

  apply(changes: RowChanges): void {
    for (const text of changes.deletes) this.#drop(text);
    for (const [text, dots] of changes.upserts) {
      this.#drop(text);
      this.#rows.set(text, dots);
      for (const d of dots) this.#index.set(dotKey(d), { dot: d, text });
      this.hash ^= rowHash(text, dots);
    }
    this.hash ^= contextHash(this.context) ^ contextHash(changes.context);
    this.context = changes.context;
  }

  #drop(text: string): void {
    const old = this.#rows.get(text);
    if (old === undefined) return;
    this.hash ^= rowHash(text, old);
    for (const d of old) this.#index.delete(dotKey(d));
    this.#rows.delete(text);
  }

  assemble(): ORSet {
    return ORSet.fromRows(this.context, this.#rows);
  }
}

interface Replica {
  readonly actor: string;
  whole: ORSet;
  readonly rows: RowStore;
  /** Contexts this replica answered earlier (what a client may send with a remove). */
  readonly seen: CausalContext[];
}

type Step =
  | { t: 'add'; r: number; elements: unknown[] }
  | { t: 'remove'; r: number; elements: unknown[]; observed: number | undefined }
  | { t: 'deliver'; delta: number; r: number }
  | { t: 'sync'; from: number; to: number };

const REPLICAS = 3;
const replica = fc.nat({ max: REPLICAS - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('add' as const), r: replica, elements: fc.array(smallJson, { minLength: 1, maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('remove' as const), r: replica, elements: fc.array(smallJson, { minLength: 1, maxLength: 3 }), observed: fc.option(fc.nat(), { nil: undefined }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), delta: fc.nat(), r: replica }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('sync' as const), from: replica, to: replica }) },
);

function joinBoth(target: Replica, delta: ORSet): void {
  target.rows.reads = 0;
  target.rows.apply(joinIntoRows(target.rows, delta));
  target.whole = target.whole.join(delta);
}

function expectSame(r: Replica): void {
  const assembled = r.rows.assemble();
  expect(Buffer.from(assembled.encode()).equals(Buffer.from(r.whole.encode())), `${r.actor}: ${assembled.toString()} vs ${r.whole.toString()}`).toBe(true);
  expect(assembled.values()).toEqual(r.whole.values());
  expect(assembled.page(undefined, 2)).toEqual(r.whole.page(undefined, 2));
  expect(r.rows.hash).toBe(setHash(r.whole));
}

describe('a set stored a row per element', () => {
  it('reads, encodes and hashes as the same set stored whole, under any delivery order', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const replicas: Replica[] = Array.from({ length: REPLICAS }, (_, i) => ({ actor: `r${i}.1`, whole: ORSet.empty, rows: new RowStore(), seen: [] }));
        const deltas: ORSet[] = [];
        for (const s of steps) {
          if (s.t === 'add' || s.t === 'remove') {
            const r = replicas[s.r]!;
            const observed = s.t === 'remove' && s.observed !== undefined && r.seen.length > 0 ? r.seen[s.observed % r.seen.length] : undefined;
            const op = s.t === 'add' ? { add: s.elements } : { remove: s.elements };
            const whole = r.whole.update(op, r.actor, observed);
            const split = updateRows(r.rows, op, r.actor, observed);
            // The split write ships the delta the whole-state write ships.
            expect(Buffer.from(split.delta.encode()).equals(Buffer.from(whole.delta.encode()))).toBe(true);
            r.rows.apply(split.changes);
            r.whole = whole.state;
            r.seen.push(r.whole.context);
            if (!whole.delta.isBottom()) deltas.push(whole.delta);
            expectSame(r);
          } else if (s.t === 'deliver') {
            if (deltas.length === 0) continue;
            const r = replicas[s.r]!;
            joinBoth(r, deltas[s.delta % deltas.length]!);
            expectSame(r);
          } else {
            const to = replicas[s.to]!;
            joinBoth(to, replicas[s.from]!.whole);
            expectSame(to);
          }
        }
        for (const delta of deltas) for (const r of replicas) joinBoth(r, delta);
        for (const r of replicas) {
          expectSame(r);
          expect(r.whole.equals(replicas[0]!.whole)).toBe(true);
          expect(r.rows.hash).toBe(replicas[0]!.rows.hash);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a write into a big set reads only the rows it names', () => {
    const rows = new RowStore();
    const elements = Array.from({ length: 5000 }, (_, i) => `e${i}`);
    rows.apply(updateRows(rows, { add: elements }, 'eu.1').changes);
    rows.reads = 0;
    const add = updateRows(rows, { add: ['new'] }, 'eu.1');
    expect([...add.changes.upserts.keys()]).toEqual(['"new"']);
    expect(add.changes.deletes.size).toBe(0);
    rows.apply(add.changes);
    const remove = updateRows(rows, { remove: ['e7'] }, undefined);
    expect([...remove.changes.deletes]).toEqual(['"e7"']);
    expect(remove.changes.upserts.size).toBe(0);
    expect(rows.reads).toBeLessThan(10);
    rows.apply(remove.changes);
    expect(rows.assemble().size).toBe(5000);
    expect(rows.hash).toBe(setHash(rows.assemble()));
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
  });

  it('the hash does not depend on the order rows were written in', () => {
    const a = ORSet.empty.update({ add: ['x', 'y', 1] }, 'eu.1').state;
    const b = ORSet.fromRows(a.context, [...a.entries()].reverse());
    expect(setHash(b)).toBe(setHash(a));
    expect(setHash(a.update({ remove: ['x'] }, undefined).state)).not.toBe(setHash(a));
  });
});
