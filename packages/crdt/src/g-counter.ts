/**
 * Grow-only counter: per actor, how much that actor has added. Immutable.
 *
 * Each actor only ever raises its own entry, so entries from different replicas join by max and
 * the value is the sum. An increment returns a delta holding just the actor's new entry; joining
 * it anywhere, any number of times, in any order, gives the same state.
 *
 * Invariants (canonical form, so equal counters have equal JSON and bytes): entries sorted by
 * actor id (UTF-16 code units, as everywhere in Meridian), each a safe integer >= 1; an absent
 * actor means 0. An entry never exceeds Number.MAX_SAFE_INTEGER: an increment that would is
 * refused (CounterOverflow) rather than rounded. The value is a bigint: a sum of up to
 * #actors × 2^53 stays exact.
 *
 * Encoding (type 'g', format 1): header, varint n, n × (actor string, varint entry).
 */
import { isActorId, type ActorId, describeValue } from '@meridian/causality';
import { ByteReader, ByteWriter, TypeByte } from './binary-codec.ts';
import { CrdtError, CrdtErrorCode, invalidEncoding } from './crdt-error.ts';
import { JSON_VERSION, readStateJson } from './state-json.ts';

type Entries = ReadonlyMap<ActorId, number>;

export class GCounter {
  static readonly empty: GCounter = new GCounter(new Map());

  /** Sorted by actor; every entry >= 1. */
  readonly #entries: Entries;

  private constructor(entries: Entries) {
    this.#entries = entries;
    Object.freeze(this);
  }

  /** Builds a counter from entries; zero entries are dropped, an invalid actor or entry is refused. */
  static from(entries: Iterable<readonly [ActorId, number]> | Readonly<Record<ActorId, number>>): GCounter {
    const source: Iterable<readonly [ActorId, number]> = Symbol.iterator in entries ? entries : Object.entries(entries);
    const map = new Map<ActorId, number>();
    for (const [actor, value] of source) {
      if (!isActorId(actor)) throw new CrdtError(CrdtErrorCode.InvalidValue, `invalid actor id ${describeValue(actor)}`);
      if (!Number.isSafeInteger(value) || value < 0) throw new CrdtError(CrdtErrorCode.InvalidValue, `entry of ${actor} must be a non-negative safe integer (got ${describeValue(value)})`);
      if (map.has(actor)) throw new CrdtError(CrdtErrorCode.InvalidValue, `actor ${actor} appears twice`);
      if (value > 0) map.set(actor, value);
    }
    return GCounter.#sorted(map);
  }

