/**
 * Causal contexts: an EXACT set of dots, as a compact version vector plus the dots beyond it
 * (the "dot cloud"). Immutable.
 *
 * Why exact: a CRDT delta or a replicated state may carry eu.1:5 without eu.1:4 (4 is still in
 * flight). Summarising that as {eu.1: 5} would claim eu.1:4 was seen, and whatever eu.1:4 later
 * adds would be discarded as "already removed": silent data loss. So a context is never
 * compacted across a gap.
 *
 * Canonical form (so equal sets have equal fields, JSON and bytes):
 * - vector(a) = n means dots a:1..a:n are all in the set;
 * - cloud(a) holds the other dots of a, strictly increasing, every one > n + 1: a dot contiguous
 *   with the vector is folded into it, and so are the cloud dots contiguous with that.
 *
 * Encoding (kind 'C', format 1): header, then the body shared with DvvSet: varint k, then for each
 * of the k actors with any dot, in increasing actor order: actor, varint vector counter (0 allowed),
 * varint cloud size m (the actor must have a non-zero counter or m > 0), then m varint gaps: the
 * first cloud dot is counter + 2 + gap, each next one previous + 1 + gap. Every gap value is
 * valid, so the canonical form holds by construction.
 */
import { checkActor, checkCounter, compareActors, dot, type ActorId, type Dot } from './actor.ts';
import { ByteReader, ByteWriter, EncodingKind, encodingError } from './byte-codec.ts';
import { CausalityError, CausalityErrorCode, describeValue } from './causality-error.ts';
import { vectorFromCheckedEntries, VersionVector } from './version-vector.ts';

/** Per actor, the cloud counters: strictly increasing, the first > vector(actor) + 1. Actors in order. */
type Cloud = ReadonlyMap<ActorId, readonly number[]>;

let construct: (vector: VersionVector, cloud: Cloud) => CausalContext;

export class CausalContext {
  static {
    construct = (vector, cloud) => new CausalContext(vector, cloud);
  }

  static readonly empty: CausalContext = new CausalContext(VersionVector.empty, new Map());

  /** The compact part: every dot at or below it is in the set. */
  readonly vector: VersionVector;
  readonly #cloud: Cloud;

  private constructor(vector: VersionVector, cloud: Cloud) {
    this.vector = vector;
    this.#cloud = cloud;
    Object.freeze(this);
  }

  static fromDots(dots: Iterable<Dot>): CausalContext {
    const loose = new Map<ActorId, number[]>();
    for (const d of dots) {
      checkDot(d);
      pushCounter(loose, d.actor, d.counter);
    }
    return normalise(new Map(), loose);
  }

  static fromVector(vector: VersionVector): CausalContext {
    return vector.size === 0 ? CausalContext.empty : construct(vector, new Map());
  }

