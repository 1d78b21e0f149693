/**
 * @meridian/store: a region's PostgreSQL — migrations, namespaces, key state under row locks,
 * the transactional outbox and idempotency records. Errors leave this package classified
 * (`StoreError` with a stable code and a retryable flag).
 */
export {
  PgStore,
  StoreTx,
  type AppliedPositions,
  type HeldLetter,
  type ReadView,
  type ConditionalWrite,
  type ConditionalWriteResult,
  type IdempotencyClaim,
  type IdempotencyScope,
  type ReplicatedAnswer,
  type KeyRow,
  type NamespacePolicy,
  type NamespaceRow,
  type RegionIdentity,
  type OwnStream,
  type Incarnation,
  type StoreOptions,
  type WriteSnapshot,
} from './pg-store.ts';
export { StoreError, StoreErrorCode, classifyPgError } from './store-error.ts';
export { MIGRATIONS, migrate, migrationChecksum, type Migration } from './migrations.ts';
export {
  ReplicationTx,
  ReplicationReads,
  type AppliedPosition,
  type AppliedRow,
  type ConflictRow,
  type StoredConflict,
  type DeadLetterInput,
  type StoredDeadLetter,
  type HeartbeatRow,
  type RelayState,
  type OutboxRow,
} from './replication-store.ts';
export { TreeReads, recordRepairs, type TreeNodeRow, type NamespaceRootRow, type KeyStateRow, type RepairInput, type StoredRepair } from './tree-store.ts';
