/**
 * The dot store of an add-wins set, shared by the OR-Set and the set fields of the OR-Map: each
 * present element (by its canonical JSON text) maps to the dots of the adds that are still live.
 *
 * Add-wins: an add mints a fresh dot, which no concurrent remove can have seen, so it survives
 * every remove that did not observe it. An add also supersedes the element's older dots (they go
 * into the delta's context), so an element keeps one dot per concurrent add, not one per add ever.
 * A remove ships only the observed dots in its delta's context, so the store keeps no tombstone.
 *
 * Canonical: an element is present iff it has at least one dot; dots sorted by compareDots.
 */
import { type CausalContext, type Dot, describeValue } from '@meridian/causality';
import { type ActorTable, type ByteReader, type ByteWriter } from './binary-codec.ts';
import { canonicalJson, compareCanonical, parseCanonicalJson, type JsonValue } from './canonical-json.ts';
import { invalidEncoding } from './crdt-error.ts';
import { type DotMinter, dotListLeq, joinDotLists, joinKeyed, sortByDot, survivors } from './dot-store.ts';
import { dotFromJSON, dotToJSON } from './state-json.ts';

/** Canonical JSON text of an element → its live dots (sorted, never empty). */
export type ElementStore = ReadonlyMap<string, readonly Dot[]>;

export const emptyElements: ElementStore = new Map();

const identity = (d: Dot): Dot => d;
const first = (x: Dot): Dot => x;

export function joinElements(a: ElementStore, contextA: CausalContext, b: ElementStore, contextB: CausalContext): ElementStore {
  if (a === b) return a;
  return joinKeyed(a, b, (x, y) => joinElement(x, contextA, y, contextB));
}

/** One element's dots after a join (undefined: the element is absent from the result). */
export function joinElement(x: readonly Dot[] | undefined, contextA: CausalContext, y: readonly Dot[] | undefined, contextB: CausalContext): readonly Dot[] | undefined {
  const dots = x === undefined ? survivors(y ?? [], contextA, identity) : y === undefined ? survivors(x, contextB, identity) : joinDotLists(x, contextA, y, contextB, identity, first);
  return dots.length === 0 ? undefined : dots;
}

/**
 * join(a, delta) for a delta that a's own mutator made for `touched` elements: its context holds
 * only dots of those elements, so no other element can change and the join touches only them
 * (a copy of the map instead of a join of every element: the write path on a large set).
 */
export function joinTouched(a: ElementStore, contextA: CausalContext, delta: ElementStore, contextDelta: CausalContext, touched: Iterable<string>): ElementStore {
  const joined = new Map(a);
  for (const key of touched) {
    const dots = joinElement(a.get(key), contextA, delta.get(key), contextDelta);
    if (dots === undefined) joined.delete(key);
    else joined.set(key, dots);
  }
  return joined;
}

/** The lattice order of element stores, given that the caller checked contextB ⊇ contextA. */
export function elementsLeq(a: ElementStore, contextA: CausalContext, b: ElementStore): boolean {
  for (const [key, dots] of b) {
    if (!dotListLeq(a.get(key) ?? [], contextA, dots, identity)) return false;
  }
  return true;
}

/**
 * The delta of adding `keys` (canonical texts, deduplicated by the caller): one fresh dot each.
 * Returns the delta's store and the dots its context must hold (the fresh and the superseded ones).
 */
export function addElementsDelta(store: ElementStore, keys: Iterable<string>, minter: DotMinter): { store: Map<string, readonly Dot[]>; seen: Dot[] } {
  const delta = new Map<string, readonly Dot[]>();
  const seen: Dot[] = [];
  for (const key of keys) {
    const d = minter.next();
    delta.set(key, [d]);
    seen.push(d, ...(store.get(key) ?? []));
  }
  return { store: delta, seen };
}

