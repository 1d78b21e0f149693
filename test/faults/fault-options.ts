/**
 * The fault suite's settings and its nemesis schedule. Everything random comes from the seed:
 * the same seed gives the same schedule and the same client choices (timing still varies: real
 * processes), so a failing seed is replayed with MERIDIAN_FAULTS_SEED.
 *
 * Every nemesis operation and every checker is on by default; MERIDIAN_FAULTS_NEMESIS and
 * MERIDIAN_FAULTS_CHECKERS narrow a run. Every run prints its options (`describeOptions`).
 */
import { SeededRandom } from '@meridian/testkit';
import { CHECKERS, type CheckerName } from '@meridian/testkit';

export const NEMESIS_OPS = [
  'pause-link', // POST /v1/replication/peers/{id}/pause, then resume
  'cut-link', // the fault proxy blackholes every link reading region 0's Kafka, then heals
  'kill-region', // kill -9, then restart
  'stop-region', // SIGSTOP, then SIGCONT
  'kill-broker', // kill -9 region 0's broker, then restart it
  'skew-clock', // restart region 2 with another clock offset within the allowed drift
  'delete-records', // issue 19.1: pause the links reading region 0, write, delete the records (admin deleteTopicRecords), resume
  'restore-region', // issue 19.2: back up a region's database, write, restore the copy, restart
  'far-future-clock', // issue 19.4: region 2 runs a year ahead for a while
  'kill-broker-paused', // issue 19.5: kill region 0's broker, pause the links reading it while it is down, restart, resume
] as const;
export type NemesisOp = (typeof NEMESIS_OPS)[number];

/**
 * On by default: every operation. Each one's seeds that once failed are replayed in CI
 * (test/faults/regression-seeds.json), restore-region and delete-records among them.
 */
export const DEFAULT_NEMESIS: readonly NemesisOp[] = NEMESIS_OPS;

/**
 * Every checker is on by default. A restore's genuine losses (writes acknowledged after the copy
 * and never relayed) are classified by the checkers themselves (`lostByRestore`), not by
 * switching a checker off; MERIDIAN_FAULTS_CHECKERS narrows a run.
 */
export const DEFAULT_CHECKERS: readonly CheckerName[] = CHECKERS;

export interface FaultOptions {
  readonly seed: number;
  /** Client operations in all (the run ends at whichever of ops and seconds comes first). */
  readonly ops: number;
  readonly seconds: number;
  readonly clients: number;
  readonly nemesis: ReadonlySet<NemesisOp>;
  readonly checkers: ReadonlySet<CheckerName>;
  /**
   * Removes and register writes go to any region with the context read in another (the default;
   * MERIDIAN_FAULTS_ANY_REGION_WRITES=0 sends them where the context was read).
   */
  readonly anyRegionWrites: boolean;
  /** Milliseconds between nemesis operations, and how long each fault lasts (ranges). */
  readonly faultGapMs: readonly [number, number];
  readonly faultLengthMs: readonly [number, number];
}

