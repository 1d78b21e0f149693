/**
 * Observed-remove map (the δ-ORMap of Almeida, Shoker, Baquero) of named fields, each a register
 * (LWW), a counter or an add-wins set, all sharing one exact causal context. Immutable. This is
 * the `map` namespace.
 *
 * Every embedded write mints its own dot; a field's entries are dot stores:
 * - register: dot → (HLC, value). A write supersedes the field's observed dots; concurrent
 *   writes stay side by side and the value is the greatest (HLC, dot), so the winner is LWW while
 *   a concurrent delete can never take the winning write with it (its dot was not observed);
 * - counter: dot → this actor's running total (the δ-paper's causal counter, riak_dt's embedded
 *   counter). An increment by A replaces A's own entry with total + n under a fresh dot; the
 *   value is the sum of the live entries. Removal resets what it observed. Known, documented
 *   consequence (as in riak_dt): when a delete and an increment by A are concurrent, A's fresh
 *   entry carries A's whole running total, so A's contributions from before the delete survive
 *   with it — the increment survives (add-wins), and exact per-increment resets would need one
 *   dot per increment forever;
 * - set: element → dots, as the OR-Set (element-store.ts).
 *
 * Field removal (`delete`) ships the field's observed dots in the delta's context and nothing
 * else: no tombstone; a concurrent write to the field mints a dot the delete never saw, so the
 * write survives (add-wins). A field has one type: an operation that treats a field as another
 * type than the one it holds is refused (FieldTypeClash). Two regions may still create one field
 * with two types concurrently; both survive the join (no data is dropped), `value` shows the
 * type that wins by the fixed priority register > counter > set, `clashes()` lists such fields,
 * and the next write to the field supersedes the other types' observed entries.
 *
 * Canonical form: no empty field; entries sorted by dot; fields and elements sorted by name/text.
 * Encoding (type 'o', format 1): header, causal context (length-prefixed), actor table, varint
 * number of fields, then per field in name order: name, varint r, r × (dot, HLC, value text),
 * varint c, c × (dot, signed total), then its elements as the OR-Set writes them.
 */
import { CausalContext, compareStamped, formatHlc, parseHlc, type ActorId, type Dot, type Hlc, describeValue } from '@meridian/causality';
import { TypeByte, readCausalFrame, writeCausalFrame, type ActorTable, type ByteReader } from './binary-codec.ts';
import { canonicalJson, compareCanonical, parseCanonicalJson, type JsonValue } from './canonical-json.ts';
import { CrdtError, CrdtErrorCode, invalidEncoding } from './crdt-error.ts';
import { DotMinter, checkDotOrder, checkStoreDots, dotListLeq, joinDotLists, joinKeyed, sortByDot, survivors } from './dot-store.ts';
import {
  addElementsDelta,
  elementStoreDots,
  elementValues,
  elementsFromJSON,
  elementsLeq,
  elementsToJSON,
  emptyElements,
  joinElements,
  readElements,
  removeElementsDots,
  writeElements,
  type ElementJson,
  type ElementStore,
} from './element-store.ts';
import { counterJson } from './pn-counter.ts';
import { JSON_VERSION, dotFromJSON, dotToJSON, nested, readStateJson } from './state-json.ts';
import { pageKeys } from './collection-page.ts';

export const FieldType = { Register: 'register', Counter: 'counter', Set: 'set' } as const;
export type FieldType = (typeof FieldType)[keyof typeof FieldType];

/** Which type a field shows when concurrent writes gave it several (see the header). */
const TYPE_PRIORITY: readonly FieldType[] = [FieldType.Register, FieldType.Counter, FieldType.Set];

interface RegisterEntry {
  readonly dot: Dot;
  readonly hlc: Hlc;
  /** Canonical JSON text. */
  readonly text: string;
}

interface CounterEntry {
  readonly dot: Dot;
  /** The running total of the dot's actor in this field: a safe integer, possibly negative or 0. */
  readonly total: number;
}

