/**
 * @meridian/store: a region's PostgreSQL — migrations, namespaces, key state under row locks,
 * the transactional outbox and its relay lease, consumer offsets and applied vectors, conflict
 * records, dead letters, idempotency records and the anti-entropy hash tree, one module per
 * concept (row types in rows.ts). Errors leave this package classified (`StoreError` with a
 * stable code and a retryable flag).
 */
export { PgStore, type StoreOptions } from './pg-store.ts';
export { StoreTx } from './store-tx.ts';
export { ReplicationTx } from './replication-tx.ts';
export { ReplicationReads } from './replication-reads.ts';
export type { LinkReseed } from './link-pauses.ts';
export { TreeReads, recordRepairs } from './tree-segments.ts';
export { MembershipReads, lockedMemberState } from './members.ts';
export { MemoryStore } from './memory-store.ts';
export type { ApplyTransaction, Store, StoreTransaction, WriteTransaction } from './store.ts';
export { RetentionStore, purgeCutoff, type GcDecisionRow, type GcSamples, type GcState, type PurgeKey, type ScannedKey } from './retention.ts';
export { StoreError, StoreErrorCode, classifyPgError } from './store-error.ts';
export { MIGRATIONS, migrate, migrationChecksum, type Migration } from './migrations.ts';
export type {
  AppliedPosition,
  AppliedPositions,
  AppliedRow,
  ConditionalWrite,
  ConditionalWriteResult,
  ConflictRow,
  DeadLetterInput,
  HeartbeatRow,
  HeldLetter,
  IdempotencyClaim,
  IdempotencyScope,
  Incarnation,
  KeyLock,
  SplitRowsWrite,
  KeyRef,
  KeyRow,
  KeyStateRow,
  KeyWrite,
  LockedDeadLetter,
  LockedKey,
  LockedOffset,
  MemberAddress,
  MemberRow,
  MemberState,
  NamespacePolicy,
  NamespaceRootRow,
  NamespaceRow,
  OffsetSave,
  OutboxRow,
  OwnStream,
  PartitionClaim,
  ReadView,
  RegionIdentity,
  RelayState,
  RepairInput,
  ReplicatedAnswer,
  RowsWrite,
  RowsWriteResult,
  SplitKey,
  StoredConflict,
  StoredDeadLetter,
  StoredLinkStream,
  StoredRepair,
  TreeNodeRow,
  WriteSnapshot,
} from './rows.ts';