const list = <T extends string>(raw: string | undefined, all: readonly T[], fallback: readonly T[], what: string): Set<T> => {
  if (raw === undefined || raw.trim() === '') return new Set(fallback);
  if (raw.trim() === 'all') return new Set(all);
  if (raw.trim() === 'none') return new Set();
  const names = raw.split(',').map((n) => n.trim()).filter(Boolean);
  const bad = names.filter((n) => !(all as readonly string[]).includes(n));
  if (bad.length > 0) throw new Error(`${what}: expected "all", "none" or a list of ${all.join(', ')} (got ${bad.join(', ')})`);
  return new Set(names as T[]);
};
const integer = (raw: string | undefined, fallback: number, what: string): number => {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${what}: expected a whole number (got ${JSON.stringify(raw)})`);
  return Number(raw);
};

/** The options from the environment, over `defaults` (the CI run's or the long run's). */
export function faultOptions(env: NodeJS.ProcessEnv, defaults: Partial<FaultOptions> = {}): FaultOptions {
  return {
    seed: integer(env['MERIDIAN_FAULTS_SEED'], defaults.seed ?? Math.floor(Math.random() * 2 ** 31), 'MERIDIAN_FAULTS_SEED') >>> 0,
    ops: integer(env['MERIDIAN_FAULTS_OPS'], defaults.ops ?? 600, 'MERIDIAN_FAULTS_OPS'),
    seconds: integer(env['MERIDIAN_FAULTS_SECONDS'], defaults.seconds ?? 60, 'MERIDIAN_FAULTS_SECONDS'),
    clients: integer(env['MERIDIAN_FAULTS_CLIENTS'], defaults.clients ?? 4, 'MERIDIAN_FAULTS_CLIENTS'),
    nemesis: list(env['MERIDIAN_FAULTS_NEMESIS'], NEMESIS_OPS, defaults.nemesis ? [...defaults.nemesis] : DEFAULT_NEMESIS, 'MERIDIAN_FAULTS_NEMESIS'),
    checkers: list(env['MERIDIAN_FAULTS_CHECKERS'], CHECKERS, defaults.checkers ? [...defaults.checkers] : DEFAULT_CHECKERS, 'MERIDIAN_FAULTS_CHECKERS'),
    anyRegionWrites: env['MERIDIAN_FAULTS_ANY_REGION_WRITES'] !== undefined ? env['MERIDIAN_FAULTS_ANY_REGION_WRITES'] === '1' : (defaults.anyRegionWrites ?? true),
    faultGapMs: defaults.faultGapMs ?? [1000, 3000],
    faultLengthMs: defaults.faultLengthMs ?? [2000, 6000],
  };
}

export interface NemesisStep {
  /** Ms after the workload starts. */
  readonly atMs: number;
  readonly op: NemesisOp;
  /** The region it targets (for link operations, the region whose link is paused). */
  readonly region: number;
  /** For pause-link: the peer whose stream is paused. */
  readonly peer: number;
  readonly lengthMs: number;
  /** For skew-clock: the new offset. */
  readonly offsetMs: number;
}

/** The schedule: one fault at a time, healed before the next; seeded. */
export function nemesisSchedule(options: FaultOptions): NemesisStep[] {
  const rng = new SeededRandom(options.seed ^ 0x5eed);
  const ops = NEMESIS_OPS.filter((o) => options.nemesis.has(o));
  const steps: NemesisStep[] = [];
  if (ops.length === 0) return steps;
  const between = ([lo, hi]: readonly [number, number]): number => lo + rng.below(hi - lo + 1);
  let t = between(options.faultGapMs);
  // Each enabled operation once per round, in a seeded order: a short run still meets them all.
  let round: NemesisOp[] = [];
  // Faults start in the first 80% of the run, so the workload sees each healed before it ends.
  while (t < options.seconds * 800) {
    if (round.length === 0) {
      round = [...ops];
      for (let i = round.length - 1; i > 0; i--) {
        const j = rng.below(i + 1);
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
    }
    const op = round.shift()!;
    const region = rng.below(3);
    const peer = (region + 1 + rng.below(2)) % 3;
    const lengthMs = between(options.faultLengthMs);
    const offsetMs = (rng.below(41) - 20) * 1000;
    steps.push({ atMs: t, op, region, peer, lengthMs, offsetMs });
    t += lengthMs + between(options.faultGapMs) + (op === 'kill-region' || op === 'skew-clock' || op === 'restore-region' || op.includes('broker') ? 5000 : 0);
  }
  return steps;
}

export function describeOptions(o: FaultOptions): string {
  return [
    `seed=${o.seed} (replay: MERIDIAN_FAULTS_SEED=${o.seed})`,
    `ops=${o.ops} seconds=${o.seconds} clients=${o.clients}`,
    `nemesis=${[...o.nemesis].join(',') || 'none'}`,
    `checkers=${[...o.checkers].join(',')}`,
    `anyRegionWrites=${o.anyRegionWrites}`,
  ].join(' ');
}
