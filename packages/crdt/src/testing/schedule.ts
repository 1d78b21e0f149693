/**
 * Random schedules for the convergence and law tests: local writes at random replicas mixed
 * with deliveries, partitions, heals, resends of lost messages and anti-entropy syncs. fast-check
 * generates (and shrinks) the schedule; the network's own choices come from the seed.
 */
import { describeValue } from '@meridian/causality';
import fc from 'fast-check';
import { CrdtError } from '../crdt-error.ts';
import { ReplicationHarness } from './replication-harness.ts';
import { type Model, type TypeSpec } from './type-specs.ts';

export type Step<O> =
  | { readonly t: 'op'; readonly replica: number; readonly op: O; readonly withhold: boolean }
  | { readonly t: 'deliver'; readonly count: number }
  | { readonly t: 'partition'; readonly sides: readonly number[] }
  | { readonly t: 'heal' }
  | { readonly t: 'resend' }
  | { readonly t: 'sync'; readonly from: number; readonly to: number };

export function stepArbitrary<O>(op: fc.Arbitrary<O>): fc.Arbitrary<Step<O>> {
  const replica = fc.nat({ max: 4 });
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({ t: fc.constant('op' as const), replica, op, withhold: fc.constant(false) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('op' as const), replica, op, withhold: fc.constant(true) }) },
    { weight: 5, arbitrary: fc.record({ t: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 8 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('partition' as const), sides: fc.array(fc.nat({ max: 1 }), { minLength: 5, maxLength: 5 }) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'heal' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'resend' as const }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('sync' as const), from: replica, to: replica }) },
  );
}

export interface Schedule<O> {
  readonly replicas: number;
  readonly seed: number;
  readonly steps: readonly Step<O>[];
}

export function scheduleArbitrary<O>(op: fc.Arbitrary<O>, maxSteps = 40): fc.Arbitrary<Schedule<O>> {
  return fc.record({
    replicas: fc.integer({ min: 3, max: 5 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    steps: fc.array(stepArbitrary(op), { maxLength: maxSteps, size: 'max' }),
  });
}

export interface RunOptions<S> {
  readonly duplicateRate?: number;
  readonly lossRate?: number;
  /** Causal delivery: a write is delivered only after everything its writer had seen. */
  readonly causal?: boolean;
  /** Called after every step (e.g. to compare each replica with the model). */
  readonly afterStep?: (harness: ReplicationHarness<S>) => void;
}

/**
 * Runs a schedule. With a model, every operation is recorded in it first, and a refusal by the
 * implementation (a CrdtError) must match a refusal predicted by the model, and vice versa.
 */
export function runSchedule<S, O>(spec: TypeSpec<S, O>, schedule: Schedule<O>, model?: Model<O>, options: RunOptions<S> = {}): ReplicationHarness<S> {
  const harness = new ReplicationHarness<S>(spec, {
    replicas: schedule.replicas,
    seed: schedule.seed,
    duplicateRate: options.duplicateRate ?? 0.2,
    lossRate: options.lossRate ?? 0.15,
    causal: options.causal ?? false,
  });
  const at = (replica: number): number => replica % schedule.replicas;
  for (const step of schedule.steps) {
    switch (step.t) {
      case 'op': {
        const origin = harness.replicas[at(step.replica)];
        if (origin === undefined) break;
        const id = harness.operations;
        let refused: CrdtError | undefined;
        try {
          harness.write(
            origin.index,
            (replica) => {
              // Record before applying: the model must see the origin as the operation did.
              if (model !== undefined && !model.record(id, step.op, replica)) throw new ModelRefusal();
              return spec.apply(replica, step.op, id);
            },
            { withhold: step.withhold },
          );
        } catch (error) {
          if (error instanceof ModelRefusal) {
            // The model refuses: the implementation must too (it was not called; call it now).
            try {
              spec.apply(origin, step.op, id);
            } catch (implementationError) {
              if (implementationError instanceof CrdtError) break;
              throw implementationError;
            }
            throw new Error(`the model refuses operation ${describeValue(step.op)} but the implementation accepts it`);
          }
          if (!(error instanceof CrdtError)) throw error;
          refused = error;
        }
        if (refused !== undefined && model !== undefined) throw new Error(`the implementation refuses ${describeValue(step.op)} (${refused.message}) but the model accepts it`);
        break;
      }
      case 'deliver':
        harness.network.run(step.count);
        break;
      case 'partition': {
        const sides = step.sides.slice(0, schedule.replicas);
        harness.network.partition([0, 1].map((side) => sides.flatMap((s, r) => (s === side ? [r] : []))));
        break;
      }
      case 'heal':
        harness.network.heal();
        break;
      case 'resend':
        harness.network.resendLost();
        break;
      case 'sync':
        if (at(step.from) !== at(step.to)) harness.sync(at(step.from), at(step.to));
        break;
    }
    options.afterStep?.(harness);
  }
  return harness;
}

class ModelRefusal extends Error {}
