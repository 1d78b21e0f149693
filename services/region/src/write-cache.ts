/**
 * The write path's cache of snapshots: for each recently written key, the namespace row and the
 * key's row as this process last stored or read them.
 *
 * A write planned from a cached snapshot is stored by the same compare-and-write as one planned
 * from a fresh read, which saves the new state only if the row still holds exactly the snapshot's
 * `(state, max_hlc)` and the namespace still has the snapshot's policy (docs/decisions/0004). A
 * stale entry (another replica of the region wrote the key, the replicator applied an update,
 * a replicated declaration replaced the namespace's policy) therefore costs one lost
 * compare-and-write, which answers with the current snapshot; it can never store a wrong state.
 * So the cache needs no invalidation to be correct, only to stay useful.
 *
 * Bounded by the bytes it holds. Rewriting a cached key allocates nothing that outlives the
 * write (docs/decisions/0007): its slot is updated in place (the state copied into the slot's
 * buffer, the HLC into a typed array), and entries leave by the CLOCK rule (a hand goes round the
 * slots, sparing once each key rewritten since it last passed), not by re-inserting every write
 * at the back of a Map. Each write's new objects so stay young garbage, instead of old objects that
 * only a major collection frees. Because slots change in place, `get` answers a copy: a write
 * planned from a snapshot compares against the bytes it was planned from, never against a later
 * write's.
 */
import { COLLECTION_SPLIT_ROWS, splitsAbove } from '@meridian/crdt';
import type { KeyRow, NamespaceRow, WriteSnapshot } from '@meridian/store';

/** What an entry is charged besides its state buffer: the key string, the map's and the arrays' slots. */
const ENTRY_OVERHEAD_BYTES = 160;
const EMPTY = new Uint8Array(0);
/** `#lengths` of a row without a state (a key row inserted by its own transaction). */
const NO_STATE = -1;

/** A namespace row shared by every slot of its namespace, and how many slots hold it. */
interface SharedNamespace {
  row: NamespaceRow;
  slots: number;
}

/**
 * The slots are columns (struct of arrays), not one object per key, and every slot of a
 * namespace shares one namespace row: a full cache is then about three heap objects a key (the
 * key string, the state's buffer and its view), not ten, which is what a major collection has to
 * mark (docs/decisions/0008).
 */
export class WriteCache {
  readonly #limitBytes: number;
  /** Cache key (namespace NUL key) to slot. */
  readonly #slotOf = new Map<string, number>();
  /** Per slot: its cache key, '' while the slot is free. */
  readonly #ids: string[] = [];
  /** Per slot: the namespace row (undefined while free). */
  readonly #namespaces: (SharedNamespace | undefined)[] = [];
  /** Per slot: the state's bytes are `buffer[0, length)`. */
  readonly #buffers: Uint8Array[] = [];
  #lengths = new Int32Array(64);
  /** Per slot: the row's highest HLC (a typed array, so an update allocates no BigInt). */
  #maxHlc = new BigInt64Array(64);
  /** Per slot: rewritten since the CLOCK hand last passed (spared once). */
  #referenced = new Uint8Array(64);
  /** Per slot: what it is charged against the limit. */
  #charged = new Int32Array(64);
  readonly #free: number[] = [];
  readonly #shared = new Map<string, SharedNamespace>();
  #hand = 0;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  readonly #splitRows: number;

  /**
   * `limitBytes` 0 turns the cache off. A set or map above `splitRows` (the store's split
   * threshold) is never kept: its writes plan from its rows, and a whole state would only be
   * planned from, rewritten whole and refused.
   */
  constructor(limitBytes: number, splitRows: number = COLLECTION_SPLIT_ROWS) {
    this.#limitBytes = limitBytes;
    this.#splitRows = splitRows;
  }

