import { describe, expect, it } from 'vitest';
import { HealthBoard, type ProbeResult } from './health-board.ts';
import { decodeReplicationStatus } from './replication-status.ts';
import { loadConfig } from './config.ts';

const config = loadConfig({ MERIDIAN_GSLB_REGIONS: 'eu=http://eu.test@50.1,8.7;us=http://us.test@39,-77.5', MERIDIAN_GSLB_FAILURES_TO_DOWN: '2', MERIDIAN_GSLB_SUCCESSES_TO_UP: '2' });
const probe = (at: number, ok: boolean): ProbeResult => ({ at, ok, httpStatus: ok ? 200 : 503, latencyMs: 1, reason: ok ? undefined : 'HTTP 503' });

describe('health board', () => {
  it('runs each region through the transition table and reports transitions only when the status changes', () => {
    const transitions: string[] = [];
    const board = new HealthBoard(config.regions, config, { onTransition: (region, from, to) => transitions.push(`${region}:${from.status}->${to.status}`) });
    expect(board.allProbed()).toBe(false);
    board.recordProbe('eu', probe(1, true));
    board.recordProbe('eu', probe(2, true));
    expect(board.allProbed()).toBe(false);
    board.recordProbe('us', probe(3, false));
    expect(board.allProbed()).toBe(true);
    board.recordProbe('eu', probe(4, false));
    board.recordProbe('eu', probe(5, false));
    board.recordProbe('eu', probe(6, false));
    expect(transitions).toEqual(['eu:unknown->up', 'us:unknown->down', 'eu:up->failing', 'eu:failing->down']);
    expect(board.health('eu')).toEqual({ status: 'down', okStreak: 0, failStreak: 3, since: 5, lastProbeAt: 6 });
  });

  it('keeps a bounded probe history, oldest first, and counts every probe', () => {
    const board = new HealthBoard(config.regions, config, { historySize: 3 });
    for (let i = 1; i <= 5; i++) board.recordProbe('eu', probe(i, i % 2 === 0));
    const eu = board.observations()[0]!;
    expect(eu.probes.map((p) => p.at)).toEqual([3, 4, 5]);
    expect(eu.probeCounts).toEqual({ ok: 2, failed: 3 });
    // Snapshots are copies: later probes do not change what was handed out.
    board.recordProbe('eu', probe(6, true));
    expect(eu.probes.map((p) => p.at)).toEqual([3, 4, 5]);
  });

  it('views carry status, worst lag and applied vector; replication failures leave them unknown', () => {
    const board = new HealthBoard(config.regions, config);
    board.recordProbe('eu', probe(1, true));
    board.recordReplication('eu', { at: 1, status: decodeReplicationStatus({ applied: { 'eu.1': 7 }, peers: { us: { lagSeconds: 3 } } }), reason: undefined });
    board.recordReplication('us', { at: 1, status: undefined, reason: 'HTTP 404 (not served yet)' });
    expect(board.views()).toEqual(
      new Map([
        ['eu', { status: 'up', maxLagSeconds: 3, applied: new Map([['eu.1', 7n]]) }],
        ['us', { status: 'unknown', maxLagSeconds: undefined, applied: undefined }],
      ]),
    );
  });

  it('refuses results for a region it does not know (a wiring bug, not a state)', () => {
    const board = new HealthBoard(config.regions, config);
    expect(() => board.recordProbe('ap', probe(1, true))).toThrow('no region "ap" on this board');
  });
});
