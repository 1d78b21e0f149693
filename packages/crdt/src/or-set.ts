/**
 * Add-wins observed-remove set (δ-AWORSet of Almeida, Shoker, Baquero): a dot store of elements
 * (see element-store.ts) and an exact causal context. Immutable. This is the `set` namespace.
 *
 * Elements are JSON values identified by their canonical text. An add mints one fresh dot per
 * element; a remove ships the element's observed dots in the delta's context and nothing else, so
 * the set keeps no tombstones; only the context (usually a compact vector) remembers. An element
 * is present iff one of its adds was not observed by any remove: concurrent add and remove, add
 * wins. "Observed" means the remover's replica had joined that add's delta — with deltas
 * delivered out of causal order that is all a replica can know, and it is what its users saw.
 *
 * Encoding (type 's', format 1): header, the causal context's own encoding (length-prefixed), the
 * actor table of the held dots, varint n, then n elements in canonical-text order: text, varint
 * m >= 1, m dots (actor index, counter) in dot order.
 */
import { CausalContext, type ActorId, type Dot } from '@meridian/causality';
import { TypeByte, readCausalFrame, writeCausalFrame } from './binary-codec.ts';
import { canonicalJson, parseCanonicalJson, type JsonValue } from './canonical-json.ts';
import { invalidEncoding } from './crdt-error.ts';
import { DotMinter, checkStoreDots, sortByDot } from './dot-store.ts';
import {
  addElementsDelta,
  checkCanonicalText,
  elementStoreDots,
  elementValues,
  elementsFromJSON,
  elementsLeq,
  elementsToJSON,
  emptyElements,
  joinElements,
  joinTouched,
  readElements,
  removeElementsDots,
  writeElements,
  type ElementJson,
  type ElementStore,
} from './element-store.ts';
import { JSON_VERSION, nested, readStateJson } from './state-json.ts';
import { pageKeys } from './collection-page.ts';

export class ORSet {
  static readonly empty: ORSet = new ORSet(emptyElements, CausalContext.empty);

  readonly #elements: ElementStore;
  /** Every dot this state has seen; held dots are a subset. */
  readonly context: CausalContext;

  private constructor(elements: ElementStore, context: CausalContext) {
    this.#elements = elements;
    this.context = context;
    Object.freeze(this);
  }

