/**
 * Meridian's instruments, defined once. The names and label sets are the contract with
 * DESIGN §9 and with every dashboard and alert built on `/metrics`, so they are spelled here
 * exactly as Prometheus shows them: underscores, counters already ending in `_total` (the
 * Prometheus serializer appends `_total` to a monotonic sum only when it is missing), and the
 * unit in the name rather than added by an exporter.
 *
 * The gauges are read, not pushed: the service registers a callback that reports the current
 * backlog or lag when `/metrics` is scraped, so a stalled component shows what is true now,
 * not the last number it managed to push before it stalled.
 */
import { type Counter, type Histogram, type Meter, type ObservableCounter, type ObservableGauge, type BatchObservableCallback } from '@opentelemetry/api';
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export const MetricName = {
  writes: 'meridian_writes_total',
  applies: 'meridian_applies_total',
  conflicts: 'meridian_conflicts_total',
  concurrentMerges: 'meridian_concurrent_merges_total',
  deadLetters: 'meridian_dead_letters_total',
  repairs: 'meridian_repairs_total',
  antiEntropyDifferences: 'meridian_anti_entropy_differences_total',
  antiEntropyRefused: 'meridian_anti_entropy_refused_total',
  outboxBacklog: 'meridian_outbox_backlog',
  replicationLagSeconds: 'meridian_replication_lag_seconds',
  replicationLagSequence: 'meridian_replication_lag_sequence',
  replicationLinkState: 'meridian_replication_link_state',
  replicationReseedNeeded: 'meridian_replication_reseed_needed',
  writeDuration: 'meridian_write_duration_seconds',
  writeCacheEntries: 'meridian_write_cache_entries',
  writeCacheBytes: 'meridian_write_cache_bytes',
  writeCacheHits: 'meridian_write_cache_hits_total',
  writeCacheMisses: 'meridian_write_cache_misses_total',
  gcPause: 'meridian_gc_pause_seconds',
  tombstones: 'meridian_tombstones',
  gcPurged: 'meridian_gc_purged_total',
  gcBlocked: 'meridian_gc_blocked',
  tableBytes: 'meridian_table_bytes',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/** The meter (instrumentation scope) that owns Meridian's instruments. */
export const METER_NAME = 'meridian';

/** Bucket bounds of `meridian_write_duration_seconds`: 1 ms to 10 s (a write is one PG transaction). */
export const WRITE_DURATION_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/**
 * Bucket bounds of `meridian_gc_pause_seconds`: 0.5 ms to 250 ms. A scavenge pauses the process
 * for about 1 to 10 ms; a major collection's final pause is 5 to 25 ms normally, and 70 ms or more
 * is the kind that shows in the write latency's tail (docs/decisions/0008).
 */
export const GC_PAUSE_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]);

/** `kind` of `meridian_gc_pause_seconds`: V8's kinds of collection, as Node's `gc` performance entries name them. */
export const GcKind = { minor: 'minor', major: 'major', incremental: 'incremental', weakCallbacks: 'weakcb' } as const;
export type GcKind = (typeof GcKind)[keyof typeof GcKind];
const GC_KIND_OF_ENTRY = new Map<number, GcKind>([
  [perfConstants.NODE_PERFORMANCE_GC_MINOR, GcKind.minor],
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR, GcKind.major],
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, GcKind.incremental],
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, GcKind.weakCallbacks],
]);

export type NamespaceLabels = { namespace: string; policy: string };
export type OriginLabels = { origin: string };
export type DeadLetterLabels = { origin: string; reason: string };
export type RepairLabels = { namespace: string; peer: string };
export type PolicyLabels = { policy: string };
export type PeerLabels = { peer: string };
export type LinkStateLabels = { peer: string; state: string };
export type GcLabels = { kind: GcKind };
export type RegionLabels = { region: string };
export type TableLabels = { table: string };

