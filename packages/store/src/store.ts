/**
 * The store as the write path and the apply path see it: the optimistic write's statements, and
 * transactions offering the write statements (`WriteTransaction`) and the apply statements
 * (`ApplyTransaction`). Two implementations: `PgStore` (PostgreSQL, what runs) and `MemoryStore`
 * (in memory, for fast unit tests of the paths). `store-contract.fixture.ts` holds both to the
 * same behaviour.
 *
 * The boundary: what the interface names behaves alike in both. What PostgreSQL alone does stays
 * out of it — the relay's lease and publish horizon (transaction ids), the anti-entropy hash tree
 * (kept by triggers), a reseed's advisory lock, connection loss and its outcomes (store-error.ts),
 * and row locks between concurrent transactions (`MemoryStore` runs one transaction at a time,
 * which is the serial order PostgreSQL's locks guarantee for the rows they touch).
 */
import type {
  AppliedPositions,
  AppliedRow,
  ConditionalWrite,
  ConditionalWriteResult,
  ConflictRow,
  DeadLetterInput,
  HeldLetter,
  IdempotencyClaim,
  IdempotencyScope,
  KeyLock,
  SplitRowsWrite,
  KeyRow,
  KeyWrite,
  LockedDeadLetter,
  LockedKey,
  LockedOffset,
  NamespacePolicy,
  NamespaceRow,
  OffsetSave,
  PartitionClaim,
  ReadView,
  ReplicatedAnswer,
  RowsWrite,
  RowsWriteResult,
  WriteSnapshot,
} from './rows.ts';

/** A transaction's statements for a write of this region (and namespace declarations, key rows and answers of an apply). */
export interface WriteTransaction {
  getNamespace(name: string): Promise<NamespaceRow | undefined>;
  /** Inserts the namespace unless it exists; returns the row that is stored either way, locked. */
  declareNamespace(name: string, policy: NamespacePolicy, declaredBy: string, declaredHlc: bigint): Promise<{ created: boolean; row: NamespaceRow }>;
  /**
   * Insert-or-lock: the key's row exists and is this transaction's; its state (undefined: never
   * written). With `names`, a key stored split (a big set or map) answers as a write snapshot does:
   * its header and `split` with the named rows that exist (store those back with `saveRows`).
   */
  lockKey(namespace: string, key: string, names?: readonly string[]): Promise<KeyRow>;
  saveKey(namespace: string, key: string, state: Uint8Array, maxHlc: bigint): Promise<void>;
  /** Stores a split key locked with `names`: its header, count and the rows that change (a store that never splits has none). */
  saveRows?(namespace: string, key: string, write: SplitRowsWrite): Promise<void>;
  /** Removes a key row this transaction inserted but never wrote. */
  deleteEmptyKey(namespace: string, key: string): Promise<void>;
  /** The highest outbox id committed so far (this transaction's own rows included). */
  outboxHighWater(): Promise<bigint>;
  /** Per origin actor, the outbox id up to which its updates are applied, read now. */
  appliedPositions(): Promise<AppliedPositions>;
  /** The key's held-back dead letters while it is quarantined (empty otherwise). */
  heldLetters(namespace: string, key: string): Promise<HeldLetter[]>;
  /** Appends this transaction's replication envelope; its outbox id. */
  appendOutbox(messageKey: string, envelope: Uint8Array): Promise<bigint>;
  claimIdempotencyKey(scope: IdempotencyScope, idempotencyKey: string, fingerprint: string): Promise<IdempotencyClaim>;
  recordIdempotentAnswer(scope: IdempotencyScope, idempotencyKey: string, status: number, response: unknown): Promise<void>;
  /** Stores replicated updates' answers; a record already held for the scoped key is kept. */
  storeReplicatedAnswers(answers: readonly ReplicatedAnswer[]): Promise<void>;
}