/** The dots a remove of `keys` puts in its delta's context: those held, and seen by `observed` if given. */
export function removeElementsDots(store: ElementStore, keys: Iterable<string>, observed?: CausalContext): Dot[] {
  const removed: Dot[] = [];
  for (const key of keys) {
    for (const d of store.get(key) ?? []) if (observed === undefined || observed.contains(d)) removed.push(d);
  }
  return removed;
}

export function* elementStoreDots(store: ElementStore): Generator<Dot> {
  for (const dots of store.values()) yield* dots;
}

/** The present elements, in canonical-text order (fresh values: callers may mutate them). */
export function elementValues(store: ElementStore): JsonValue[] {
  return [...store.keys()].sort().map(parseCanonicalJson);
}

export function writeElements(writer: ByteWriter, table: ActorTable, store: ElementStore): void {
  // Plain sort() compares UTF-16 code units, the canonical order, and is much faster than a comparator.
  const keys = [...store.keys()].sort();
  writer.uint(keys.length);
  for (const key of keys) {
    writer.string(key);
    table.writeDots(writer, store.get(key) ?? []);
  }
}

export function readElements(reader: ByteReader, table: ActorTable, what: string): Map<string, readonly Dot[]> {
  const count = reader.count(`${what} elements`, 3);
  const store = new Map<string, readonly Dot[]>();
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const key = reader.string(`${what} element`);
    if (previous !== undefined && compareCanonical(previous, key) >= 0) throw invalidEncoding(`${what}: elements out of order or repeated`);
    previous = key;
    checkCanonicalText(key, what);
    store.set(key, table.readDots(reader, `${what} element ${key.slice(0, 40)}`));
  }
  return store;
}

export interface ElementJson {
  readonly value: JsonValue;
  readonly dots: readonly (readonly [string, number])[];
}

export function elementsToJSON(store: ElementStore): ElementJson[] {
  return [...store.keys()].sort().map((key) => ({ value: parseCanonicalJson(key), dots: (store.get(key) ?? []).map(dotToJSON) }));
}

export function elementsFromJSON(json: unknown, what: string): Map<string, readonly Dot[]> {
  if (!Array.isArray(json)) throw invalidEncoding(`${what}: expected an array of {value, dots} (got ${describeValue(json)})`);
  const store = new Map<string, readonly Dot[]>();
  for (const entry of json as unknown[]) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalidEncoding(`${what}: expected {value, dots} (got ${describeValue(entry)})`);
    const { value, dots } = entry as { value?: unknown; dots?: unknown };
    if (!('value' in entry) || !Array.isArray(dots) || dots.length === 0 || Object.keys(entry).length !== 2) {
      throw invalidEncoding(`${what}: expected exactly {value, dots} with at least one dot (got ${describeValue(entry)})`);
    }
    let key: string;
    try {
      key = canonicalJson(value, `${what} element`);
    } catch (error) {
      throw invalidEncoding(`${what}: ${(error as Error).message}`, error);
    }
    if (store.has(key)) throw invalidEncoding(`${what}: element ${key.slice(0, 40)} appears twice`);
    store.set(key, sortByDot((dots as unknown[]).map((d) => dotFromJSON(d, `${what} dot`)), identity, (message) => invalidEncoding(`${what}: ${message}`)));
  }
  return store;
}


/** Texts that are canonical JSON on sight: plain strings and small integers (most elements). */
const PLAIN_STRING = /^"[^"\\\u0000-\u001f]*"$/;
const SMALL_INTEGER = /^(?:0|-?[1-9][0-9]{0,14})$/;

/** A stored element text must be canonical, or one element could be stored under two texts. */
export function checkCanonicalText(key: string, what: string): void {
  if (PLAIN_STRING.test(key) || SMALL_INTEGER.test(key)) return;
  let canonical: string;
  try {
    canonical = canonicalJson(JSON.parse(key));
  } catch (error) {
    throw invalidEncoding(`${what}: element is not JSON`, error);
  }
  if (canonical !== key) throw invalidEncoding(`${what}: element text is not canonical JSON`);
}
