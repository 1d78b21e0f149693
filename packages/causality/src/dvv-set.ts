/**
 * Dotted version vector sets (Preguiça, Baquero, Almeida, Fonte, Gonçalves 2012; what Riak 2 uses),
 * one per key, generic in the value. Immutable.
 *
 * A set holds the versions of a key that are still live (siblings), each with the dot that named
 * its write, and the exact causal context of every write this replica has seen, live or not.
 * Invariants:
 * - every live version's dot is in the context (a version is never "unseen");
 * - a dot names one write forever, so two replicas holding the same dot hold the same value
 *   (the actor's epoch guarantees it across restores); `sync` relies on it to be commutative;
 * - a version is superseded only by a write whose client context contained its dot: the client
 *   saw it. A write never supersedes what its client did not read, so no acknowledged write is
 *   lost, and concurrent writes stay as siblings;
 * - `context()` hands clients only the compact part of the exact context: a client must never be
 *   told it has seen a dot across a gap (its next write would supersede a write it never read).
 *
 * Encoding (kind 'D', format 1): header, the causal context body (see causal-context.ts), varint n,
 * then n versions in compareDots order: varint index of the dot's actor among the context's actors,
 * varint counter, length-prefixed value bytes.
 */
import { checkActor, checkCounter, compareDots, dot, type ActorId, type Dot } from './actor.ts';
import { ByteReader, ByteWriter, EncodingKind, encodingError } from './byte-codec.ts';
import { readContextBody, writeContextBody, CausalContext } from './causal-context.ts';
import { CausalityError, CausalityErrorCode, describeValue } from './causality-error.ts';
import { type VersionVector } from './version-vector.ts';

export interface Version<V> {
  readonly dot: Dot;
  readonly value: V;
}

export class DvvSet<V> {
  static readonly #empty: DvvSet<never> = new DvvSet<never>(CausalContext.empty, []);

  readonly #context: CausalContext;
  /** Sorted by compareDots; every dot in #context. */
  readonly #versions: readonly Version<V>[];

  private constructor(context: CausalContext, versions: readonly Version<V>[]) {
    this.#context = context;
    this.#versions = Object.freeze(versions);
    Object.freeze(this);
  }

  static empty<V>(): DvvSet<V> {
    return DvvSet.#empty;
  }

  /**
   * A set with no versions that has seen `context`: a key's state after every version it had was
   * superseded. The tombstone GC starts a key without a row from the dots its region must never
   * mint for it again (see @meridian/retention `freshDotBase`).
   */
  static seen<V>(context: CausalContext): DvvSet<V> {
    return context.isEmpty() ? DvvSet.empty() : new DvvSet(context, []);
  }

