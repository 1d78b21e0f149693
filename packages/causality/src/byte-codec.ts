/**
 * The building blocks of this package's binary encodings (not exported from the package).
 *
 * Every encoding starts with a two-byte header, a kind byte then a format version byte, so bytes
 * of one kind never decode as another and a future format can be told apart from corruption.
 * Integers are unsigned LEB128 varints limited to safe integers. An actor is written as its
 * region (a length byte, then ASCII) and its epoch (a varint).
 *
 * Decoding is strict: a varint with a redundant trailing zero group, a value beyond
 * Number.MAX_SAFE_INTEGER, a truncated field or trailing bytes are refused. Together with the
 * canonical forms of the values themselves this makes every encoding a bijection: equal values
 * have equal bytes, and any bytes that decode re-encode to themselves.
 */
import { actorId, parseActor, type ActorId } from './actor.ts';
import { CausalityError, CausalityErrorCode } from './causality-error.ts';

export const EncodingKind = {
  VersionVector: 0x56, // 'V'
  CausalContext: 0x43, // 'C'
  DvvSet: 0x44, // 'D'
} as const;
export type EncodingKind = (typeof EncodingKind)[keyof typeof EncodingKind];

/** The format version every encoder writes; decoders accept exactly the versions listed here. */
export const FORMAT_VERSION = 1;

const KIND_NAMES: Record<number, string> = { 0x56: 'VersionVector', 0x43: 'CausalContext', 0x44: 'DvvSet' };

export function encodingError(message: string): CausalityError {
  return new CausalityError(CausalityErrorCode.InvalidEncoding, message);
}

/**
 * Scratch buffers of finished writers, taken by the next ones: an encode allocates only its
 * result, not a growing array and then its copy. A writer takes its own buffer, so an encode
 * that runs inside another (a value encoded into a set) never shares one.
 */
const spareBuffers: Uint8Array[] = [];
const SPARE_BUFFERS = 8;
const SPARE_BUFFER_MAX_BYTES = 1 << 16;
const FINISHED = new Uint8Array(0);

export class ByteWriter {
  #buffer: Uint8Array = spareBuffers.pop() ?? new Uint8Array(256);
  #length = 0;

  header(kind: EncodingKind): this {
    this.#reserve(2);
    this.#buffer[this.#length++] = kind;
    this.#buffer[this.#length++] = FORMAT_VERSION;
    return this;
  }

  /** An unsigned LEB128 varint; `value` must be a safe non-negative integer. */
  uint(value: number): this {
    this.#reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.#buffer[this.#length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buffer[this.#length++] = rest;
    return this;
  }

  actor(actor: ActorId): this {
    const { region, epoch } = parseActor(actor);
    this.#reserve(1 + region.length);
    this.#buffer[this.#length++] = region.length;
    for (let i = 0; i < region.length; i++) this.#buffer[this.#length++] = region.charCodeAt(i);
    return this.uint(epoch);
  }

  /** Length-prefixed raw bytes. */
  bytes(bytes: Uint8Array): this {
    this.uint(bytes.length);
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** The bytes written, in a buffer of their own; the writer is done. */
  finish(): Uint8Array {
    const bytes = this.#buffer.slice(0, this.#length);
    if (spareBuffers.length < SPARE_BUFFERS && this.#buffer.length <= SPARE_BUFFER_MAX_BYTES) spareBuffers.push(this.#buffer);
    this.#buffer = FINISHED;
    this.#length = 0;
    return bytes;
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + bytes));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw encodingError('expected a Uint8Array');
    this.#bytes = bytes;
  }

  header(kind: EncodingKind): this {
    const name = KIND_NAMES[kind] ?? 'unknown';
    const got = this.#bytes[0];
    if (got !== kind) {
      throw encodingError(`not an encoded ${name}: expected kind byte 0x${kind.toString(16)} (got ${got === undefined ? 'no bytes' : `0x${got.toString(16)}`})`);
    }
    const version = this.#bytes[1];
    if (version !== FORMAT_VERSION) {
      throw encodingError(`unsupported ${name} format version: expected ${FORMAT_VERSION} (got ${version ?? 'nothing'})`);
    }
    this.#offset = 2;
    return this;
  }

  #byte(what: string): number {
    const byte = this.#bytes[this.#offset];
    if (byte === undefined) throw encodingError(`truncated input: expected ${what} at byte ${this.#offset}`);
    this.#offset++;
    return byte;
  }

  uint(what: string): number {
    let value = 0;
    let scale = 1;
    // A safe integer needs at most 8 groups of 7 bits; stopping there also keeps `scale` finite.
    for (let i = 0; i < 8; i++) {
      const byte = this.#byte(what);
      value += (byte & 0x7f) * scale;
      if (value > Number.MAX_SAFE_INTEGER) throw encodingError(`${what} exceeds the safe integer range`);
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw encodingError(`non-canonical varint for ${what}`);
        return value;
      }
      scale *= 0x80;
    }
    throw encodingError(`${what} exceeds the safe integer range`);
  }

  actor(): ActorId {
    const length = this.#byte('region length');
    if (length < 1 || length > 32) throw encodingError(`invalid region length ${length}`);
    let region = '';
    for (let i = 0; i < length; i++) region += String.fromCharCode(this.#byte('region'));
    const epoch = this.uint('epoch');
    try {
      return actorId(region, epoch);
    } catch (error) {
      throw encodingError(`invalid actor: ${(error as Error).message}`);
    }
  }

  /** Length-prefixed raw bytes: a copy, or (`view`) a view of them inside the input. */
  bytes(what: string, view = false): Uint8Array {
    const length = this.uint(`${what} length`);
    if (length > this.#bytes.length - this.#offset) throw encodingError(`truncated input: ${what} of ${length} bytes`);
    const start = this.#offset;
    this.#offset += length;
    return view ? this.#bytes.subarray(start, start + length) : this.#bytes.slice(start, start + length);
  }

  end(): void {
    if (this.#offset !== this.#bytes.length) {
      throw encodingError(`${this.#bytes.length - this.#offset} trailing bytes after offset ${this.#offset}`);
    }
  }
}