/** What the retention loop knows (decision 0012): tombstones held, who holds the tombstone GC back, the tables' sizes. */
export interface RetentionStats {
  /** Tombstone-only register keys the GC's last full pass counted (sets and maps keep no records of removed elements); undefined until a pass finished. */
  readonly tombstones: number | undefined;
  /** Every region of the deployment → whether it holds the tombstone GC back. */
  readonly blocked: ReadonlyMap<string, boolean>;
  /** Each of the region's tables → its bytes on disk (indexes and TOAST included). */
  readonly tableBytes: ReadonlyMap<string, number>;
}

/** What the write path's snapshot cache holds and how often it answered, since the process started. */
export interface WriteCacheStats {
  readonly entries: number;
  /** The bytes it charges for its entries (states, key strings, overhead), against MERIDIAN_WRITE_CACHE_MB. */
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
}

/** One peer's replication lag, as the replicator for that peer knows it. */
export interface PeerLag {
  readonly peer: string;
  /** Origin wall time of the newest heartbeat minus the time of the newest applied update, in seconds. */
  readonly seconds: number;
  /** Origin high-water sequence minus the applied sequence. */
  readonly sequence: number;
  /** The link's state (connecting, streaming, catching-up, paused, failed), when known. */
  readonly state?: string;
  /** Whether Kafka no longer holds updates the link needs: the region needs a reseed from the peer. */
  readonly reseedNeeded?: boolean;
}

export interface MeridianMetrics {
  /** `meridian_writes_total{namespace,policy}`: writes accepted in this region. */
  readonly writes: Counter<NamespaceLabels>;
  /** `meridian_applies_total{origin}`: replicated updates applied, by origin region. */
  readonly applies: Counter<OriginLabels>;
  /** `meridian_conflicts_total{namespace,policy}`: register conflicts observed (DESIGN §5). */
  readonly conflicts: Counter<NamespaceLabels>;
  /** `meridian_concurrent_merges_total{namespace,policy}`: concurrent CRDT operations merged (not conflicts). */
  readonly concurrentMerges: Counter<NamespaceLabels>;
  /** `meridian_dead_letters_total{origin,reason}`: poison input sent to the dead-letter table. */
  readonly deadLetters: Counter<DeadLetterLabels>;
  /** `meridian_repairs_total{namespace,peer}`: keys anti-entropy changed here with a peer's state. */
  readonly repairs: Counter<RepairLabels>;
  /** `meridian_anti_entropy_differences_total{peer}`: differing keys anti-entropy found with a peer. */
  readonly antiEntropyDifferences: Counter<{ peer: string }>;
  /** `meridian_anti_entropy_refused_total{peer}`: merges refused here because the peer is not a member (removed, or never added). */
  readonly antiEntropyRefused: Counter<{ peer: string }>;
  /** `meridian_write_duration_seconds{policy}`: time from receiving a write to its commit. */
  readonly writeDuration: Histogram<PolicyLabels>;
  /** `meridian_gc_purged_total`: tombstones of deleted registers the GC purged in this process. */
  readonly gcPurged: Counter;
  /**
   * Registers the source of `meridian_tombstones`, `meridian_gc_blocked{region}` (1 for a region
   * holding the tombstone GC back, 0 for the others) and `meridian_table_bytes{table}`, read at
   * each collection. Returns an unregister function.
   */
  observeRetention(read: () => RetentionStats): () => void;
  /**
   * Registers the source of `meridian_outbox_backlog` (outbox rows not yet published), read at
   * each collection. Returns a function that unregisters it (for the relay's stop()).
   */
  observeOutboxBacklog(read: () => number | Promise<number>): () => void;
  /**
   * Registers the source of `meridian_replication_lag_seconds{peer}`,
   * `meridian_replication_lag_sequence{peer}`, `meridian_replication_link_state{peer,state}` (1
   * for the link's state, 0 for each other of `linkStates`) and
   * `meridian_replication_reseed_needed{peer}` (1 when Kafka no longer holds updates the link
   * needs), read at each collection. Returns an unregister function.
   */
  observeReplicationLag(read: () => Iterable<PeerLag> | Promise<Iterable<PeerLag>>, linkStates?: readonly string[]): () => void;
  /**
   * Registers the source of `meridian_write_cache_entries`, `meridian_write_cache_bytes`,
   * `meridian_write_cache_hits_total` and `meridian_write_cache_misses_total` (the write path's
   * snapshot cache, decision 0004), read at each collection. Returns an unregister function.
   */
  observeWriteCache(read: () => WriteCacheStats): () => void;
  /**
   * Records every garbage collection of this process in `meridian_gc_pause_seconds{kind}`: how
   * long it stopped JavaScript (and so every request in flight). Returns a function that stops it.
   */
  observeGarbageCollection(): () => void;
}