  /**
   * A write at `actor` (this region) of `value`, by a client that read `context` (undefined: a
   * blind write, concurrent with every version). The versions whose dots that context contains
   * are superseded; the others stay as siblings. The context is absorbed into the set's (the
   * writer saw those dots, so a late-arriving version among them is superseded too), and the
   * new version gets the dot after everything known for `actor`.
   */
  update(context: VersionVector | undefined, actor: ActorId, value: V): { set: DvvSet<V>; dot: Dot } {
    checkActor(actor);
    const seen = context === undefined ? this.#context : this.#context.join(CausalContext.fromVector(context));
    const minted = seen.next(actor);
    const kept = context === undefined ? [...this.#versions] : this.#versions.filter((v) => !context.contains(v.dot));
    kept.push(Object.freeze({ dot: minted, value }));
    kept.sort((a, b) => compareDots(a.dot, b.dot));
    return { set: new DvvSet(seen.add(minted), kept), dot: minted };
  }

  /**
   * The join of two replicas of one key: a version survives unless the other replica has seen its
   * dot without keeping it (it was superseded there); contexts are united. Commutative,
   * associative and idempotent (given that a dot names one value).
   */
  sync(other: DvvSet<V>): DvvSet<V> {
    if (other === this) return this;
    const mine = this.#versions;
    const theirs = other.#versions;
    const kept: Version<V>[] = [];
    // Whether every kept version is (the very object) one of this set's, or one of other's.
    let allMine = true;
    let allTheirs = true;
    let i = 0;
    let j = 0;
    while (i < mine.length || j < theirs.length) {
      const a = mine[i];
      const b = theirs[j];
      const order = a === undefined ? 1 : b === undefined ? -1 : compareDots(a.dot, b.dot);
      if (order === 0 && a !== undefined) {
        kept.push(a);
        if (a !== b) allTheirs = false;
        i++;
        j++;
      } else if (order < 0 && a !== undefined) {
        if (!other.#context.contains(a.dot)) {
          kept.push(a);
          allTheirs = false;
        }
        i++;
      } else if (b !== undefined) {
        if (!this.#context.contains(b.dot)) {
          kept.push(b);
          allMine = false;
        }
        j++;
      }
    }
    const context = this.#context.join(other.#context);
    // The join is one of the two sets itself (the usual case when one side supersedes the other):
    // that set, not a copy, so a caller can tell (e.g. reuse the bytes it was decoded from).
    if (allTheirs && kept.length === theirs.length && context === other.#context) return other;
    if (allMine && kept.length === mine.length && context === this.#context) return this;
    return new DvvSet(context, kept);
  }

  /**
   * Keeps the versions `keep` accepts and drops the others while keeping every dot in the
   * context: a dropped version counts as superseded here, so a replica still holding it loses
   * it on the next sync. LWW resolves concurrent versions this way (every replica keeps the
   * same winner, and the losers' dots stay known so they are never resurrected).
   */
  retain(keep: (version: Version<V>) => boolean): DvvSet<V> {
    const kept = this.#versions.filter(keep);
    return kept.length === this.#versions.length ? this : new DvvSet(this.#context, kept);
  }

  /** The live versions (siblings), sorted by compareDots. */
  versions(): Version<V>[] {
    return [...this.#versions];
  }

  values(): V[] {
    return this.#versions.map((v) => v.value);
  }

  /** What a client gets as its read context: the gap-free part of everything seen. */
  context(): VersionVector {
    return this.#context.vector;
  }

  /** Everything this replica has seen, exactly. */
  causalContext(): CausalContext {
    return this.#context;
  }

  size(): number {
    return this.#versions.length;
  }

  /** `{context: {vv, cloud}, versions: [[actor, counter, encodedValue], ...]}`. */
  toJSON<J>(encodeValue: (v: V) => J): unknown {
    return {
      context: this.#context.toJSON(),
      versions: this.#versions.map((v) => [v.dot.actor, v.dot.counter, encodeValue(v.value)]),
    };
  }

  static fromJSON<V>(json: unknown, decodeValue: (j: unknown) => V): DvvSet<V> {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw jsonError(`expected {context, versions} (got ${describeValue(json)})`);
    const keys = Object.keys(json).sort();
    if (keys.length !== 2 || keys[0] !== 'context' || keys[1] !== 'versions') throw jsonError(`expected exactly the fields context and versions (got ${keys.join(', ') || 'none'})`);
    const { context: contextJson, versions: versionsJson } = json as { context: unknown; versions: unknown };
    const context = CausalContext.fromJSON(contextJson);
    if (!Array.isArray(versionsJson)) throw jsonError(`versions: expected an array (got ${describeValue(versionsJson)})`);
    const versions = (versionsJson as unknown[]).map((entry): Version<V> => {
      if (!Array.isArray(entry) || entry.length !== 3) throw jsonError(`version: expected [actor, counter, value] (got ${describeValue(entry)})`);
      const [actor, counter, value] = entry as [unknown, unknown, unknown];
      return Object.freeze({ dot: dot(checkActor(actor), checkCounter(counter, 1, 'version counter')), value: decodeValue(value) });
    });
    versions.sort((a, b) => compareDots(a.dot, b.dot));
    return DvvSet.#checked(context, versions, jsonError);
  }

  encode(encodeValue: (v: V) => Uint8Array): Uint8Array {
    const writer = new ByteWriter().header(EncodingKind.DvvSet);
    writeContextBody(writer, this.#context);
    const index = new Map(this.#context.actors().map((actor, i) => [actor, i]));
    writer.uint(this.#versions.length);
    for (const { dot: d, value } of this.#versions) writer.uint(index.get(d.actor) ?? 0).uint(d.counter).bytes(encodeValue(value));
    return writer.finish();
  }

  /**
   * Decodes what `encode` wrote (strictly: any other bytes are refused). `decodeValue` gets a copy
   * of each value's bytes, or with `options.valueViews` a view of them inside `bytes` (no buffer
   * allocated per value: for a `decodeValue` that does not keep the bytes it is given).
   */
  static decode<V>(bytes: Uint8Array, decodeValue: (b: Uint8Array) => V, options: { readonly valueViews?: boolean } = {}): DvvSet<V> {
    const reader = new ByteReader(bytes).header(EncodingKind.DvvSet);
    const context = readContextBody(reader);
    const actors = context.actors();
    const count = reader.uint('version count');
    const versions: Version<V>[] = [];
    for (let i = 0; i < count; i++) {
      const index = reader.uint('version actor index');
      const actor = actors[index];
      if (actor === undefined) throw encodingError(`version actor index ${index} out of range (${actors.length} actors)`);
      const counter = reader.uint('version counter');
      if (counter === 0) throw encodingError('version counter 0');
      const d = dot(actor, counter);
      const previous = versions[versions.length - 1];
      if (previous !== undefined && compareDots(previous.dot, d) >= 0) throw encodingError(`versions out of order: ${previous.dot.actor}:${previous.dot.counter} then ${actor}:${counter}`);
      versions.push(Object.freeze({ dot: d, value: decodeValue(reader.bytes('version value', options.valueViews)) }));
    }
    reader.end();
    return DvvSet.#checked(context, versions, encodingError);
  }

  /** Builds a set from decoded parts, refusing a repeated dot or a version outside the context. */
  static #checked<V>(context: CausalContext, sorted: Version<V>[], fail: (message: string) => CausalityError): DvvSet<V> {
    sorted.forEach((v, i) => {
      const previous = sorted[i - 1];
      if (previous !== undefined && compareDots(previous.dot, v.dot) === 0) throw fail(`dot ${v.dot.actor}:${v.dot.counter} appears twice`);
      if (!context.contains(v.dot)) throw fail(`version ${v.dot.actor}:${v.dot.counter} is outside the set's causal context`);
    });
    return sorted.length === 0 && context.isEmpty() ? DvvSet.empty() : new DvvSet(context, sorted);
  }
}

function jsonError(message: string): CausalityError {
  return new CausalityError(CausalityErrorCode.InvalidJson, `invalid DvvSet JSON: ${message}`);
}
