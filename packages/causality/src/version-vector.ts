/**
 * Version vectors: for each actor, how many of its events are known. Immutable.
 *
 * Invariants: entries are kept sorted by actor (compareActors) with counters >= 1; an absent actor
 * means 0, and a zero counter is never stored, so equal vectors have equal entries, JSON and bytes.
 * `compare` is the causal order: 'before' iff this < other element-wise with at least one strict
 * entry, 'concurrent' iff neither dominates. A vector summarises a *contiguous* prefix of each
 * actor's events: it must never be built from a set of dots with a gap (CausalContext keeps those).
 *
 * Encoding (kind 'V', format 1): header, varint n, then n times (actor, varint counter >= 1) in
 * strictly increasing actor order.
 */
import { checkActor, checkCounter, compareActors, dot, type ActorId, type Dot } from './actor.ts';
import { ByteReader, ByteWriter, EncodingKind, encodingError } from './byte-codec.ts';
import { CausalityError, CausalityErrorCode, describeValue } from './causality-error.ts';

export type Ordering = 'before' | 'after' | 'equal' | 'concurrent';

type Entry = readonly [ActorId, number];

let fromSorted: (entries: Entry[]) => VersionVector;

export class VersionVector {
  static {
    fromSorted = (entries) => (entries.length === 0 ? VersionVector.empty : new VersionVector(Object.freeze(entries)));
  }

  static readonly empty: VersionVector = new VersionVector([]);

  readonly #entries: readonly Entry[];
  readonly #counters: ReadonlyMap<ActorId, number>;

  /** Internal: `entries` must already be sorted, unique, validated and free of zeros. */
  private constructor(entries: readonly Entry[]) {
    this.#entries = entries;
    this.#counters = new Map(entries);
    Object.freeze(this);
  }

  /** Builds a vector from entries or a record; zero counters are dropped, a repeated actor is refused. */
  static from(entries: Iterable<readonly [ActorId, number]> | Readonly<Record<ActorId, number>>): VersionVector {
    const source: Iterable<readonly [ActorId, number]> = isIterable(entries) ? entries : Object.entries(entries);
    const seen = new Set<ActorId>();
    const kept: Entry[] = [];
    for (const [actor, counter] of source) {
      checkActor(actor);
      checkCounter(counter, 0, `counter of ${actor}`);
      if (seen.has(actor)) throw new CausalityError(CausalityErrorCode.InvalidActor, `actor ${actor} appears twice`);
      seen.add(actor);
      if (counter > 0) kept.push(Object.freeze([actor, counter] as const));
    }
    return VersionVector.#fromUnsorted(kept);
  }

