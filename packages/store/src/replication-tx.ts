/**
 * A PostgreSQL transaction's whole surface (what `PgStore.transaction` hands its function): the
 * write statements (`StoreTx`) and what a replicator's apply transaction (and a redrive, a
 * reseed, a repair) does besides: offsets under owner epochs, applied vectors, batches of keys,
 * conflicts, dead letters and quarantine, heartbeats and replicated namespace policies. Each
 * method is one concept module's statement run on the transaction's connection.
 */
import type pg from 'pg';
import { lockApplied, saveApplied } from './applied-vectors.ts';
import { recordConflicts } from './conflicts.ts';
import { lockOffsets, lockPeerOffsetsForReseed, restartPeerOffsets, saveOffsets } from './consumer-offsets.ts';
import { deadLetter, heldFor, lockDeadLetter, markDeadLetterRedriven, quarantine, quarantinedAmong, quarantinedBy, releaseQuarantine } from './dead-letters.ts';
import { saveHeartbeat } from './heartbeats.ts';
import { clearLinkReseed } from './link-pauses.ts';
import { keyIdNamespace, lockKeys, saveKeys, takeNamespaceKeys } from './keys.ts';
import { namespacesAmong, replaceNamespacePolicy } from './namespaces.ts';
import type { CollectionLayout } from './collections.ts';
import { StoreTx } from './store-tx.ts';
import type { StoreTransaction } from './store.ts';
import type { AppliedRow, ConflictRow, DeadLetterInput, KeyLock, KeyWrite, LockedDeadLetter, LockedKey, LockedOffset, NamespaceRow, OffsetSave } from './rows.ts';

export class ReplicationTx extends StoreTx implements StoreTransaction {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient, layout: CollectionLayout) {
    super(client, layout);
    this.#client = client;
  }

  /**
   * Locks the offset rows of these partitions (ascending, so concurrent appliers never deadlock)
   * and checks each one's owner epoch: per partition, the stored next offset or 'fenced'.
   */
  lockOffsets(peer: string, owners: readonly { readonly partition: number; readonly epoch: bigint }[]): Promise<Map<number, LockedOffset>> {
    return lockOffsets(this.#client, peer, owners);
  }

  /** Stores the next offsets of partitions locked by `lockOffsets`, and the highest sequences consumed from them. */
  saveOffsets(peer: string, offsets: readonly OffsetSave[]): Promise<void> {
    return saveOffsets(this.#client, peer, offsets);
  }

  /** A reseed of the link from `peer`: takes the peer's reseed lock and locks the peer's stored offsets. */
  lockPeerOffsetsForReseed(peer: string): Promise<Map<number, bigint>> {
    return lockPeerOffsetsForReseed(this.#client, peer);
  }

  /** Stores a reseed's restart offsets, each partition's owner epoch bumped (and its highest sequences forgotten). */
  restartPeerOffsets(peer: string, offsets: readonly { readonly partition: number; readonly nextOffset: bigint }[]): Promise<void> {
    return restartPeerOffsets(this.#client, peer, offsets);
  }

  /**
   * The reseed's commit: the link no longer needs one (`meridian_link_reseeds`). Whether a need was
   * stored: none, and another replica's reseed committed since this one began.
   */
  clearLinkReseed(peer: string): Promise<boolean> {
    return clearLinkReseed(this.#client, peer);
  }

  /** The applied rows of these origins, inserted if missing and locked (sorted, so concurrent batches never deadlock). */
  lockApplied(origins: readonly { origin: string; region: string }[]): Promise<Map<string, AppliedRow>> {
    return lockApplied(this.#client, origins);
  }

  /** Stores applied rows (several origins in one statement). */
  saveApplied(rows: readonly AppliedRow[]): Promise<void> {
    return saveApplied(this.#client, rows);
  }

  /** The stored rows of these namespaces, in one query (unlocked, like `StoreTx.getNamespace`). */
  namespacesAmong(names: readonly string[]): Promise<Map<string, NamespaceRow>> {
    return namespacesAmong(this.#client, names);
  }

  /** Insert-or-lock of many keys, in (namespace, key) order; rows keyed by `JSON.stringify([namespace, key])`. */
  lockKeys(keys: readonly KeyLock[]): Promise<Map<string, LockedKey>> {
    return lockKeys(this.#client, keys, this.splitKeys);
  }

  /** Stores the new states of keys locked by `lockKeys`, in one statement. */
  saveKeys(writes: readonly KeyWrite[]): Promise<void> {
    return saveKeys(this.#client, this.layout, writes, this.splitKeys);
  }

  /** Records conflicts, each unless one with its id exists: the ids this call recorded. */
  recordConflicts(conflicts: readonly ConflictRow[]): Promise<Set<string>> {
    return recordConflicts(this.#client, conflicts);
  }

  deadLetter(d: DeadLetterInput): Promise<bigint> {
    return deadLetter(this.#client, d);
  }

  quarantine(namespace: string, key: string, deadLetterId: bigint): Promise<void> {
    return quarantine(this.#client, namespace, key, deadLetterId);
  }

  /** Which of these keys are quarantined, in one query (a batch's keys at once). */
  quarantinedAmong(keys: readonly { namespace: string; key: string }[]): Promise<Set<string>> {
    return quarantinedAmong(this.#client, keys);
  }

  releaseQuarantine(namespace: string, key: string): Promise<void> {
    return releaseQuarantine(this.#client, namespace, key);
  }

  saveHeartbeat(peer: string, origin: string, wallMs: bigint, highWater: bigint, applied: Record<string, string>): Promise<void> {
    return saveHeartbeat(this.#client, peer, origin, wallMs, highWater, applied);
  }

  /** Replaces a namespace's policy (the deterministic winner of concurrent declarations). */
  replaceNamespacePolicy(name: string, policy: string, declaredBy: string, declaredHlc: bigint): Promise<void> {
    return replaceNamespacePolicy(this.#client, name, policy, declaredBy, declaredHlc);
  }

  /** Removes every key of a namespace, returning their states (they go into a conflict record). */
  takeNamespaceKeys(name: string): Promise<{ key: string; state: Uint8Array }[]> {
    for (const id of [...this.splitKeys.keys()]) if (keyIdNamespace(id) === name) this.splitKeys.delete(id);
    return takeNamespaceKeys(this.#client, name);
  }

  /** The dead letter, locked; undefined when absent. */
  lockDeadLetter(id: bigint): Promise<LockedDeadLetter | undefined> {
    return lockDeadLetter(this.#client, id);
  }

  /** The dead letter quarantining a key, if any. */
  quarantinedBy(namespace: string, key: string): Promise<bigint | undefined> {
    return quarantinedBy(this.#client, namespace, key);
  }

  /** Updates held back while a key was quarantined, oldest first, not yet redriven. */
  heldFor(namespace: string, key: string, code: string): Promise<{ id: bigint; raw: Uint8Array }[]> {
    return heldFor(this.#client, namespace, key, code);
  }

  markDeadLetterRedriven(id: bigint): Promise<void> {
    return markDeadLetterRedriven(this.#client, id);
  }
}
