/**
 * The building blocks of this package's binary encodings (internal, not exported).
 *
 * Every encoding starts with two bytes, a type byte then a format version byte, so the bytes of
 * one CRDT type never decode as another and a future format is told apart from corruption. The
 * type bytes are lower-case letters, disjoint from @meridian/causality's upper-case ones.
 *
 * Integers are unsigned LEB128 varints limited to safe integers; signed integers are a sign byte
 * (0 or 1) and a magnitude, never "-0"; HLCs are 8 bytes big-endian; strings are UTF-8 with a
 * length and must be well-formed Unicode (a lone surrogate could not round-trip). Dots refer to a
 * table of actors written once, sorted, each of them used.
 *
 * Decoding is strict: a redundant varint group, a value beyond the safe range, invalid UTF-8, a
 * truncated field, an unsorted or repeated entry, or trailing bytes are all refused. Together with
 * canonical in-memory forms, every encoding is a bijection: equal states have equal bytes, and any
 * bytes that decode re-encode to themselves — which is what makes digests comparable across regions.
 */
import { CausalContext, compareDots, decodeHlc, encodeHlc, isActorId, type ActorId, type Dot, type Hlc } from '@meridian/causality';
import { invalidEncoding } from './crdt-error.ts';

export const TypeByte = {
  GCounter: 0x67, // 'g'
  PNCounter: 0x70, // 'p'
  LwwRegister: 0x6c, // 'l'
  MvRegister: 0x6d, // 'm'
  ORSet: 0x73, // 's'
  ORMap: 0x6f, // 'o'
} as const;
export type TypeByte = (typeof TypeByte)[keyof typeof TypeByte];

const TYPE_NAMES: Record<number, string> = {
  0x67: 'GCounter',
  0x70: 'PNCounter',
  0x6c: 'LwwRegister',
  0x6d: 'MvRegister',
  0x73: 'ORSet',
  0x6f: 'ORMap',
};

