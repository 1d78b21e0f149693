/**
 * The shapes a region's store reads and writes, in one module: every concept module (keys,
 * outbox, relay lease, offsets, applied vectors, conflicts, dead letters, idempotency, …) imports
 * its rows from here and from nowhere else, so the modules never import each other for a type.
 */

export type NamespacePolicy = 'lww' | 'mv' | 'counter' | 'set' | 'map';

export interface NamespaceRow {
  readonly name: string;
  readonly policy: NamespacePolicy;
  readonly declaredBy: string;
  readonly declaredHlc: bigint;
  readonly createdAt: Date;
}

// ---- keys and the write path ------------------------------------------------------------------

export interface KeyRow {
  readonly namespace: string;
  readonly key: string;
  /**
   * The encoded state; undefined for a key whose row was just inserted by this transaction. A
   * write snapshot of a split key (`split` set) holds its header instead (collections.ts).
   */
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
  /** Only in write snapshots of a big set or map stored a row per element or field: see `SplitKey`. */
  readonly split?: SplitKey;
}

/** A write snapshot of a split key: its row count and generation, and the rows the snapshot read (by name). */
export interface SplitKey {
  readonly elements: number;
  readonly generation: bigint;
  readonly rows: ReadonlyMap<string, Uint8Array>;
}

/** A split key's new header, count and highest HLC, and the rows that change (stored under its row lock). */
export interface SplitRowsWrite {
  readonly header: Uint8Array;
  readonly elements: number;
  readonly maxHlc: bigint;
  readonly upserts: ReadonlyMap<string, Uint8Array>;
  readonly deletes: readonly string[];
}

/** A write on a split key (`compareAndWriteRows`): its new header and count, and the rows it changes. */
export interface RowsWrite {
  readonly namespace: string;
  readonly policy: NamespacePolicy;
  readonly key: string;
  /** The generation and HLC the write was planned from. */
  readonly expected: { readonly generation: bigint; readonly maxHlc: bigint };
  readonly header: Uint8Array;
  readonly elements: number;
  readonly upserts: ReadonlyMap<string, Uint8Array>;
  readonly deletes: readonly string[];
  readonly maxHlc: bigint;
  readonly messageKey: string;
  readonly envelope: Uint8Array;
}

export type RowsWriteResult = { readonly saved: true; readonly outboxId: bigint; readonly applied: AppliedPositions; readonly held: readonly HeldLetter[] } | { readonly saved: false };

/** A key a replicator's batch touches. */
export interface KeyRef {
  readonly namespace: string;
  readonly key: string;
}

/**
 * A key an apply locks. `rows`: for a key stored a row per element (a big set or map), the rows
 * (as stored: element texts, field names as JSON) its updates can reach — the lock reads those
 * alone; absent, the whole collection is read.
 */
export interface KeyLock extends KeyRef {
  readonly rows?: readonly string[];
}

/** A key row locked by an apply transaction. */
export interface LockedKey extends KeyRef {
  /** undefined: the key was never written (this transaction inserted its row). */
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
  /**
   * The key is stored split and `state` holds its whole causal context but only the rows its lock
   * named: a state to join deltas reaching those rows into and to store back (`saveKeys`), never
   * one to answer from or cache.
   */
  readonly partial?: true;
}

/** A key's new state, to be stored by `saveKeys`. */
export interface KeyWrite extends KeyRef {
  readonly state: Uint8Array;
  readonly maxHlc: bigint;
}

/** A key's namespace and stored state, read in one statement before an optimistic write. */
export interface WriteSnapshot {
  readonly namespace: NamespaceRow | undefined;
  /** The key's row; undefined when it has none (never written, or the namespace is missing). */
  readonly key: KeyRow | undefined;
}

/** What `compareAndWrite` stores: the new state, conditional on the row still being `expected`. */
export interface ConditionalWrite {
  readonly namespace: string;
  /** The policy the write was planned under: the namespace must still have it. */
  readonly policy: NamespacePolicy;
  readonly key: string;
  /** The row the new state was computed from (undefined: the key had no row). */
  readonly expected: KeyRow | undefined;
  readonly state: Uint8Array;
  readonly maxHlc: bigint;
  readonly messageKey: string;
  readonly envelope: Uint8Array;
}

