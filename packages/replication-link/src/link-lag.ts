/**
 * How far behind one replication link is, from the peer's heartbeats (DESIGN §5). Pure: the
 * caller passes the time. A heartbeat carries the peer's wall clock and the high-water sequence
 * of the stream it publishes (its current actor); this region's applied vector says how much of
 * that stream is applied (`contiguous`).
 *
 * - Lag in sequences: the high-water minus the contiguous prefix applied here (0 when caught up).
 * - Lag in seconds: how long ago, by the peer's clock, the first update not applied here was
 *   published — the wall time between the first heartbeat sample whose high-water passed the
 *   applied prefix and the latest heartbeat — plus how stale the latest heartbeat is beyond a
 *   grace of two seconds (a silent peer or a stopped consumer lets lag grow).
 * - A peer's new incarnation is a new stream: only samples of the latest heartbeat's actor count.
 */

/** A heartbeat as this region stored it: the peer's actor, its wall clock and high-water, and when it arrived here. */
export interface LinkHeartbeat {
  readonly origin: string;
  readonly wallMs: number;
  readonly highWater: bigint;
  readonly receivedAtMs: number;
}

/** One earlier heartbeat of the peer's current stream. */
export interface LagSample {
  readonly origin: string;
  readonly wallMs: number;
  readonly highWater: bigint;
}

export interface LinkLag {
  readonly seconds: number;
  readonly sequence: number;
}

/** Samples kept per peer (a heartbeat a second: ten minutes). */
export const MAX_LAG_SAMPLES = 600;
/** A heartbeat younger than this is not late (heartbeats are sent every second). */
export const HEARTBEAT_GRACE_SECONDS = 2;

/** The peer's samples after `beat`: those of its actor only, the beat added once, at most MAX_LAG_SAMPLES. */
export function addLagSample(samples: readonly LagSample[], beat: LinkHeartbeat): LagSample[] {
  const out = samples.filter((s) => s.origin === beat.origin);
  if (out.at(-1)?.wallMs !== beat.wallMs) out.push({ origin: beat.origin, wallMs: beat.wallMs, highWater: beat.highWater });
  return out.slice(-MAX_LAG_SAMPLES);
}

/** The link's lag given the latest heartbeat, its stream's samples (`addLagSample`), what is applied of it, and the time now. */
export function linkLag(beat: LinkHeartbeat, samples: readonly LagSample[], contiguous: bigint, nowMs: number): LinkLag {
  const sequence = beat.highWater > contiguous ? Number(beat.highWater - contiguous) : 0;
  let seconds = Math.max(0, (nowMs - beat.receivedAtMs) / 1000 - HEARTBEAT_GRACE_SECONDS);
  if (sequence > 0) {
    const firstUnapplied = samples.find((s) => s.origin === beat.origin && s.highWater > contiguous);
    seconds += firstUnapplied ? Math.max(0, (beat.wallMs - firstUnapplied.wallMs) / 1000) : 0;
  }
  return { seconds, sequence };
}

/** The clock skew to the peer, as an upper bound: receipt time here minus the peer's wall time (network delay included). */
export function skewEstimateMs(beat: LinkHeartbeat): number {
  return Math.abs(beat.receivedAtMs - beat.wallMs);
}
