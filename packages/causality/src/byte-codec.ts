/**
 * The byte codec of Meridian's binary encodings: this package's (version vectors, causal
 * contexts, DVV sets) and @meridian/crdt's states. One codec, so every encoding follows the same
 * rules; each package names its own kind bytes and the error its decoders throw (`ByteFormat`).
 *
 * Every encoding starts with a two-byte header, a kind byte then a format version byte, so bytes
 * of one kind never decode as another and a future format can be told apart from corruption.
 * Integers are unsigned LEB128 varints limited to safe integers; signed integers are a sign byte
 * (0 or 1) and a magnitude, never "-0"; HLCs are 8 bytes big-endian; strings are UTF-8 with a
 * length and must be well-formed Unicode. An actor is written as its region (a length byte, then
 * ASCII) and its epoch (a varint).
 *
 * Decoding is strict: a varint with a redundant trailing zero group, a value beyond
 * Number.MAX_SAFE_INTEGER, invalid UTF-8, a truncated field or trailing bytes are refused.
 * Together with the canonical forms of the values themselves this makes every encoding a
 * bijection: equal values have equal bytes, and any bytes that decode re-encode to themselves.
 */
import { actorId, parseActor, type ActorId } from './actor.ts';
import { CausalityError, CausalityErrorCode } from './causality-error.ts';
import { decodeHlc, encodeHlc, type Hlc } from './hybrid-logical-clock.ts';

/** A family of encodings: the names of its kind bytes and the error its decoders throw. */
export interface ByteFormat {
  readonly kindNames: Readonly<Record<number, string>>;
  /** What errors call the first byte ("kind", "type"). */
  readonly kindWord: string;
  readonly error: (message: string, cause?: unknown) => Error;
}

export const EncodingKind = {
  VersionVector: 0x56, // 'V'
  CausalContext: 0x43, // 'C'
  DvvSet: 0x44, // 'D'
} as const;
export type EncodingKind = (typeof EncodingKind)[keyof typeof EncodingKind];

/** The format version every encoder writes; decoders accept exactly the versions listed here. */
export const FORMAT_VERSION = 1;

export function encodingError(message: string): CausalityError {
  return new CausalityError(CausalityErrorCode.InvalidEncoding, message);
}

