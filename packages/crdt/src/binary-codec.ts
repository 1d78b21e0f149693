/**
 * This package's binary encodings (internal, not exported), on @meridian/causality's byte codec
 * (varints, signed integers, HLCs, strings; strict decoding, so every encoding is a bijection:
 * equal states have equal bytes — which is what makes digests comparable across regions).
 *
 * Every encoding starts with a type byte then the format version byte; the type bytes are
 * lower-case letters, disjoint from @meridian/causality's upper-case ones ('l' and 'm' were
 * registers' and stay unused: registers are DVV sets, register-state.ts). Dots refer to a table
 * of actors written once, sorted, each of them used; unsorted or repeated entries are refused.
 */
import { ByteReader as CodecReader, ByteWriter, CODEC_FORMAT_VERSION, CausalContext, compareDots, isActorId, type ActorId, type ByteFormat, type Dot } from '@meridian/causality';
import { invalidEncoding } from './crdt-error.ts';

export const TypeByte = {
  GCounter: 0x67, // 'g'
  PNCounter: 0x70, // 'p'
  ORSet: 0x73, // 's'
  ORMap: 0x6f, // 'o'
  /** The header of a set or map stored a row per element or field (collection-layout.ts). */
  SplitCollection: 0x65, // 'e'
} as const;
export type TypeByte = (typeof TypeByte)[keyof typeof TypeByte];

const TYPE_NAMES: Record<number, string> = {
  0x67: 'GCounter',
  0x70: 'PNCounter',
  0x73: 'ORSet',
  0x6f: 'ORMap',
  0x65: 'split collection header',
};

/** The format version every encoder writes; decoders accept exactly this one (the shared codec's). */
export const FORMAT_VERSION = CODEC_FORMAT_VERSION;

/** This package's encodings: its type bytes, and `CrdtError`s from its decoders. */
const CRDT_FORMAT: ByteFormat = { kindNames: TYPE_NAMES, kindWord: 'type', error: invalidEncoding };

export { ByteWriter };

/** The shared codec's reader, naming this package's type bytes and throwing its errors. */
export class ByteReader extends CodecReader {
  constructor(bytes: Uint8Array) {
    super(bytes, CRDT_FORMAT);
  }
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
  const contextBytes = reader.bytes('causal context', true);
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
