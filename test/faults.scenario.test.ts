/**
 * The fault suite (issue "Writes and reads honour what the client has seen", item 6, and
 * "Stream integrity", item 7): three regions as real processes on real Kafka and PostgreSQL, a
 * workload of counters, sets, maps and registers from clients that carry one session across
 * regions, a seeded nemesis (links paused and cut, regions killed and stopped, region 0's broker
 * killed, a clock skewed), and checkers over the acknowledged history (packages/testkit
 * history-checkers.ts).
 *
 * In `npm test`: the default seed, bounded (MERIDIAN_FAULTS_* may override), then every seed of
 * test/faults/regression-seeds.json. `npm run test:faults` is the longer run
 * (MERIDIAN_FAULTS_LONG=1: a random seed, 600 s, more clients). Every run prints its seed and its
 * nemesis schedule; replay with MERIDIAN_FAULTS_SEED=<seed>.
 *
 * Switches (see test/faults/fault-options.ts): MERIDIAN_FAULTS_NEMESIS (a list, or "all"),
 * MERIDIAN_FAULTS_CHECKERS, MERIDIAN_FAULTS_ANY_REGION_WRITES=1, MERIDIAN_FAULTS_OPS,
 * MERIDIAN_FAULTS_SECONDS, MERIDIAN_FAULTS_CLIENTS, MERIDIAN_FAULTS_REGRESSIONS=0 (skip the seeds file).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { startFaultCluster, type FaultCluster } from './faults/fault-cluster.ts';
import { faultOptions, type FaultOptions, type NemesisOp } from './faults/fault-options.ts';
import { runFaults } from './faults/fault-run.ts';
import type { CheckerName } from '@meridian/testkit';

const infra = inject('infra');
const long = process.env['MERIDIAN_FAULTS_LONG'] === '1';
/** The CI run: one fixed seed, bounded in operations and time (about 2 minutes with start-up and healing). */
const CI_DEFAULTS: Partial<FaultOptions> = { seed: 20261206, ops: 400, seconds: 45, clients: 3 };
const LONG_DEFAULTS: Partial<FaultOptions> = { ops: 1_000_000, seconds: 600, clients: 6 };
const options = faultOptions(process.env, long ? LONG_DEFAULTS : CI_DEFAULTS);

interface RegressionSeed {
  readonly seed: number;
  readonly ops?: number;
  readonly seconds?: number;
  readonly nemesis?: NemesisOp[];
  readonly checkers?: CheckerName[];
  readonly anyRegionWrites?: boolean;
  readonly found?: string;
}
const regressions: RegressionSeed[] = process.env['MERIDIAN_FAULTS_REGRESSIONS'] === '0' || long ? [] : (JSON.parse(readFileSync(new URL('./faults/regression-seeds.json', import.meta.url), 'utf8')) as { seeds: RegressionSeed[] }).seeds;
/**
 * The test's deadline: the workload, plus start-up of restarted processes and healing (a broker
 * restart alone takes 30-50 s on a loaded 2-core machine), plus the quiescence wait (150 s at most).
 */
const budgetMs = (o: FaultOptions): number => o.seconds * 1000 + 240_000 + [...o.nemesis].filter((n) => n === 'restore-region' || n === 'delete-records' || n === 'far-future-clock' || n.includes('broker')).length * 120_000;

let cluster: FaultCluster;

beforeAll(async () => {
  cluster = await startFaultCluster({ infra, skewMs: 3_000 });
}, 240_000);

afterAll(async () => {
  await cluster?.close();
}, 120_000);

describe('fault suite', () => {
  it(`finds nothing with seed ${options.seed}`, async () => {
    const report = await runFaults(cluster, options);
    expect(report.operations).toBeGreaterThan(Math.min(options.ops, 50));
    expect(report.findings.map((f) => `${f.step.op}: ${f.message}`)).toEqual([]);
    expect(report.violations.map((v) => `${v.checker} ${v.object}: ${v.message}`)).toEqual([]);
  }, budgetMs(options));

  for (const r of regressions) {
    const o = faultOptions({}, {
      ...CI_DEFAULTS,
      seed: r.seed,
      ...(r.ops !== undefined ? { ops: r.ops } : {}),
      ...(r.seconds !== undefined ? { seconds: r.seconds } : {}),
      ...(r.nemesis ? { nemesis: new Set(r.nemesis) } : {}),
      ...(r.checkers ? { checkers: new Set(r.checkers) } : {}),
      ...(r.anyRegionWrites !== undefined ? { anyRegionWrites: r.anyRegionWrites } : {}),
    });
    it(`regression seed ${r.seed}${r.found ? ` (${r.found})` : ''}`, async () => {
      const report = await runFaults(cluster, o);
      expect(report.findings.map((f) => `${f.step.op}: ${f.message}`)).toEqual([]);
      expect(report.violations.map((v) => `${v.checker} ${v.object}: ${v.message}`)).toEqual([]);
    }, budgetMs(o));
  }
});
