/**
 * The causally safe tombstone GC's decision (DESIGN §4 "Tombstone GC", decision 0012). Pure: the
 * service reads what each region has applied and published, and stores what this returns.
 *
 * A deleted register keeps a tombstone, whose causal context is what stops a late copy of a
 * superseded version from coming back. The tombstone may go once no region can still receive
 * such a copy: once every update its context covers has been applied — or counted as applied
 * (dead-lettered; its key is then quarantined and never purged) — in every region. Dots are per
 * key, so the context alone cannot say which stream positions those updates had. Time bridges
 * the two domains:
 *
 * - every update a tombstone's context covers was written before the tombstone (causality), so
 *   at most `skew` after the newest HLC wall time τ among the key's versions;
 * - an origin publishes what it commits within `MERIDIAN_TOMBSTONE_MIN_AGE` (the assumption;
 *   a region whose relay stops also stops its heartbeats, and holds GC back below);
 * - a sample (w, h) of origin X — X's heartbeat: "by my wall time w I had published up to
 *   sequence h" — therefore covers every update X wrote before w − min age;
 * - the frontier F is the element-wise minimum of every region's applied vector (its own
 *   actors count as applied everywhere in it: it wrote them). A sample with h ≤ F[X's actor] is
 *   stable: every region has applied what X published by w.
 *
 * So a tombstone-only key whose newest version is older than min over X of (the newest stable
 * sample's w) − min age is applied everywhere with all it covers: `purgeBeforeMs`. A region that
 * never sent a heartbeat, or whose applied vector stops (paused, failed, behind), keeps its
 * samples unstable and the cutoff where it is: GC waits for it and `blocking` names it.
 * Applied vectors only grow, so a stale heartbeat understates a region, never overstates it.
 */

/** What origin region X said of its own stream in one heartbeat: by X's wall time `wallMs` it had published up to `highWater`. */
export interface StreamSample {
  readonly wallMs: number;
  readonly highWater: bigint;
}

/** One region of the deployment, as the deciding region knows it. */
export interface RegionView {
  readonly region: string;
  /** Its applied vector (origin actor → every sequence up to it applied); undefined: nothing heard from it yet. */
  readonly applied: ReadonlyMap<string, bigint> | undefined;
  /** The actor it writes as now (`<region>.<epoch>`); undefined: not known yet. */
  readonly actor: string | undefined;
  /** Samples of its own stream under `actor`, oldest first. */
  readonly samples: readonly StreamSample[];
}

export interface GcInput {
  /** Every region of the deployment, this one included. */
  readonly regions: readonly RegionView[];
  readonly nowMs: number;
  /** MERIDIAN_TOMBSTONE_MIN_AGE. */
  readonly minAgeMs: number;
  /** A region behind a sample older than this holds GC back (`blocking`); younger ones are ordinary lag. */
  readonly blockedAfterMs: number;
  /** A region whose newest sample (heartbeat) is older than this is named too: stopped, failed or cut off (default: never). */
  readonly silentAfterMs?: number;
}

export interface GcPlan {
  /** Element-wise minimum of every region's applied vector (a region's own actors excluded from its own). */
  readonly frontier: ReadonlyMap<string, bigint>;
  /** Tombstones whose newest version's HLC wall time is at or below this may go; undefined: none may. */
  readonly purgeBeforeMs: number | undefined;
  /** Regions holding GC back, sorted: nothing heard from them, silent for longer than `silentAfterMs`, or behind another region's stream for longer than `blockedAfterMs`. */
  readonly blocking: readonly string[];
  /** The samples worth keeping per region: from its newest stable one on (the older ones can never raise the cutoff again). */
  readonly keep: ReadonlyMap<string, readonly StreamSample[]>;
}

/** The region an actor (`<region>.<epoch>`) writes for. */
export function regionOfActor(actor: string): string {
  const dot = actor.lastIndexOf('.');
  return dot <= 0 ? actor : actor.slice(0, dot);
}

/** Element-wise minimum of the regions' applied vectors over every actor any of them names. */
export function gcFrontier(regions: readonly RegionView[]): Map<string, bigint> {
  const actors = new Set<string>();
  for (const r of regions) {
    for (const actor of r.applied?.keys() ?? []) actors.add(actor);
    if (r.actor !== undefined) actors.add(r.actor);
  }
  const frontier = new Map<string, bigint>();
  for (const actor of [...actors].sort()) {
    let min: bigint | undefined;
    for (const r of regions) {
      if (regionOfActor(actor) === r.region) continue; // it wrote them
      const applied = r.applied?.get(actor) ?? 0n;
      if (min === undefined || applied < min) min = applied;
    }
    frontier.set(actor, min ?? 0n);
  }
  return frontier;
}

