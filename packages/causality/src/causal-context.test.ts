import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { dotKey, type Dot } from './actor.ts';
import { ACTORS, actorArb, dotArb, hex, permute, vectorArb } from './arbitraries.ts';
import { CausalContext } from './causal-context.ts';
import { CausalityError } from './causality-error.ts';

const MAX_COUNTER = 10;
/** Every dot the generators can produce, plus one beyond: the probes of `contains`. */
const UNIVERSE: Dot[] = ACTORS.flatMap((actor) => Array.from({ length: MAX_COUNTER + 1 }, (_, i) => ({ actor, counter: i + 1 })));

type Op =
  | { readonly kind: 'add'; readonly target: number; readonly dot: Dot }
  | { readonly kind: 'join'; readonly target: number; readonly source: number }
  | { readonly kind: 'fromDots'; readonly target: number; readonly dots: Dot[] };

const SLOTS = 3;
const slot = fc.nat({ max: SLOTS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), target: slot, dot: dotArb(MAX_COUNTER) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('join' as const), target: slot, source: slot }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fromDots' as const), target: slot, dots: fc.array(dotArb(MAX_COUNTER), { maxLength: 12 }) }) },
);

const isSubset = (a: Set<string>, b: Set<string>): boolean => [...a].every((k) => b.has(k));

/** Asserts that `context` is exactly the set `model`, and is in canonical form. */
function expectSameSet(context: CausalContext, model: Set<string>): void {
  for (const d of UNIVERSE) expect(context.contains(d), dotKey(d)).toBe(model.has(dotKey(d)));
  const listed = [...context.dots()].map(dotKey);
  expect(new Set(listed)).toEqual(model);
  expect(listed.length).toBe(model.size);
  expect(context.isEmpty()).toBe(model.size === 0);
  for (const actor of ACTORS) {
    const top = context.vector.get(actor);
    const counters = [...model].filter((k) => k.startsWith(`${actor}:`)).map((k) => Number(k.slice(actor.length + 1)));
    expect(context.max(actor)).toBe(Math.max(0, ...counters));
    expect(context.next(actor)).toEqual({ actor, counter: Math.max(0, ...counters) + 1 });
    // Canonical: the vector is the longest gap-free prefix, the cloud never starts right after it.
    let prefix = 0;
    while (model.has(`${actor}:${prefix + 1}`)) prefix++;
    expect(top).toBe(prefix);
  }
  for (const d of context.cloud()) expect(d.counter).toBeGreaterThan(context.vector.get(d.actor) + 1);
}