  /** The dots beyond the vector, sorted by compareDots. */
  cloud(): Dot[] {
    const dots: Dot[] = [];
    for (const [actor, counters] of this.#cloud) for (const counter of counters) dots.push(dot(actor, counter));
    return dots;
  }

  /** Every actor with at least one dot in the set, sorted. */
  actors(): ActorId[] {
    const actors = new Set([...this.vector.actors(), ...this.#cloud.keys()]);
    return [...actors].sort(compareActors);
  }

  contains(d: Dot): boolean {
    return d.counter <= this.vector.get(d.actor) || sortedIncludes(this.#cloud.get(d.actor), d.counter);
  }

  add(d: Dot): CausalContext {
    checkDot(d);
    if (this.contains(d)) return this;
    const loose = this.#looseCloud();
    pushCounter(loose, d.actor, d.counter);
    return normalise(new Map(this.vector.entries()), loose);
  }

  /** Set union. */
  join(other: CausalContext): CausalContext {
    if (this.covers(other)) return this;
    if (other.covers(this)) return other;
    const loose = this.#looseCloud();
    for (const [actor, counters] of other.#cloud) loose.set(actor, [...(loose.get(actor) ?? []), ...counters]);
    return normalise(new Map(this.vector.join(other.vector).entries()), loose);
  }

  /** Superset: every dot of other is in this. */
  covers(other: CausalContext): boolean {
    if (other === this) return true;
    // A shorter vector cannot be made up by the cloud: the dot after it is never in the cloud.
    if (!this.vector.dominates(other.vector)) return false;
    for (const [actor, counters] of other.#cloud) {
      for (const counter of counters) if (!this.contains({ actor, counter })) return false;
    }
    return true;
  }

  /** The highest counter known for actor (vector or cloud); 0 if none. */
  max(actor: ActorId): number {
    const counters = this.#cloud.get(actor);
    return counters?.[counters.length - 1] ?? this.vector.get(actor);
  }

  /** The dot after every known dot of actor. */
  next(actor: ActorId): Dot {
    return dot(checkActor(actor), this.max(actor) + 1);
  }

  /** Every dot, sorted by compareDots (lazily: a vector entry of n yields n dots). */
  *dots(): Generator<Dot, void, undefined> {
    for (const actor of this.actors()) {
      const top = this.vector.get(actor);
      for (let counter = 1; counter <= top; counter++) yield dot(actor, counter);
      for (const counter of this.#cloud.get(actor) ?? []) yield dot(actor, counter);
    }
  }

  isEmpty(): boolean {
    return this.vector.size === 0 && this.#cloud.size === 0;
  }

  equals(other: CausalContext): boolean {
    if (other === this) return true;
    if (!this.vector.equals(other.vector) || this.#cloud.size !== other.#cloud.size) return false;
    for (const [actor, counters] of this.#cloud) {
      const theirs = other.#cloud.get(actor);
      if (theirs?.length !== counters.length || counters.some((c, i) => theirs[i] !== c)) return false;
    }
    return true;
  }

  toJSON(): { vv: Record<ActorId, number>; cloud: [ActorId, number][] } {
    return { vv: this.vector.toJSON(), cloud: this.cloud().map((d) => [d.actor, d.counter]) };
  }

  /** Accepts `{vv, cloud}` as `toJSON` writes it; any valid dot set is accepted and normalised. */
  static fromJSON(json: unknown): CausalContext {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw jsonError(`expected {vv, cloud} (got ${describeValue(json)})`);
    const keys = Object.keys(json).sort();
    if (keys.length !== 2 || keys[0] !== 'cloud' || keys[1] !== 'vv') throw jsonError(`expected exactly the fields cloud and vv (got ${keys.join(', ') || 'none'})`);
    const { vv, cloud } = json as { vv: unknown; cloud: unknown };
    const vector = VersionVector.fromJSON(vv);
    if (!Array.isArray(cloud)) throw jsonError(`cloud: expected an array of [actor, counter] (got ${describeValue(cloud)})`);
    const loose = new Map<ActorId, number[]>();
    for (const entry of cloud as unknown[]) {
      if (!Array.isArray(entry) || entry.length !== 2) throw jsonError(`cloud entry: expected [actor, counter] (got ${describeValue(entry)})`);
      const [actor, counter] = entry as [unknown, unknown];
      checkActor(actor);
      pushCounter(loose, actor as ActorId, checkCounter(counter, 1, 'cloud dot counter'));
    }
    return normalise(new Map(vector.entries()), loose);
  }

  encode(): Uint8Array {
    const writer = new ByteWriter().header(EncodingKind.CausalContext);
    writeContextBody(writer, this);
    return writer.finish();
  }

  static decode(bytes: Uint8Array): CausalContext {
    const reader = new ByteReader(bytes).header(EncodingKind.CausalContext);
    const context = readContextBody(reader);
    reader.end();
    return context;
  }

  /** Debugging aid: `{eu.1:3} + [eu.1:5, us.1:2]`. */
  toString(): string {
    return `${this.vector.toString()} + [${this.cloud().map((d) => `${d.actor}:${d.counter}`).join(', ')}]`;
  }

  #looseCloud(): Map<ActorId, number[]> {
    return new Map([...this.#cloud].map(([actor, counters]) => [actor, [...counters]]));
  }
}

/** Internal (shared with DvvSet's encoding): the body of a CausalContext encoding. */
export function writeContextBody(writer: ByteWriter, context: CausalContext): void {
  const actors = context.actors();
  const cloud = groupCloud(context.cloud());
  writer.uint(actors.length);
  for (const actor of actors) {
    const top = context.vector.get(actor);
    const counters = cloud.get(actor) ?? [];
    writer.actor(actor).uint(top).uint(counters.length);
    let previous = top + 1;
    for (const counter of counters) {
      writer.uint(counter - previous - 1);
      previous = counter;
    }
  }
}

/** Internal: reads what `writeContextBody` wrote. */
export function readContextBody(reader: ByteReader): CausalContext {
  const count = reader.uint('actor count');
  const vector = new Map<ActorId, number>();
  const cloud = new Map<ActorId, readonly number[]>();
  let previousActor: ActorId | undefined;
  for (let i = 0; i < count; i++) {
    const actor = reader.actor();
    if (previousActor !== undefined && compareActors(previousActor, actor) >= 0) throw encodingError(`actors out of order: ${previousActor} then ${actor}`);
    previousActor = actor;
    const top = reader.uint(`vector counter of ${actor}`);
    const size = reader.uint(`cloud size of ${actor}`);
    if (top === 0 && size === 0) throw encodingError(`actor ${actor} listed without any dot`);
    if (top > 0) vector.set(actor, top);
    const counters: number[] = [];
    let previous = top + 1;
    for (let j = 0; j < size; j++) {
      const counter = previous + 1 + reader.uint(`cloud gap of ${actor}`);
      if (!Number.isSafeInteger(counter)) throw encodingError(`cloud dot of ${actor} exceeds the safe integer range`);
      counters.push(counter);
      previous = counter;
    }
    if (counters.length > 0) cloud.set(actor, Object.freeze(counters));
  }
  // The actors were read as valid actor ids in strictly increasing order, the counters kept are >= 1.
  return count === 0 ? CausalContext.empty : construct(vectorFromCheckedEntries(vector), cloud);
}

/**
 * Builds the canonical context of `vector` plus the `loose` dots (any order, duplicates and dots
 * already in the vector allowed): dots contiguous with the vector are folded into it.
 */
function normalise(vector: Map<ActorId, number>, loose: Map<ActorId, number[]>): CausalContext {
  const cloud = new Map<ActorId, readonly number[]>();
  for (const actor of [...loose.keys()].sort(compareActors)) {
    const counters = [...new Set(loose.get(actor))].sort((a, b) => a - b);
    let top = vector.get(actor) ?? 0;
    const beyond: number[] = [];
    for (const counter of counters) {
      // Fold only while no gap has been seen: after a gap, every later dot stays in the cloud.
      if (beyond.length === 0 && counter === top + 1) top = counter;
      else if (counter > top) beyond.push(counter);
    }
    if (top > 0) vector.set(actor, top);
    if (beyond.length > 0) cloud.set(actor, Object.freeze(beyond));
  }
  if (vector.size === 0 && cloud.size === 0) return CausalContext.empty;
  return construct(VersionVector.from(vector), cloud);
}

function groupCloud(dots: readonly Dot[]): Map<ActorId, number[]> {
  const grouped = new Map<ActorId, number[]>();
  for (const d of dots) pushCounter(grouped, d.actor, d.counter);
  return grouped;
}

function pushCounter(counters: Map<ActorId, number[]>, actor: ActorId, counter: number): void {
  const list = counters.get(actor);
  if (list) list.push(counter);
  else counters.set(actor, [counter]);
}

function checkDot(d: Dot): void {
  if (typeof d !== 'object' || d === null) throw new CausalityError(CausalityErrorCode.InvalidCounter, `expected a dot {actor, counter} (got ${describeValue(d)})`);
  checkActor(d.actor);
  checkCounter(d.counter, 1, 'dot counter');
}

function jsonError(message: string): CausalityError {
  return new CausalityError(CausalityErrorCode.InvalidJson, `invalid causal context JSON: ${message}`);
}

function sortedIncludes(sorted: readonly number[] | undefined, value: number): boolean {
  if (sorted === undefined) return false;
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = sorted[middle] ?? 0;
    if (at === value) return true;
    if (at < value) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}
