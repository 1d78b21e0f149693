/**
 * The join of causal dot stores (Almeida, Shoker, Baquero, §6): the one rule behind the OR-Set,
 * the OR-Map and its embedded registers, counters and sets.
 *
 * A causal state is a dot store plus a causal context C (every dot the replica has seen). A dot
 * that C contains but the store does not hold was removed (or superseded) there. So when joining
 * (s, C) with (s', C'), a dot survives iff both stores hold it, or one holds it and the other's
 * context has never seen it: (s ∩ s') ∪ (s \ C') ∪ (s' \ C). This is why removal needs no
 * tombstone — the context remembers — and why a context must be exact: a context that claimed a
 * dot it never saw would delete that dot's write on arrival.
 *
 * Lists here are sorted by compareDots and hold each dot once. A dot names one write forever, so
 * both sides' entries for a dot carry the same payload; `pick` still chooses deterministically
 * between them so that a join stays commutative even on corrupted input.
 */
import { compareDots, dotKey, isActorId, type ActorId, type CausalContext, type Dot } from '@meridian/causality';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';

/**
 * Joins two dot-keyed lists (a DotFun, or a DotSet when `dotOf` is the identity).
 * Returns `a` or `b` itself when the result equals it, so unchanged entries keep their identity.
 */
export function joinDotLists<E>(
  a: readonly E[],
  contextA: CausalContext,
  b: readonly E[],
  contextB: CausalContext,
  dotOf: (entry: E) => Dot,
  pick: (x: E, y: E) => E,
): readonly E[] {
  if (a === b) return a;
  const kept: E[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const order = x === undefined ? 1 : y === undefined ? -1 : compareDots(dotOf(x), dotOf(y));
    if (order === 0 && x !== undefined && y !== undefined) {
      kept.push(pick(x, y));
      i++;
      j++;
    } else if (order < 0 && x !== undefined) {
      if (!contextB.contains(dotOf(x))) kept.push(x);
      i++;
    } else if (y !== undefined) {
      if (!contextA.contains(dotOf(y))) kept.push(y);
      j++;
    }
  }
  if (sameEntries(kept, a)) return a;
  if (sameEntries(kept, b)) return b;
  return kept;
}

/** Keeps the entries of a one-sided list whose dots the other side's context has not seen. */
export function survivors<E>(entries: readonly E[], otherContext: CausalContext, dotOf: (entry: E) => Dot): readonly E[] {
  // The common case on the write path (a small delta joined into a large state) removes nothing:
  // check before allocating.
  let i = 0;
  while (i < entries.length && !otherContext.contains(dotOf(entries[i] as E))) i++;
  if (i === entries.length) return entries;
  return entries.filter((entry) => !otherContext.contains(dotOf(entry)));
}

/**
 * Joins two maps of embedded dot stores key by key; `joinValues` gets `undefined` for a side
 * without the key and returns `undefined` for an empty result, which is dropped (no empty entries:
 * that keeps states canonical). An entry held by both sides as the same object is kept as is.
 */
export function joinKeyed<K, V>(
  a: ReadonlyMap<K, V>,
  b: ReadonlyMap<K, V>,
  joinValues: (x: V | undefined, y: V | undefined) => V | undefined,
): Map<K, V> {
  const joined = new Map<K, V>();
  for (const [key, x] of a) {
    const y = b.get(key);
    const value = x === y ? x : joinValues(x, y);
    if (value !== undefined) joined.set(key, value);
  }
  for (const [key, y] of b) {
    if (a.has(key)) continue;
    const value = joinValues(undefined, y);
    if (value !== undefined) joined.set(key, value);
  }
  return joined;
}

/**
 * The lattice order on a dot list: (a, C) ≤ (b, C') given C ⊆ C' (checked by the caller) iff
 * every dot of b that C has seen is also in a — b never revives what a removed. Dots of a that b
 * lacks are fine: b removed them.
 */
export function dotListLeq<E>(a: readonly E[], contextA: CausalContext, b: readonly E[], dotOf: (entry: E) => Dot): boolean {
  if (a === b) return true;
  // Lists are short (at most one live dot per actor): a scan beats building a set, which is
  // kept for the long lists that only odd input can have.
  let holds = (d: Dot): boolean => a.some((entry) => compareDots(dotOf(entry), d) === 0);
  if (a.length > 16) {
    const mine = new Set(a.map((entry) => dotKey(dotOf(entry))));
    holds = (d) => mine.has(dotKey(d));
  }
  return b.every((entry) => {
    const d = dotOf(entry);
    return !contextA.contains(d) || holds(d);
  });
}

function sameEntries<E>(x: readonly E[], y: readonly E[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Mints the dots of one operation at one actor: the first is after every dot the context knows
 * of that actor, the next ones follow it. One dot per embedded write (per set element, per map
 * field), never shared: removing one must not remove another.
 */
export class DotMinter {
  readonly #context: CausalContext;
  readonly #actor: ActorId | undefined;
  #last: Dot | undefined;

  /** `actor` may be undefined for operations that only remove: they mint nothing. */
  constructor(context: CausalContext, actor: ActorId | undefined) {
    this.#context = context;
    this.#actor = actor;
  }

  next(): Dot {
    if (this.#actor === undefined) throw new CrdtError(CrdtErrorCode.MissingApplyContext, 'an operation that writes needs the actor that applies it');
    if (this.#last === undefined && !isActorId(this.#actor)) throw new CrdtError(CrdtErrorCode.InvalidValue, `invalid actor id ${JSON.stringify(this.#actor)}: expected "<region>.<epoch>"`);
    const counter = this.#last === undefined ? this.#context.next(this.#actor).counter : this.#last.counter + 1;
    this.#last = Object.freeze({ actor: this.#actor, counter });
    return this.#last;
  }
}

/** Sorts entries by their dots (compareDots) and refuses a repeated dot. */
export function sortByDot<E>(entries: E[], dotOf: (entry: E) => Dot, fail: (message: string) => Error): E[] {
  entries.sort((x, y) => compareDots(dotOf(x), dotOf(y)));
  for (let i = 1; i < entries.length; i++) {
    if (compareDots(dotOf(entries[i - 1] as E), dotOf(entries[i] as E)) === 0) throw fail(`dot ${dotKey(dotOf(entries[i] as E))} appears twice`);
  }
  return entries;
}

/** Refuses entries that are not strictly increasing by dot (a decoder's canonical-order check). */
export function checkDotOrder<E>(entries: readonly E[], dotOf: (entry: E) => Dot, fail: (message: string) => Error): void {
  for (let i = 1; i < entries.length; i++) {
    if (compareDots(dotOf(entries[i - 1] as E), dotOf(entries[i] as E)) >= 0) throw fail('entries out of dot order or repeated');
  }
}

/**
 * Refuses a decoded dot store that breaks the causal invariants: every held dot is in the
 * context (a replica holds only what it has seen), and no dot is held twice (a dot names one write).
 */
export function checkStoreDots(dots: Iterable<Dot>, context: CausalContext, fail: (message: string) => Error): void {
  const seen = new Map<ActorId, Set<number>>();
  for (const d of dots) {
    let counters = seen.get(d.actor);
    if (counters === undefined) seen.set(d.actor, (counters = new Set()));
    if (counters.has(d.counter)) throw fail(`dot ${dotKey(d)} is held twice`);
    counters.add(d.counter);
    if (!context.contains(d)) throw fail(`dot ${dotKey(d)} is outside the causal context`);
  }
}