/** The format version every encoder writes; decoders accept exactly this one. */
export const FORMAT_VERSION = 1;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class ByteWriter {
  #buffer = new Uint8Array(64);
  #length = 0;

  header(type: TypeByte): this {
    return this.byte(type).byte(FORMAT_VERSION);
  }

  byte(value: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  /** Unsigned LEB128; `value` must be a non-negative safe integer. */
  uint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`uint out of range: ${value}`);
    this.#reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.#buffer[this.#length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buffer[this.#length++] = rest;
    return this;
  }

  /** A sign byte then the magnitude; `value` must be a safe integer. */
  int(value: number): this {
    return value < 0 ? this.byte(1).uint(-value) : this.byte(0).uint(value);
  }

  /** A 64-bit HLC, 8 bytes big-endian (causality's encoding, so byte order is time order). */
  hlc(value: Hlc): this {
    const bytes = encodeHlc(value);
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  string(value: string): this {
    // Fast path for ASCII (most element texts, field names, actors): no intermediate buffer.
    const length = value.length;
    if (length < 0x80) {
      this.#reserve(length + 1);
      const start = this.#length;
      this.#buffer[this.#length++] = length;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        this.#buffer[this.#length++] = code;
      }
      if (i === length) return this;
      this.#length = start;
    }
    if (!value.isWellFormed()) throw new RangeError('string is not well-formed Unicode');
    return this.bytes(utf8Encoder.encode(value));
  }

  /** Length-prefixed raw bytes. */
  bytes(value: Uint8Array): this {
    this.uint(value.length);
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
    return this;
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw invalidEncoding('expected a Uint8Array');
    this.#bytes = bytes;
  }

  header(type: TypeByte): this {
    const name = TYPE_NAMES[type] ?? 'unknown';
    const got = this.#bytes[0];
    if (got !== type) {
      const actual = got === undefined ? 'no bytes' : `0x${got.toString(16)} (${TYPE_NAMES[got] ?? 'unknown'})`;
      throw invalidEncoding(`not an encoded ${name}: expected type byte 0x${type.toString(16)} (got ${actual})`);
    }
    const version = this.#bytes[1];
    if (version !== FORMAT_VERSION) throw invalidEncoding(`unsupported ${name} format version: expected ${FORMAT_VERSION} (got ${version ?? 'nothing'})`);
    this.#offset = 2;
    return this;
  }

  byte(what: string): number {
    const value = this.#bytes[this.#offset];
    if (value === undefined) throw invalidEncoding(`truncated input: expected ${what} at byte ${this.#offset}`);
    this.#offset++;
    return value;
  }

  uint(what: string): number {
    let value = 0;
    let scale = 1;
    // A safe integer needs at most 8 groups of 7 bits; stopping there keeps `scale` exact.
    for (let i = 0; i < 8; i++) {
      const next = this.byte(what);
      value += (next & 0x7f) * scale;
      if (value > Number.MAX_SAFE_INTEGER) break;
      if ((next & 0x80) === 0) {
        if (next === 0 && i > 0) throw invalidEncoding(`non-canonical varint for ${what}`);
        return value;
      }
      scale *= 0x80;
    }
    throw invalidEncoding(`${what} exceeds the safe integer range`);
  }

  int(what: string): number {
    const sign = this.byte(`sign of ${what}`);
    const magnitude = this.uint(what);
    if (sign > 1 || (sign === 1 && magnitude === 0)) throw invalidEncoding(`non-canonical sign for ${what}`);
    return sign === 1 ? -magnitude : magnitude;
  }

  hlc(what: string): Hlc {
    if (this.#bytes.length - this.#offset < 8) throw invalidEncoding(`truncated input: expected ${what} at byte ${this.#offset}`);
    const value = decodeHlc(this.#bytes.slice(this.#offset, this.#offset + 8));
    this.#offset += 8;
    return value;
  }

  string(what: string): string {
    const bytes = this.bytes(what);
    // Fast path for short ASCII: TextDecoder's per-call cost dominates for short strings.
    if (bytes.length <= 64 && isAscii(bytes)) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    try {
      return utf8Decoder.decode(bytes);
    } catch (error) {
      throw invalidEncoding(`${what} is not valid UTF-8`, error);
    }
  }

  bytes(what: string): Uint8Array {
    const length = this.uint(`${what} length`);
    if (length > this.#bytes.length - this.#offset) throw invalidEncoding(`truncated input: ${what} of ${length} bytes at byte ${this.#offset}`);
    const slice = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return slice;
  }

  /** A count of items that each take at least `minBytes`: refuses counts the input cannot hold. */
  count(what: string, minBytes = 1): number {
    const count = this.uint(what);
    if (count * minBytes > this.#bytes.length - this.#offset) throw invalidEncoding(`truncated input: ${count} ${what} cannot fit in ${this.#bytes.length - this.#offset} bytes`);
    return count;
  }

  end(): void {
    if (this.#offset !== this.#bytes.length) throw invalidEncoding(`${this.#bytes.length - this.#offset} trailing bytes after byte ${this.#offset}`);
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) >= 0x80) return false;
  return true;
}

/**
 * The actors of a state's dots, written once and referred to by index. Canonical: sorted,
 * unique, and (checked by `assertAllUsed`) every listed actor is referred to.
 */
export class ActorTable {
  readonly #index = new Map<ActorId, number>();
  readonly #actors: readonly ActorId[];
  readonly #used: boolean[];

  private constructor(actors: readonly ActorId[]) {
    this.#actors = actors;
    this.#used = actors.map(() => false);
    actors.forEach((actor, i) => this.#index.set(actor, i));
  }

  static of(dots: Iterable<Dot>): ActorTable {
    const actors = new Set<ActorId>();
    for (const d of dots) actors.add(d.actor);
    return new ActorTable([...actors].sort());
  }

  write(writer: ByteWriter): void {
    writer.uint(this.#actors.length);
    for (const actor of this.#actors) writer.string(actor);
  }

  static read(reader: ByteReader): ActorTable {
    const count = reader.count('actors');
    const actors: ActorId[] = [];
    for (let i = 0; i < count; i++) {
      const actor = reader.string('actor');
      if (!isActorId(actor)) throw invalidEncoding(`invalid actor id ${JSON.stringify(actor)}`);
      const previous = actors[i - 1];
      if (previous !== undefined && previous >= actor) throw invalidEncoding(`actors out of order: ${previous} then ${actor}`);
      actors.push(actor);
    }
    return new ActorTable(actors);
  }

  writeDot(writer: ByteWriter, d: Dot): void {
    const index = this.#index.get(d.actor);
    if (index === undefined) throw new RangeError(`actor ${d.actor} missing from the table`);
    writer.uint(index).uint(d.counter);
  }

  readDot(reader: ByteReader): Dot {
    const index = reader.uint('dot actor index');
    const actor = this.#actors[index];
    if (actor === undefined) throw invalidEncoding(`dot actor index ${index} beyond the ${this.#actors.length} actors`);
    this.#used[index] = true;
    const counter = reader.uint('dot counter');
    if (counter < 1) throw invalidEncoding('dot counter 0');
    return { actor, counter };
  }

  /** Writes a sorted dot list: count, then dots. */
  writeDots(writer: ByteWriter, dots: readonly Dot[]): void {
    writer.uint(dots.length);
    for (const d of dots) this.writeDot(writer, d);
  }

  /** Reads a non-empty, strictly increasing dot list. */
  readDots(reader: ByteReader, what: string): Dot[] {
    const count = reader.count(`dots of ${what}`, 2);
    if (count === 0) throw invalidEncoding(`${what} has no dots`);
    const dots: Dot[] = [];
    for (let i = 0; i < count; i++) {
      const d = this.readDot(reader);
      const previous = dots[i - 1];
      if (previous !== undefined && compareDots(previous, d) >= 0) throw invalidEncoding(`dots of ${what} out of order`);
      dots.push(d);
    }
    return dots;
  }

  assertAllUsed(): void {
    const unused = this.#actors.filter((_, i) => this.#used[i] !== true);
    if (unused.length > 0) throw invalidEncoding(`actor table lists unused actors: ${unused.join(', ')}`);
  }
}

/**
 * The frame of a causal state's encoding (OR-Set, OR-Map): header, the causal context's own
 * encoding (length-prefixed), the actor table of the held dots; the caller writes the store.
 */
export function writeCausalFrame(type: TypeByte, context: CausalContext, dots: Iterable<Dot>): { writer: ByteWriter; table: ActorTable } {
  const writer = new ByteWriter().header(type).bytes(context.encode());
  const table = ActorTable.of(dots);
  table.write(writer);
  return { writer, table };
}

/** Reads what `writeCausalFrame` and the caller's `readStore` wrote; refuses unused actors and trailing bytes. */
export function readCausalFrame<T>(bytes: Uint8Array, type: TypeByte, readStore: (reader: ByteReader, table: ActorTable) => T): { context: CausalContext; store: T } {
  const reader = new ByteReader(bytes).header(type);
  const contextBytes = reader.bytes('causal context');
  let context: CausalContext;
  try {
    context = CausalContext.decode(contextBytes);
  } catch (error) {
    throw invalidEncoding(`${TYPE_NAMES[type] ?? 'state'} context: ${(error as Error).message}`, error);
  }
  const table = ActorTable.read(reader);
  const store = readStore(reader, table);
  table.assertAllUsed();
  reader.end();
  return { context, store };
}
