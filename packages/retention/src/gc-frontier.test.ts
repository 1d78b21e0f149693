/** The GC's decision from regions' applied vectors and stream samples, and durations. */
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';
import { decideGc, freshDotBase, gcFrontier, mayPurge, MAX_SAMPLES, withSample, type RegionView } from './gc-frontier.ts';

const HOUR = 3_600_000;
const view = (region: string, applied: Record<string, number> | undefined, samples: [number, number][] = []): RegionView => ({
  region,
  applied: applied === undefined ? undefined : new Map(Object.entries(applied).map(([a, n]) => [a, BigInt(n)])),
  actor: `${region}.1`,
  samples: samples.map(([wallMs, h]) => ({ wallMs, highWater: BigInt(h) })),
});

describe('parseDuration', () => {
  it('reads 5s, 10m, 24h (and ms, d); refuses bare numbers and other units', () => {
    expect([parseDuration('5s'), parseDuration('10m'), parseDuration('24h'), parseDuration('250ms'), parseDuration('7d')]).toEqual([5000, 600_000, 24 * HOUR, 250, 7 * 24 * HOUR]);
    for (const bad of ['24', '5 s', '1.5h', '-5s', '5w', '']) expect(() => parseDuration(bad)).toThrow('a duration such as 500ms, 5s, 10m, 24h or 7d');
    expect(formatDuration(24 * HOUR)).toBe('1d');
    expect(formatDuration(parseDuration('90s'))).toBe('90s');
  });
});

describe('gcFrontier', () => {
  it('is the element-wise minimum of every region\'s applied vector; a region\'s own actors do not lower it', () => {
    const frontier = gcFrontier([view('eu', { 'us.1': 7, 'ap.1': 3 }), view('us', { 'eu.1': 9, 'ap.1': 5 }), view('ap', { 'eu.1': 4, 'us.1': 8 })]);
    expect(Object.fromEntries(frontier)).toEqual({ 'ap.1': 3n, 'eu.1': 4n, 'us.1': 7n });
  });

  it('counts a region never heard from as having applied nothing', () => {
    expect(gcFrontier([view('eu', { 'us.1': 7 }), view('us', undefined)]).get('us.1')).toBe(7n);
    expect(gcFrontier([view('eu', { 'us.1': 7 }), view('us', undefined)]).get('eu.1')).toBe(0n);
  });
});

describe('decideGc', () => {
  const now = 100 * HOUR;
  const minAgeMs = 24 * HOUR;
  const input = (regions: RegionView[]) => ({ regions, nowMs: now, minAgeMs, blockedAfterMs: 60_000 });

  it('purges below the oldest newest-stable sample minus the min age, and keeps the samples from the stable one on', () => {
    const plan = decideGc(input([
      view('eu', { 'us.1': 20 }, [[10 * HOUR, 5], [50 * HOUR, 10], [99 * HOUR, 30]]),
      view('us', { 'eu.1': 10 }, [[40 * HOUR, 20], [80 * HOUR, 25]]),
    ]));
    // eu's newest stable sample: h=10 at 50 h (us applied eu up to 10); us's: h=20 at 40 h.
    expect(plan.purgeBeforeMs).toBe(40 * HOUR - minAgeMs);
    expect(plan.keep.get('eu')).toEqual([{ wallMs: 50 * HOUR, highWater: 10n }, { wallMs: 99 * HOUR, highWater: 30n }]);
    expect(plan.keep.get('us')).toEqual([{ wallMs: 40 * HOUR, highWater: 20n }, { wallMs: 80 * HOUR, highWater: 25n }]);
    // us is behind eu's 99 h sample (10 < 30), eu behind us's 80 h sample (20 < 25): both hold GC back.
    expect(plan.blocking).toEqual(['eu', 'us']);
  });

  it('a region never heard from holds GC back and is named; so does one without a stable sample', () => {
    const plan = decideGc(input([view('eu', { 'us.1': 0 }, [[10 * HOUR, 0]]), view('us', undefined)]));
    expect(plan.purgeBeforeMs).toBeUndefined();
    expect(plan.blocking).toEqual(['us']);
  });

  it('a paused region stops the cutoff where its applied vector stands, and only it is named', () => {
    const regions = [
      view('eu', { 'us.1': 50, 'ap.1': 50 }, [[10 * HOUR, 40], [90 * HOUR, 60]]),
      view('us', { 'eu.1': 60, 'ap.1': 50 }, [[10 * HOUR, 40], [90 * HOUR, 50]]),
      view('ap', { 'eu.1': 40, 'us.1': 40 }, [[10 * HOUR, 40], [90 * HOUR, 50]]), // paused at 40
    ];
    const plan = decideGc(input(regions));
    expect(plan.purgeBeforeMs).toBe(10 * HOUR - minAgeMs);
    expect(plan.blocking).toEqual(['ap']);
    // Behind for less than blockedAfterMs is ordinary lag: nobody is named.
    expect(decideGc({ ...input(regions), nowMs: 90 * HOUR + 1000 }).blocking).toEqual([]);
  });

  it('names a region silent for longer than silentAfterMs, even when nothing is written', () => {
    const regions = [view('eu', { 'us.1': 5 }, [[now, 5]]), view('us', { 'eu.1': 5 }, [[now - 120_000, 5]])];
    expect(decideGc(input(regions)).blocking).toEqual([]);
    expect(decideGc({ ...input(regions), silentAfterMs: 60_000 }).blocking).toEqual(['us']);
    expect(decideGc({ ...input(regions), silentAfterMs: 60_000 }).purgeBeforeMs).toBe(now - 120_000 - minAgeMs);
  });
});

describe('mayPurge', () => {
  it('only an old enough tombstone-only key that no dead letter waits on', () => {
    const old = { tombstoneOnly: true, newestWallMs: 10, quarantined: false };
    expect(mayPurge(old, 10)).toBe(true);
    expect(mayPurge(old, 9)).toBe(false);
    expect(mayPurge(old, undefined)).toBe(false);
    expect(mayPurge({ ...old, tombstoneOnly: false }, 10)).toBe(false);
    expect(mayPurge({ ...old, quarantined: true }, 10)).toBe(false);
  });
});

describe('freshDotBase and withSample', () => {
  it('starts a key\'s next life a million counters per second above its last start, and stays a safe integer for centuries', () => {
    expect(freshDotBase(2000) - freshDotBase(1000)).toBe(1024_000);
    expect(freshDotBase(0)).toBe(1);
    expect(Number.isSafeInteger(freshDotBase(Date.UTC(2200, 0, 1)))).toBe(true);
  });

  it('ignores a sample that goes back, and thins the oldest half beyond MAX_SAMPLES', () => {
    let samples = withSample([], { wallMs: 1, highWater: 1n });
    expect(withSample(samples, { wallMs: 1, highWater: 2n })).toEqual(samples);
    expect(withSample(samples, { wallMs: 2, highWater: 0n })).toEqual(samples);
    for (let i = 2; i <= MAX_SAMPLES + 1; i++) samples = withSample(samples, { wallMs: i, highWater: BigInt(i) });
    expect(samples.length).toBeLessThanOrEqual(MAX_SAMPLES);
    expect(samples.at(-1)).toEqual({ wallMs: MAX_SAMPLES + 1, highWater: BigInt(MAX_SAMPLES + 1) });
  });
});