  static #fromUnsorted(entries: Entry[]): VersionVector {
    if (entries.length === 0) return VersionVector.empty;
    entries.sort((a, b) => compareActors(a[0], b[0]));
    return new VersionVector(Object.freeze(entries));
  }

  get(actor: ActorId): number {
    return this.#counters.get(actor) ?? 0;
  }

  /** Actors with a non-zero counter, sorted. */
  actors(): ActorId[] {
    return this.#entries.map(([actor]) => actor);
  }

  /** Sorted by actor, zero entries omitted; a fresh array the caller may keep. */
  entries(): [ActorId, number][] {
    return this.#entries.map(([actor, counter]) => [actor, counter]);
  }

  /** The number of actors with a non-zero counter. */
  get size(): number {
    return this.#entries.length;
  }

  increment(actor: ActorId): { vector: VersionVector; dot: Dot } {
    checkActor(actor);
    const counter = this.get(actor) + 1;
    const minted = dot(actor, counter);
    const entries = this.#entries.filter(([a]) => a !== actor);
    entries.push(Object.freeze([actor, counter] as const));
    return { vector: VersionVector.#fromUnsorted(entries), dot: minted };
  }

  /** Element-wise maximum: the least upper bound. */
  join(other: VersionVector): VersionVector {
    if (this.dominates(other)) return this;
    if (other.dominates(this)) return other;
    const merged: Entry[] = [];
    mergeWalk(this.#entries, other.#entries, (actor, mine, theirs) => {
      merged.push(Object.freeze([actor, Math.max(mine, theirs)] as const));
      return true;
    });
    return new VersionVector(Object.freeze(merged));
  }

  /** The causal order: 'before' means this happened before other (this < other). */
  compare(other: VersionVector): Ordering {
    let less = false;
    let greater = false;
    mergeWalk(this.#entries, other.#entries, (_actor, mine, theirs) => {
      if (mine < theirs) less = true;
      else if (mine > theirs) greater = true;
      return !(less && greater);
    });
    if (less && greater) return 'concurrent';
    if (less) return 'before';
    if (greater) return 'after';
    return 'equal';
  }

  /** this >= other element-wise. */
  dominates(other: VersionVector): boolean {
    if (other === this) return true;
    for (const [actor, counter] of other.#entries) {
      if (this.get(actor) < counter) return false;
    }
    return true;
  }

  contains(d: Dot): boolean {
    return d.counter <= this.get(d.actor);
  }

  equals(other: VersionVector): boolean {
    if (other === this) return true;
    if (other.#entries.length !== this.#entries.length) return false;
    return this.#entries.every(([actor, counter], i) => {
      const theirs = other.#entries[i];
      return theirs !== undefined && theirs[0] === actor && theirs[1] === counter;
    });
  }

  toJSON(): Record<ActorId, number> {
    const json: Record<ActorId, number> = {};
    for (const [actor, counter] of this.#entries) json[actor] = counter;
    return json;
  }

  /** Accepts exactly what `toJSON` produces (zero counters are tolerated and dropped). */
  static fromJSON(json: unknown): VersionVector {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new CausalityError(CausalityErrorCode.InvalidJson, `invalid version vector JSON: expected an object of actor -> counter (got ${describeValue(json)})`);
    }
    const prototype = Object.getPrototypeOf(json) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      throw new CausalityError(CausalityErrorCode.InvalidJson, 'invalid version vector JSON: expected a plain object');
    }
    return VersionVector.from(json as Record<ActorId, number>);
  }

  encode(): Uint8Array {
    const writer = new ByteWriter().header(EncodingKind.VersionVector).uint(this.#entries.length);
    for (const [actor, counter] of this.#entries) writer.actor(actor).uint(counter);
    return writer.finish();
  }

  /** Decodes what `encode` wrote, refusing any other (non-canonical) form. */
  static decode(bytes: Uint8Array): VersionVector {
    const reader = new ByteReader(bytes).header(EncodingKind.VersionVector);
    const count = reader.uint('actor count');
    const entries: Entry[] = [];
    let previous: ActorId | undefined;
    for (let i = 0; i < count; i++) {
      const actor = reader.actor();
      if (previous !== undefined && compareActors(previous, actor) >= 0) throw encodingError(`actors out of order: ${previous} then ${actor}`);
      const counter = reader.uint(`counter of ${actor}`);
      if (counter === 0) throw encodingError(`zero counter stored for ${actor}`);
      entries.push(Object.freeze([actor, counter] as const));
      previous = actor;
    }
    reader.end();
    return entries.length === 0 ? VersionVector.empty : new VersionVector(Object.freeze(entries));
  }

  /** Debugging aid: `{eu.1:3, us.1:2}`. */
  toString(): string {
    return `{${this.#entries.map(([actor, counter]) => `${actor}:${counter}`).join(', ')}}`;
  }
}

function isIterable(value: object): value is Iterable<readonly [ActorId, number]> {
  return typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function';
}

/**
 * Walks two sorted entry lists in actor order, calling `visit` with both counters (0 where absent)
 * for every actor in either; stops early when `visit` returns false.
 */
function mergeWalk(a: readonly Entry[], b: readonly Entry[], visit: (actor: ActorId, mine: number, theirs: number) => boolean): void {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const order = x === undefined ? 1 : y === undefined ? -1 : compareActors(x[0], y[0]);
    let go: boolean;
    if (order < 0 && x !== undefined) {
      go = visit(x[0], x[1], 0);
      i++;
    } else if (order > 0 && y !== undefined) {
      go = visit(y[0], 0, y[1]);
      j++;
    } else if (x !== undefined && y !== undefined) {
      go = visit(x[0], x[1], y[1]);
      i++;
      j++;
    } else {
      return;
    }
    if (!go) return;
  }
}

/**
 * Internal (causal-context.ts's decoding): the vector of entries that are already checked —
 * valid actors, strictly increasing by compareActors, counters >= 1 — without checking them again.
 */
export function vectorFromCheckedEntries(entries: Iterable<readonly [ActorId, number]>): VersionVector {
  return fromSorted(Array.from(entries, ([actor, counter]) => Object.freeze([actor, counter] as const)));
}