  static #sorted(map: Map<ActorId, number>): GCounter {
    if (map.size === 0) return GCounter.empty;
    return new GCounter(new Map([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  }

  get(actor: ActorId): number {
    return this.#entries.get(actor) ?? 0;
  }

  /** [actor, entry] pairs sorted by actor. */
  entries(): [ActorId, number][] {
    return [...this.#entries];
  }

  value(): bigint {
    let sum = 0n;
    for (const entry of this.#entries.values()) sum += BigInt(entry);
    return sum;
  }

  /** The delta of `actor` adding `amount` (a positive safe integer): its entry, raised. */
  increment(actor: ActorId, amount: number): GCounter {
    if (!isActorId(actor)) throw new CrdtError(CrdtErrorCode.InvalidValue, `invalid actor id ${describeValue(actor)}`);
    if (!Number.isSafeInteger(amount) || amount < 1) throw new CrdtError(CrdtErrorCode.InvalidValue, `a grow-only increment must be a positive safe integer (got ${describeValue(amount)})`);
    const raised = this.get(actor) + amount;
    if (!Number.isSafeInteger(raised)) {
      throw new CrdtError(CrdtErrorCode.CounterOverflow, `the counter entry of ${actor} would exceed ${Number.MAX_SAFE_INTEGER} (${this.get(actor)} + ${amount})`);
    }
    return new GCounter(new Map([[actor, raised]]));
  }

  /** Entry-wise max. Returns one of the operands when it already is the join. */
  join(other: GCounter): GCounter {
    if (other.leq(this)) return this;
    if (this.leq(other)) return other;
    const joined = new Map(this.#entries);
    for (const [actor, value] of other.#entries) if (value > (joined.get(actor) ?? 0)) joined.set(actor, value);
    return GCounter.#sorted(joined);
  }

  /** Entry-wise <=: the lattice order. */
  leq(other: GCounter): boolean {
    for (const [actor, value] of this.#entries) if (value > other.get(actor)) return false;
    return true;
  }

  equals(other: GCounter): boolean {
    if (other === this) return true;
    if (this.#entries.size !== other.#entries.size) return false;
    for (const [actor, value] of this.#entries) if (other.get(actor) !== value) return false;
    return true;
  }

  isBottom(): boolean {
    return this.#entries.size === 0;
  }

  encode(): Uint8Array {
    const writer = new ByteWriter().header(TypeByte.GCounter);
    writeEntries(writer, this);
    return writer.finish();
  }

  static decode(bytes: Uint8Array): GCounter {
    const reader = new ByteReader(bytes).header(TypeByte.GCounter);
    const counter = readEntries(reader);
    reader.end();
    return counter;
  }

  toJSON(): { type: 'g-counter'; version: number; entries: [ActorId, number][] } {
    return { type: 'g-counter', version: JSON_VERSION, entries: this.entries() };
  }

  static fromJSON(json: unknown): GCounter {
    const { entries } = readStateJson(json, 'g-counter', ['entries']);
    return entriesFromJSON(entries, 'g-counter entries');
  }

  toString(): string {
    return `GCounter{${this.entries().map(([a, v]) => `${a}: ${v}`).join(', ')}}`;
  }
}

/** Internal (shared with the PN-counter's encoding): varint n, then n sorted (actor, entry). */
export function writeEntries(writer: ByteWriter, counter: GCounter): void {
  const entries = counter.entries();
  writer.uint(entries.length);
  for (const [actor, value] of entries) writer.string(actor).uint(value);
}

/** Internal: reads what `writeEntries` wrote, refusing unsorted, repeated or zero entries. */
export function readEntries(reader: ByteReader): GCounter {
  const count = reader.count('counter entries', 2);
  const entries: [ActorId, number][] = [];
  for (let i = 0; i < count; i++) {
    const actor = reader.string('actor');
    if (!isActorId(actor)) throw invalidEncoding(`invalid actor id ${describeValue(actor)}`);
    const previous = entries[i - 1];
    if (previous !== undefined && previous[0] >= actor) throw invalidEncoding(`counter entries out of order: ${previous[0]} then ${actor}`);
    const value = reader.uint(`entry of ${actor}`);
    if (value === 0) throw invalidEncoding(`zero entry of ${actor}`);
    entries.push([actor, value]);
  }
  return GCounter.from(entries);
}

/** Internal: reads `[[actor, entry], ...]`, refusing zero entries so the JSON form stays canonical. */
export function entriesFromJSON(json: unknown, what: string): GCounter {
  if (!Array.isArray(json)) throw invalidEncoding(`${what}: expected an array of [actor, entry] (got ${describeValue(json)})`);
  const entries = (json as unknown[]).map((entry): [ActorId, number] => {
    if (!Array.isArray(entry) || entry.length !== 2) throw invalidEncoding(`${what}: expected [actor, entry] (got ${describeValue(entry)})`);
    const [actor, value] = entry as [unknown, unknown];
    if (!isActorId(actor)) throw invalidEncoding(`${what}: invalid actor id ${describeValue(actor)}`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalidEncoding(`${what}: entry of ${actor} must be a positive safe integer (got ${describeValue(value)})`);
    return [actor, value];
  });
  try {
    return GCounter.from(entries);
  } catch (error) {
    throw invalidEncoding(`${what}: ${(error as Error).message}`, error);
  }
}
