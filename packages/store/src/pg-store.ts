/**
 * The PostgreSQL adapter of a region: one pool, migrations at open, and transactions that
 * replay themselves on serialization failures and deadlocks. The statements live in one module
 * per concept (keys, outbox, relay lease, consumer offsets, applied vectors, conflicts, dead
 * letters, idempotency, …; the write path's compare-and-writes in conditional-write.ts); this
 * class owns connections, transactions and how their errors are classified.
 *
 * Connection outcomes: a connection that cannot be had wrote nothing (unavailable); one lost
 * before COMMIT was sent rolled back; one lost after a write was sent leaves the outcome unknown
 * (store-error.ts), and the connection is discarded.
 */
import pg from 'pg';
import { classifyPgError, StoreError, StoreErrorCode } from './store-error.ts';
import { migrate } from './migrations.ts';
import { COLLECTION_SPLIT_ROWS } from '@meridian/crdt';
import { currentPositions } from './applied-vectors.ts';
import { saveWhole, splitsUnder, type CollectionLayout } from './collections.ts';
import { collectionSnapshot, compareAndWrite, compareAndWriteMany, compareAndWriteManyValues, compareAndWriteRows, readView, writeSnapshot } from './conditional-write.ts';
import { heldLetters } from './dead-letters.ts';
import { bindRegion, incarnations, ownStream, startIncarnation } from './incarnations.ts';
import { deleteEmptyKey, lockKey, readKey } from './keys.ts';
import { getNamespace, listNamespaces } from './namespaces.ts';
import { appendOutbox, outboxHighWater } from './outbox.ts';
import { classifying, type Queryable } from './pg-query.ts';
import { ReplicationReads } from './replication-reads.ts';
import { ReplicationTx } from './replication-tx.ts';
import type { Store } from './store.ts';
import { RetentionStore } from './retention.ts';
import { TreeReads } from './tree-segments.ts';
import { MembershipReads } from './members.ts';
import type { ConditionalWrite, ConditionalWriteResult, Incarnation, PartitionClaim, KeyRow, NamespaceRow, OwnStream, ReadView, RegionIdentity, RowsWrite, RowsWriteResult, WriteSnapshot } from './rows.ts';

// int8 (bigint) columns come back as strings by default; Meridian's HLCs and outbox ids are bigints.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => BigInt(v));

export interface StoreOptions {
  readonly connectionString: string;
  readonly poolSize?: number;
  readonly applicationName?: string;
  readonly connectionTimeoutMs?: number;
  /** Called when an idle pooled connection fails (e.g. the server restarted); the pool replaces it. */
  readonly onIdleError?: (error: Error) => void;
  /**
   * Above this many elements or fields a set or map is stored a row per element or field
   * (collections.ts; @meridian/crdt's COLLECTION_SPLIT_ROWS if absent). Every region of a
   * deployment must use the same value (anti-entropy hashes the stored rows); tests set it low.
   */
  readonly splitRows?: number;
}

export class PgStore implements Store {
  readonly pool: pg.Pool;
  readonly replication: ReplicationReads;
  /** Anti-entropy: the hash tree, key states, positions and repairs. */
  readonly tree: TreeReads;
  /** The tombstone GC, record expiry and table sizes (retention.ts). */
  readonly retention: RetentionStore;
  /** The peer regions this region replicates with (migration 8). */
  readonly members: MembershipReads;
  /** The pool, every statement's error classified: reads and single statements that write nothing. */
  readonly #classified: Queryable;
  readonly #layout: CollectionLayout;

  private constructor(pool: pg.Pool, layout: CollectionLayout) {
    this.pool = pool;
    this.#layout = layout;
    this.#classified = classifying(pool);
    this.replication = new ReplicationReads(pool);
    this.tree = new TreeReads(pool);
    this.retention = new RetentionStore(pool);
    this.members = new MembershipReads(this.#classified);
  }

  /** Opens the pool and applies the migrations. */
  static async open(options: StoreOptions): Promise<PgStore> {
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'meridian',
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
      // Connections stay open once made (the pool is small and bounded): closing idle ones made
      // the first burst after a quiet spell pay for new backends (a fork, a cold catalog cache,
      // every prepared statement parsed again), a latency spike the write benchmark showed at
      // the start of its phases. A connection the server closes is dropped on its error.
      idleTimeoutMillis: 0,
    });
    // Without a listener, an idle client's error (server restart) would crash the process.
    pool.on('error', (error) => options.onIdleError?.(error));
    const store = new PgStore(pool, { splitRows: options.splitRows ?? COLLECTION_SPLIT_ROWS });
    try {
      await migrate(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw classifyPgError(error);
    }
    return store;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** One round trip; throws a classified StoreError when the database does not answer. */
  async ping(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      throw classifyPgError(error);
    }
  }

