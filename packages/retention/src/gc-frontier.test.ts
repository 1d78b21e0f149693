/** The GC's decision from regions' applied vectors and stream samples, and durations. */
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';
import { CausalContext, DvvSet, VersionVector, type ActorId } from '@meridian/causality';
import { decideGc, freshDotBase, gcFrontier, mayPurge, MAX_SAMPLES, peerSample, withSample, type RegionView } from './gc-frontier.ts';

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

  it('purges below what every region had applied a min age before its newest stable sample, and keeps the samples from there on', () => {
    const eu = view('eu', { 'us.1': 20 }, [[10 * HOUR, 5], [50 * HOUR, 10], [99 * HOUR, 30]]);
    const us = view('us', { 'eu.1': 10 }, [[40 * HOUR, 20], [80 * HOUR, 25]]);
    // Earlier rounds annotated eu's 10 h sample (it had applied everything written before 1 h)
    // and us's 40 h one (before 3 h) from the applied vectors those heartbeats reported.
    const annotate = (v: RegionView, at: number, appliedBeforeMs: number): RegionView => ({ ...v, samples: v.samples.map((s) => (s.wallMs === at ? { ...s, appliedBeforeMs } : s)) });
    const plan = decideGc(input([annotate(eu, 10 * HOUR, 1 * HOUR), annotate(us, 40 * HOUR, 3 * HOUR)]));
    // eu's newest stable sample: h=10 at 50 h (us applied eu up to 10), a min age after its 10 h
    // one; us's: h=20 at 40 h, but nothing of us's a min age older is annotated: no cutoff yet.
    expect(plan.purgeBeforeMs).toBeUndefined();
    // The newest samples are annotated now: eu's 99 h heartbeat reported us applied up to 20
    // (us's 40 h sample): before 40 h − min age; us's 80 h one, eu up to 10: before 50 h − min age.
    expect(plan.keep.get('eu')).toEqual([{ wallMs: 10 * HOUR, highWater: 5n, appliedBeforeMs: 1 * HOUR }, { wallMs: 50 * HOUR, highWater: 10n }, { wallMs: 99 * HOUR, highWater: 30n, appliedBeforeMs: 40 * HOUR - minAgeMs }]);
    expect(plan.keep.get('us')).toEqual([{ wallMs: 40 * HOUR, highWater: 20n, appliedBeforeMs: 3 * HOUR }, { wallMs: 80 * HOUR, highWater: 25n, appliedBeforeMs: 50 * HOUR - minAgeMs }]);
    // us is behind eu's 99 h sample (10 < 30), eu behind us's 80 h sample (20 < 25): both hold GC back.
    expect(plan.blocking).toEqual(['eu', 'us']);
    // Once eu has applied us up to 25 (us's 80 h sample stable, a min age after its 40 h one),
    // the cutoff is the older of the two annotations.
    const later = decideGc(input([{ ...eu, applied: new Map([['us.1', 25n]]), samples: plan.keep.get('eu')! }, { ...us, samples: plan.keep.get('us')! }]));
    expect(later.purgeBeforeMs).toBe(1 * HOUR);
  });

  it('a region never heard from holds GC back and is named; so does one without a stable sample', () => {
    const plan = decideGc(input([view('eu', { 'us.1': 0 }, [[10 * HOUR, 0]]), view('us', undefined)]));
    expect(plan.purgeBeforeMs).toBeUndefined();
    expect(plan.blocking).toEqual(['us']);
  });

  it('a paused region stops the cutoff where its applied vector stands, and only it is named', () => {
    const annotated = (region: string, applied: Record<string, number>, samples: [number, number][]): RegionView => {
      const v = view(region, applied, samples);
      return { ...v, samples: [{ wallMs: -20 * HOUR, highWater: 0n, appliedBeforeMs: -50 * HOUR }, ...v.samples] };
    };
    const regions = [
      annotated('eu', { 'us.1': 50, 'ap.1': 50 }, [[10 * HOUR, 40], [90 * HOUR, 60]]),
      annotated('us', { 'eu.1': 60, 'ap.1': 50 }, [[10 * HOUR, 40], [90 * HOUR, 50]]),
      annotated('ap', { 'eu.1': 40, 'us.1': 40 }, [[10 * HOUR, 40], [90 * HOUR, 50]]), // paused at 40
    ];
    const plan = decideGc(input(regions));
    // ap's newest stable sample is at 10 h: only what every region had applied by −14 h may go.
    expect(plan.purgeBeforeMs).toBe(-50 * HOUR);
    expect(plan.blocking).toEqual(['ap']);
    // Behind for less than blockedAfterMs is ordinary lag: nobody is named.
    expect(decideGc({ ...input(regions), nowMs: 90 * HOUR + 1000 }).blocking).toEqual([]);
  });

  it('names a region silent for longer than silentAfterMs, even when nothing is written', () => {
    // Each with a sample annotated a min age before its newest (round one), and nothing written since.
    const withRoundOne = (v: RegionView, appliedBeforeMs: number): RegionView => ({ ...v, samples: [{ wallMs: v.samples[0]!.wallMs - minAgeMs, highWater: 5n, appliedBeforeMs }, ...v.samples] });
    const regions = [withRoundOne(view('eu', { 'us.1': 5 }, [[now, 5]]), 10 * HOUR), withRoundOne(view('us', { 'eu.1': 5 }, [[now - 120_000, 5]]), 20 * HOUR)];
    expect(decideGc(input(regions)).blocking).toEqual([]);
    expect(decideGc({ ...input(regions), silentAfterMs: 60_000 }).blocking).toEqual(['us']);
    // Naming it changes nothing else: what it had applied may still go.
    expect(decideGc({ ...input(regions), silentAfterMs: 60_000 }).purgeBeforeMs).toBe(10 * HOUR);
  });
});

