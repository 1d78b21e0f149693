/**
 * What a write transaction can do (the write path's locked fallback, namespace declarations, and
 * the key and idempotency work of an apply). Obtained only inside `PgStore.transaction`; each
 * method is one concept module's statement run on the transaction's connection.
 */
import type pg from 'pg';
import { currentPositions } from './applied-vectors.ts';
import { heldLetters } from './dead-letters.ts';
import { claimIdempotencyKey, recordIdempotentAnswer, storeReplicatedAnswers } from './idempotency.ts';
import { writeRows, type CollectionLayout, type SplitRows } from './collections.ts';
import { deleteEmptyKey, keyId, lockKey, saveKey } from './keys.ts';
import { declareNamespace, getNamespace } from './namespaces.ts';
import { appendOutbox, outboxHighWater } from './outbox.ts';
import type { WriteTransaction } from './store.ts';
import type { AppliedPositions, HeldLetter, IdempotencyClaim, IdempotencyScope, KeyRow, NamespacePolicy, NamespaceRow, ReplicatedAnswer, SplitRowsWrite } from './rows.ts';

export class StoreTx implements WriteTransaction {
  readonly #client: pg.PoolClient;
  protected readonly layout: CollectionLayout;
  /** The keys this transaction locked that are stored split, with their rows as read (collections.ts): their saves write what changed. */
  protected readonly splitKeys = new Map<string, SplitRows>();

  constructor(client: pg.PoolClient, layout: CollectionLayout) {
    this.#client = client;
    this.layout = layout;
  }

  getNamespace(name: string): Promise<NamespaceRow | undefined> {
    return getNamespace(this.#client, name);
  }

  /** Inserts the namespace unless it exists; returns the row that is stored either way, locked. */
  declareNamespace(name: string, policy: NamespacePolicy, declaredBy: string, declaredHlc: bigint): Promise<{ created: boolean; row: NamespaceRow }> {
    return declareNamespace(this.#client, name, policy, declaredBy, declaredHlc);
  }

  /**
   * Insert-or-lock: after this call the key's row exists and is locked by this transaction.
   * Returns its stored state (undefined when the key was never written).
   */
  async lockKey(namespace: string, key: string, names?: readonly string[]): Promise<KeyRow> {
    const { row, split } = await lockKey(this.#client, namespace, key, names);
    if (split) this.splitKeys.set(keyId(row), split);
    else this.splitKeys.delete(keyId(row));
    return row;
  }

  /** Stores a split key this transaction locked with names: header, count, generation and the rows that change. */
  async saveRows(namespace: string, key: string, write: SplitRowsWrite): Promise<void> {
    const id = keyId({ namespace, key });
    const held = this.splitKeys.get(id);
    if (!held?.partial) throw new Error(`saveRows: ${namespace}/${key} was not locked with the rows a write names`);
    const stray = [...write.upserts.keys(), ...write.deletes].find((name) => !held.partial!.names.has(name));
    if (stray !== undefined) throw new Error(`saveRows: ${namespace}/${key}: row ${stray.slice(0, 40)} was not read under the lock`);
    if (write.elements <= this.layout.splitRows) throw new Error(`saveRows: ${namespace}/${key} would hold ${write.elements} rows, not above the threshold: store it whole`);
    await writeRows(this.#client, namespace, key, write);
    const rows = new Map(held.rows);
    for (const name of write.deletes) rows.delete(name);
    for (const [name, row] of write.upserts) rows.set(name, row);
    this.splitKeys.set(id, { rows, partial: { elements: write.elements, names: held.partial.names } });
  }

  /** Stores the whole state of a key this transaction locked, in the layout it calls for (collections.ts). */
  async saveKey(namespace: string, key: string, state: Uint8Array, maxHlc: bigint): Promise<void> {
    const id = keyId({ namespace, key });
    const held = this.splitKeys.get(id);
    if (held?.partial) throw new Error(`saveKey: ${namespace}/${key} was locked with some of its rows (lockKeys); store it with saveKeys`);
    const now = await saveKey(this.#client, this.layout, namespace, key, state, maxHlc, held?.rows);
    if (now) this.splitKeys.set(id, { rows: now });
    else this.splitKeys.delete(id);
  }

  /** Removes a key row this transaction inserted but never wrote (a no-op operation on a new key). */
  deleteEmptyKey(namespace: string, key: string): Promise<void> {
    return deleteEmptyKey(this.#client, namespace, key);
  }

  outboxHighWater(): Promise<bigint> {
    return outboxHighWater(this.#client);
  }

  /**
   * The applied positions, read by this transaction now. Read after the key's row is locked, they
   * cover every replicated update the row reflects (an apply that changed it has committed).
   */
  appliedPositions(): Promise<AppliedPositions> {
    return currentPositions(this.#client);
  }

  /** The key's held-back dead letters while it is quarantined (empty otherwise), read by this transaction now. */
  heldLetters(namespace: string, key: string): Promise<HeldLetter[]> {
    return heldLetters(this.#client, namespace, key);
  }

  /**
   * Appends the replication envelope of this transaction's write and returns its outbox id.
   * The transaction must already have written (lockKey / declareNamespace) — it then owns a
   * transaction id before the outbox id is drawn, which the relay's horizon relies on.
   */
  appendOutbox(messageKey: string, envelope: Uint8Array): Promise<bigint> {
    return appendOutbox(this.#client, messageKey, envelope);
  }

  /**
   * Claims an idempotency key of a data key for this transaction. A concurrent claim of the same
   * key waits on the unique index until this transaction ends, then sees the stored answer.
   */
  claimIdempotencyKey(scope: IdempotencyScope, idempotencyKey: string, fingerprint: string): Promise<IdempotencyClaim> {
    return claimIdempotencyKey(this.#client, scope, idempotencyKey, fingerprint);
  }

  recordIdempotentAnswer(scope: IdempotencyScope, idempotencyKey: string, status: number, response: unknown): Promise<void> {
    return recordIdempotentAnswer(this.#client, scope, idempotencyKey, status, response);
  }

  /** Stores the answers that replicated updates carried, in the apply transaction (a record already held is kept). */
  storeReplicatedAnswers(answers: readonly ReplicatedAnswer[]): Promise<void> {
    return storeReplicatedAnswers(this.#client, answers);
  }
}
