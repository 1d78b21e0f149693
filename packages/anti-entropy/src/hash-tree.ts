/**
 * The key-space hash tree of anti-entropy (DESIGN §8), as Riak's Tictac trees shape it: every key
 * of a namespace falls into one of 2^20 segments by a hash of (namespace, key) alone — so a key is
 * counted in exactly one segment, whatever its state — and a segment's hash is the XOR of its
 * keys' 64-bit hashes. 1024 branches of 1024 segments each sit above the segments, and the root
 * above the branches; XOR makes every level a plain combination of the level below, so a key's
 * change is an O(1) update and two trees of the same keys are equal whatever order they were built in.
 *
 * A key's hash covers (namespace, key, SHA-256 of its canonical state): equal states have equal
 * bytes (@meridian/crdt, state-digest.ts), so two regions holding the same data agree.
 *
 * The byte layout is fixed and shared with the store's SQL functions (`meridian_key_segment`,
 * `meridian_key_hash`, migration 4): a test holds them equal. Hashes are unsigned 64-bit bigints here.
 *
 * Why XOR and not a sum: XOR is what the store's trigger can fold without overflow in SQL, and
 * the pitfall XOR carries — a key counted twice cancels out — is ruled out by construction (the
 * segment is a function of the key's identity) and by the property test that the maintained tree
 * equals one rebuilt from scratch. Each segment also keeps its key count, compared beside the hash.
 */
import { createHash } from 'node:crypto';

export const SEGMENT_BITS = 20;
export const BRANCH_BITS = 10;
export const SEGMENTS = 1 << SEGMENT_BITS;
export const BRANCHES = 1 << BRANCH_BITS;
/** Segments per branch. */
export const BRANCH_WIDTH = SEGMENTS / BRANCHES;

const utf8 = new TextEncoder();
const U64 = (1n << 64n) - 1n;

/** u32 length ‖ namespace ‖ u32 length ‖ key, both UTF-8 (a length prefix keeps ("ab","c") and ("a","bc") apart). */
export function keyIdentity(namespace: string, key: string): Uint8Array {
  const ns = utf8.encode(namespace);
  const k = utf8.encode(key);
  const out = new Uint8Array(8 + ns.length + k.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, ns.length);
  out.set(ns, 4);
  view.setUint32(4 + ns.length, k.length);
  out.set(k, 8 + ns.length);
  return out;
}

/** The key's segment, 0 .. SEGMENTS-1: the first 20 bits of SHA-256 of its identity. */
export function segmentOf(namespace: string, key: string): number {
  const h = createHash('sha256').update(keyIdentity(namespace, key)).digest();
  return ((h[0]! << 16) | (h[1]! << 8) | h[2]!) >>> (24 - SEGMENT_BITS);
}

/** The key's hash: the first 64 bits of SHA-256(identity ‖ SHA-256(state)). */
export function keyHash(namespace: string, key: string, state: Uint8Array): bigint {
  const stateDigest = createHash('sha256').update(state).digest();
  const h = createHash('sha256').update(keyIdentity(namespace, key)).update(stateDigest).digest();
  return h.readBigUInt64BE(0);
}

/**
 * A row of a big set or map stored a row per element or field (the store's meridian_elements): its
 * share of its key's hash, the first 64 bits of SHA-256(identity ‖ u32 length of the name ‖ name ‖
 * SHA-256(row)). A split key's hash is its header's `keyHash` XOR its rows'.
 */
export function elementHash(namespace: string, key: string, name: string, row: Uint8Array): bigint {
  const n = utf8.encode(name);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, n.length);
  const rowDigest = createHash('sha256').update(row).digest();
  return createHash('sha256').update(keyIdentity(namespace, key)).update(length).update(n).update(rowDigest).digest().readBigUInt64BE(0);
}

/** A signed 64-bit integer (PostgreSQL's bigint) as the unsigned hash used here. */
export const unsignedHash = (value: bigint): bigint => BigInt.asUintN(64, value);

