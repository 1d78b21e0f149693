/**
 * Multi-value register on a DVVSet (@meridian/causality): the siblings are exactly the writes
 * that no other write has seen — the concurrent ones. Immutable. This is the `mv` namespace's
 * state, and the version set the `lww` namespace orders by HLC.
 *
 * A write names the versions its client read (a VersionVector, the context of an earlier read;
 * undefined for a blind write) and supersedes exactly those; versions the client did not see stay
 * as siblings. Its delta is the whole set after the write, as DESIGN §4 ships register payloads:
 * a DVVSet carries its versions' causality in one compact vector per key, which is sound only
 * for whole sets (a lone version plus the key's clock would delete siblings elsewhere).
 *
 * Values are stored as canonical JSON text, so equal states have equal bytes.
 *
 * Encoding (type 'm', format 1): header, then the DvvSet's own encoding (length-prefixed), whose
 * values are the UTF-8 canonical JSON texts.
 */
import { DvvSet, compareDots, dotKey, type ActorId, type CausalContext, type Dot, type VersionVector } from '@meridian/causality';
import { ByteReader, ByteWriter, TypeByte } from './binary-codec.ts';
import { canonicalJson, parseCanonicalJson, type JsonValue } from './canonical-json.ts';
import { invalidEncoding } from './crdt-error.ts';
import { JSON_VERSION, nested, readStateJson } from './state-json.ts';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface Sibling {
  readonly dot: Dot;
  readonly value: JsonValue;
}

export class MvRegister {
  static readonly empty: MvRegister = new MvRegister(DvvSet.empty<string>());

  readonly #set: DvvSet<string>;

  private constructor(set: DvvSet<string>) {
    this.#set = set;
    Object.freeze(this);
  }

  /**
   * The write of `value` at `actor` by a client that read `context` (undefined: blind, concurrent
   * with every sibling). Returns the delta — the whole new state — and the write's dot.
   */
  write(value: JsonValue, actor: ActorId, context?: VersionVector): { delta: MvRegister; dot: Dot } {
    const { set, dot } = this.#set.update(context, actor, canonicalJson(value));
    return { delta: new MvRegister(set), dot };
  }

  /** The siblings' values, in dot order (fresh copies). */
  values(): JsonValue[] {
    return this.#set.values().map(parseCanonicalJson);
  }

  siblings(): Sibling[] {
    return this.#set.versions().map((v) => ({ dot: v.dot, value: parseCanonicalJson(v.value) }));
  }

  /** What a reader is handed as its context (the gap-free part of everything seen). */
  context(): VersionVector {
    return this.#set.context();
  }

  causalContext(): CausalContext {
    return this.#set.causalContext();
  }

  join(other: MvRegister): MvRegister {
    if (other === this) return this;
    return new MvRegister(this.#set.sync(other.#set));
  }

  /** (V, C) ≤ (V', C') iff C ⊆ C' and V' holds no version of C that V does not: nothing revived. */
  leq(other: MvRegister): boolean {
    const mine = this.#set.causalContext();
    if (!other.#set.causalContext().covers(mine)) return false;
    const held = new Set(this.#set.versions().map((v) => dotKey(v.dot)));
    return other.#set.versions().every((v) => !mine.contains(v.dot) || held.has(dotKey(v.dot)));
  }

  equals(other: MvRegister): boolean {
    if (!this.#set.causalContext().equals(other.#set.causalContext())) return false;
    const a = this.#set.versions();
    const b = other.#set.versions();
    if (a.length !== b.length) return false;
    return a.every((v, i) => {
      const w = b[i];
      return w !== undefined && compareDots(v.dot, w.dot) === 0 && v.value === w.value;
    });
  }

  isBottom(): boolean {
    return this.#set.size() === 0 && this.#set.causalContext().isEmpty();
  }

  encode(): Uint8Array {
    return new ByteWriter()
      .header(TypeByte.MvRegister)
      .bytes(this.#set.encode((text) => utf8Encoder.encode(text)))
      .finish();
  }

  static decode(bytes: Uint8Array): MvRegister {
    const reader = new ByteReader(bytes).header(TypeByte.MvRegister);
    const inner = reader.bytes('version set', true);
    reader.end();
    return new MvRegister(nested('MvRegister version set', () => DvvSet.decode(inner, decodeValueBytes)));
  }

  toJSON(): { type: 'mv-register'; version: number; set: unknown } {
    return { type: 'mv-register', version: JSON_VERSION, set: this.#set.toJSON(parseCanonicalJson) };
  }

  static fromJSON(json: unknown): MvRegister {
    const { set } = readStateJson(json, 'mv-register', ['set']);
    return new MvRegister(nested('mv-register set', () => DvvSet.fromJSON(set, (value) => canonicalJson(value))));
  }

  toString(): string {
    return `MvRegister{${this.#set.versions().map((v) => `${v.value} @ ${dotKey(v.dot)}`).join(', ')} | ${this.#set.causalContext().toString()}}`;
  }
}

function decodeValueBytes(bytes: Uint8Array): string {
  const text = nested('MvRegister value', () => utf8Decoder.decode(bytes));
  const canonical = nested('MvRegister value', () => canonicalJson(JSON.parse(text)));
  if (canonical !== text) throw invalidEncoding('MvRegister value is not canonical JSON');
  return text;
}
