import { describe, expect, it } from 'vitest';
import { HealthEventType, HealthStatus, INITIAL_HEALTH, TRANSITIONS, isRoutable, nextHealth, type HealthEventType as EventType, type HealthStatus as Status, type HealthThresholds, type RegionHealth } from './region-health.ts';

const T: HealthThresholds = { failuresToDown: 3, successesToUp: 2 };
const ok = (at: number) => ({ type: HealthEventType.probeOk, at }) as const;
const failed = (at: number) => ({ type: HealthEventType.probeFailed, at }) as const;
const state = (status: Status, okStreak: number, failStreak: number, since: number | undefined = 100): RegionHealth => ({ status, okStreak, failStreak, since, lastProbeAt: since });

/**
 * Every cell of the table, with the counters on both sides of each threshold. Each row:
 * [from, event, to (status, okStreak, failStreak), since moves?].
 */
const CELLS: readonly [string, RegionHealth, EventType, Status, number, number, boolean][] = [
  ['unknown + ok → up (the first probe decides)', INITIAL_HEALTH, 'probe-ok', 'up', 1, 0, true],
  ['unknown + failed → down (the first probe decides)', INITIAL_HEALTH, 'probe-failed', 'down', 0, 1, true],
  ['up + ok → up', state('up', 4, 0), 'probe-ok', 'up', 5, 0, false],
  ['up + failed (1 < F) → failing', state('up', 4, 0), 'probe-failed', 'failing', 0, 1, false],
  ['failing + ok → up (the failure run is broken)', state('failing', 0, 2), 'probe-ok', 'up', 1, 0, false],
  ['failing + failed (2 < F) → failing', state('failing', 0, 1), 'probe-failed', 'failing', 0, 2, false],
  ['failing + failed (reaches F) → down', state('failing', 0, 2), 'probe-failed', 'down', 0, 3, true],
  ['down + ok (1 < R) → recovering', state('down', 0, 7), 'probe-ok', 'recovering', 1, 0, false],
  ['down + failed → down', state('down', 0, 7), 'probe-failed', 'down', 0, 8, false],
  ['recovering + ok (reaches R) → up', state('recovering', 1, 0), 'probe-ok', 'up', 2, 0, true],
  ['recovering + failed → down (the good run is broken)', state('recovering', 1, 0), 'probe-failed', 'down', 0, 1, false],
];

describe('region health transition table', () => {
  it.each(CELLS)('%s', (_name, from, event, status, okStreak, failStreak, sinceMoves) => {
    const to = nextHealth(from, { type: event, at: 500 }, T);
    expect(to).toEqual({ status, okStreak, failStreak, since: sinceMoves ? 500 : from.since, lastProbeAt: 500 });
  });

  it('the table has a cell for every state × event, and the cases above visit each', () => {
    const states = Object.values(HealthStatus);
    const events = Object.values(HealthEventType);
    for (const s of states) for (const e of events) expect(typeof TRANSITIONS[s][e]).toBe('function');
    const visited = new Set(CELLS.map(([, from, event]) => `${from.status}/${event}`));
    expect(visited.size).toBe(states.length * events.length);
  });

  it('with F = 1 and R = 1 a single probe changes side', () => {
    const one = { failuresToDown: 1, successesToUp: 1 };
    expect(nextHealth(state('up', 3, 0), failed(1), one).status).toBe('down');
    expect(nextHealth(state('down', 0, 3), ok(1), one).status).toBe('up');
  });

  it('does not trust the counters of a state it is not in: recovering + ok checks the new streak against R', () => {
    const r3 = { failuresToDown: 3, successesToUp: 3 };
    expect(nextHealth(state('recovering', 1, 0), ok(1), r3)).toMatchObject({ status: 'recovering', okStreak: 2 });
    expect(nextHealth(state('recovering', 2, 0), ok(1), r3)).toMatchObject({ status: 'up', okStreak: 3 });
  });

  it('goes down after exactly F failures in a row and up after exactly R good probes in a row', () => {
    let h = nextHealth(INITIAL_HEALTH, ok(0), T);
    const statuses: Status[] = [];
    let at = 1;
    for (const outcome of ['f', 'f', 'f', 'o', 'o', 'o'] as const) {
      h = nextHealth(h, outcome === 'o' ? ok(at) : failed(at), T);
      statuses.push(h.status);
      at += 1;
    }
    expect(statuses).toEqual(['failing', 'failing', 'down', 'recovering', 'up', 'up']);
    expect(h.since).toBe(5); // the R-th good probe
  });

  it('never changes side when probes alternate (no flapping), from either side and either phase', () => {
    for (const start of [state('up', 1, 0), state('down', 0, 5)]) {
      for (const phase of [0, 1]) {
        let h = start;
        for (let i = 0; i < 200; i++) {
          h = nextHealth(h, (i + phase) % 2 === 0 ? failed(i) : ok(i), T);
          expect(isRoutable(h.status)).toBe(isRoutable(start.status));
        }
        expect(h.since).toBe(start.since);
      }
    }
  });

  it('is pure: the same events from the same state give equal states, and the input is not changed', () => {
    const from = Object.freeze(state('failing', 0, 1));
    expect(nextHealth(from, failed(9), T)).toEqual(nextHealth(from, failed(9), T));
    expect(from).toEqual(state('failing', 0, 1));
  });

  it('routable states are up and failing only', () => {
    expect(Object.values(HealthStatus).filter(isRoutable)).toEqual(['up', 'failing']);
  });
});