describe('CausalContext: behaves exactly like a Set of dots', () => {
  it('under random add / join / fromDots sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const contexts: CausalContext[] = Array.from({ length: SLOTS }, () => CausalContext.empty);
        const models: Set<string>[] = Array.from({ length: SLOTS }, () => new Set());
        for (const op of ops) {
          const before = contexts[op.target]!;
          if (op.kind === 'add') {
            contexts[op.target] = before.add(op.dot);
            models[op.target]!.add(dotKey(op.dot));
          } else if (op.kind === 'join') {
            contexts[op.target] = before.join(contexts[op.source]!);
            models[op.target] = new Set([...models[op.target]!, ...models[op.source]!]);
          } else {
            contexts[op.target] = CausalContext.fromDots(op.dots);
            models[op.target] = new Set(op.dots.map(dotKey));
          }
          expectSameSet(contexts[op.target]!, models[op.target]!);
          for (let other = 0; other < SLOTS; other++) {
            const [a, b] = [contexts[op.target]!, contexts[other]!];
            const [ma, mb] = [models[op.target]!, models[other]!];
            expect(a.covers(b)).toBe(isSubset(mb, ma));
            expect(b.covers(a)).toBe(isSubset(ma, mb));
            expect(a.equals(b)).toBe(isSubset(ma, mb) && isSubset(mb, ma));
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('join is commutative, associative, idempotent and an upper bound', () => {
    const contextArb = fc.array(dotArb(MAX_COUNTER), { maxLength: 15 }).map((dots) => CausalContext.fromDots(dots));
    fc.assert(
      fc.property(contextArb, contextArb, contextArb, (a, b, c) => {
        expect(a.join(b).equals(b.join(a))).toBe(true);
        expect(a.join(b).join(c).equals(a.join(b.join(c)))).toBe(true);
        expect(a.join(a).equals(a)).toBe(true);
        expect(a.join(b).covers(a) && a.join(b).covers(b)).toBe(true);
      }),
    );
  });

  it('fromVector holds exactly the dots at or below the vector', () => {
    fc.assert(
      fc.property(vectorArb(), (v) => {
        const context = CausalContext.fromVector(v);
        expect(context.vector.equals(v)).toBe(true);
        expect(context.cloud()).toEqual([]);
        for (const d of UNIVERSE) expect(context.contains(d)).toBe(v.contains(d));
      }),
    );
  });
});

describe('CausalContext: canonical form', () => {
  const dotSetArb = fc
    .array(dotArb(MAX_COUNTER), { maxLength: 25 })
    .chain((dots) => fc.tuple(fc.constant(dots), fc.array(fc.double({ noNaN: true }), { minLength: dots.length, maxLength: dots.length }), fc.nat({ max: dots.length })));

  it('equal sets have byte-equal encodings, whatever the insertion order or construction', () => {
    fc.assert(
      fc.property(dotSetArb, ([dots, keys, split]) => {
        const shuffled = permute(dots, keys);
        const byAdd = shuffled.reduce((c, d) => c.add(d), CausalContext.empty);
        const byFromDots = CausalContext.fromDots(dots);
        const byJoin = CausalContext.fromDots(shuffled.slice(0, split)).join(CausalContext.fromDots(shuffled.slice(split)));
        const expected = hex(byFromDots.encode());
        for (const context of [byAdd, byJoin]) {
          expect(context.equals(byFromDots)).toBe(true);
          expect(hex(context.encode())).toBe(expected);
          expect(context.toJSON()).toEqual(byFromDots.toJSON());
        }
      }),
    );
  });

  it('round-trips through encode/decode and JSON', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ actor: actorArb, counter: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })) }), { maxLength: 20 }), (dots) => {
        const context = CausalContext.fromDots(dots);
        const bytes = context.encode();
        expect(CausalContext.decode(bytes).equals(context)).toBe(true);
        expect(hex(CausalContext.decode(bytes).encode())).toBe(hex(bytes));
        expect(CausalContext.fromJSON(JSON.parse(JSON.stringify(context))).equals(context)).toBe(true);
      }),
    );
  });

  it('fromJSON normalises a valid but non-canonical form', () => {
    const context = CausalContext.fromJSON({ vv: { 'eu.1': 2, 'us.1': 0 }, cloud: [['eu.1', 4], ['eu.1', 3], ['eu.1', 1], ['us.1', 2], ['eu.1', 3]] });
    expect(context.toJSON()).toEqual({ vv: { 'eu.1': 4 }, cloud: [['us.1', 2]] });
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a missing cloud', { vv: {} }],
    ['an extra field', { vv: {}, cloud: [], extra: 1 }],
    ['a bad vector', { vv: { eu: 1 }, cloud: [] }],
    ['a cloud that is not an array', { vv: {}, cloud: {} }],
    ['a cloud entry of the wrong length', { vv: {}, cloud: [['eu.1', 1, 2]] }],
    ['a zero cloud counter', { vv: {}, cloud: [['eu.1', 0]] }],
    ['a cloud entry with a bad actor', { vv: {}, cloud: [['EU.1', 3]] }],
  ])('fromJSON rejects %s', (_what, json) => {
    expect(() => CausalContext.fromJSON(json)).toThrow(CausalityError);
  });
});

describe('CausalContext: never compacts across a gap', () => {
  it('a withheld dot is not contained until added, then the cloud folds into the vector', () => {
    fc.assert(
      fc.property(
        actorArb,
        fc.integer({ min: 2, max: 30 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n - 1 }), fc.array(fc.double({ noNaN: true }), { minLength: n, maxLength: n }))),
        dotArb(5),
        (actor, [n, withheld, keys], noise) => {
          fc.pre(noise.actor !== actor);
          const others = permute(
            Array.from({ length: n }, (_, i) => i + 1).filter((c) => c !== withheld),
            keys,
          );
          let context = CausalContext.empty.add(noise);
          for (const counter of others) {
            context = context.add({ actor, counter });
            expect(context.contains({ actor, counter: withheld })).toBe(false);
            expect(context.vector.get(actor)).toBeLessThan(withheld);
          }
          expect(context.vector.get(actor)).toBe(withheld - 1);
          expect(context.cloud().filter((d) => d.actor === actor).map((d) => d.counter)).toEqual(Array.from({ length: n - withheld }, (_, i) => withheld + 1 + i));
          expect(context.max(actor)).toBe(n);
          const complete = context.add({ actor, counter: withheld });
          expect(complete.contains({ actor, counter: withheld })).toBe(true);
          expect(complete.vector.get(actor)).toBe(n);
          expect(complete.cloud().filter((d) => d.actor === actor)).toEqual([]);
          expect(complete.covers(context) && !context.covers(complete)).toBe(true);
        },
      ),
    );
  });

  it('a vector that skips a dot is not covered by a context holding the dots after it', () => {
    const holey = CausalContext.fromDots([{ actor: 'eu.1', counter: 1 }, { actor: 'eu.1', counter: 3 }]);
    expect(holey.covers(CausalContext.fromDots([{ actor: 'eu.1', counter: 3 }]))).toBe(true);
    expect(holey.covers(CausalContext.fromDots([{ actor: 'eu.1', counter: 2 }]))).toBe(false);
    expect(holey.vector.toJSON()).toEqual({ 'eu.1': 1 });
  });
});
