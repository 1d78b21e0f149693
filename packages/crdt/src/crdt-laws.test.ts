/**
 * The lattice laws, for every type, over states reachable by random schedules (replica states
 * and every delta and state that crossed the simulated network): join is commutative,
 * associative and idempotent; states only grow; `leq` is the order of `join`; applying an
 * operation equals joining its delta; encodings round-trip and are canonical.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultActors } from './testing/replication-harness.ts';
import { runSchedule, scheduleArbitrary } from './testing/schedule.ts';
import { allSpecs, type TypeSpec } from './testing/type-specs.ts';

const RUNS = { numRuns: 150 };

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Reachable states of one schedule: the empty state, every replica's, every message's. */
function universe<S, O>(spec: TypeSpec<S, O>): fc.Arbitrary<S[]> {
  return scheduleArbitrary(spec.op, 25).map((schedule) => {
    const harness = runSchedule(spec, schedule);
    return [spec.empty, ...harness.replicas.map((r) => r.state), ...harness.seen];
  });
}

function pick<S>(states: fc.Arbitrary<S[]>, n: 1): fc.Arbitrary<[S]>;
function pick<S>(states: fc.Arbitrary<S[]>, n: 2): fc.Arbitrary<[S, S]>;
function pick<S>(states: fc.Arbitrary<S[]>, n: 3): fc.Arbitrary<[S, S, S]>;
function pick<S>(states: fc.Arbitrary<S[]>, n: number): fc.Arbitrary<S[]> {
  return states.chain((all) => fc.array(fc.constantFrom(...all), { minLength: n, maxLength: n }));
}

describe.each(allSpecs)('$name', (spec) => {
  const states = universe(spec);
  const same = (a: unknown, b: unknown): boolean => spec.equals(a, b) && bytesEqual(spec.encode(a), spec.encode(b));

  it('join is commutative', () => {
    fc.assert(fc.property(pick(states, 2), ([a, b]) => same(spec.join(a, b), spec.join(b, a))), RUNS);
  });

  it('join is associative', () => {
    fc.assert(fc.property(pick(states, 3), ([a, b, c]) => same(spec.join(spec.join(a, b), c), spec.join(a, spec.join(b, c)))), RUNS);
  });

  it('join is idempotent', () => {
    fc.assert(
      fc.property(pick(states, 2), ([a, b]) => {
        const ab = spec.join(a, b);
        return same(spec.join(a, a), a) && same(spec.join(ab, b), ab) && same(spec.join(ab, a), ab);
      }),
      RUNS,
    );
  });

  it('states only grow: a and b are below their join', () => {
    fc.assert(
      fc.property(pick(states, 2), ([a, b]) => {
        const ab = spec.join(a, b);
        return spec.leq(a, ab) && spec.leq(b, ab);
      }),
      RUNS,
    );
  });

  it('leq(a, b) iff join(a, b) equals b', () => {
    fc.assert(fc.property(pick(states, 2), ([a, b]) => spec.leq(a, b) === spec.equals(spec.join(a, b), b)), RUNS);
  });

  it('applying an operation equals joining its delta, and the delta is below the result', () => {
    fc.assert(
      fc.property(pick(states, 1), spec.op, fc.constantFrom(...defaultActors(5)), ([state], op, actor) => {
        const replica = { index: 0, actor, state, known: new Set<number>(), memory: new Map<string, unknown>() };
        let result;
        try {
          result = spec.apply(replica, op, 0);
        } catch (error) {
          if ((error as { name?: string }).name === 'CrdtError') return true; // refused (field type clash): nothing to compare
          throw error;
        }
        return same(result.state, spec.join(state, result.delta)) && spec.leq(result.delta, result.state) && spec.leq(state, result.state);
      }),
      RUNS,
    );
  });

  it('binary and JSON encodings round-trip and are canonical', () => {
    fc.assert(
      fc.property(pick(states, 2), ([a, b]) => {
        const bytes = spec.encode(a);
        const decoded = spec.decode(bytes);
        expect(spec.equals(decoded, a)).toBe(true);
        expect(bytesEqual(spec.encode(decoded), bytes)).toBe(true);
        const fromJson = spec.fromJSON(JSON.parse(JSON.stringify(spec.toJSON(a))));
        expect(bytesEqual(spec.encode(fromJson), bytes)).toBe(true);
        expect(JSON.stringify(spec.toJSON(fromJson))).toBe(JSON.stringify(spec.toJSON(a)));
        // Canonical: equal states, equal bytes; different states, different bytes.
        expect(bytesEqual(spec.encode(b), bytes)).toBe(spec.equals(a, b));
      }),
      RUNS,
    );
  });
});