/** This package's encodings. */
export const CAUSALITY_FORMAT: ByteFormat = {
  kindNames: { 0x56: 'VersionVector', 0x43: 'CausalContext', 0x44: 'DvvSet' },
  kindWord: 'kind',
  error: encodingError,
};

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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

  header(kind: number): this {
    this.#reserve(2);
    this.#buffer[this.#length++] = kind;
    this.#buffer[this.#length++] = FORMAT_VERSION;
    return this;
  }

  byte(value: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  /** An unsigned LEB128 varint; `value` must be a safe non-negative integer. */
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

  actor(actor: ActorId): this {
    const { region, epoch } = parseActor(actor);
    this.#reserve(1 + region.length);
    this.#buffer[this.#length++] = region.length;
    for (let i = 0; i < region.length; i++) this.#buffer[this.#length++] = region.charCodeAt(i);
    return this.uint(epoch);
  }

  /** A sign byte then the magnitude; `value` must be a safe integer. */
  int(value: number): this {
    return value < 0 ? this.byte(1).uint(-value) : this.byte(0).uint(value);
  }

  /** A 64-bit HLC, 8 bytes big-endian (so byte order is time order). */
  hlc(value: Hlc): this {
    return this.#raw(encodeHlc(value));
  }

  /** UTF-8 with a length; `value` must be well-formed Unicode (a lone surrogate could not round-trip). */
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
  bytes(bytes: Uint8Array): this {
    return this.uint(bytes.length).#raw(bytes);
  }

  #raw(bytes: Uint8Array): this {
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
  readonly #format: ByteFormat;
  #offset = 0;

  constructor(bytes: Uint8Array, format: ByteFormat = CAUSALITY_FORMAT) {
    this.#format = format;
    if (!(bytes instanceof Uint8Array)) throw format.error('expected a Uint8Array');
    this.#bytes = bytes;
  }

  header(kind: number): this {
    const names = this.#format.kindNames;
    const name = names[kind] ?? 'unknown';
    const got = this.#bytes[0];
    if (got !== kind) {
      const actual = got === undefined ? 'no bytes' : `0x${got.toString(16)} (${names[got] ?? 'unknown'})`;
      throw this.#format.error(`not an encoded ${name}: expected ${this.#format.kindWord} byte 0x${kind.toString(16)} (got ${actual})`);
    }
    const version = this.#bytes[1];
    if (version !== FORMAT_VERSION) {
      throw this.#format.error(`unsupported ${name} format version: expected ${FORMAT_VERSION} (got ${version ?? 'nothing'})`);
    }
    this.#offset = 2;
    return this;
  }

  byte(what: string): number {
    const byte = this.#bytes[this.#offset];
    if (byte === undefined) throw this.#format.error(`truncated input: expected ${what} at byte ${this.#offset}`);
    this.#offset++;
    return byte;
  }

  uint(what: string): number {
    let value = 0;
    let scale = 1;
    // A safe integer needs at most 8 groups of 7 bits; stopping there also keeps `scale` finite.
    for (let i = 0; i < 8; i++) {
      const byte = this.byte(what);
      value += (byte & 0x7f) * scale;
      if (value > Number.MAX_SAFE_INTEGER) break;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw this.#format.error(`non-canonical varint for ${what}`);
        return value;
      }
      scale *= 0x80;
    }
    throw this.#format.error(`${what} exceeds the safe integer range`);
  }

  int(what: string): number {
    const sign = this.byte(`sign of ${what}`);
    const magnitude = this.uint(what);
    if (sign > 1 || (sign === 1 && magnitude === 0)) throw this.#format.error(`non-canonical sign for ${what}`);
    return sign === 1 ? -magnitude : magnitude;
  }

  hlc(what: string): Hlc {
    if (this.#bytes.length - this.#offset < 8) throw this.#format.error(`truncated input: expected ${what} at byte ${this.#offset}`);
    const value = decodeHlc(this.#bytes.slice(this.#offset, this.#offset + 8));
    this.#offset += 8;
    return value;
  }

  string(what: string): string {
    const bytes = this.bytes(what, true);
    // Fast path for short ASCII: TextDecoder's per-call cost dominates for short strings.
    if (bytes.length <= 64 && isAscii(bytes)) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    try {
      return utf8Decoder.decode(bytes);
    } catch (error) {
      throw this.#format.error(`${what} is not valid UTF-8`, error);
    }
  }

  actor(): ActorId {
    const length = this.byte('region length');
    if (length < 1 || length > 32) throw this.#format.error(`invalid region length ${length}`);
    let region = '';
    for (let i = 0; i < length; i++) region += String.fromCharCode(this.byte('region'));
    const epoch = this.uint('epoch');
    try {
      return actorId(region, epoch);
    } catch (error) {
      throw this.#format.error(`invalid actor: ${(error as Error).message}`, error);
    }
  }

  /** Length-prefixed raw bytes: a copy, or (`view`) a view of them inside the input. */
  bytes(what: string, view = false): Uint8Array {
    const length = this.uint(`${what} length`);
    if (length > this.#bytes.length - this.#offset) throw this.#format.error(`truncated input: ${what} of ${length} bytes at byte ${this.#offset}`);
    const start = this.#offset;
    this.#offset += length;
    return view ? this.#bytes.subarray(start, start + length) : this.#bytes.slice(start, start + length);
  }

  /** A count of items that each take at least `minBytes`: refuses counts the input cannot hold. */
  count(what: string, minBytes = 1): number {
    const count = this.uint(what);
    if (count * minBytes > this.#bytes.length - this.#offset) throw this.#format.error(`truncated input: ${count} ${what} cannot fit in ${this.#bytes.length - this.#offset} bytes`);
    return count;
  }

  end(): void {
    if (this.#offset !== this.#bytes.length) {
      throw this.#format.error(`${this.#bytes.length - this.#offset} trailing bytes after offset ${this.#offset}`);
    }
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) >= 0x80) return false;
  return true;
}