interface Field {
  readonly registers: readonly RegisterEntry[];
  readonly counters: readonly CounterEntry[];
  readonly elements: ElementStore;
}

/** What one map operation does; fields are distinct across all its parts (validated by the kind). */
export interface MapMutations {
  readonly set?: readonly (readonly [string, JsonValue])[];
  readonly increment?: readonly (readonly [string, number])[];
  readonly add?: readonly (readonly [string, readonly JsonValue[]])[];
  readonly remove?: readonly (readonly [string, readonly JsonValue[]])[];
  readonly delete?: readonly string[];
}

export interface MapMutationContext {
  /** The region (with epoch) applying the operation: it mints the dots (needed unless the operation only removes). */
  readonly actor?: ActorId;
  /** The write's HLC; required when the operation sets a register field. */
  readonly hlc?: Hlc;
  /** The context the client read: a remove or delete then removes only what that client saw. */
  readonly observed?: CausalContext;
}

export interface FieldClash {
  readonly field: string;
  readonly types: FieldType[];
}

const MAX_HLC = (1n << 64n) - 1n;

const entryDot = (entry: { readonly dot: Dot }): Dot => entry.dot;
const pickRegister = (x: RegisterEntry, y: RegisterEntry): RegisterEntry => (compareCanonical(x.text, y.text) >= 0 ? x : y);
const pickCounter = (x: CounterEntry, y: CounterEntry): CounterEntry => (x.total >= y.total ? x : y);

export class ORMap {
  static readonly empty: ORMap = new ORMap(new Map(), CausalContext.empty);

  readonly #fields: ReadonlyMap<string, Field>;
  /** Every dot this state has seen; held dots are a subset. */
  readonly context: CausalContext;

  private constructor(fields: ReadonlyMap<string, Field>, context: CausalContext) {
    this.#fields = fields;
    this.context = context;
    Object.freeze(this);
  }