/**
 * Creates Meridian's instruments on a meter. With no MeterProvider started, the OpenTelemetry API
 * hands out a no-op meter, so a library or test can record without any telemetry running.
 */
export function createMeridianMetrics(meter: Meter): MeridianMetrics {
  const outboxBacklog: ObservableGauge = meter.createObservableGauge(MetricName.outboxBacklog, {
    description: 'Outbox rows committed but not yet published to Kafka.',
  });
  const lagSeconds: ObservableGauge<PeerLabels> = meter.createObservableGauge(MetricName.replicationLagSeconds, {
    description: 'How far this region is behind a peer, in seconds of the peer’s wall time.',
    unit: 's',
  });
  const lagSequence: ObservableGauge<PeerLabels> = meter.createObservableGauge(MetricName.replicationLagSequence, {
    description: 'How far this region is behind a peer, in the peer’s origin sequence numbers.',
  });
  const linkState: ObservableGauge<LinkStateLabels> = meter.createObservableGauge(MetricName.replicationLinkState, {
    description: 'A peer link’s state: 1 for the state it is in, 0 for the others.',
  });
  const reseedNeeded: ObservableGauge<PeerLabels> = meter.createObservableGauge(MetricName.replicationReseedNeeded, {
    description: 'Whether a peer’s Kafka no longer holds updates this region has not applied (1): the region needs a reseed from that peer.',
  });
  const cacheEntries: ObservableGauge = meter.createObservableGauge(MetricName.writeCacheEntries, {
    description: 'Keys whose snapshot the write path holds in this process.',
  });
  const cacheBytes: ObservableGauge = meter.createObservableGauge(MetricName.writeCacheBytes, {
    description: 'Bytes the write path’s snapshot cache holds, as it counts them against its limit.',
  });
  const cacheHits: ObservableCounter = meter.createObservableCounter(MetricName.writeCacheHits, {
    description: 'Writes planned from a cached snapshot instead of a read.',
  });
  const cacheMisses: ObservableCounter = meter.createObservableCounter(MetricName.writeCacheMisses, {
    description: 'Writes of a key the snapshot cache did not hold.',
  });
  const tombstones: ObservableGauge = meter.createObservableGauge(MetricName.tombstones, {
    description: 'Tombstones of deleted registers held (counted by the GC\'s last full pass of the keys).',
  });
  const gcBlocked: ObservableGauge<RegionLabels> = meter.createObservableGauge(MetricName.gcBlocked, {
    description: 'Whether a region holds the tombstone GC back (1): it has not applied what the others published, or was never heard from.',
  });
  const tableBytes: ObservableGauge<TableLabels> = meter.createObservableGauge(MetricName.tableBytes, {
    description: 'Bytes on disk of each of the region\'s tables, with indexes and TOAST.',
  });
  const gcPause: Histogram<GcLabels> = meter.createHistogram(MetricName.gcPause, {
    description: 'Garbage collections of this process, by kind, and how long each stopped JavaScript.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...GC_PAUSE_BUCKETS] },
  });
  return {
    writes: meter.createCounter(MetricName.writes, { description: 'Writes accepted in this region.' }),
    applies: meter.createCounter(MetricName.applies, { description: 'Replicated updates applied, by origin region.' }),
    conflicts: meter.createCounter(MetricName.conflicts, { description: 'Register conflicts observed while merging.' }),
    concurrentMerges: meter.createCounter(MetricName.concurrentMerges, { description: 'Concurrent CRDT operations merged by design.' }),
    deadLetters: meter.createCounter(MetricName.deadLetters, { description: 'Replication input sent to the dead-letter table.' }),
    repairs: meter.createCounter(MetricName.repairs, { description: 'Keys anti-entropy changed here by merging a peer\'s state.' }),
    antiEntropyDifferences: meter.createCounter(MetricName.antiEntropyDifferences, { description: 'Differing keys found by anti-entropy, by peer.' }),
    antiEntropyRefused: meter.createCounter(MetricName.antiEntropyRefused, { description: 'Anti-entropy merges refused because the region offering them is not a member here.' }),
    gcPurged: meter.createCounter(MetricName.gcPurged, { description: 'Tombstones of deleted registers purged by the GC.' }),
    observeRetention(read) {
      const callback: BatchObservableCallback<Record<string, string>> = (result) => {
        const stats = read();
        if (stats.tombstones !== undefined) result.observe(tombstones, stats.tombstones);
        for (const [region, blocked] of stats.blocked) result.observe(gcBlocked, blocked ? 1 : 0, { region });
        for (const [table, bytes] of stats.tableBytes) result.observe(tableBytes, bytes, { table });
      };
      const observables = [tombstones, gcBlocked, tableBytes];
      meter.addBatchObservableCallback(callback, observables);
      return () => meter.removeBatchObservableCallback(callback, observables);
    },
    writeDuration: meter.createHistogram(MetricName.writeDuration, {
      description: 'Time from receiving a write to its commit.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...WRITE_DURATION_BUCKETS] },
    }),
    observeOutboxBacklog(read) {
      const callback = async (result: { observe(value: number): void }): Promise<void> => {
        result.observe(await read());
      };
      outboxBacklog.addCallback(callback);
      return () => outboxBacklog.removeCallback(callback);
    },
    observeReplicationLag(read, linkStates = []) {
      const callback: BatchObservableCallback<PeerLabels | LinkStateLabels> = async (result) => {
        for (const lag of await read()) {
          result.observe(lagSeconds, lag.seconds, { peer: lag.peer });
          result.observe(lagSequence, lag.sequence, { peer: lag.peer });
          if (lag.state !== undefined) {
            for (const state of new Set([...linkStates, lag.state])) result.observe(linkState, state === lag.state ? 1 : 0, { peer: lag.peer, state });
          }
          if (lag.reseedNeeded !== undefined) result.observe(reseedNeeded, lag.reseedNeeded ? 1 : 0, { peer: lag.peer });
        }
      };
      const observables = [lagSeconds, lagSequence, linkState, reseedNeeded];
      meter.addBatchObservableCallback(callback, observables);
      return () => meter.removeBatchObservableCallback(callback, observables);
    },
    observeGarbageCollection() {
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const kind = GC_KIND_OF_ENTRY.get((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1);
          if (kind !== undefined) gcPause.record(entry.duration / 1000, { kind });
        }
      });
      observer.observe({ entryTypes: ['gc'] });
      return () => observer.disconnect();
    },
    observeWriteCache(read) {
      const callback: BatchObservableCallback = (result) => {
        const stats = read();
        result.observe(cacheEntries, stats.entries);
        result.observe(cacheBytes, stats.bytes);
        result.observe(cacheHits, stats.hits);
        result.observe(cacheMisses, stats.misses);
      };
      const observables = [cacheEntries, cacheBytes, cacheHits, cacheMisses];
      meter.addBatchObservableCallback(callback, observables);
      return () => meter.removeBatchObservableCallback(callback, observables);
    },
  };
}
