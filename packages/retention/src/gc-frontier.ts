/**
 * The causally safe tombstone GC's decision (DESIGN §4 "Tombstone GC", decision 0012). Pure: the
 * service reads what each region has applied and published, and stores what this returns.
 *
 * A deleted register keeps a tombstone, whose causal context is what stops a late copy of a
 * superseded version from coming back. Such a copy travels in two kinds of update: the one that
 * wrote the version, and any later update of the key by a region that held the version and had
 * not applied the tombstone yet (a register update carries the key's whole version set). The
 * tombstone may go once every update of both kinds has been applied — or counted as applied
 * (dead-lettered; its key is then quarantined and never purged) — in every region. Dots are per
 * key, so the context cannot say which stream positions those updates had. Time bridges the two
 * domains, with D = MERIDIAN_MAX_CLOCK_DRIFT_MS bounding any clock's error and P the time a
 * committed update takes to be published, min age ≥ P + 2D (config enforces min age ≥ 10 D):
 *
 * - a sample (w, h) of origin X — X's heartbeat: "by my wall time w I had published up to
 *   sequence h", w clamped to the receiver's clock + D — covers every update X committed before
 *   its wall time w − min age;
 * - every version a tombstone's context covers has an HLC below the tombstone's, so it was
 *   written before the newest HLC wall time τ among the key's versions (an HLC runs ahead of real
 *   time, never behind by more than D);
 * - the frontier F is the element-wise minimum of every region's applied vector (its own actors
 *   count as applied everywhere in it: it wrote them). A sample with h ≤ F[X's actor] is stable.
 *
 * Two rounds. First: a heartbeat of region R at wall time w₁ whose applied vector covers, for
 * every other X, a sample of X at or after τ + min age (and w₁ ≥ τ + min age for R's own writes)
 * shows that R had applied every update written before τ by w₁ — its annotation
 * `appliedBeforeMs`. From then on R's updates of the key carry the tombstone, not the versions it
 * covers; the ones R sent before were committed before w₁. Second: a stable sample of R at
 * w₂ ≥ w₁ + min age shows those are applied everywhere. So a tombstone-only key whose τ is at most
 * min over R of (the best `appliedBeforeMs` of R's samples at least min age older than R's newest
 * stable one) may go: `purgeBeforeMs`. A region never heard from, or whose applied vector stops
 * (paused, failed, behind), keeps the cutoff where it is: GC waits for it and `blocking` names it.
 * Applied vectors only grow, so a stale heartbeat understates a region, never overstates it.
 */

/** What origin region X said of its own stream in one heartbeat: by X's wall time `wallMs` it had published up to `highWater`. */
export interface StreamSample {
  readonly wallMs: number;
  readonly highWater: bigint;
  /**
   * By `wallMs` X had applied every update, from every region, written before this wall time
   * (decideGc sets it on X's newest sample from the applied vector that heartbeat reported).
   */
  readonly appliedBeforeMs?: number;
}