  /**
   * Binds this database to a region (incarnations.ts): the first start records the region and its
   * epoch; later starts must name the same region; a configured epoch above the stored one
   * replaces it, one below it is refused.
   */
  async bindRegion(region: string, configuredEpoch: number | undefined): Promise<RegionIdentity> {
    return this.transaction((_tx, client) => bindRegion(client, region, configuredEpoch));
  }

  /** What this database knows of its own stream (incarnations.ts). */
  async ownStream(): Promise<OwnStream> {
    return ownStream(this.pool);
  }

  /** Starts incarnation `to` if the database is still at `from`; returns the epoch now in force. */
  async startIncarnation(from: number, to: number, reason: string): Promise<number> {
    return this.transaction((_tx, client) => startIncarnation(client, from, to, reason));
  }

  /** The incarnations this database started, oldest first. */
  async incarnations(): Promise<Incarnation[]> {
    return incarnations(this.pool);
  }

  /**
   * Runs `fn` in a transaction. Serialization failures and deadlocks replay it (up to
   * `retries` times, with jittered backoff); every other error is classified and thrown. `fn`
   * gets the transaction's statements and its connection (for statements only PostgreSQL has).
   */
  async transaction<T>(fn: (tx: ReplicationTx, client: pg.PoolClient) => Promise<T>, options: { retries?: number } = {}): Promise<T> {
    const retries = options.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      const replay = Symbol('replay');
      const result = await this.#withConnection<T | typeof replay>(async (client, connection) => {
        // Until COMMIT is sent, a lost connection rolls the transaction back (the server aborts an
        // open transaction whose connection drops); once it is sent, the outcome is unknown.
        let committing = false;
        try {
          await client.query('BEGIN');
          const value = await fn(new ReplicationTx(client, this.#layout), client);
          committing = true;
          await client.query('COMMIT');
          return value;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {
            connection.broken = true;
          });
          const classified = classifyPgError(error, { committing });
          if (classified.code === StoreErrorCode.unavailable || classified.code === StoreErrorCode.outcomeUnknown) connection.broken = true;
          if (classified.code === StoreErrorCode.retry && attempt < retries) return replay;
          // Errors thrown by `fn` itself (domain errors) pass through unchanged.
          if (classified.code === StoreErrorCode.failed && !(error instanceof pg.DatabaseError)) throw error;
          throw classified;
        }
      });
      if (result !== replay) return result;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** attempt));
    }
  }

  /**
   * Runs `fn` on a pooled connection of its own. A connection that cannot be had is classified
   * (nothing was sent on it). A connection lost meanwhile also surfaces as the query's rejection;
   * without a listener the client's 'error' event would crash the process. A broken connection
   * (lost, or marked by `fn`) is discarded, not returned to the pool.
   */
  async #withConnection<T>(fn: (client: pg.PoolClient, connection: { broken: boolean }) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw classifyPgError(error);
    }
    const connection = { broken: false };
    const onError = (): void => {
      connection.broken = true;
    };
    client.on('error', onError);
    try {
      return await fn(client, connection);
    } finally {
      client.off('error', onError);
      client.release(connection.broken);
    }
  }

  async listNamespaces(): Promise<NamespaceRow[]> {
    return listNamespaces(this.#classified);
  }

  async getNamespace(name: string): Promise<NamespaceRow | undefined> {
    return getNamespace(this.#classified, name);
  }

  /** One statement: the namespace and the key's row (the snapshot an optimistic write computes from). */
  async writeSnapshot(namespace: string, key: string): Promise<WriteSnapshot> {
    return writeSnapshot(this.#classified, namespace, key);
  }

  /**
   * One statement, its own transaction: stores `write.state` if the key's row still holds exactly
   * `write.expected` (or, with no expected row, if the key still has none) and the namespace still
   * has `write.policy`, and appends the outbox row. Returns the outbox id; or, when the row or the
   * policy changed, nothing was stored and the answer is a new snapshot, read by the same
   * statement, to plan the write from again (conditional-write.ts).
   */
  async compareAndWrite(write: ConditionalWrite): Promise<ConditionalWriteResult> {
    if (write.expected?.split) throw new StoreError(StoreErrorCode.integrity, `compareAndWrite: ${write.namespace}/${write.key} is stored split; its writes go through compareAndWriteRows`);
    if (splitsUnder(this.#layout, write.state)) return this.#compareAndWriteSplitting(write);
    return this.#commit((client) => compareAndWrite(client, write));
  }

  /**
   * A compare-and-write whose new state is stored split (it crosses the threshold): the same
   * semantics, in a transaction under the key's row lock. A key stored split already never matches
   * a whole expected state (its writes plan from rows).
   */
  async #compareAndWriteSplitting(write: ConditionalWrite): Promise<ConditionalWriteResult> {
    return this.transaction(async (tx, client) => {
      const ns = await tx.getNamespace(write.namespace);
      const { row, split } = await lockKey(client, write.namespace, write.key);
      const expected = write.expected;
      const unchanged = !split && ns?.policy === write.policy && (expected ? sameBytes(row.state, expected.state) && row.maxHlc === expected.maxHlc : row.state === undefined);
      if (!unchanged) {
        if (row.state === undefined) await deleteEmptyKey(client, write.namespace, write.key);
        return { saved: false, snapshot: await writeSnapshot(client, write.namespace, write.key) };
      }
      await saveWhole(client, this.#layout, write.namespace, write.key, write.state, write.maxHlc);
      const outboxId = await appendOutbox(client, write.messageKey, write.envelope);
      return { saved: true, outboxId, applied: await currentPositions(client), held: await heldLetters(client, write.namespace, write.key) };
    });
  }

  /** One statement: a write snapshot, with a split key's rows among `names` (conditional-write.ts). */
  async collectionSnapshot(namespace: string, key: string, names: readonly string[]): Promise<WriteSnapshot> {
    return collectionSnapshot(this.#classified, namespace, key, names);
  }

  /** One statement, its own transaction: a write on a split key, stored only if its generation is unchanged (conditional-write.ts). */
  async compareAndWriteRows(write: RowsWrite): Promise<RowsWriteResult> {
    return this.#commit((client) => compareAndWriteRows(client, write));
  }

  /**
   * Several compare-and-writes in one statement (one transaction, one commit), each with the
   * semantics of `compareAndWrite`. Every write must have an expected row (a key's first write
   * goes through `compareAndWrite`), and their keys must be distinct. Answers in the writes' order.
   */
  async compareAndWriteMany(writes: readonly ConditionalWrite[]): Promise<ConditionalWriteResult[]> {
    // A write whose state is stored split needs a transaction of its own: the caller sends it
    // alone (`compareAndWrite`), so that the batch stays all-or-nothing.
    const alone = writes.find((w) => w.expected?.split || splitsUnder(this.#layout, w.state));
    if (alone) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${alone.namespace}/${alone.key} is a set or map stored split; write it with compareAndWrite`);
    const values = compareAndWriteManyValues(writes);
    return this.#commit((client) => compareAndWriteMany(client, writes, values));
  }

  /**
   * One statement: a key's namespace, committed state (unlocked), the outbox high-water, the
   * applied positions and the key's held-back dead letters, for reads.
   */
  async readView(namespace: string, key: string, rows?: readonly string[]): Promise<ReadView> {
    return readView(this.#classified, namespace, key, rows);
  }

  /** Reads a key's committed state without locking it. */
  async readKey(namespace: string, key: string): Promise<KeyRow | undefined> {
    return readKey(this.#classified, namespace, key);
  }

  /** The highest outbox id committed so far: this region's own position in its session tokens. */
  async outboxHighWater(): Promise<bigint> {
    return outboxHighWater(this.#classified);
  }

  /** Claims partitions of a peer's topic for this consumer (consumer-offsets.ts). */
  async claimPartitions(peer: string, partitions: readonly number[]): Promise<Map<number, PartitionClaim>> {
    return this.replication.claimPartitions(peer, partitions);
  }

  /**
   * Runs one statement that is its own transaction and may commit a write. A connection that
   * cannot be had wrote nothing (unavailable); one lost once the statement was sent leaves the
   * outcome unknown (store-error.ts), and the connection is discarded.
   */
  async #commit<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#withConnection(async (client, connection) => {
      try {
        return await fn(client);
      } catch (error) {
        const classified = classifyPgError(error, { committing: true });
        if (classified.code === StoreErrorCode.unavailable || classified.code === StoreErrorCode.outcomeUnknown) connection.broken = true;
        throw classified;
      }
    });
  }
}

/** Equal bytes, or both absent. */
function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
