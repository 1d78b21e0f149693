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
import type { KeyRow, NamespaceRow, WriteSnapshot } from '@meridian/store';

/** One cached key; reused for the next key once its key leaves. */
interface Slot {
  /** The cache key (namespace NUL key); '' while the slot is free. */
  id: string;
  /** Undefined only while the slot is free. */
  namespace: NamespaceRow | undefined;
  /** The state's bytes are `buffer[0, length)`; `hasState` false for a row without a state. */
  buffer: Uint8Array;
  length: number;
  hasState: boolean;
  /** The row's highest HLC, kept in a typed array so an update does not allocate a BigInt. */
  readonly maxHlc: BigInt64Array;
  /** Rewritten since the CLOCK hand last passed: spared once. */
  referenced: boolean;
  bytes: number;
}

/** What an entry is charged besides its state buffer: the key strings, the objects, the map's slot. */
const ENTRY_OVERHEAD_BYTES = 160;
const EMPTY = new Uint8Array(0);

export class WriteCache {
  readonly #limitBytes: number;
  readonly #byId = new Map<string, Slot>();
  /** Every slot, in CLOCK order; free ones (id '') are skipped by the hand and reused first. */
  readonly #slots: Slot[] = [];
  readonly #free: Slot[] = [];
  #hand = 0;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /** `limitBytes` 0 turns the cache off. */
  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /** A copy of the cached snapshot of a key, or undefined. */
  get(namespace: string, key: string): WriteSnapshot | undefined {
    if (this.#limitBytes === 0) return undefined;
    const slot = this.#byId.get(cacheKey(namespace, key));
    if (slot === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    const state = slot.hasState ? slot.buffer.slice(0, slot.length) : undefined;
    return { namespace: slot.namespace, key: { namespace, key, state, maxHlc: slot.maxHlc[0]! } };
  }

  /**
   * Remembers what the key's row holds now (after a write stored it). A row's highest HLC never
   * goes back, so an answer that arrives after a later write's is not kept over it.
   */
  set(namespace: NamespaceRow, stored: KeyRow): void {
    if (this.#limitBytes === 0) return;
    const id = cacheKey(namespace.name, stored.key);
    const held = this.#byId.get(id);
    if (held !== undefined && held.maxHlc[0]! > stored.maxHlc) return;
    const length = stored.state?.byteLength ?? 0;
    const fits = held !== undefined && held.buffer.byteLength >= length;
    // A grown state gets a new buffer with room to grow again (a counter or a set grows by a
    // few bytes at a time); otherwise the slot's buffer is reused.
    const capacity = fits ? held.buffer.byteLength : length === 0 ? 0 : length + (length >> 2) + 16;
    const bytes = capacity + id.length * 2 + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.#limitBytes) {
      this.delete(namespace.name, stored.key);
      return;
    }
    let slot = held;
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#newSlot();
      slot.id = id;
      slot.referenced = false;
      slot.bytes = 0;
      this.#byId.set(id, slot);
    } else slot.referenced = true;
    if (!fits) slot.buffer = capacity === 0 ? EMPTY : new Uint8Array(capacity);
    if (stored.state !== undefined) slot.buffer.set(stored.state);
    slot.length = length;
    slot.hasState = stored.state !== undefined;
    slot.maxHlc[0] = stored.maxHlc;
    slot.namespace = namespace;
    this.#bytes += bytes - slot.bytes;
    slot.bytes = bytes;
    this.#evictOver(slot);
  }

  delete(namespace: string, key: string): void {
    const slot = this.#byId.get(cacheKey(namespace, key));
    if (slot !== undefined) this.#release(slot);
  }

  /** Entries, bytes held, and hits and misses since start (for metrics and tests). */
  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.#byId.size, bytes: this.#bytes, hits: this.#hits, misses: this.#misses };
  }

  #newSlot(): Slot {
    const slot: Slot = { id: '', namespace: undefined, buffer: EMPTY, length: 0, hasState: false, maxHlc: new BigInt64Array(1), referenced: false, bytes: 0 };
    this.#slots.push(slot);
    return slot;
  }

  /** CLOCK: while over the limit, the hand evicts the first key not rewritten since it last passed (never `keep`). */
  #evictOver(keep: Slot): void {
    while (this.#bytes > this.#limitBytes) {
      const slot = this.#slots[this.#hand]!;
      this.#hand = (this.#hand + 1) % this.#slots.length;
      if (slot.id === '' || slot === keep) continue;
      if (slot.referenced) slot.referenced = false;
      else this.#release(slot);
    }
  }

  #release(slot: Slot): void {
    this.#byId.delete(slot.id);
    this.#bytes -= slot.bytes;
    slot.id = '';
    slot.buffer = EMPTY;
    slot.namespace = undefined;
    slot.bytes = 0;
    this.#free.push(slot);
  }
}

// Namespace names never contain a NUL (names.ts), so the pair maps to one string without clashes.
const cacheKey = (namespace: string, key: string): string => `${namespace}\u0000${key}`;