/** One region of the deployment, as the deciding region knows it. */
export interface RegionView {
  readonly region: string;
  /** Its applied vector (origin actor → every sequence up to it applied); undefined: nothing heard from it yet. */
  readonly applied: ReadonlyMap<string, bigint> | undefined;
  /** The actor it writes as now (`<region>.<epoch>`); undefined: not known yet. */
  readonly actor: string | undefined;
  /** Samples of its own stream under `actor`, oldest first; the newest is the heartbeat that reported `applied`. */
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
  /** The samples worth keeping per region, the newest annotated (`appliedBeforeMs`): the older ones can never raise the cutoff again. */
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

/**
 * What `view`'s applied vector (reported with its newest sample) shows it had applied, in time:
 * every update written before the result, from every region; undefined when nothing shows it.
 */
function appliedBefore(view: RegionView, regions: readonly RegionView[], minAgeMs: number): number | undefined {
  const newest = view.samples.at(-1);
  if (view.applied === undefined || newest === undefined) return undefined;
  let before = newest.wallMs - minAgeMs; // its own writes
  for (const other of regions) {
    if (other === view) continue;
    if (other.actor === undefined) return undefined;
    const applied = view.applied.get(other.actor) ?? 0n;
    const covered = other.samples.findLast((s) => s.highWater <= applied);
    if (covered === undefined) return undefined;
    before = Math.min(before, covered.wallMs - minAgeMs);
  }
  return before;
}

/** `view`'s samples with its newest one annotated from its applied vector. */
function annotated(view: RegionView, regions: readonly RegionView[], minAgeMs: number): StreamSample[] {
  const samples = [...view.samples];
  const before = appliedBefore(view, regions, minAgeMs);
  const newest = samples.at(-1);
  if (before === undefined || newest === undefined) return samples;
  samples[samples.length - 1] = { ...newest, appliedBeforeMs: Math.max(before, newest.appliedBeforeMs ?? before) };
  return samples;
}

export function decideGc(input: GcInput): GcPlan {
  const frontier = gcFrontier(input.regions);
  const regions = input.regions.map((view): RegionView => ({ ...view, samples: annotated(view, input.regions, input.minAgeMs) }));
  const blocking = new Set<string>();
  const keep = new Map<string, readonly StreamSample[]>();
  let cutoff: number | undefined = Number.POSITIVE_INFINITY;
  for (const view of regions) {
    if (view.applied === undefined || view.actor === undefined) blocking.add(view.region);
    const newest = view.samples.at(-1);
    if (input.silentAfterMs !== undefined && newest !== undefined && input.nowMs - newest.wallMs > input.silentAfterMs) blocking.add(view.region);
    const stable = newestStable(view, frontier);
    // Round one: the best annotated sample at least min age older than the stable one (round two).
    let first = -1;
    if (stable >= 0) {
      const by = view.samples[stable]!.wallMs - input.minAgeMs;
      for (let i = 0; i <= stable && view.samples[i]!.wallMs <= by; i++) {
        const a = view.samples[i]!.appliedBeforeMs;
        if (a !== undefined && (first < 0 || a >= view.samples[first]!.appliedBeforeMs!)) first = i;
      }
    }
    keep.set(view.region, view.samples.slice(Math.max(0, first)));
    if (first < 0) cutoff = undefined;
    else if (cutoff !== undefined) cutoff = Math.min(cutoff, view.samples[first]!.appliedBeforeMs!);
    // Who keeps the oldest unstable sample that is overdue from becoming stable.
    const overdue = view.samples.slice(stable + 1).find((s) => input.nowMs - s.wallMs > input.blockedAfterMs);
    if (overdue && view.actor !== undefined) {
      for (const other of regions) if (!hasApplied(other, view.actor, overdue.highWater)) blocking.add(other.region);
    }
  }
  return {
    frontier,
    purgeBeforeMs: cutoff === undefined || !Number.isFinite(cutoff) ? undefined : cutoff,
    blocking: [...blocking].sort(),
    keep,
  };
}

/**
 * A peer's heartbeat as a sample: its wall time is believed no further ahead of the receiver's
 * clock than the drift bound (a fast peer clock would otherwise claim publication it has not done).
 */
export function peerSample(wallMs: number, highWater: bigint, receivedMs: number, maxClockDriftMs: number): StreamSample {
  return { wallMs: Math.min(wallMs, receivedMs + maxClockDriftMs), highWater };
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
 * The first counter of this region's dots on a key that has no row: max(the writing process's
 * wall time, its HLC ceiling) in ms × 1024. A purged key's dots are forgotten here, but a region
 * that has not purged it yet still holds them in its tombstone's context; a new write that minted
 * one of them again would count there as already seen, and be lost. Every dot of the key's
 * previous life was minted below 1024 × (its tombstone's HLC wall time τ) plus one per write, and
 * the purge comes at least min age after τ by the purging clock. The HLC ceiling never goes back
 * in a process (a clock stepped back) and follows the HLCs it receives from peers, and a process
 * whose clock is behind is behind by less than D ≤ min age / 10: the next life starts above τ,
 * above every counter used before unless this region wrote the key more than a million times a
 * second on average. A safe integer until the year 2248.
 */
export function freshDotBase(nowMs: number, hlcCeilingMs = 0): number {
  return Math.max(1, Math.floor(Math.max(nowMs, hlcCeilingMs)) * 1024);
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
