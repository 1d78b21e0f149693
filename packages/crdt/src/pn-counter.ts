/**
 * Positive-negative counter: two grow-only counters, one of increments and one of decrements
 * (magnitudes); the value is their difference. Immutable. This is the `counter` namespace.
 *
 * An increment of n > 0 raises the actor's entry in `increments`, of n < 0 its entry in
 * `decrements` by |n|; the delta holds just that entry. Join, order and equality are those of
 * the product of the two G-counters, so every law carries over.
 *
 * Encoding (type 'p', format 1): header, then the G-counter bodies of increments and decrements.
 */
import { type ActorId, describeValue } from '@meridian/causality';
import { ByteReader, ByteWriter, TypeByte } from './binary-codec.ts';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';
import { GCounter, entriesFromJSON, readEntries, writeEntries } from './g-counter.ts';
import { JSON_VERSION, readStateJson } from './state-json.ts';

export class PNCounter {
  static readonly empty: PNCounter = new PNCounter(GCounter.empty, GCounter.empty);

  readonly increments: GCounter;
  /** Magnitudes of the decrements. */
  readonly decrements: GCounter;

  private constructor(increments: GCounter, decrements: GCounter) {
    this.increments = increments;
    this.decrements = decrements;
    Object.freeze(this);
  }

  static from(increments: GCounter, decrements: GCounter): PNCounter {
    return increments.isBottom() && decrements.isBottom() ? PNCounter.empty : new PNCounter(increments, decrements);
  }

  value(): bigint {
    return this.increments.value() - this.decrements.value();
  }

  /** The delta of `actor` adding `amount`, a non-zero safe integer (negative: a decrement). */
  increment(actor: ActorId, amount: number): PNCounter {
    if (!Number.isSafeInteger(amount) || amount === 0) throw new CrdtError(CrdtErrorCode.InvalidValue, `an increment must be a non-zero safe integer (got ${describeValue(amount)})`);
    return amount > 0 ? new PNCounter(this.increments.increment(actor, amount), GCounter.empty) : new PNCounter(GCounter.empty, this.decrements.increment(actor, -amount));
  }

  join(other: PNCounter): PNCounter {
    if (other.leq(this)) return this;
    if (this.leq(other)) return other;
    return new PNCounter(this.increments.join(other.increments), this.decrements.join(other.decrements));
  }

  leq(other: PNCounter): boolean {
    return this.increments.leq(other.increments) && this.decrements.leq(other.decrements);
  }

  equals(other: PNCounter): boolean {
    return this.increments.equals(other.increments) && this.decrements.equals(other.decrements);
  }

  isBottom(): boolean {
    return this.increments.isBottom() && this.decrements.isBottom();
  }

  encode(): Uint8Array {
    const writer = new ByteWriter().header(TypeByte.PNCounter);
    writeEntries(writer, this.increments);
    writeEntries(writer, this.decrements);
    return writer.finish();
  }

  static decode(bytes: Uint8Array): PNCounter {
    const reader = new ByteReader(bytes).header(TypeByte.PNCounter);
    const counter = PNCounter.from(readEntries(reader), readEntries(reader));
    reader.end();
    return counter;
  }

  toJSON(): { type: 'pn-counter'; version: number; increments: [ActorId, number][]; decrements: [ActorId, number][] } {
    return { type: 'pn-counter', version: JSON_VERSION, increments: this.increments.entries(), decrements: this.decrements.entries() };
  }

  static fromJSON(json: unknown): PNCounter {
    const { increments, decrements } = readStateJson(json, 'pn-counter', ['increments', 'decrements']);
    return PNCounter.from(entriesFromJSON(increments, 'pn-counter increments'), entriesFromJSON(decrements, 'pn-counter decrements'));
  }

  toString(): string {
    return `PNCounter{+${this.increments.toString()}, -${this.decrements.toString()}}`;
  }
}

/** A counter's value as JSON: a number while exact, a decimal string beyond ±(2^53 - 1). */
export function counterJson(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}
