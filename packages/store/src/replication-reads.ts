/**
 * The replication side's statements outside apply transactions: the relay's lease and marks,
 * partition claims, and the reads behind the status and inspection routes. Each runs as its own
 * statement on the pool, its error classified (`StoreError`).
 */
import { appliedPositions, appliedRows } from './applied-vectors.ts';
import { conflicts } from './conflicts.ts';
import { claimPartitions, linkStream, peerOffsets } from './consumer-offsets.ts';
import { deadLetters } from './dead-letters.ts';
import { heartbeats } from './heartbeats.ts';
import { namespaceStates } from './keys.ts';
import { linkPauses, linkReseed, setLinkPause, setLinkReseed, type LinkReseed } from './link-pauses.ts';
import { outboxBacklog, outboxHorizon, pruneOutbox } from './outbox.ts';
import { classifying, type Queryable } from './pg-query.ts';
import { acquireRelayLease, markPublished, outboxForLease, relayState, releaseRelayLease, renewRelayLease } from './relay-lease.ts';
import type { AppliedPosition, AppliedRow, HeartbeatRow, OutboxRow, PartitionClaim, RelayState, StoredConflict, StoredDeadLetter, StoredLinkStream } from './rows.ts';

export class ReplicationReads {
  readonly #db: Queryable;

  constructor(pool: Queryable) {
    this.#db = classifying(pool);
  }

  // ---- relay (relay-lease.ts, outbox.ts) -------------------------------------------------------

  /** Takes the relay lease if it is free or expired (or already ours); the new epoch, or undefined. */
  acquireRelayLease(owner: string, leaseMs: number, regionEpoch: number): Promise<RelayState | undefined> {
    return acquireRelayLease(this.#db, owner, leaseMs, regionEpoch);
  }

  /** Extends the lease; false when another relay took it (this one is fenced). */
  renewRelayLease(epoch: bigint, leaseMs: number): Promise<boolean> {
    return renewRelayLease(this.#db, epoch, leaseMs);
  }

  releaseRelayLease(epoch: bigint): Promise<void> {
    return releaseRelayLease(this.#db, epoch);
  }

  relayState(): Promise<RelayState> {
    return relayState(this.#db);
  }

  /** One probe of the publish horizon, from one snapshot. */
  outboxHorizon(): Promise<{ maxId: bigint; xmax: bigint; xmin: bigint }> {
    return outboxHorizon(this.#db);
  }

  /** The next rows to publish under the lease `epoch`, with the lease's published position; 'fenced' when the lease moved on. */
  outboxForLease(epoch: bigint, upToId: bigint, limit: number): Promise<'fenced' | { lastOutboxId: bigint; lastSequence: bigint; rows: OutboxRow[] }> {
    return outboxForLease(this.#db, epoch, upToId, limit);
  }

  /** Marks rows published with their sequences, under the lease; 'fenced' when the lease moved on. */
  markPublished(epoch: bigint, rows: readonly { id: bigint; sequence: bigint }[]): Promise<'ok' | 'fenced'> {
    return markPublished(this.#db, epoch, rows);
  }

  pruneOutbox(olderThanSeconds: number): Promise<number> {
    return pruneOutbox(this.#db, olderThanSeconds);
  }

  outboxBacklog(): Promise<number> {
    return outboxBacklog(this.#db);
  }

  // ---- replicators (consumer-offsets.ts, applied-vectors.ts, link-pauses.ts) -------------------

  /** Claims partitions of a peer topic for this consumer: bumps each owner epoch, returns offsets and epochs. */
  claimPartitions(peer: string, partitions: readonly number[]): Promise<Map<number, PartitionClaim>> {
    return claimPartitions(this.#db, peer, partitions);
  }

  /** A peer's stored next offsets, per partition. */
  peerOffsets(peer: string): Promise<Map<number, bigint>> {
    return peerOffsets(this.#db, peer);
  }

  /** A link's stream from one snapshot: applied prefixes, stored offsets and highest sequences, the peer's published position (`linkStream`). */
  linkStream(peer: string): Promise<StoredLinkStream> {
    return linkStream(this.#db, peer);
  }

  applied(): Promise<AppliedRow[]> {
    return appliedRows(this.#db);
  }

  /** `applied()` without the sequences beyond each prefix. */
  appliedPositions(): Promise<AppliedPosition[]> {
    return appliedPositions(this.#db);
  }

  /** The peer links an operator paused, with the reason given. */
  linkPauses(): Promise<Map<string, string>> {
    return linkPauses(this.#db);
  }

  /** Stores an operator's pause of a peer link (a reason), or its resume (undefined). */
  setLinkPause(peer: string, reason: string | undefined): Promise<void> {
    return setLinkPause(this.#db, peer, reason);
  }

  /** Whether a peer link needs a reseed (stored: it holds across restarts until a reseed completes). */
  linkReseed(peer: string): Promise<LinkReseed | undefined> {
    return linkReseed(this.#db, peer);
  }

  /** Stores that a peer link needs a reseed (or, undefined, no longer does). */
  setLinkReseed(peer: string, reseed: LinkReseed | undefined): Promise<void> {
    return setLinkReseed(this.#db, peer, reseed);
  }

  heartbeats(): Promise<HeartbeatRow[]> {
    return heartbeats(this.#db);
  }

  conflicts(filter: { namespace?: string | undefined; key?: string | undefined; limit: number; before?: bigint | undefined }): Promise<StoredConflict[]> {
    return conflicts(this.#db, filter);
  }

  deadLetters(limit: number, id?: bigint): Promise<StoredDeadLetter[]> {
    return deadLetters(this.#db, limit, id);
  }

  /** Every key's state of a namespace, for digests. */
  namespaceStates(namespace: string): Promise<{ key: string; state: Uint8Array }[]> {
    return namespaceStates(this.#db, namespace);
  }
}