/**
 * A compare-and-write's outcome: saved with its outbox id, or not saved and a new snapshot to plan
 * from. A saved write carries the applied positions (per origin actor, the outbox id up to which
 * its updates are applied here) read by the same statement, so they cover every replicated update
 * the written state reflects (session tokens, DESIGN §6), and the key's held-back dead letters
 * (a token claims nothing the key does not reflect).
 */
export type ConditionalWriteResult =
  | { readonly saved: true; readonly outboxId: bigint; readonly applied: AppliedPositions; readonly held: readonly HeldLetter[] }
  | { readonly saved: false; readonly snapshot: WriteSnapshot };

/** What a read answers from: the namespace, the key's committed row, and positions read in the same statement. */
export interface ReadView {
  readonly namespace: NamespaceRow | undefined;
  readonly key: KeyRow | undefined;
  /** The highest committed outbox id: this region's own session position. */
  readonly highWater: bigint;
  readonly applied: AppliedPositions;
  /** The key's dead letters while it is quarantined (empty otherwise). */
  readonly held: readonly HeldLetter[];
}

// ---- the region and its incarnations -----------------------------------------------------------

export interface RegionIdentity {
  readonly region: string;
  readonly epoch: number;
}

/** What a region's database knows of its own stream (`PgStore.ownStream`). */
export interface OwnStream {
  readonly epoch: number;
  readonly lastSequence: bigint;
  readonly lastOutboxId: bigint;
  readonly unpublished: bigint;
  readonly maxOutboxId: bigint;
}

export interface Incarnation {
  readonly epoch: number;
  readonly reason: string;
  /** The highest outbox id allocated when it began. */
  readonly outboxId: bigint;
  readonly startedAt: Date;
}

// ---- outbox and relay lease --------------------------------------------------------------------

export interface RelayState {
  readonly leaseEpoch: bigint;
  readonly lastOutboxId: bigint;
  readonly lastSequence: bigint;
}

export interface OutboxRow {
  readonly id: bigint;
  readonly messageKey: string;
  readonly envelope: Uint8Array;
}

// ---- consumer offsets and applied vectors ------------------------------------------------------

/** A partition's consumer offset row, locked: the stored next offset, or 'fenced' (another owner epoch, or no row). */
export type LockedOffset = { readonly nextOffset: bigint } | 'fenced';

/**
 * A partition's new next offset, stored by the transaction that consumed up to it, with the
 * highest sequence of each origin actor that this consumption took from the partition (the
 * sequence-gap check's evidence: DESIGN §4 "A link never streams over a gap").
 */
export interface OffsetSave {
  readonly partition: number;
  readonly nextOffset: bigint;
  readonly highest?: ReadonlyMap<string, bigint> | undefined;
}

/** What the database holds of a peer link's stream, read in one snapshot (`ReplicationReads.linkStream`). */
export interface StoredLinkStream {
  /** The peer's origin actors → the contiguous prefix of each applied here. */
  readonly contiguous: ReadonlyMap<string, bigint>;
  /** Partition → its stored next offset and, per origin actor, the highest sequence consumed from it since its offset was last rewritten. */
  readonly partitions: ReadonlyMap<number, { readonly nextOffset: bigint; readonly highest: ReadonlyMap<string, bigint> }>;
  /**
   * Each of the peer's origin actors → the sequence its relay had published (acknowledged by
   * Kafka), the highest any heartbeat of that actor carried: earlier incarnations' too.
   */
  readonly published: ReadonlyMap<string, bigint>;
  /** The peer's current actor: the one its latest stored heartbeat names (undefined: no heartbeat yet). */
  readonly current: string | undefined;
}

/** A partition claimed by a consumer: where to resume, its owner epoch, and whether a row existed. */
export interface PartitionClaim {
  readonly nextOffset: bigint;
  readonly epoch: bigint;
  readonly known: boolean;
}

/** Per origin actor, the outbox id up to which every update of that origin is applied here. */
export type AppliedPositions = ReadonlyMap<string, bigint>;

/** How far an origin is applied: every sequence up to `contiguous` (its outbox id `contiguousOutboxId`). */
export interface AppliedPosition {
  readonly origin: string;
  readonly region: string;
  readonly contiguous: bigint;
  readonly contiguousOutboxId: bigint;
}

