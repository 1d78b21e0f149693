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
 * Bounded by the bytes of the states it holds: entries leave in the order they were last
 * stored (each write re-inserts its key), which keeps the keys being written.
 */
import type { KeyRow, NamespaceRow, WriteSnapshot } from '@meridian/store';

interface Entry {
  readonly namespace: NamespaceRow;
  readonly key: KeyRow;
  readonly bytes: number;
}

/** What an entry is charged besides its state: the key strings, the objects, the map's slot. */
const ENTRY_OVERHEAD_BYTES = 160;

export class WriteCache {
  readonly #limitBytes: number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  /** `limitBytes` 0 turns the cache off. */
  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /** The cached snapshot of a key, or undefined. */
  get(namespace: string, key: string): WriteSnapshot | undefined {
    if (this.#limitBytes === 0) return undefined;
    const entry = this.#entries.get(cacheKey(namespace, key));
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return { namespace: entry.namespace, key: entry.key };
  }

  /**
   * Remembers what the key's row holds now (after a write stored it). A row's highest HLC never
   * goes back, so an answer that arrives after a later write's is not kept over it.
   */
  set(namespace: NamespaceRow, stored: KeyRow): void {
    if (this.#limitBytes === 0) return;
    const id = cacheKey(namespace.name, stored.key);
    const held = this.#entries.get(id);
    if (held !== undefined && held.key.maxHlc > stored.maxHlc) return;
    // A state that is a view of a larger buffer (a consumed Kafka message, a driver's read
    // buffer, Node's Buffer pool, an encoder's spare capacity) is copied: the cache keeps alive
    // only what it counts. `new Uint8Array(view)` copies; a Buffer's own `slice` would not.
    const state = stored.state;
    const key = state !== undefined && state.buffer.byteLength > 2 * state.byteLength + 64 ? { ...stored, state: new Uint8Array(state) } : stored;
    const bytes = (key.state?.byteLength ?? 0) + id.length * 2 + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.#limitBytes) {
      this.delete(namespace.name, key.key);
      return;
    }
    this.#remove(id);
    this.#entries.set(id, { namespace, key, bytes });
    this.#bytes += bytes;
    if (this.#bytes > this.#limitBytes) {
      for (const [oldest, entry] of this.#entries) {
        if (this.#bytes <= this.#limitBytes) break;
        this.#entries.delete(oldest);
        this.#bytes -= entry.bytes;
      }
    }
  }

  delete(namespace: string, key: string): void {
    this.#remove(cacheKey(namespace, key));
  }

  /** Entries, bytes held, and hits and misses since start (for metrics and tests). */
  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, hits: this.#hits, misses: this.#misses };
  }

  #remove(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }
}

// Namespace names never contain a NUL (names.ts), so the pair maps to one string without clashes.
const cacheKey = (namespace: string, key: string): string => `${namespace}\u0000${key}`;
