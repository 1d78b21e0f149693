/**
 * The health of one region as the GSLB sees it: a state machine written as a transition table
 * (`TRANSITIONS`) whose type makes the compiler check that every state × event cell is filled.
 * Pure: time comes in with the event (`at`, milliseconds of the caller's clock), never from
 * Date.now, so tests drive it cell by cell and every GSLB instance fed the same probe outcomes
 * reaches the same state.
 *
 * States:
 * - unknown:    never probed. Not routable. The first probe decides (there is no history to
 *               protect, and waiting R probes at start would leave the GSLB with no region).
 * - up:         routable; the last probe succeeded.
 * - failing:    still routable; 1 ≤ failStreak < F probes failed in a row. One good probe → up.
 * - down:       not routable; F probes failed in a row (or the first probe failed).
 * - recovering: still not routable; 1 ≤ okStreak < R probes succeeded in a row. One failed
 *               probe → down again.
 *
 * Hysteresis is the point: a region goes down only after F failed probes in a row and comes
 * back only after R good ones in a row, so a region whose probes alternate never changes
 * side (up ⇄ failing, or down ⇄ recovering). `since` moves only when the region changes side
 * (routable ⇄ not routable, or leaves unknown): it is what "down since" and "up since" mean.
 */

export const HealthStatus = {
  unknown: 'unknown',
  up: 'up',
  failing: 'failing',
  down: 'down',
  recovering: 'recovering',
} as const;
export type HealthStatus = (typeof HealthStatus)[keyof typeof HealthStatus];

export const HealthEventType = {
  probeOk: 'probe-ok',
  probeFailed: 'probe-failed',
} as const;
export type HealthEventType = (typeof HealthEventType)[keyof typeof HealthEventType];

export interface HealthEvent {
  readonly type: HealthEventType;
  /** When the probe concluded, in the caller's clock (ms). */
  readonly at: number;
}

export interface HealthThresholds {
  /** F: failed probes in a row that take a routable region down (≥ 1). */
  readonly failuresToDown: number;
  /** R: good probes in a row that bring a down region back (≥ 1). */
  readonly successesToUp: number;
}

export interface RegionHealth {
  readonly status: HealthStatus;
  /** Good probes in a row (0 after a failed one). */
  readonly okStreak: number;
  /** Failed probes in a row (0 after a good one). */
  readonly failStreak: number;
  /** When the region last changed side (routable or not); undefined while unknown. */
  readonly since: number | undefined;
  /** When the last probe concluded; undefined while unknown. */
  readonly lastProbeAt: number | undefined;
}

export const INITIAL_HEALTH: RegionHealth = Object.freeze({ status: HealthStatus.unknown, okStreak: 0, failStreak: 0, since: undefined, lastProbeAt: undefined });

/** Routable states: the region may be chosen. */
export function isRoutable(status: HealthStatus): boolean {
  return status === HealthStatus.up || status === HealthStatus.failing;
}

type Transition = (health: RegionHealth, event: HealthEvent, thresholds: HealthThresholds) => RegionHealth;

/** The counters after an event: the streak of the event's outcome grows, the other resets. */
function counted(health: RegionHealth, event: HealthEvent): Pick<RegionHealth, 'okStreak' | 'failStreak' | 'lastProbeAt'> {
  return event.type === HealthEventType.probeOk
    ? { okStreak: health.okStreak + 1, failStreak: 0, lastProbeAt: event.at }
    : { okStreak: 0, failStreak: health.failStreak + 1, lastProbeAt: event.at };
}

/** Moves to `status`; `since` moves only when routability changes (or the region leaves unknown). */
function to(status: HealthStatus): Transition {
  return (health, event) => {
    const sideChanged = health.status === HealthStatus.unknown || isRoutable(health.status) !== isRoutable(status);
    return { status, ...counted(health, event), since: sideChanged ? event.at : health.since };
  };
}

/** Moves to `reached` when the streak after the event reaches `threshold`, else to `short`. */
function whenStreak(streak: 'okStreak' | 'failStreak', threshold: keyof HealthThresholds, reached: HealthStatus, short: HealthStatus): Transition {
  return (health, event, thresholds) => {
    const next = counted(health, event)[streak];
    return to(next >= thresholds[threshold] ? reached : short)(health, event, thresholds);
  };
}

/**
 * Every state × event. The mapped type makes a missing cell a compile error; README.md shows
 * the same table (a unit test checks each cell).
 */
export const TRANSITIONS: { readonly [S in HealthStatus]: { readonly [E in HealthEventType]: Transition } } = {
  unknown: {
    'probe-ok': to(HealthStatus.up),
    'probe-failed': to(HealthStatus.down),
  },
  up: {
    'probe-ok': to(HealthStatus.up),
    'probe-failed': whenStreak('failStreak', 'failuresToDown', HealthStatus.down, HealthStatus.failing),
  },
  failing: {
    'probe-ok': to(HealthStatus.up),
    'probe-failed': whenStreak('failStreak', 'failuresToDown', HealthStatus.down, HealthStatus.failing),
  },
  down: {
    'probe-ok': whenStreak('okStreak', 'successesToUp', HealthStatus.up, HealthStatus.recovering),
    'probe-failed': to(HealthStatus.down),
  },
  recovering: {
    'probe-ok': whenStreak('okStreak', 'successesToUp', HealthStatus.up, HealthStatus.recovering),
    'probe-failed': to(HealthStatus.down),
  },
};

/** The state after `event`. Pure. */
export function nextHealth(health: RegionHealth, event: HealthEvent, thresholds: HealthThresholds): RegionHealth {
  return TRANSITIONS[health.status][event.type](health, event, thresholds);
}