export interface AppliedRow extends AppliedPosition {
  /** Sequences applied above `contiguous`, with their outbox ids, ascending. */
  readonly beyond: readonly (readonly [bigint, bigint])[];
}

export interface HeartbeatRow {
  readonly peer: string;
  readonly origin: string;
  readonly wallMs: bigint;
  readonly highWater: bigint;
  readonly applied: Record<string, string>;
  readonly receivedAt: Date;
}

// ---- conflicts ---------------------------------------------------------------------------------

export interface ConflictRow {
  readonly id: string;
  readonly namespace: string;
  readonly key: string;
  readonly policy: string;
  readonly kind: string;
  readonly versions: unknown;
  readonly outcome: unknown;
  readonly regions: readonly string[];
  readonly traceIds: readonly string[];
  readonly skewFlagged: boolean;
}

export interface StoredConflict extends ConflictRow {
  readonly seq: bigint;
  readonly observedAt: Date;
}

// ---- dead letters and quarantine ---------------------------------------------------------------

export interface DeadLetterInput {
  readonly peer: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly messageKey: string | undefined;
  readonly raw: Uint8Array;
  readonly code: string;
  readonly reason: string;
  readonly namespace: string | undefined;
  readonly key: string | undefined;
  readonly origin: string | undefined;
  readonly sequence: bigint | undefined;
}

export interface StoredDeadLetter extends DeadLetterInput {
  readonly id: bigint;
  readonly createdAt: Date;
  readonly redrivenAt: Date | undefined;
}

/** A dead letter locked for its redrive. */
export interface LockedDeadLetter {
  readonly id: bigint;
  readonly code: string;
  readonly raw: Uint8Array;
  readonly namespace: string | undefined;
  readonly key: string | undefined;
  readonly redriven: boolean;
}

/**
 * A dead letter that holds a quarantined key's updates back (DESIGN §4): the key reflects nothing
 * of `origin` (undefined: unknown, then any actor of `peer`'s region) from origin sequence
 * `sequence` on (undefined: from its first). A sequence is at most its outbox id (the relay numbers
 * outbox rows in id order from 1), so it is a lower bound of the first position not reflected.
 */
export interface HeldLetter {
  readonly origin: string | undefined;
  readonly peer: string;
  readonly sequence: bigint | undefined;
}

// ---- idempotency -------------------------------------------------------------------------------

export type IdempotencyClaim =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly fingerprint: string; readonly status: number | undefined; readonly response: unknown };

/** What an idempotency record belongs to: Idempotency-Keys are scoped by the data key they write. */
export interface IdempotencyScope {
  readonly namespace: string;
  readonly key: string;
}

/** An answer a replicated update carried, to store where the update is applied. */
export interface ReplicatedAnswer extends IdempotencyScope {
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly status: number;
  readonly response: unknown;
}

// ---- anti-entropy: the hash tree and repairs ---------------------------------------------------

export interface TreeNodeRow {
  readonly index: number;
  readonly hash: bigint;
  readonly keys: number;
}

export interface NamespaceRootRow {
  readonly name: string;
  readonly policy: string;
  readonly hash: bigint;
  readonly keys: number;
}

export interface KeyStateRow {
  readonly key: string;
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
}

export interface RepairInput {
  readonly namespace: string;
  readonly key: string;
  readonly peer: string;
  readonly before: string | undefined;
  readonly after: string;
  readonly traceId: string | undefined;
}

export interface StoredRepair extends RepairInput {
  readonly id: bigint;
  readonly repairedAt: Date;
}

// ---- membership (members.ts) ----

export type MemberState = 'member' | 'removed';

export interface MemberAddress {
  readonly region: string;
  /** Bootstrap servers of the region's own Kafka (host:port,…). */
  readonly kafka: string;
  /** Its public HTTP URL (fallback redirects). */
  readonly url: string | undefined;
  /** Its anti-entropy gRPC address (host:port). */
  readonly grpc: string | undefined;
}

export interface MemberRow extends MemberAddress {
  readonly state: MemberState;
  readonly reason: string | undefined;
  readonly changedAt: Date;
}