  /** A copy of the cached snapshot of a key, or undefined. */
  get(namespace: string, key: string): WriteSnapshot | undefined {
    if (this.#limitBytes === 0) return undefined;
    const slot = this.#slotOf.get(cacheKey(namespace, key));
    if (slot === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    const length = this.#lengths[slot]!;
    const state = length === NO_STATE ? undefined : this.#buffers[slot]!.slice(0, length);
    return { namespace: this.#namespaces[slot]!.row, key: { namespace, key, state, maxHlc: this.#maxHlc[slot]! } };
  }

  /**
   * Remembers what the key's row holds now (after a write stored it). A row's highest HLC never
   * goes back, so an answer that arrives after a later write's is not kept over it.
   */
  set(namespace: NamespaceRow, stored: KeyRow): void {
    if (this.#limitBytes === 0) return;
    if (stored.state !== undefined && splitsAbove(stored.state, this.#splitRows)) {
      this.delete(namespace.name, stored.key);
      return;
    }
    const id = cacheKey(namespace.name, stored.key);
    const held = this.#slotOf.get(id);
    if (held !== undefined && this.#maxHlc[held]! > stored.maxHlc) return;
    const length = stored.state?.byteLength ?? 0;
    const fits = held !== undefined && this.#buffers[held]!.byteLength >= length;
    // A grown state gets a new buffer with room to grow again (a counter or a set grows by a
    // few bytes at a time); otherwise the slot's buffer is reused.
    const capacity = fits ? this.#buffers[held]!.byteLength : length === 0 ? 0 : length + (length >> 2) + 16;
    const bytes = capacity + id.length * 2 + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.#limitBytes) {
      this.delete(namespace.name, stored.key);
      return;
    }
    let slot = held;
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#newSlot();
      this.#ids[slot] = id;
      this.#referenced[slot] = 0;
      this.#charged[slot] = 0;
      this.#slotOf.set(id, slot);
    } else this.#referenced[slot] = 1;
    if (!fits) this.#buffers[slot] = capacity === 0 ? EMPTY : new Uint8Array(capacity);
    if (stored.state !== undefined) this.#buffers[slot]!.set(stored.state);
    this.#lengths[slot] = stored.state === undefined ? NO_STATE : length;
    this.#maxHlc[slot] = stored.maxHlc;
    this.#holdNamespace(slot, namespace);
    this.#bytes += bytes - this.#charged[slot]!;
    this.#charged[slot] = bytes;
    this.#evictOver(slot);
  }

  /** Follows a row another writer (an apply, a repair) stored: kept, or dropped when it holds only some rows of a split collection. */
  follow(saved: { readonly namespace: NamespaceRow; readonly key: KeyRow; readonly partial?: true }): void {
    if (saved.partial) this.delete(saved.namespace.name, saved.key.key);
    else this.set(saved.namespace, saved.key);
  }

  delete(namespace: string, key: string): void {
    const slot = this.#slotOf.get(cacheKey(namespace, key));
    if (slot !== undefined) this.#release(slot);
  }

  /** Entries, bytes held, and hits and misses since start (for metrics and tests). */
  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.#slotOf.size, bytes: this.#bytes, hits: this.#hits, misses: this.#misses };
  }

  #newSlot(): number {
    const slot = this.#ids.length;
    if (slot === this.#lengths.length) {
      this.#lengths = doubled(this.#lengths, Int32Array);
      this.#maxHlc = doubled(this.#maxHlc, BigInt64Array);
      this.#referenced = doubled(this.#referenced, Uint8Array);
      this.#charged = doubled(this.#charged, Int32Array);
    }
    this.#ids.push('');
    this.#namespaces.push(undefined);
    this.#buffers.push(EMPTY);
    return slot;
  }

  /**
   * Points the slot at its namespace's shared row (a slot that holds one holds the one in
   * `#shared`: a row leaves it only when no slot holds it). A row that differs from the shared
   * one (a replicated declaration replaced the policy) becomes the shared one: it is the newer
   * answer, and a slot still planned from the older row costs at most one lost compare-and-write.
   */
  #holdNamespace(slot: number, row: NamespaceRow): void {
    let shared = this.#namespaces[slot];
    if (shared === undefined) {
      shared = this.#shared.get(row.name);
      if (shared === undefined) {
        shared = { row, slots: 0 };
        this.#shared.set(row.name, shared);
      }
      shared.slots++;
      this.#namespaces[slot] = shared;
    }
    if (shared.row !== row && !sameNamespace(shared.row, row)) shared.row = row;
  }

  #dropNamespace(shared: SharedNamespace): void {
    if (--shared.slots === 0) this.#shared.delete(shared.row.name);
  }

  /** CLOCK: while over the limit, the hand evicts the first key not rewritten since it last passed (never `keep`). */
  #evictOver(keep: number): void {
    while (this.#bytes > this.#limitBytes) {
      const slot = this.#hand;
      this.#hand = (this.#hand + 1) % this.#ids.length;
      if (this.#ids[slot] === '' || slot === keep) continue;
      if (this.#referenced[slot] === 1) this.#referenced[slot] = 0;
      else this.#release(slot);
    }
  }

  #release(slot: number): void {
    this.#slotOf.delete(this.#ids[slot]!);
    this.#bytes -= this.#charged[slot]!;
    this.#ids[slot] = '';
    this.#buffers[slot] = EMPTY;
    this.#dropNamespace(this.#namespaces[slot]!);
    this.#namespaces[slot] = undefined;
    this.#charged[slot] = 0;
    this.#free.push(slot);
  }
}

/** A column twice as long, holding `from` at its start. */
function doubled<T extends { readonly length: number; set(from: T): void }>(from: T, Column: new (length: number) => T): T {
  const to = new Column(from.length * 2);
  to.set(from);
  return to;
}

function sameNamespace(a: NamespaceRow, b: NamespaceRow): boolean {
  return a.policy === b.policy && a.declaredBy === b.declaredBy && a.declaredHlc === b.declaredHlc && a.createdAt.getTime() === b.createdAt.getTime();
}

// Namespace names never contain a NUL (names.ts), so the pair maps to one string without clashes.
const cacheKey = (namespace: string, key: string): string => `${namespace}\u0000${key}`;