/** The newest sample every region has applied, by index; -1 when none. */
function newestStable(view: RegionView, frontier: ReadonlyMap<string, bigint>): number {
  if (view.actor === undefined) return -1;
  const applied = frontier.get(view.actor) ?? 0n;
  for (let i = view.samples.length - 1; i >= 0; i--) if (view.samples[i]!.highWater <= applied) return i;
  return -1;
}

/** Whether `view` has applied `actor`'s stream up to `highWater` (its own streams always). */
function hasApplied(view: RegionView, actor: string, highWater: bigint): boolean {
  return regionOfActor(actor) === view.region || (view.applied?.get(actor) ?? 0n) >= highWater;
}

export function decideGc(input: GcInput): GcPlan {
  const frontier = gcFrontier(input.regions);
  const blocking = new Set<string>();
  const keep = new Map<string, readonly StreamSample[]>();
  let cutoff: number | undefined = Number.POSITIVE_INFINITY;
  for (const view of input.regions) {
    if (view.applied === undefined || view.actor === undefined) blocking.add(view.region);
    const newest = view.samples.at(-1);
    if (input.silentAfterMs !== undefined && newest !== undefined && input.nowMs - newest.wallMs > input.silentAfterMs) blocking.add(view.region);
    const stable = newestStable(view, frontier);
    keep.set(view.region, view.samples.slice(Math.max(0, stable)));
    if (stable < 0) cutoff = undefined;
    else if (cutoff !== undefined) cutoff = Math.min(cutoff, view.samples[stable]!.wallMs - input.minAgeMs);
    // Who keeps the oldest unstable sample that is overdue from becoming stable.
    const overdue = view.samples.slice(stable + 1).find((s) => input.nowMs - s.wallMs > input.blockedAfterMs);
    if (overdue && view.actor !== undefined) {
      for (const other of input.regions) if (!hasApplied(other, view.actor, overdue.highWater)) blocking.add(other.region);
    }
  }
  return {
    frontier,
    purgeBeforeMs: cutoff === undefined || !Number.isFinite(cutoff) ? undefined : cutoff,
    blocking: [...blocking].sort(),
    keep,
  };
}

/** A key row as the purge sees it. */
export interface PurgeCandidate {
  /** Every version is a tombstone (a register deleted everywhere it was written). */
  readonly tombstoneOnly: boolean;
  /** Wall time (ms) of the newest version's HLC. */
  readonly newestWallMs: number;
  /** A dead letter of this key waits for an operator here: its redrive must meet the row, not an absence. */
  readonly quarantined: boolean;
}

export function mayPurge(candidate: PurgeCandidate, purgeBeforeMs: number | undefined): boolean {
  return purgeBeforeMs !== undefined && candidate.tombstoneOnly && !candidate.quarantined && candidate.newestWallMs <= purgeBeforeMs;
}

/**
 * The first counter of this region's dots on a key that has no row: the write's wall time in
 * ms × 1024. A purged key's dots are forgotten here, but a region that has not purged it yet
 * still holds them in its tombstone's context; a new write that minted one of them again would
 * count there as already seen, and be lost. A purge needs the tombstone to be at least min age
 * (≥ 1 s) old, so the key's next life starts at least 1,024,000 counters above where its
 * previous one started: above every counter it used unless this region wrote the key more than a
 * million times a second on average. A safe integer until the year 2248.
 */
export function freshDotBase(nowMs: number): number {
  return Math.max(1, Math.floor(nowMs) * 1024);
}

/** How many samples a region keeps at most; beyond it every other old one goes (the cutoff only gets coarser). */
export const MAX_SAMPLES = 4096;

/**
 * `samples` with `sample` appended; a sample that goes back in time or in sequence is ignored.
 * (A region's new incarnation is a new stream: the caller starts its samples again.)
 */
export function withSample(samples: readonly StreamSample[], sample: StreamSample): StreamSample[] {
  const last = samples.at(-1);
  if (last !== undefined && (sample.wallMs <= last.wallMs || sample.highWater < last.highWater)) return [...samples];
  const out = [...samples, sample];
  if (out.length <= MAX_SAMPLES) return out;
  const half = Math.floor(out.length / 2);
  return [...out.slice(0, half).filter((_, i) => i % 2 === 1), ...out.slice(half)];
}
