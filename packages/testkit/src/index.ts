/**
 * @meridian/testkit: what Meridian's tests share — unique names for per-test databases and
 * topics, waits with deadlines, a TCP fault proxy, a seeded random generator, the fault
 * suite's history checkers, and the benchmarks' table format and paired ratios.
 */
export { uniqueName } from './names.ts';
export { waitFor, sleep, WaitTimeoutError, type WaitOptions } from './wait-for.ts';
export { FaultProxy, type FaultProxyOptions } from './fault-proxy.ts';
export { SeededRandom } from './seeded-random.ts';
export { fixed, markdownTable, whole } from './bench-table.ts';
export { formatRatio, median, medianInterval, pairedRatios, quantile, type PairedRatios } from './paired-ratios.ts';
export {
  checkHistory,
  checkCounters,
  checkSets,
  checkLww,
  checkMv,
  checkSessions,
  checkConvergence,
  lostByRestore,
  covers,
  CHECKERS,
  type CheckerName,
  type HistoryOp,
  type CounterIncrement,
  type SetAdd,
  type SetRemove,
  type RegisterWrite,
  type Read,
  type ReadValue,
  type Finals,
  type Violation,
  type Outcome,
  type Vector,
  type Dot,
  type Restore,
} from './history-checkers.ts';
