/**
 * Convergence under a hostile network, for every type: random operations at 3–5 replicas,
 * deltas delivered in random order, duplicated, lost and resent, held back by partitions, some
 * withheld until the very end, plus anti-entropy syncs of whole states. After every step each
 * replica must show what the reference model computes from the operations it has joined; once the
 * network settles every replica must hold the same state (same bytes, same digest) and show the
 * model's value for all operations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import { type SetOp } from './crdt-ops.ts';
import { digest } from './state-digest.ts';
import { runSchedule, scheduleArbitrary, type Schedule } from './testing/schedule.ts';
import { allSpecs, orSetSpec, type TypeSpec } from './testing/type-specs.ts';

function converges<S, O>(spec: TypeSpec<S, O>, schedule: Schedule<O>): void {
  const model = spec.model();
  const harness = runSchedule(spec, schedule, model, {
    afterStep(h) {
      for (const replica of h.replicas) expect(spec.value(replica.state), `replica ${replica.index} mid-run`).toEqual(model.expected(replica.known));
    },
  });
  harness.network.settle();
  expect(harness.network.pending).toBe(0);
  const all = new Set(Array.from({ length: harness.operations }, (_, i) => i));
  const [first, ...rest] = harness.replicas;
  if (first === undefined) throw new Error('no replicas');
  const firstDigest = digest(spec.encode(first.state));
  for (const replica of harness.replicas) {
    expect(replica.known.size).toBe(all.size);
    expect(spec.value(replica.state)).toEqual(model.expected(all));
  }
  for (const replica of rest) {
    expect(spec.equals(replica.state, first.state)).toBe(true);
    expect(digest(spec.encode(replica.state))).toBe(firstDigest);
  }
}

describe.each(allSpecs)('$name', (spec) => {
  it('every replica equals the reference model, mid-run and after the network settles', () => {
    fc.assert(
      fc.property(scheduleArbitrary(spec.op, 60), (schedule) => converges(spec, schedule)),
      { numRuns: 120 },
    );
  });

  it('converges when every delta of one replica is withheld and delivered last', () => {
    fc.assert(
      fc.property(scheduleArbitrary(spec.op, 30), fc.nat({ max: 4 }), (schedule, victim) => {
        const steps = schedule.steps.map((step) => (step.t === 'op' && step.replica % schedule.replicas === victim % schedule.replicas ? { ...step, withhold: true } : step));
        converges(spec, { ...schedule, steps });
      }),
      { numRuns: 60 },
    );
  });
});

describe('ORSet under causal delivery', () => {
  // With deltas delivered causally, what a replica has joined is closed under "happened before",
  // so the specification can be checked literally: an element is present iff some add of it is
  // not in the causal past of any remove of it.
  it('an element is present iff some add of it is not causally covered by a remove', () => {
    fc.assert(
      fc.property(scheduleArbitrary(orSetSpec.op, 60), (schedule) => {
        const ops = new Map<number, { op: SetOp; past: ReadonlySet<number> }>();
        const harness = runSchedule(orSetSpec, schedule, {
          record(id, op, origin) {
            ops.set(id, { op, past: new Set(origin.known) });
            return true;
          },
          expected: () => undefined,
        }, { causal: true });
        harness.network.settle();
        for (const { past } of ops.values()) {
          for (const id of past) for (const earlier of ops.get(id)?.past ?? []) expect(past.has(earlier), 'causal pasts are closed').toBe(true);
        }
        const texts = (op: SetOp): string[] => ('add' in op ? op.add : op.remove).map((e) => canonicalJson(e));
        const present = new Set<string>();
        for (const [id, { op }] of ops) {
          if (!('add' in op)) continue;
          for (const element of texts(op)) {
            const covered = [...ops.values()].some((r) => 'remove' in r.op && r.past.has(id) && texts(r.op).includes(element));
            if (!covered) present.add(element);
          }
        }
        const expected = [...present].sort();
        for (const replica of harness.replicas) expect(replica.state.values().map((v) => canonicalJson(v))).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