export const branchOf = (segment: number): number => segment >>> (SEGMENT_BITS - BRANCH_BITS);

/** The segments under a branch, ascending. */
export function segmentsOf(branch: number): number[] {
  return Array.from({ length: BRANCH_WIDTH }, (_, i) => branch * BRANCH_WIDTH + i);
}

/** A segment's (or branch's, or root's) summary: the XOR of its keys' hashes and how many keys it holds. */
export interface Summary {
  readonly hash: bigint;
  readonly keys: number;
}

export const EMPTY: Summary = Object.freeze({ hash: 0n, keys: 0 });

export const combine = (a: Summary, b: Summary): Summary => ({ hash: (a.hash ^ b.hash) & U64, keys: a.keys + b.keys });

export const sameSummary = (a: Summary | undefined, b: Summary | undefined): boolean => (a?.hash ?? 0n) === (b?.hash ?? 0n) && (a?.keys ?? 0) === (b?.keys ?? 0);

/**
 * One namespace's tree, held sparsely (only non-empty segments). Built from keys (`add`,
 * `remove`: the reference model of the store's trigger) or from stored segment summaries.
 */
export class HashTree {
  readonly #segments = new Map<number, Summary>();

  static fromSegments(segments: Iterable<readonly [number, Summary]>): HashTree {
    const tree = new HashTree();
    for (const [segment, summary] of segments) tree.#fold(segment, summary);
    return tree;
  }

  add(namespace: string, key: string, state: Uint8Array): this {
    return this.#fold(segmentOf(namespace, key), { hash: keyHash(namespace, key, state), keys: 1 });
  }

  remove(namespace: string, key: string, state: Uint8Array): this {
    return this.#fold(segmentOf(namespace, key), { hash: keyHash(namespace, key, state), keys: -1 });
  }

  /** Folds a split key's row into its key's segment (it adds no key: its key row counts it). */
  addElement(namespace: string, key: string, name: string, row: Uint8Array): this {
    return this.#fold(segmentOf(namespace, key), { hash: elementHash(namespace, key, name, row), keys: 0 });
  }

  #fold(segment: number, delta: Summary): this {
    if (!Number.isInteger(segment) || segment < 0 || segment >= SEGMENTS) throw new RangeError(`expected a segment from 0 to ${SEGMENTS - 1} (got ${segment})`);
    const next = combine(this.#segments.get(segment) ?? EMPTY, delta);
    if (next.hash === 0n && next.keys === 0) this.#segments.delete(segment);
    else this.#segments.set(segment, next);
    return this;
  }

  /** Non-empty segments, ascending. */
  segments(): Map<number, Summary> {
    return new Map([...this.#segments].sort((a, b) => a[0] - b[0]));
  }

  branches(): Map<number, Summary> {
    const out = new Map<number, Summary>();
    for (const [segment, summary] of this.#segments) {
      const b = branchOf(segment);
      out.set(b, combine(out.get(b) ?? EMPTY, summary));
    }
    return out;
  }

  root(): Summary {
    let root = EMPTY;
    for (const summary of this.#segments.values()) root = combine(root, summary);
    return root;
  }
}

/** The indexes whose summaries differ between two sparse levels (absent = empty), ascending. */
export function differing(a: ReadonlyMap<number, Summary>, b: ReadonlyMap<number, Summary>): number[] {
  const out: number[] = [];
  for (const i of new Set([...a.keys(), ...b.keys()])) if (!sameSummary(a.get(i), b.get(i))) out.push(i);
  return out.sort((x, y) => x - y);
}

/** The keys whose hashes differ between two sides (present on one side only, or with different hashes), sorted. */
export function differingKeys(a: ReadonlyMap<string, bigint>, b: ReadonlyMap<string, bigint>): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) if (a.get(k) !== b.get(k)) out.push(k);
  return out.sort();
}