/** A transaction's statements for applying a peer's stream (and redriving dead letters). */
export interface ApplyTransaction {
  /** Per partition, the stored next offset if `epoch` still owns it, else 'fenced'. */
  lockOffsets(peer: string, owners: readonly { readonly partition: number; readonly epoch: bigint }[]): Promise<Map<number, LockedOffset>>;
  /** Stores partitions' next offsets and, per origin actor, the highest sequence consumed from each (kept when higher). */
  saveOffsets(peer: string, offsets: readonly OffsetSave[]): Promise<void>;
  /** The applied rows of these origins, inserted (empty) if missing. */
  lockApplied(origins: readonly { origin: string; region: string }[]): Promise<Map<string, AppliedRow>>;
  saveApplied(rows: readonly AppliedRow[]): Promise<void>;
  namespacesAmong(names: readonly string[]): Promise<Map<string, NamespaceRow>>;
  /** Insert-or-lock of many keys; rows keyed by `JSON.stringify([namespace, key])`. */
  lockKeys(keys: readonly KeyLock[]): Promise<Map<string, LockedKey>>;
  saveKeys(writes: readonly KeyWrite[]): Promise<void>;
  /** Records each conflict unless one with its id exists: the ids recorded by this call. */
  recordConflicts(conflicts: readonly ConflictRow[]): Promise<Set<string>>;
  deadLetter(d: DeadLetterInput): Promise<bigint>;
  quarantine(namespace: string, key: string, deadLetterId: bigint): Promise<void>;
  /** Which of these keys are quarantined, as `JSON.stringify([namespace, key])`. */
  quarantinedAmong(keys: readonly { namespace: string; key: string }[]): Promise<Set<string>>;
  releaseQuarantine(namespace: string, key: string): Promise<void>;
  /** Stores a peer's heartbeat unless the stored one is newer (by the peer's wall clock). */
  saveHeartbeat(peer: string, origin: string, wallMs: bigint, highWater: bigint, applied: Record<string, string>): Promise<void>;
  replaceNamespacePolicy(name: string, policy: string, declaredBy: string, declaredHlc: bigint): Promise<void>;
  /** Removes every key of a namespace; the states of those that had one. */
  takeNamespaceKeys(name: string): Promise<{ key: string; state: Uint8Array }[]>;
  lockDeadLetter(id: bigint): Promise<LockedDeadLetter | undefined>;
  quarantinedBy(namespace: string, key: string): Promise<bigint | undefined>;
  /** The key's dead letters with this code not yet redriven, oldest first. */
  heldFor(namespace: string, key: string, code: string): Promise<{ id: bigint; raw: Uint8Array }[]>;
  markDeadLetterRedriven(id: bigint): Promise<void>;
}

export type StoreTransaction = WriteTransaction & ApplyTransaction;

export interface Store {
  /** One read: the namespace and the key's row, the snapshot an optimistic write plans from. */
  writeSnapshot(namespace: string, key: string): Promise<WriteSnapshot>;
  /** Stores the write iff the row still holds `expected` (none: still has no row) and the namespace its policy; else a new snapshot. */
  compareAndWrite(write: ConditionalWrite): Promise<ConditionalWriteResult>;
  /** Several compare-and-writes of existing rows (distinct keys), committed together; answers in order. */
  compareAndWriteMany(writes: readonly ConditionalWrite[]): Promise<ConditionalWriteResult[]>;
  /** One read: the namespace, the key's committed row, the outbox high-water, applied positions and held letters. */
  /** With `rows` (set elements' canonical texts or map fields), a big collection's state may hold only those rows and its whole context. */
  readView(namespace: string, key: string, rows?: readonly string[]): Promise<ReadView>;
  /** Claims partitions of a peer's topic: each owner epoch bumped (a row made at offset 0 if missing). */
  claimPartitions(peer: string, partitions: readonly number[]): Promise<Map<number, PartitionClaim>>;
  /** Runs `fn` in one transaction: all of it is stored, or (it throws) none of it. */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /**
   * Big sets and maps stored a row per element or field (PostgreSQL only: collections.ts). A store
   * without them never answers a snapshot with `KeyRow.split`. One statement: the write snapshot,
   * with a split key's rows among `names`.
   */
  collectionSnapshot?(namespace: string, key: string, names: readonly string[]): Promise<WriteSnapshot>;
  /** Stores a write on a split key iff its generation and HLC are still those it was planned from. */
  compareAndWriteRows?(write: RowsWrite): Promise<RowsWriteResult>;
}
