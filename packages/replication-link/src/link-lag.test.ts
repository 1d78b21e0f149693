/**
 * A link's lag from heartbeats, without I/O: sequences behind, seconds since the first update
 * not applied here was published (by the peer's clock), staleness of a silent peer beyond the
 * grace, and a new incarnation measured in its own stream only.
 */
import { describe, expect, it } from 'vitest';
import { HEARTBEAT_GRACE_SECONDS, MAX_LAG_SAMPLES, addLagSample, linkLag, skewEstimateMs, type LagSample, type LinkHeartbeat } from './link-lag.ts';

const T = 1_700_000_000_000;
const beat = (origin: string, wallMs: number, highWater: bigint, receivedAtMs = wallMs): LinkHeartbeat => ({ origin, wallMs, highWater, receivedAtMs });

function feed(beats: readonly LinkHeartbeat[]): LagSample[] {
  return beats.reduce<LagSample[]>((samples, b) => addLagSample(samples, b), []);
}

describe('link lag', () => {
  it('is zero when the applied prefix reaches the high-water and the heartbeat is fresh', () => {
    const b = beat('us.1', T, 100n);
    expect(linkLag(b, feed([b]), 100n, T + 500)).toEqual({ seconds: 0, sequence: 0 });
    expect(linkLag(b, feed([b]), 150n, T + 500)).toEqual({ seconds: 0, sequence: 0 });
  });

  it('counts sequences behind, and seconds since the first heartbeat whose high-water passed the applied prefix', () => {
    const beats = [beat('us.1', T, 10n), beat('us.1', T + 1000, 20n), beat('us.1', T + 2000, 30n), beat('us.1', T + 5000, 40n)];
    const samples = feed(beats);
    // Applied up to 15: the first unapplied update was published by T + 1000; the latest beat is T + 5000.
    expect(linkLag(beats[3]!, samples, 15n, T + 5000)).toEqual({ seconds: 4, sequence: 25 });
    expect(linkLag(beats[3]!, samples, 5n, T + 5000)).toEqual({ seconds: 5, sequence: 35 });
  });

  it('grows while the peer is silent, beyond the grace', () => {
    const b = beat('us.1', T, 10n);
    expect(linkLag(b, feed([b]), 10n, T + HEARTBEAT_GRACE_SECONDS * 1000)).toEqual({ seconds: 0, sequence: 0 });
    expect(linkLag(b, feed([b]), 10n, T + 12_000)).toEqual({ seconds: 10, sequence: 0 });
    expect(linkLag(b, feed([b]), 5n, T + 12_000)).toEqual({ seconds: 10, sequence: 5 });
  });

  it('measures a new incarnation in its own stream: the ended stream\'s samples are dropped', () => {
    const old = [beat('us.1', T, 1000n), beat('us.1', T + 60_000, 1000n)];
    const fresh = beat('us.2', T + 120_000, 1n);
    const samples = feed([...old, fresh]);
    expect(samples).toEqual([{ origin: 'us.2', wallMs: T + 120_000, highWater: 1n }]);
    expect(linkLag(fresh, samples, 0n, T + 120_000)).toEqual({ seconds: 0, sequence: 1 });
  });

  it('keeps one sample per heartbeat and at most MAX_LAG_SAMPLES', () => {
    const b = beat('us.1', T, 1n);
    expect(feed([b, b, b])).toHaveLength(1);
    const many = Array.from({ length: MAX_LAG_SAMPLES + 50 }, (_, i) => beat('us.1', T + i * 1000, BigInt(i)));
    const samples = feed(many);
    expect(samples).toHaveLength(MAX_LAG_SAMPLES);
    expect(samples[0]!.wallMs).toBe(T + 50_000);
  });

  it('estimates skew as receipt time minus the peer\'s wall time, either way', () => {
    expect(skewEstimateMs(beat('us.1', T, 1n, T + 250))).toBe(250);
    expect(skewEstimateMs(beat('us.1', T + 400, 1n, T))).toBe(400);
  });
});