  static #of(elements: ElementStore, context: CausalContext): ORSet {
    return elements.size === 0 && context.isEmpty() ? ORSet.empty : new ORSet(elements, context);
  }

  /** The delta of `actor` adding `elements` (JSON values; repeats count once). */
  add(actor: ActorId, elements: readonly unknown[]): ORSet {
    return this.update({ add: elements }, actor).delta;
  }

  /**
   * The delta of removing `elements`: the dots of their adds go to the delta's context. With
   * `observed` (the context a client read), only the adds that client saw are removed.
   */
  remove(elements: readonly unknown[], observed?: CausalContext): ORSet {
    return this.update({ remove: elements }, undefined, observed).delta;
  }

  /**
   * A write: its delta, and the new state — equal to join(this, delta), computed by joining only
   * the touched elements (the delta's context holds no other element's dots), so a write into a
   * large set costs a map copy, not a join of every element.
   */
  update(op: { readonly add: readonly unknown[] } | { readonly remove: readonly unknown[] }, actor: ActorId | undefined, observed?: CausalContext): { state: ORSet; delta: ORSet } {
    const keys = new Set(('add' in op ? op.add : op.remove).map((e) => canonicalJson(e, 'set element')));
    let delta: ORSet;
    if ('add' in op) {
      const { store, seen } = addElementsDelta(this.#elements, keys, new DotMinter(this.context, actor));
      delta = ORSet.#of(store, CausalContext.fromDots(seen));
    } else {
      delta = ORSet.#of(emptyElements, CausalContext.fromDots(removeElementsDots(this.#elements, keys, observed)));
    }
    if (delta.isBottom()) return { state: this, delta };
    const elements = joinTouched(this.#elements, this.context, delta.#elements, delta.context, keys);
    return { state: ORSet.#of(elements, this.context.join(delta.context)), delta };
  }

  has(element: unknown): boolean {
    return this.#elements.has(canonicalJson(element, 'set element'));
  }

  /** The live dots of an element's adds (one per concurrent add). */
  dots(element: unknown): Dot[] {
    return [...(this.#elements.get(canonicalJson(element, 'set element')) ?? [])];
  }

  get size(): number {
    return this.#elements.size;
  }

  /** The elements, sorted by canonical text (fresh copies). */
  values(): JsonValue[] {
    return elementValues(this.#elements);
  }

  /**
   * Up to `limit` elements after the one whose canonical text is `after` (collection-page.ts);
   * `next` is the position to ask for the following page from, undefined after the last.
   */
  page(after: string | undefined, limit: number): { elements: JsonValue[]; next: string | undefined } {
    const { keys, next } = pageKeys(this.#elements.keys(), after, limit);
    return { elements: keys.map(parseCanonicalJson), next };
  }

  /** The present elements with their live dots, by canonical text, in no particular order. */
  entries(): IterableIterator<[string, readonly Dot[]]> {
    return this.#elements.entries();
  }

  /**
   * A state from its context and some of its elements (canonical text → live dots): the whole set
   * stored a row per element, or the part of it a write reads (element-rows.ts). Throws a
   * CrdtError (InvalidEncoding) when a dot is outside the context or held twice.
   */
  static fromRows(context: CausalContext, rows: Iterable<readonly [string, readonly Dot[]]>): ORSet {
    const elements = new Map<string, readonly Dot[]>();
    for (const [text, dots] of rows) {
      checkCanonicalText(text, 'ORSet row');
      if (dots.length === 0 || elements.has(text)) throw invalidEncoding(`ORSet rows: element ${text.slice(0, 40)} has no dots or appears twice`);
      elements.set(text, sortByDot([...dots], (d) => d, (message) => invalidEncoding(`ORSet rows: ${message}`)));
    }
    return ORSet.#checked(elements, context, 'ORSet rows');
  }

  join(other: ORSet): ORSet {
    if (other === this) return this;
    const elements = joinElements(this.#elements, this.context, other.#elements, other.context);
    return ORSet.#of(elements, this.context.join(other.context));
  }

  leq(other: ORSet): boolean {
    return other.context.covers(this.context) && elementsLeq(this.#elements, this.context, other.#elements);
  }

  equals(other: ORSet): boolean {
    return this.leq(other) && other.leq(this);
  }

  isBottom(): boolean {
    return this.#elements.size === 0 && this.context.isEmpty();
  }

  encode(): Uint8Array {
    const { writer, table } = writeCausalFrame(TypeByte.ORSet, this.context, elementStoreDots(this.#elements));
    writeElements(writer, table, this.#elements);
    return writer.finish();
  }

  static decode(bytes: Uint8Array): ORSet {
    const { context, store } = readCausalFrame(bytes, TypeByte.ORSet, (reader, table) => readElements(reader, table, 'ORSet'));
    return ORSet.#checked(store, context, 'ORSet');
  }

  toJSON(): { type: 'or-set'; version: number; context: unknown; elements: ElementJson[] } {
    return { type: 'or-set', version: JSON_VERSION, context: this.context.toJSON(), elements: elementsToJSON(this.#elements) };
  }

  static fromJSON(json: unknown): ORSet {
    const fields = readStateJson(json, 'or-set', ['context', 'elements']);
    const context = nested('or-set context', () => CausalContext.fromJSON(fields.context));
    return ORSet.#checked(elementsFromJSON(fields.elements, 'or-set'), context, 'or-set');
  }

  static #checked(elements: ElementStore, context: CausalContext, what: string): ORSet {
    checkStoreDots(elementStoreDots(elements), context, (message) => invalidEncoding(`${what}: ${message}`));
    return ORSet.#of(elements, context);
  }

  toString(): string {
    return `ORSet{${[...this.#elements].map(([k, dots]) => `${k} @ ${dots.map((d) => `${d.actor}:${d.counter}`).join('|')}`).join(', ')} | ${this.context.toString()}}`;
  }
}