  static #of(fields: ReadonlyMap<string, Field>, context: CausalContext): ORMap {
    return fields.size === 0 && context.isEmpty() ? ORMap.empty : new ORMap(fields, context);
  }

  /**
   * The delta of one operation (several fields at once, each minting its own dots). Throws a
   * CrdtError (FieldTypeClash) if a field is used as another type than it holds, or
   * (MissingApplyContext) if a register is set without an HLC; nothing is changed then.
   */
  mutate(mutations: MapMutations, context: MapMutationContext): ORMap {
    return this.update(mutations, context).delta;
  }

  /**
   * A write: its delta, and the new state — equal to join(this, delta), computed by joining only
   * the touched fields (the delta's context holds no other field's dots), so a write into a large
   * map costs a map copy, not a join of every field.
   */
  update(mutations: MapMutations, context: MapMutationContext): { state: ORMap; delta: ORMap } {
    const delta = this.#delta(mutations, context);
    if (delta.isBottom()) return { state: this, delta };
    const fields = new Map(this.#fields);
    for (const name of touchedFields(mutations)) {
      const field = joinFields(this.#fields.get(name), this.context, delta.#fields.get(name), delta.context);
      if (field === undefined) fields.delete(name);
      else fields.set(name, field);
    }
    return { state: ORMap.#of(fields, this.context.join(delta.context)), delta };
  }

  #delta(mutations: MapMutations, context: MapMutationContext): ORMap {
    checkFieldNames(mutations);
    const minter = new DotMinter(this.context, context.actor);
    const delta = new Map<string, Field>();
    const seen: Dot[] = [];
    for (const [name, value] of mutations.set ?? []) {
      const field = this.#fieldAs(name, FieldType.Register);
      if (context.hlc === undefined) throw new CrdtError(CrdtErrorCode.MissingApplyContext, `setting field ${JSON.stringify(name)} needs the write's HLC`);
      if (typeof context.hlc !== 'bigint' || context.hlc < 0n || context.hlc > MAX_HLC) throw new CrdtError(CrdtErrorCode.InvalidValue, `an HLC must be a bigint in [0, 2^64) (got ${describeValue(context.hlc)})`);
      const d = minter.next();
      delta.set(name, { registers: [Object.freeze({ dot: d, hlc: context.hlc, text: canonicalJson(value, `value of field ${JSON.stringify(name)}`) })], counters: [], elements: emptyElements });
      seen.push(d, ...fieldDots(field));
    }
    for (const [name, amount] of mutations.increment ?? []) {
      if (!Number.isSafeInteger(amount) || amount === 0) throw new CrdtError(CrdtErrorCode.InvalidValue, `an increment must be a non-zero safe integer (got ${describeValue(amount)})`);
      const field = this.#fieldAs(name, FieldType.Counter);
      const own = field.counters.filter((entry) => entry.dot.actor === context.actor);
      const total = own.reduce((sum, entry) => sum + entry.total, 0) + amount;
      if (!Number.isSafeInteger(total)) {
        throw new CrdtError(CrdtErrorCode.CounterOverflow, `the counter entry of ${context.actor} in field ${JSON.stringify(name)} would leave the safe integer range`);
      }
      const d = minter.next();
      delta.set(name, { registers: [], counters: [Object.freeze({ dot: d, total })], elements: emptyElements });
      seen.push(d, ...own.map(entryDot), ...field.registers.map(entryDot), ...elementStoreDots(field.elements));
    }
    for (const [name, elements] of mutations.add ?? []) {
      const field = this.#fieldAs(name, FieldType.Set);
      const keys = new Set(elements.map((e) => canonicalJson(e, `element of field ${JSON.stringify(name)}`)));
      const added = addElementsDelta(field.elements, keys, minter);
      delta.set(name, { registers: [], counters: [], elements: added.store });
      seen.push(...added.seen, ...field.registers.map(entryDot), ...field.counters.map(entryDot));
    }
    for (const [name, elements] of mutations.remove ?? []) {
      const field = this.#fieldAs(name, FieldType.Set);
      const keys = new Set(elements.map((e) => canonicalJson(e, `element of field ${JSON.stringify(name)}`)));
      seen.push(...removeElementsDots(field.elements, keys, context.observed));
    }
    for (const name of mutations.delete ?? []) {
      const field = this.#fields.get(name);
      if (field === undefined) continue;
      const observed = context.observed;
      seen.push(...(observed === undefined ? fieldDots(field) : [...fieldDots(field)].filter((d) => observed.contains(d))));
    }
    return ORMap.#of(delta, CausalContext.fromDots(seen));
  }

  /** The delta of setting register `field` to `value` at `hlc`. */
  set(actor: ActorId, hlc: Hlc, field: string, value: JsonValue): ORMap {
    return this.mutate({ set: [[field, value]] }, { actor, hlc });
  }

  /** The delta of adding `amount` (a non-zero safe integer) to counter `field`. */
  increment(actor: ActorId, field: string, amount: number): ORMap {
    return this.mutate({ increment: [[field, amount]] }, { actor });
  }

  add(actor: ActorId, field: string, elements: readonly JsonValue[]): ORMap {
    return this.mutate({ add: [[field, elements]] }, { actor });
  }

  remove(field: string, elements: readonly JsonValue[], observed?: CausalContext): ORMap {
    return this.mutate({ remove: [[field, elements]] }, observed === undefined ? {} : { observed });
  }

  /** The delta of removing whole fields (observed-remove: concurrent writes to them survive). */
  delete(fields: readonly string[], observed?: CausalContext): ORMap {
    return this.mutate({ delete: fields }, observed === undefined ? {} : { observed });
  }

  /** The field's visible type, or undefined if absent. */
  fieldType(name: string): FieldType | undefined {
    const field = this.#fields.get(name);
    return field === undefined ? undefined : visibleType(field);
  }

  /** Field names, sorted. */
  fields(): string[] {
    return [...this.#fields.keys()].sort(compareCanonical);
  }

  has(name: string): boolean {
    return this.#fields.has(name);
  }

  /** One field's value: the register's winning value, the counter's sum, the set's elements. */
  get(name: string): { type: FieldType; value: JsonValue | bigint } | undefined {
    const field = this.#fields.get(name);
    if (field === undefined) return undefined;
    const type = visibleType(field);
    return { type, value: fieldValue(field, type) };
  }

  /** One field's value as JSON (a counter beyond 2^53 as a decimal string), undefined if absent. */
  fieldJson(name: string): JsonValue | undefined {
    const entry = this.get(name);
    if (entry === undefined) return undefined;
    return typeof entry.value === 'bigint' ? counterJson(entry.value) : entry.value;
  }

  /** The map as JSON: `{field: value}` in name order; a counter beyond 2^53 reads as a decimal string. */
  value(): { [field: string]: JsonValue } {
    return Object.fromEntries(this.fields().map((name) => [name, this.fieldJson(name) ?? null]));
  }

  /**
   * Up to `limit` fields after the field named `after`, in name order, with their values as JSON
   * (collection-page.ts); `next` is the position to ask for the following page from.
   */
  page(after: string | undefined, limit: number): { fields: [string, JsonValue][]; next: string | undefined } {
    const { keys, next } = pageKeys(this.#fields.keys(), after, limit);
    return { fields: keys.map((name) => [name, this.fieldJson(name) ?? null]), next };
  }

  /** Fields that concurrent writes gave more than one type (see the header). */
  clashes(): FieldClash[] {
    const clashes: FieldClash[] = [];
    for (const name of this.fields()) {
      const field = this.#fields.get(name);
      if (field === undefined) continue;
      const types = TYPE_PRIORITY.filter((type) => hasType(field, type));
      if (types.length > 1) clashes.push({ field: name, types });
    }
    return clashes;
  }

  join(other: ORMap): ORMap {
    if (other === this) return this;
    const a = this.context;
    const b = other.context;
    const fields = joinKeyed(this.#fields, other.#fields, (x, y) => joinFields(x, a, y, b));
    return ORMap.#of(fields, a.join(b));
  }

  leq(other: ORMap): boolean {
    if (!other.context.covers(this.context)) return false;
    for (const [name, theirs] of other.#fields) {
      const mine = this.#fields.get(name) ?? EMPTY_FIELD;
      if (!dotListLeq(mine.registers, this.context, theirs.registers, entryDot)) return false;
      if (!dotListLeq(mine.counters, this.context, theirs.counters, entryDot)) return false;
      if (!elementsLeq(mine.elements, this.context, theirs.elements)) return false;
    }
    return true;
  }

  equals(other: ORMap): boolean {
    return this.leq(other) && other.leq(this);
  }

  isBottom(): boolean {
    return this.#fields.size === 0 && this.context.isEmpty();
  }

  encode(): Uint8Array {
    const { writer, table } = writeCausalFrame(TypeByte.ORMap, this.context, this.#allDots());
    const names = this.fields();
    writer.uint(names.length);
    for (const name of names) {
      const field = this.#fields.get(name) ?? EMPTY_FIELD;
      writer.string(name).uint(field.registers.length);
      for (const entry of field.registers) {
        table.writeDot(writer, entry.dot);
        writer.hlc(entry.hlc).string(entry.text);
      }
      writer.uint(field.counters.length);
      for (const entry of field.counters) {
        table.writeDot(writer, entry.dot);
        writer.int(entry.total);
      }
      writeElements(writer, table, field.elements);
    }
    return writer.finish();
  }

  static decode(bytes: Uint8Array): ORMap {
    const { context, store } = readCausalFrame(bytes, TypeByte.ORMap, readFields);
    return ORMap.#checked(store, context, 'ORMap');
  }

  toJSON(): { type: 'or-map'; version: number; context: unknown; fields: FieldJson[] } {
    return {
      type: 'or-map',
      version: JSON_VERSION,
      context: this.context.toJSON(),
      fields: this.fields().map((name) => {
        const field = this.#fields.get(name) ?? EMPTY_FIELD;
        return {
          name,
          registers: field.registers.map((e) => ({ dot: dotToJSON(e.dot), hlc: formatHlc(e.hlc), value: parseCanonicalJson(e.text) })),
          counters: field.counters.map((e) => ({ dot: dotToJSON(e.dot), total: e.total })),
          elements: elementsToJSON(field.elements),
        };
      }),
    };
  }

  /** The fields as rows (decision 0013's split layout): name → the field's JSON, in name order. */
  fieldRows(): [string, FieldJson][] {
    return this.toJSON().fields.map((field) => [field.name, field]);
  }

  /**
   * A map from its context and some of its fields as rows (the whole map stored a row per field,
   * or the part of it a write reads). Checked as fromJSON checks: throws a CrdtError
   * (InvalidEncoding) on a dot outside the context, held twice, or a row under another name.
   */
  static fromFieldRows(context: CausalContext, rows: Iterable<readonly [string, FieldJson]>): ORMap {
    const fields = [...rows].map(([name, field]) => {
      if (field.name !== name) throw invalidEncoding(`or-map rows: the row of field ${JSON.stringify(name.slice(0, 40))} holds field ${JSON.stringify(String(field.name).slice(0, 40))}`);
      return field;
    });
    return ORMap.fromJSON({ type: 'or-map', version: JSON_VERSION, context: context.toJSON(), fields });
  }

  static fromJSON(json: unknown): ORMap {
    const record = readStateJson(json, 'or-map', ['context', 'fields']);
    const context = nested('or-map context', () => CausalContext.fromJSON(record.context));
    if (!Array.isArray(record.fields)) throw invalidEncoding(`or-map JSON: fields must be an array (got ${describeValue(record.fields)})`);
    const fields = new Map<string, Field>();
    for (const entry of record.fields as unknown[]) {
      const { name, registers, counters, elements } = exactObject(entry, ['counters', 'elements', 'name', 'registers'], 'or-map field');
      if (typeof name !== 'string' || !name.isWellFormed()) throw invalidEncoding(`or-map field name must be a well-formed string (got ${describeValue(name)})`);
      if (fields.has(name)) throw invalidEncoding(`or-map field ${JSON.stringify(name)} appears twice`);
      const what = `or-map field ${JSON.stringify(name.slice(0, 40))}`;
      const field: Field = {
        registers: sortedByDot(
          arrayOf(registers, `${what} registers`).map((r) => {
            const e = exactObject(r, ['dot', 'hlc', 'value'], `${what} register`);
            return Object.freeze({ dot: dotFromJSON(e.dot, `${what} register dot`), hlc: nested(`${what} HLC`, () => parseHlc(e.hlc as string)), text: nested(`${what} value`, () => canonicalJson(e.value)) });
          }),
          what,
        ),
        counters: sortedByDot(
          arrayOf(counters, `${what} counters`).map((c) => {
            const e = exactObject(c, ['dot', 'total'], `${what} counter`);
            if (typeof e.total !== 'number' || !Number.isSafeInteger(e.total)) throw invalidEncoding(`${what} counter total must be a safe integer (got ${describeValue(e.total)})`);
            return Object.freeze({ dot: dotFromJSON(e.dot, `${what} counter dot`), total: e.total });
          }),
          what,
        ),
        elements: elementsFromJSON(elements, what),
      };
      if (isEmptyField(field)) throw invalidEncoding(`${what} is empty`);
      fields.set(name, Object.freeze(field));
    }
    return ORMap.#checked(fields, context, 'or-map');
  }

  static #checked(fields: ReadonlyMap<string, Field>, context: CausalContext, what: string): ORMap {
    const dots = function* (): Generator<Dot> {
      for (const field of fields.values()) yield* fieldDots(field);
    };
    checkStoreDots(dots(), context, (message) => invalidEncoding(`${what}: ${message}`));
    return ORMap.#of(fields, context);
  }

  *#allDots(): Generator<Dot> {
    for (const field of this.#fields.values()) yield* fieldDots(field);
  }

  /** The field if it is absent or of `type`; a clash otherwise. */
  #fieldAs(name: string, type: FieldType): Field {
    const field = this.#fields.get(name);
    if (field === undefined) return EMPTY_FIELD;
    const actual = visibleType(field);
    if (actual !== type) {
      throw new CrdtError(CrdtErrorCode.FieldTypeClash, `field ${JSON.stringify(name)} holds a ${actual}, so it cannot be used as a ${type} (delete the field first)`);
    }
    return field;
  }

  toString(): string {
    return `ORMap{${JSON.stringify(this.value())} | ${this.context.toString()}}`;
  }
}

export interface FieldJson {
  readonly name: string;
  readonly registers: readonly { dot: [string, number]; hlc: string; value: JsonValue }[];
  readonly counters: readonly { dot: [string, number]; total: number }[];
  readonly elements: readonly ElementJson[];
}

const EMPTY_FIELD: Field = Object.freeze({ registers: [], counters: [], elements: emptyElements });

/** The fields of an encoded map, in name order; none empty. */
function readFields(reader: ByteReader, table: ActorTable): Map<string, Field> {
  const count = reader.count('fields', 4);
  const fields = new Map<string, Field>();
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const name = reader.string('field name');
    if (previous !== undefined && compareCanonical(previous, name) >= 0) throw invalidEncoding('ORMap: fields out of order or repeated');
    previous = name;
    const what = `ORMap field ${JSON.stringify(name.slice(0, 40))}`;
    const registers: RegisterEntry[] = [];
    const registerCount = reader.count(`${what} registers`, 11);
    for (let j = 0; j < registerCount; j++) {
      const d = table.readDot(reader);
      registers.push(Object.freeze({ dot: d, hlc: reader.hlc('HLC'), text: checkedText(reader.string('register value'), what) }));
    }
    const counters: CounterEntry[] = [];
    const counterCount = reader.count(`${what} counters`, 4);
    for (let j = 0; j < counterCount; j++) counters.push(Object.freeze({ dot: table.readDot(reader), total: reader.int('counter total') }));
    const field: Field = { registers: checkSorted(registers, what), counters: checkSorted(counters, what), elements: readElements(reader, table, what) };
    if (isEmptyField(field)) throw invalidEncoding(`${what} is empty`);
    fields.set(name, Object.freeze(field));
  }
  return fields;
}

/** One field after a join (undefined: absent from the result); an unchanged side keeps its identity. */
function joinFields(x: Field | undefined, a: CausalContext, y: Field | undefined, b: CausalContext): Field | undefined {
  const field: Field =
    x === undefined
      ? { registers: survivors(y?.registers ?? [], a, entryDot), counters: survivors(y?.counters ?? [], a, entryDot), elements: joinElements(emptyElements, a, y?.elements ?? emptyElements, b) }
      : y === undefined
        ? { registers: survivors(x.registers, b, entryDot), counters: survivors(x.counters, b, entryDot), elements: joinElements(x.elements, a, emptyElements, b) }
        : {
            registers: joinDotLists(x.registers, a, y.registers, b, entryDot, pickRegister),
            counters: joinDotLists(x.counters, a, y.counters, b, entryDot, pickCounter),
            elements: joinElements(x.elements, a, y.elements, b),
          };
  if (isEmptyField(field)) return undefined;
  return x !== undefined && sameField(field, x) ? x : y !== undefined && sameField(field, y) ? y : Object.freeze(field);
}

/** Each field at most once per operation, named by a well-formed string (validateMapOp says the same to clients). */
function checkFieldNames(mutations: MapMutations): void {
  const names = new Set<string>();
  for (const name of touchedFields(mutations)) {
    if (typeof name !== 'string' || !name.isWellFormed()) throw new CrdtError(CrdtErrorCode.InvalidValue, `a field name must be a well-formed string (got ${describeValue(name)})`);
    if (names.has(name)) throw new CrdtError(CrdtErrorCode.InvalidValue, `field ${JSON.stringify(name)} appears twice in one operation`);
    names.add(name);
  }
}

function* touchedFields(mutations: MapMutations): Generator<string> {
  for (const [name] of mutations.set ?? []) yield name;
  for (const [name] of mutations.increment ?? []) yield name;
  for (const [name] of mutations.add ?? []) yield name;
  for (const [name] of mutations.remove ?? []) yield name;
  yield* mutations.delete ?? [];
}

function* fieldDots(field: Field): Generator<Dot> {
  for (const entry of field.registers) yield entry.dot;
  for (const entry of field.counters) yield entry.dot;
  yield* elementStoreDots(field.elements);
}

function hasType(field: Field, type: FieldType): boolean {
  switch (type) {
    case FieldType.Register:
      return field.registers.length > 0;
    case FieldType.Counter:
      return field.counters.length > 0;
    case FieldType.Set:
      return field.elements.size > 0;
  }
}

function visibleType(field: Field): FieldType {
  return TYPE_PRIORITY.find((type) => hasType(field, type)) ?? FieldType.Set;
}

function isEmptyField(field: Field): boolean {
  return field.registers.length === 0 && field.counters.length === 0 && field.elements.size === 0;
}

function sameField(a: Field, b: Field): boolean {
  return a.registers === b.registers && a.counters === b.counters && a.elements === b.elements;
}

function fieldValue(field: Field, type: FieldType): JsonValue | bigint {
  switch (type) {
    case FieldType.Register: {
      let winner: RegisterEntry | undefined;
      for (const entry of field.registers) {
        if (winner === undefined || (compareStamped(entry, winner) || compareCanonical(entry.text, winner.text)) > 0) winner = entry;
      }
      return winner === undefined ? null : parseCanonicalJson(winner.text);
    }
    case FieldType.Counter:
      return field.counters.reduce((sum, entry) => sum + BigInt(entry.total), 0n);
    case FieldType.Set:
      return elementValues(field.elements);
  }
}

function checkedText(text: string, what: string): string {
  const canonical = nested(`${what} value`, () => canonicalJson(JSON.parse(text)));
  if (canonical !== text) throw invalidEncoding(`${what}: register value is not canonical JSON`);
  return text;
}

function checkSorted<E extends { readonly dot: Dot }>(entries: E[], what: string): E[] {
  checkDotOrder(entries, entryDot, (message) => invalidEncoding(`${what}: ${message}`));
  return entries;
}

function sortedByDot<E extends { readonly dot: Dot }>(entries: E[], what: string): E[] {
  return sortByDot(entries, entryDot, (message) => invalidEncoding(`${what}: ${message}`));
}

function exactObject(json: unknown, fields: readonly string[], what: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidEncoding(`${what}: expected an object (got ${describeValue(json)})`);
  const keys = Object.keys(json).sort();
  if (keys.join() !== fields.join()) throw invalidEncoding(`${what}: expected exactly the fields ${fields.join(', ')} (got ${keys.join(', ')})`);
  return json as Record<string, unknown>;
}

function arrayOf(json: unknown, what: string): unknown[] {
  if (!Array.isArray(json)) throw invalidEncoding(`${what}: expected an array (got ${describeValue(json)})`);
  return json as unknown[];
}