interface Version {
  readonly value: string | undefined;
  readonly wallMs: number;
}
type Register = DvvSet<Version>;
const live = (s: Register | undefined): string[] => (s?.values() ?? []).flatMap((v) => (v.value === undefined ? [] : [v.value])).sort();
const merge = (row: Register | undefined, incoming: Register): Register => (row ? row.sync(incoming) : incoming);
const EU = 'eu.1' as ActorId;
const US = 'us.1' as ActorId;

describe('regressions', () => {
  it('a write made by a region before it applied the delete carries the deleted version: no purge until it is applied everywhere', () => {
    const minAgeMs = HOUR;
    const t0 = 1_700_000_000_000;
    // eu writes 'a' (eu seq 1); us and ap apply it. eu deletes it (eu seq 2); ap applies it, us's link from eu is paused.
    const v = DvvSet.empty<Version>().update(undefined, EU, { value: 'a', wallMs: t0 }).set;
    const tau = t0 + 1000;
    const t = v.update(v.context(), EU, { value: undefined, wallMs: tau }).set;
    const ap = merge(v, t);
    // A min age later a client writes k at us blind: us's update (us seq 1) carries eu's 'a' beside 'b'.
    const tw = tau + minAgeMs + 60_000;
    const u2 = v.update(undefined, US, { value: 'b', wallMs: tw }).set;
    // us resumes and applies the delete; its heartbeat (partition 0) reaches ap before us seq 1 does.
    const now = tw + 5_000;
    const views: RegionView[] = [
      { region: 'ap', applied: new Map([[EU, 2n], [US, 0n]]), actor: 'ap.1', samples: [{ wallMs: now, highWater: 0n }] },
      { region: 'eu', applied: new Map([[US, 0n], ['ap.1', 0n]]), actor: EU, samples: [{ wallMs: t0 + 500, highWater: 1n, appliedBeforeMs: t0 + 500 - minAgeMs }, { wallMs: tau + minAgeMs + 120_000, highWater: 2n }] },
      // us's sample before its write, annotated then (it had applied eu up to 1: before t0 + 500 − min age), and its heartbeat after applying the delete.
      { region: 'us', applied: new Map([[EU, 2n], ['ap.1', 0n]]), actor: US, samples: [{ wallMs: tau + minAgeMs + 30_000, highWater: 0n, appliedBeforeMs: t0 + 500 - minAgeMs }, { wallMs: now - 1000, highWater: 1n }] },
    ];
    const plan = decideGc({ regions: views, nowMs: now, minAgeMs, blockedAfterMs: 60_000 });
    expect(mayPurge({ tombstoneOnly: true, newestWallMs: tau, quarantined: false }, plan.purgeBeforeMs)).toBe(false);
    // us's heartbeat is annotated: it had applied the delete.
    expect(plan.keep.get('us')!.at(-1)!.appliedBeforeMs).toBeGreaterThanOrEqual(tau);
    expect(live(merge(ap, u2))).toEqual(['b']); // us seq 1 then meets the tombstone at ap: 'a' stays deleted
  });

  it('a key written again after its purge, from a process whose clock is behind, starts above its old dots (HLC ceiling)', () => {
    const minAgeMs = 1000;
    const t0 = 1_700_000_000_000;
    const fresh = (nowMs: number, hlcMs: number): Register => DvvSet.seen<Version>(CausalContext.fromVector(VersionVector.from({ [EU]: freshDotBase(nowMs, hlcMs) - 1 })));
    // eu writes k, then deletes it; us applies both; eu purges it a min age later.
    const w1 = fresh(t0, t0).update(undefined, EU, { value: 'a', wallMs: t0 }).set;
    const del = w1.update(w1.context(), EU, { value: undefined, wallMs: t0 + 10 }).set;
    // Its clock is then stepped back 5 s: the wall clock says t0 − 3.5 s, the HLC holds t0 + 10.
    const now2 = t0 + minAgeMs + 500 - 5000;
    const w2 = fresh(now2, t0 + 10).update(undefined, EU, { value: 'b', wallMs: t0 + 11 }).set;
    expect(live(del.sync(w2))).toEqual(['b']);
    // From the wall clock alone the dot is one us's tombstone covers: the write would be lost.
    expect(live(del.sync(fresh(now2, 0).update(undefined, EU, { value: 'b', wallMs: now2 }).set))).toEqual([]);
  });

  it('a heartbeat from a peer is believed no further ahead than the drift bound', () => {
    expect(peerSample(10 * HOUR, 5n, 9 * HOUR, 60_000)).toEqual({ wallMs: 9 * HOUR + 60_000, highWater: 5n });
    expect(peerSample(9 * HOUR, 5n, 9 * HOUR, 60_000)).toEqual({ wallMs: 9 * HOUR, highWater: 5n });
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
    expect(freshDotBase(1000, 2000)).toBe(freshDotBase(2000));
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
