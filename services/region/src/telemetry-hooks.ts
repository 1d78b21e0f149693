/**
 * What a region process counts: the hooks `startRegion` takes, wired to Meridian's metric
 * instruments (and to the log, for what is logged rather than counted). `main.ts` passes them, and
 * so do the tests that read `/metrics`: what those tests see is what a deployment serves.
 *
 * Type imports only: `main.ts` imports this before it starts telemetry, and nothing instrumented
 * may be loaded before that.
 */
import type { Telemetry } from '@meridian/telemetry';
import type { RegionHooks } from './region.ts';
import type { Logger } from './replication/logger.ts';

export type TelemetryHooks = Pick<RegionHooks, 'replication' | 'antiEntropy' | 'metricsText' | 'onPurged' | 'onWrite'>;

export function telemetryHooks(telemetry: Pick<Telemetry, 'metrics' | 'metricsText'>, log: Logger): TelemetryHooks {
  const { metrics } = telemetry;
  return {
    replication: {
      onApplied: (origin, count) => metrics.applies.add(count, { origin }),
      onConflict: (namespace, policy) => metrics.conflicts.add(1, { namespace, policy }),
      onConcurrentMerge: (namespace, policy) => metrics.concurrentMerges.add(1, { namespace, policy }),
      onDeadLetter: (origin, reason) => metrics.deadLetters.add(1, { origin, reason }),
    },
    antiEntropy: {
      onRepair: (namespace, peer) => metrics.repairs.add(1, { namespace, peer }),
      onConflict: (namespace, policy) => metrics.conflicts.add(1, { namespace, policy }),
      onReport: (peer, report) => metrics.antiEntropyDifferences.add(report.differences.length, { peer }),
      onRejected: (namespace, key, reason) => log.warn({ namespace, key, reason }, 'anti-entropy: a peer\'s state could not be merged'),
      onRefused: (peer) => metrics.antiEntropyRefused.add(1, { peer }),
    },
    metricsText: () => telemetry.metricsText(),
    onPurged: (keys) => metrics.gcPurged.add(keys),
    onWrite: (namespace, policy, seconds) => {
      metrics.writes.add(1, { namespace, policy });
      metrics.writeDuration.record(seconds, { policy });
    },
  };
}
