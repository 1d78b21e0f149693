import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMeridianMetrics, METER_NAME, MetricName, type MeridianMetrics } from './meridian-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE, PrometheusPullReader } from './prometheus-reader.ts';

let reader: PrometheusPullReader;
let provider: MeterProvider;
let m: MeridianMetrics;

beforeEach(() => {
  reader = new PrometheusPullReader();
  provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'meridian-region', 'meridian.region': 'eu' }), readers: [reader] });
  m = createMeridianMetrics(provider.getMeter(METER_NAME));
});
afterEach(() => provider.shutdown());

/** The `# TYPE` declarations of a scrape: name → type. */
function types(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
}

/** The value of the one sample line with exactly this name and label set. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Meridian metrics in Prometheus text', () => {
  it('are named exactly as DESIGN §9 says, with their label sets', async () => {
    m.writes.add(1, { namespace: 'carts', policy: 'mv' });
    m.writes.add(2, { namespace: 'carts', policy: 'mv' });
    m.writes.add(1, { namespace: 'likes', policy: 'counter' });
    m.applies.add(5, { origin: 'us' });
    m.conflicts.add(1, { namespace: 'carts', policy: 'mv' });
    m.concurrentMerges.add(3, { namespace: 'likes', policy: 'counter' });
    m.deadLetters.add(1, { origin: 'ap', reason: 'MERIDIAN_CAUSALITY_INVALID_ENCODING' });
    m.writeDuration.record(0.004, { policy: 'mv' });
    m.writeDuration.record(0.2, { policy: 'mv' });
    m.observeOutboxBacklog(() => 17);
    m.observeReplicationLag(
      () => [
        { peer: 'us', seconds: 1.5, sequence: 42, state: 'failed', reseedNeeded: true },
        { peer: 'ap', seconds: 0, sequence: 0, state: 'streaming', reseedNeeded: false },
      ],
      ['connecting', 'streaming', 'failed'],
    );
    m.observeWriteCache(() => ({ entries: 3, bytes: 1200, hits: 40, misses: 5 }));
    m.gcPurged.add(4);
    m.observeRetention(() => ({ tombstones: 12, blocked: new Map([['eu', false], ['ap', true]]), tableBytes: new Map([['meridian_keys', 8192]]) }));

    const text = await reader.collectText();
    expect(Object.fromEntries(types(text))).toEqual({
      target_info: 'gauge',
      [MetricName.writes]: 'counter',
      [MetricName.applies]: 'counter',
      [MetricName.conflicts]: 'counter',
      [MetricName.concurrentMerges]: 'counter',
      [MetricName.deadLetters]: 'counter',
      [MetricName.writeDuration]: 'histogram',
      [MetricName.outboxBacklog]: 'gauge',
      [MetricName.replicationLagSeconds]: 'gauge',
      [MetricName.replicationLagSequence]: 'gauge',
      [MetricName.replicationLinkState]: 'gauge',
      [MetricName.replicationReseedNeeded]: 'gauge',
      [MetricName.writeCacheEntries]: 'gauge',
      [MetricName.writeCacheBytes]: 'gauge',
      [MetricName.writeCacheHits]: 'counter',
      [MetricName.writeCacheMisses]: 'counter',
      [MetricName.gcPurged]: 'counter',
      [MetricName.tombstones]: 'gauge',
      [MetricName.gcBlocked]: 'gauge',
      [MetricName.tableBytes]: 'gauge',
    });
    expect(sample(text, 'meridian_writes_total{namespace="carts",policy="mv"}')).toBe(3);
    expect(sample(text, 'meridian_writes_total{namespace="likes",policy="counter"}')).toBe(1);
    expect(sample(text, 'meridian_applies_total{origin="us"}')).toBe(5);
    expect(sample(text, 'meridian_conflicts_total{namespace="carts",policy="mv"}')).toBe(1);
    expect(sample(text, 'meridian_concurrent_merges_total{namespace="likes",policy="counter"}')).toBe(3);
    expect(sample(text, 'meridian_dead_letters_total{origin="ap",reason="MERIDIAN_CAUSALITY_INVALID_ENCODING"}')).toBe(1);
    expect(sample(text, 'meridian_outbox_backlog')).toBe(17);
    expect(sample(text, 'meridian_replication_lag_seconds{peer="us"}')).toBe(1.5);
    expect(sample(text, 'meridian_replication_lag_sequence{peer="us"}')).toBe(42);
    expect(sample(text, 'meridian_replication_lag_sequence{peer="ap"}')).toBe(0);
    // The link's state is 1, every other state 0; a link that lost records says it needs a reseed.
    expect(sample(text, 'meridian_replication_link_state{peer="us",state="failed"}')).toBe(1);
    expect(sample(text, 'meridian_replication_link_state{peer="us",state="streaming"}')).toBe(0);
    expect(sample(text, 'meridian_replication_link_state{peer="ap",state="streaming"}')).toBe(1);
    expect(sample(text, 'meridian_replication_link_state{peer="ap",state="connecting"}')).toBe(0);
    expect(sample(text, 'meridian_replication_reseed_needed{peer="us"}')).toBe(1);
    expect(sample(text, 'meridian_replication_reseed_needed{peer="ap"}')).toBe(0);
    expect(sample(text, 'meridian_write_cache_entries')).toBe(3);
    expect(sample(text, 'meridian_write_cache_bytes')).toBe(1200);
    expect(sample(text, 'meridian_write_cache_hits_total')).toBe(40);
    expect(sample(text, 'meridian_write_cache_misses_total')).toBe(5);
    expect(sample(text, 'meridian_gc_purged_total')).toBe(4);
    expect(sample(text, 'meridian_tombstones')).toBe(12);
    expect(sample(text, 'meridian_gc_blocked{region="ap"}')).toBe(1);
    expect(sample(text, 'meridian_gc_blocked{region="eu"}')).toBe(0);
    expect(sample(text, 'meridian_table_bytes{table="meridian_keys"}')).toBe(8192);
    expect(sample(text, 'meridian_write_duration_seconds_count{policy="mv"}')).toBe(2);
    expect(sample(text, 'meridian_write_duration_seconds_sum{policy="mv"}')).toBeCloseTo(0.204, 9);
    expect(sample(text, 'meridian_write_duration_seconds_bucket{policy="mv",le="0.001"}')).toBe(0);
    expect(sample(text, 'meridian_write_duration_seconds_bucket{policy="mv",le="0.005"}')).toBe(1);
    expect(sample(text, 'meridian_write_duration_seconds_bucket{policy="mv",le="0.25"}')).toBe(2);
    expect(sample(text, 'meridian_write_duration_seconds_bucket{policy="mv",le="+Inf"}')).toBe(2);
    // The resource appears once, in target_info, and not as labels on every series.
    expect(text).toMatch(/^target_info\{.*meridian_region="eu".*\} 1$/m);
    expect(text).not.toContain('otel_scope');
    expect(text).not.toMatch(/_total_total|seconds_seconds/);
  });

  it('record every garbage collection of the process by kind, until stopped', async () => {
    const stop = m.observeGarbageCollection();
    try {
      // A major collection on demand (vitest runs without --expose-gc), and minor ones from
      // short-lived garbage.
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      gc();
      let garbage: number[][] = [];
      for (let i = 0; i < 200_000; i++) garbage.push([i]);
      garbage = [];
      // Node delivers performance entries to observers after the collection, asynchronously.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const text = await reader.collectText();
      expect(types(text).get(MetricName.gcPause)).toBe('histogram');
      expect(sample(text, 'meridian_gc_pause_seconds_count{kind="major"}')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'meridian_gc_pause_seconds_count{kind="minor"}')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'meridian_gc_pause_seconds_sum{kind="major"}')).toBeGreaterThan(0);
      expect(garbage).toEqual([]);
    } finally {
      stop();
    }
    const before = sample(await reader.collectText(), 'meridian_gc_pause_seconds_count{kind="major"}');
    (runInNewContext('gc') as () => void)();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sample(await reader.collectText(), 'meridian_gc_pause_seconds_count{kind="major"}')).toBe(before);
  });

  it('are absent until recorded, except target_info', async () => {
    expect([...types(await reader.collectText()).keys()]).toEqual(['target_info']);
  });

  it('read the gauges at each scrape, and stop reading after unregistering', async () => {
    let backlog = 3;
    const stopBacklog = m.observeOutboxBacklog(async () => Promise.resolve(backlog));
    const stopLag = m.observeReplicationLag(() => [{ peer: 'us', seconds: backlog, sequence: backlog * 10 }]);
    expect(sample(await reader.collectText(), 'meridian_outbox_backlog')).toBe(3);
    backlog = 0;
    const text = await reader.collectText();
    expect(sample(text, 'meridian_outbox_backlog')).toBe(0);
    expect(sample(text, 'meridian_replication_lag_sequence{peer="us"}')).toBe(0);
    stopBacklog();
    stopLag();
    const after = await reader.collectText();
    expect(after).not.toContain('meridian_outbox_backlog ');
    expect(after).not.toContain('meridian_replication_lag_seconds{');
  });

  it('survive a failing gauge callback: the other metrics are still served', async () => {
    m.writes.add(1, { namespace: 'n', policy: 'lww' });
    m.observeOutboxBacklog(() => {
      throw new Error('database gone');
    });
    const text = await reader.collectText();
    expect(sample(text, 'meridian_writes_total{namespace="n",policy="lww"}')).toBe(1);
  });

  it('are served with the Prometheus text content type', () => {
    expect(PROMETHEUS_CONTENT_TYPE).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
