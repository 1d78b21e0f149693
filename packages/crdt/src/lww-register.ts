/**
 * Last-writer-wins register: holds the one write with the greatest stamp (HLC, then dot), as
 * @meridian/causality's `compareStamped` orders them. Immutable.
 *
 * A write's delta is a register holding just that write; join keeps the greater stamp. Dots are
 * unique, so stamps are totally ordered and every region keeps the same write. The HLC orders
 * only; it never decides causality: a writer that has seen the current write must stamp after it
 * (the region service takes max(now, highest HLC) + 1 under the key's lock), otherwise its write
 * loses like any older one. Tie-break of last resort: two different values under one stamp can
 * only come from corrupted input (a dot names one write); the greater canonical text wins so that
 * join stays commutative even then.
 *
 * Encoding (type 'l', format 1): header, a byte 0 (empty) or 1, then the HLC (8 bytes), the
 * dot's actor string and counter, and the value's canonical JSON text.
 */
import { compareStamped, formatHlc, isActorId, parseHlc, type Dot, type Hlc, describeValue } from '@meridian/causality';
import { ByteReader, ByteWriter, TypeByte } from './binary-codec.ts';
import { canonicalJson, compareCanonical, parseCanonicalJson, type JsonValue } from './canonical-json.ts';
import { CrdtError, CrdtErrorCode, invalidEncoding } from './crdt-error.ts';
import { JSON_VERSION, dotFromJSON, dotToJSON, nested, readStateJson } from './state-json.ts';

/** The stamp that orders a write: its HLC, then its dot. */
export interface Stamp {
  readonly hlc: Hlc;
  readonly dot: Dot;
}

interface Write extends Stamp {
  /** Canonical JSON text of the value. */
  readonly text: string;
}

export class LwwRegister {
  static readonly empty: LwwRegister = new LwwRegister(undefined);

  readonly #write: Write | undefined;

  private constructor(write: Write | undefined) {
    this.#write = write;
    Object.freeze(this);
  }

  /** A register holding one write (also the delta of that write). */
  static of(value: JsonValue, stamp: Stamp): LwwRegister {
    const { hlc, dot } = stamp;
    if (typeof hlc !== 'bigint' || hlc < 0n || hlc >= 1n << 64n) throw new CrdtError(CrdtErrorCode.InvalidValue, `an HLC must be a bigint in [0, 2^64) (got ${describeValue(hlc)})`);
    if (!isActorId(dot.actor) || !Number.isSafeInteger(dot.counter) || dot.counter < 1) throw new CrdtError(CrdtErrorCode.InvalidValue, `invalid dot ${describeValue(dot)}`);
    return new LwwRegister(Object.freeze({ hlc, dot: Object.freeze({ actor: dot.actor, counter: dot.counter }), text: canonicalJson(value) }));
  }

  /** The delta of writing `value` with `stamp`. It wins iff its stamp is the greatest. */
  set(value: JsonValue, stamp: Stamp): LwwRegister {
    return LwwRegister.of(value, stamp);
  }

  /** The current value (a fresh copy), or undefined for the empty register. */
  value(): JsonValue | undefined {
    return this.#write === undefined ? undefined : parseCanonicalJson(this.#write.text);
  }

  stamp(): Stamp | undefined {
    return this.#write === undefined ? undefined : { hlc: this.#write.hlc, dot: this.#write.dot };
  }

  join(other: LwwRegister): LwwRegister {
    return compareWrites(this.#write, other.#write) >= 0 ? this : other;
  }

  leq(other: LwwRegister): boolean {
    return compareWrites(this.#write, other.#write) <= 0;
  }

  equals(other: LwwRegister): boolean {
    return compareWrites(this.#write, other.#write) === 0;
  }

  isBottom(): boolean {
    return this.#write === undefined;
  }

  encode(): Uint8Array {
    const writer = new ByteWriter().header(TypeByte.LwwRegister);
    const write = this.#write;
    if (write === undefined) writer.byte(0);
    else writer.byte(1).hlc(write.hlc).string(write.dot.actor).uint(write.dot.counter).string(write.text);
    return writer.finish();
  }

  static decode(bytes: Uint8Array): LwwRegister {
    const reader = new ByteReader(bytes).header(TypeByte.LwwRegister);
    const present = reader.byte('presence');
    let register = LwwRegister.empty;
    if (present === 1) {
      const hlc = reader.hlc('HLC');
      const actor = reader.string('dot actor');
      if (!isActorId(actor)) throw invalidEncoding(`invalid actor id ${describeValue(actor)}`);
      const counter = reader.uint('dot counter');
      if (counter < 1) throw invalidEncoding('dot counter 0');
      const text = reader.string('value');
      const value = nested('LwwRegister value', () => JSON.parse(text) as unknown);
      const canonical = nested('LwwRegister value', () => canonicalJson(value));
      if (canonical !== text) throw invalidEncoding('LwwRegister value is not canonical JSON');
      register = new LwwRegister(Object.freeze({ hlc, dot: Object.freeze({ actor, counter }), text }));
    } else if (present !== 0) {
      throw invalidEncoding(`invalid presence byte ${present}`);
    }
    reader.end();
    return register;
  }

  toJSON(): { type: 'lww-register'; version: number; write: { hlc: string; dot: [string, number]; value: JsonValue } | null } {
    const write = this.#write;
    return {
      type: 'lww-register',
      version: JSON_VERSION,
      write: write === undefined ? null : { hlc: formatHlc(write.hlc), dot: dotToJSON(write.dot), value: parseCanonicalJson(write.text) },
    };
  }

  static fromJSON(json: unknown): LwwRegister {
    const { write } = readStateJson(json, 'lww-register', ['write']);
    if (write === null) return LwwRegister.empty;
    if (typeof write !== 'object' || Array.isArray(write) || Object.keys(write).sort().join() !== 'dot,hlc,value') {
      throw invalidEncoding(`lww-register JSON: write must be null or exactly {hlc, dot, value} (got ${describeValue(write)})`);
    }
    const fields = write as { hlc: unknown; dot: unknown; value: unknown };
    const hlc = nested('lww-register hlc', () => parseHlc(fields.hlc as string));
    const value = nested('lww-register value', () => canonicalJson(fields.value));
    return LwwRegister.of(parseCanonicalJson(value), { hlc, dot: dotFromJSON(fields.dot, 'lww-register dot') });
  }

  toString(): string {
    const write = this.#write;
    return write === undefined ? 'LwwRegister{}' : `LwwRegister{${write.text} @ ${formatHlc(write.hlc)} ${write.dot.actor}:${write.dot.counter}}`;
  }
}

/** Total order on optional writes: empty first, then compareStamped, then canonical text. */
function compareWrites(a: Write | undefined, b: Write | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return compareStamped(a, b) || compareCanonical(a.text, b.text);
}
