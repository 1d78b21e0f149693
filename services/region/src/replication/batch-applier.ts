/**
 * The apply transaction of a replicator (DESIGN §4): a group of partitions' batches of one peer's
 * topic applied in ONE PostgreSQL transaction, together with each partition's consumed offset and
 * the applied vector — so a crash at any point neither loses nor double-applies an update.
 *
 * A group costs a constant number of statements, not a number per update:
 * - the partitions' offset rows, locked and checked against the owner epochs they were claimed
 *   under (one statement): a partition claimed by a newer consumer is fenced — its batch is
 *   dropped, the others apply;
 * - the origins' applied rows (one statement): an update at or below the watermark, or above it
 *   but already applied (another partition's copy, a republished row), is dropped before merging;
 * - the batch's namespaces (one), its quarantined keys (one), all its keys locked in
 *   (namespace, key) order (one; two more only for keys seen for the first time), their new
 *   states (one), its conflicts (one, when there are any), the applied vector and the offsets
 *   (one each).
 * Each key's updates are merged in memory (`foldKey`: registers joined with conflicts resolved by
 * policy and recorded with deterministic ids, CRDTs joined). Rare paths stay per item: namespace
 * declarations (and their policy conflicts), dead letters of poison input, updates held behind a
 * quarantined key, redrives.
 *
 * Poison never stalls the link: an envelope that cannot be decoded, or an update whose payload is
 * invalid (found while folding: `MERIDIAN_PAYLOAD_INVALID`), becomes a dead letter with its raw
 * bytes and the reason, and quarantines its key — the key's later updates are held behind it
 * until it is redriven or discarded; everything else in the batch applies. A dead-lettered or
 * held update counts as handled in the applied vector, so poison consumed again at a place the
 * vector holds (a replay from the log start) is a duplicate, not a new dead letter.
 *
 * Tracing: one `meridian.replicate.apply` span per transaction; a `meridian.conflict` span under
 * it for each conflict this transaction recorded (one already recorded is not traced again),
 * linked to the concurrent writes' spans.
 */
import type { KafkaMessage } from 'kafkajs';
import { context as otelContext, trace, type Span } from '@opentelemetry/api';
import { formatHlc, type HybridLogicalClock } from '@meridian/causality';
import { deltaRowNames } from '@meridian/crdt';
import { decodeRecord, encodeRecord, parseKafkaMessageKey, ProtocolError, type HeartbeatRecord, type NamespaceRecord, type ReplicationRecord, type UpdateRecord } from '@meridian/protocol';
import type { ApplyTransaction, KeyLock, KeyRow, NamespaceRow, OffsetSave, ReplicatedAnswer, Store, WriteTransaction } from '@meridian/store';
import { SpanAttribute, SpanName, linksFromTraceparents, meridianTracer, withSpan } from '@meridian/telemetry';
import { AppliedVector } from '@meridian/replication-link';
import { formatSession, mergeSessions, parseSession, type SessionVector } from '../session-token.ts';
import { decodeHeldUpdate, encodeHeldUpdate, HELD_CODE } from './held-update.ts';
import { declare, isStandIn, standIn, type Declaration } from './namespace-declaration.ts';
import { foldKey, groupByKey, originOf, PAYLOAD_INVALID_CODE, planUpdates, touchesRow, type KeyFold, type KeyUpdates } from './key-fold.ts';
import { conflictSpanAttributes, type ConflictObservation } from './conflict-record.ts';

/** The dead-letter code of a record of another region on a peer's topic (misrouted, or another producer's). */
export const FOREIGN_ORIGIN_CODE = 'MERIDIAN_FOREIGN_ORIGIN';

/** The dead-letter code of a namespace declaration whose HLC cannot be ranked or stored (beyond a bigint). */
export const DECLARATION_UNRANKABLE_CODE = 'MERIDIAN_HLC_OUT_OF_RANGE';

export interface ReplicatorHooks {
  onApplied?(origin: string, count: number): void;
  onConflict?(namespace: string, policy: string): void;
  onConcurrentMerge?(namespace: string, policy: string): void;
  onDeadLetter?(origin: string, reason: string): void;
  /** Estimated clock skew to a peer in ms (from heartbeats), for flagging LWW decisions. */
  skewMs?(peer: string): number;
  /** After a commit: the key rows it wrote, as stored (the write path's snapshot cache follows them). */
  onKeysSaved?(rows: readonly SavedKey[]): void;
}

/** A key row as an apply stored it. */
export interface SavedKey {
  readonly namespace: NamespaceRow;
  readonly key: KeyRow;
  /** `key.state` holds only some rows of a big set or map (`LockedKey.partial`): not a state to cache. */
  readonly partial?: true;
}

export class RedriveError extends Error {
  readonly code: 'MERIDIAN_NOT_FOUND' | 'MERIDIAN_REDRIVE_FAILED';
  constructor(code: 'MERIDIAN_NOT_FOUND' | 'MERIDIAN_REDRIVE_FAILED', message: string) {
    super(message);
    this.name = 'RedriveError';
    this.code = code;
  }
}

/** A consumed message, decoded once: a record, or why it is poison (or too new to read). */
export interface Decoded {
  readonly message: KafkaMessage;
  readonly offset: bigint;
  readonly record?: ReplicationRecord;
  readonly poison?: { code: string; reason: string };
  readonly tooNew?: boolean;
}

export function decode(message: KafkaMessage): Decoded {
  const offset = BigInt(message.offset);
  if (!message.value) return { message, offset, poison: { code: 'MERIDIAN_ENVELOPE_UNDECODABLE', reason: 'empty message' } };
  try {
    // The record's payload is a view of the message's value (no copy): the message stays, unchanged, beside the record.
    return { message, offset, record: decodeRecord(message.value, { payload: 'view' }) };
  } catch (error) {
    if (error instanceof ProtocolError) {
      if (error.code === 'MERIDIAN_SCHEMA_TOO_NEW') return { message, offset, tooNew: true, poison: { code: error.code, reason: error.message } };
      return { message, offset, poison: { code: error.code, reason: error.message } };
    }
    return { message, offset, poison: { code: 'MERIDIAN_ENVELOPE_UNDECODABLE', reason: (error as Error).message } };
  }
}

/** One partition's consumed messages, claimed under an owner epoch. */
export interface PartitionBatch {
  readonly partition: number;
  readonly epoch: bigint;
  readonly messages: readonly Decoded[];
  /**
   * Where the partition's consumption stands after these messages when it is past the last of
   * them: the last chunk of a kafkajs batch whose fetched records end in control records
   * (transaction markers) or aborted records, which kafkajs filters out (`batch.lastOffset()` + 1);
   * or such a batch with no message at all. Stored as the next offset, so that a partition whose
   * tail is a marker reads "caught up" exactly (next offset = its end offset) in the sequence-gap
   * check, never one below it.
   */
  readonly through?: bigint | undefined;
}

/** `fenced`: the partition belongs to a newer consumer; nothing of its batch was stored. */
export type BatchResult = 'applied' | 'fenced';

export interface BatchApplierOptions {
  readonly store: Store;
  readonly peer: string;
  readonly clock: HybridLogicalClock;
  readonly hooks?: ReplicatorHooks | undefined;
}

interface ApplyOutcome {
  applied: number;
  duplicates: number;
  conflicts: ConflictObservation[];
  merges: { namespace: string; policy: string }[];
  deadLetters: string[];
  saved: SavedKey[];
  /** Origin → its contiguous prefix as the transaction left it (the vectors it locked). */
  contiguous: Map<string, bigint>;
}

const newOutcome = (): ApplyOutcome => ({ applied: 0, duplicates: 0, conflicts: [], merges: [], deadLetters: [], saved: [], contiguous: new Map() });

type Sequenced = UpdateRecord | NamespaceRecord;

/** The consumed message a record was decoded from, and its partition. */
interface Source {
  readonly partition: number;
  readonly message: Decoded;
}

/** What an apply of updates needs beyond them: where they came from (the stream) and which one a redrive retries. */
interface UpdateContext {
  readonly sourceOf?: ((u: UpdateRecord) => Source | undefined) | undefined;
  /** A retried dead letter's update: its payload still invalid fails the redrive instead of dead-lettering it again. */
  readonly retried?: UpdateRecord | undefined;
  readonly letterId?: bigint | undefined;
}

export class BatchApplier {
  readonly #o: BatchApplierOptions;
  readonly #contiguous = new Map<string, bigint>();

  constructor(options: BatchApplierOptions) {
    this.#o = options;
  }

  /**
   * An origin's contiguous prefix as this applier's last committed transaction that touched it left
   * it (undefined: none did). A lower bound: a reseed or another replica may have moved it since.
   */
  contiguous(origin: string): bigint | undefined {
    return this.#contiguous.get(origin);
  }

  /** Applies these partitions' batches (one per partition) in one transaction; one result per batch, in order. */
  async applyGroup(batches: readonly PartitionBatch[]): Promise<BatchResult[]> {
    if (new Set(batches.map((b) => b.partition)).size !== batches.length) throw new Error('a group holds at most one batch per partition');
    const messages = batches.reduce((n, b) => n + b.messages.length, 0);
    return withSpan(SpanName.replicateApply, { [SpanAttribute.origin]: this.#o.peer, [SpanAttribute.batchSize]: messages, 'meridian.batches': batches.length, 'meridian.partitions': batches.map((b) => b.partition).join(',') }, async (span) => {
      // Everything the transaction builds lives inside it: a replay (deadlock, serialization failure) starts afresh.
      const { results, outcome } = await this.#o.store.transaction((tx) => this.#applyInTransaction(tx, tx, batches));
      for (const [origin, c] of outcome.contiguous) if (c > (this.#contiguous.get(origin) ?? -1n)) this.#contiguous.set(origin, c);
      for (const c of outcome.conflicts) this.#traceConflict(span, c);
      const hooks = this.#o.hooks;
      if (outcome.applied > 0) hooks?.onApplied?.(this.#o.peer, outcome.applied);
      for (const m of outcome.merges) hooks?.onConcurrentMerge?.(m.namespace, m.policy);
      for (const d of outcome.deadLetters) hooks?.onDeadLetter?.(this.#o.peer, d);
      if (outcome.saved.length > 0) hooks?.onKeysSaved?.(outcome.saved);
      span.setAttribute('meridian.applied', outcome.applied);
      span.setAttribute('meridian.duplicates', outcome.duplicates);
      span.setAttribute('meridian.fenced', results.filter((r) => r === 'fenced').length);
      return results;
    });
  }

  async #applyInTransaction(tx: WriteTransaction, rtx: ApplyTransaction, batches: readonly PartitionBatch[]): Promise<{ results: BatchResult[]; outcome: ApplyOutcome }> {
    const outcome = newOutcome();
    const peer = this.#o.peer;
    const offsets = await rtx.lockOffsets(peer, batches);
    const results: BatchResult[] = [];
    const live: { partition: number; fresh: readonly Decoded[] }[] = [];
    const moves: OffsetSave[] = [];
    for (const b of batches) {
      const stored = offsets.get(b.partition);
      if (stored === undefined || stored === 'fenced') {
        results.push('fenced');
        continue;
      }
      results.push('applied');
      const fresh = b.messages.filter((m) => m.offset >= stored.nextOffset);
      if (fresh.length > 0) live.push({ partition: b.partition, fresh });
      const past = fresh.length > 0 ? fresh.at(-1)!.offset + 1n : stored.nextOffset;
      const next = b.through !== undefined && b.through > past ? b.through : past;
      if (next > stored.nextOffset) moves.push({ partition: b.partition, nextOffset: next, highest: highestSequences(fresh, peer) });
    }
    if (live.length === 0) {
      await rtx.saveOffsets(peer, moves);
      return { results, outcome };
    }

    const sequenced: Sequenced[] = [];
    // Per origin actor of the peer, its latest heartbeat of the group (a group may span a new
    // incarnation's first heartbeat), with the highest high-water any of them carried.
    const beats = new Map<string, HeartbeatRecord>();
    // Records of another region on this peer's topic (misrouted, or another producer: the peer's
    // relay stamps its own origin on everything it publishes).
    const foreign: { partition: number; message: Decoded; record: ReplicationRecord }[] = [];
    for (const { partition, fresh } of live) {
      for (const m of fresh) {
        const r = m.record;
        if (!r) continue;
        if (r.origin.region !== peer) {
          foreign.push({ partition, message: m, record: r });
          continue;
        }
        if (r.kind === 'heartbeat') {
          const was = beats.get(originOf(r));
          const latest = !was || r.originWallMs >= was.originWallMs ? r : was;
          beats.set(originOf(r), { ...latest, highWaterSequence: was && was.highWaterSequence > r.highWaterSequence ? was.highWaterSequence : r.highWaterSequence });
          continue;
        }
        sequenced.push(r);
      }
    }
    const sourceOf = sourcesOf(live);
    // A poison message that names its place in this peer's sequence (the relay's headers) is
    // handled at that place: dead-lettered and counted applied, so the contiguous prefix moves on.
    const poisonPlaces = live.flatMap(({ fresh }) => fresh.flatMap((m) => (m.poison && !m.tooNew ? placeOf(m, peer) ?? [] : [])));
    const origins = [...sequenced.map((r) => ({ origin: originOf(r), region: r.origin.region })), ...poisonPlaces.map((p) => ({ origin: p.origin, region: peer }))];
    const vectors = new Map([...(await rtx.lockApplied(origins))].map(([origin, row]) => [origin, AppliedVector.fromRow(row)]));
    const vectorOf = (r: Sequenced): AppliedVector => vectors.get(originOf(r))!;

    // Heartbeats: each actor's latest of the group (every actor's high-water is kept: an earlier
    // incarnation's is the sequence-gap check's evidence of its tail).
    for (const beat of beats.values()) await rtx.saveHeartbeat(peer, originOf(beat), BigInt(beat.originWallMs), beat.highWaterSequence, Object.fromEntries([...beat.applied].map(([k, v]) => [k, v.toString()])));
    // Another region's records say nothing of the peer, and applied here they would mark that
    // region's sequences applied (its real updates then dropped as duplicates) or stand as the
    // peer's heartbeat: dead-lettered, nothing of them applied or stored as the peer's.
    for (const f of foreign) outcome.deadLetters.push(await this.#deadLetterForeign(rtx, f.partition, f.message, f.record));

    // Poison: dead letters, with the key quarantined so later deltas cannot paper over the gap.
    // Poison at a place the applied vector already holds was handled before (dead-lettered, maybe
    // discarded by an operator since) and is consumed again — a gap reseed's replay from the log
    // start, a relay's republish: a duplicate, neither dead-lettered nor quarantining again. Poison
    // without the relay's headers cannot be placed: it is dead-lettered each time it is consumed
    // (the relay always writes them; such a message comes from another producer).
    for (const { partition, fresh } of live) {
      for (const m of fresh) {
        if (!m.poison || m.tooNew) continue;
        const place = placeOf(m, peer);
        const vector = place ? vectors.get(place.origin)! : undefined;
        if (place && vector!.has(place.sequence)) {
          outcome.duplicates++;
          continue;
        }
        outcome.deadLetters.push(await this.#deadLetterPoison(rtx, partition, m));
        if (place) vector!.mark(place.sequence, place.outboxId);
      }
    }

    // Namespace declarations first (they precede their namespace's updates in every partition;
    // each is copied to every partition under one sequence: the first copy applies).
    for (const r of inOriginOrder(sequenced.filter((s): s is NamespaceRecord => s.kind === 'namespace'))) {
      if (vectorOf(r).has(r.originSequence)) continue;
      const refused = await this.#applyNamespace(tx, rtx, r, outcome);
      if (refused) outcome.deadLetters.push(await this.#deadLetterDeclaration(rtx, r, refused, sourceOf(r)));
      vectorOf(r).mark(r.originSequence, r.outboxId);
    }

    // Updates by key, duplicates dropped first; a quarantined key's updates are held back.
    const { keys, duplicates } = planUpdates(
      sequenced.filter((s): s is UpdateRecord => s.kind === 'update'),
      vectors,
    );
    outcome.duplicates += duplicates;
    // Answers to writes that carried an Idempotency-Key travel with their updates: stored here, in
    // the transaction that applies (or holds) the update, a retry sent to this region is answered
    // from them instead of applied a second time.
    await tx.storeReplicatedAnswers(replicatedAnswers(keys));
    const quarantined = await rtx.quarantinedAmong(keys);
    const applicable: KeyUpdates[] = [];
    for (const k of keys) {
      outcome.applied += k.updates.length;
      if (quarantined.has(k.id)) await this.#hold(rtx, k.updates, sourceOf, outcome);
      else applicable.push(k);
    }
    await this.#applyUpdates(tx, rtx, applicable, outcome, { sourceOf });

    await rtx.saveApplied([...vectors.values()].filter((v) => v.changed).map((v) => v.toRow()));
    for (const v of vectors.values()) outcome.contiguous.set(v.origin, v.contiguous);
    await rtx.saveOffsets(peer, moves);
    return { results, outcome };
  }

  async #deadLetterPoison(rtx: ApplyTransaction, partition: number, m: Decoded): Promise<string> {
    const target = safeKey(m.message.key);
    const header = (name: string): string | undefined => m.message.headers?.[name]?.toString();
    const sequence = header('meridian-sequence');
    const id = await rtx.deadLetter({
      peer: this.#o.peer,
      partition,
      offset: m.offset,
      messageKey: m.message.key?.toString(),
      raw: m.message.value ?? new Uint8Array(),
      code: m.poison!.code,
      reason: m.poison!.reason,
      namespace: target?.namespace,
      key: target?.key,
      origin: header('meridian-origin'),
      sequence: sequence !== undefined && /^\d+$/.test(sequence) ? BigInt(sequence) : undefined,
    });
    if (target) await rtx.quarantine(target.namespace, target.key, id);
    return m.poison!.code;
  }

  /** Dead-letters a record of another region consumed from this peer's topic (nothing is quarantined: the peer's own updates of its key are not held back). */
  async #deadLetterForeign(rtx: ApplyTransaction, partition: number, m: Decoded, r: ReplicationRecord): Promise<string> {
    await rtx.deadLetter({
      peer: this.#o.peer,
      partition,
      offset: m.offset,
      messageKey: m.message.key?.toString(),
      raw: m.message.value ?? new Uint8Array(),
      code: FOREIGN_ORIGIN_CODE,
      reason: `a ${r.kind} record of ${originOf(r)} on ${this.#o.peer}'s topic: only ${this.#o.peer}'s own records speak for its stream`,
      namespace: r.kind === 'heartbeat' ? undefined : r.namespace,
      key: r.kind === 'update' ? r.key : undefined,
      origin: originOf(r),
      sequence: r.kind === 'heartbeat' ? undefined : r.originSequence,
    });
    return FOREIGN_ORIGIN_CODE;
  }

  /** Dead-letters a declaration that cannot be ranked (nothing is quarantined: the namespace's updates make a stand-in meanwhile). */
  async #deadLetterDeclaration(rtx: ApplyTransaction, r: NamespaceRecord, reason: string, source: Source | undefined): Promise<string> {
    await rtx.deadLetter({
      peer: this.#o.peer,
      partition: source?.partition ?? -1,
      offset: source?.message.offset ?? -1n,
      messageKey: `${r.namespace}/`,
      raw: source?.message.message.value ?? encodeRecord(r),
      code: DECLARATION_UNRANKABLE_CODE,
      reason: `namespace declaration of ${r.namespace} by ${originOf(r)} cannot be applied: ${reason}`,
      namespace: r.namespace,
      key: undefined,
      origin: originOf(r),
      sequence: r.originSequence,
    });
    return DECLARATION_UNRANKABLE_CODE;
  }

  /** Holds updates of a quarantined key back: each a dead letter (`HELD_CODE`), applied when the quarantine is lifted. */
  async #hold(rtx: ApplyTransaction, updates: readonly UpdateRecord[], sourceOf: UpdateContext['sourceOf'], outcome: ApplyOutcome): Promise<void> {
    for (const u of updates) {
      await rtx.deadLetter({ peer: this.#o.peer, partition: sourceOf?.(u)?.partition ?? -1, offset: -1n, messageKey: `${u.namespace}/${u.key}`, raw: encodeHeldUpdate(u), code: HELD_CODE, reason: 'an earlier update of this key is dead-lettered; redrive it first', namespace: u.namespace, key: u.key, origin: originOf(u), sequence: u.originSequence });
      outcome.deadLetters.push(HELD_CODE);
    }
  }

  /**
   * Dead-letters an update whose payload is invalid (with the bytes it arrived in: the consumed
   * message, or its envelope re-encoded when it was held back or redriven), quarantines its key
   * and holds the key's updates after it.
   */
  async #rejectUpdate(rtx: ApplyTransaction, rejected: NonNullable<KeyFold['rejected']>, sourceOf: UpdateContext['sourceOf'], outcome: ApplyOutcome): Promise<void> {
    const u = rejected.update;
    const source = sourceOf?.(u);
    const id = await rtx.deadLetter({
      peer: this.#o.peer,
      partition: source?.partition ?? -1,
      offset: source?.message.offset ?? -1n,
      messageKey: source?.message.message.key?.toString() ?? `${u.namespace}/${u.key}`,
      raw: source?.message.message.value ?? envelopeOf(u),
      code: PAYLOAD_INVALID_CODE,
      reason: rejected.reason,
      namespace: u.namespace,
      key: u.key,
      origin: originOf(u),
      sequence: u.originSequence,
    });
    await rtx.quarantine(u.namespace, u.key, id);
    outcome.deadLetters.push(PAYLOAD_INVALID_CODE);
    await this.#hold(rtx, rejected.held, sourceOf, outcome);
  }

  /**
   * Applies updates grouped by key (each key's in the order given): the namespaces in one query
   * (an unknown one is declared with its first update's policy), the keys whose rows change
   * locked in one statement, each key's updates folded in memory, the new states in one
   * statement, the conflicts in one. An update with an invalid payload is dead-lettered
   * (`#rejectUpdate`), unless it is the one a redrive retries: then the redrive fails.
   */
  async #applyUpdates(tx: WriteTransaction, rtx: ApplyTransaction, keys: readonly KeyUpdates[], outcome: ApplyOutcome, context: UpdateContext = {}): Promise<void> {
    if (keys.length === 0) return;
    const namespaces = await rtx.namespacesAmong([...new Set(keys.map((k) => k.namespace))]);
    for (const k of keys) {
      for (const u of k.updates) {
        this.#o.clock.receive(u.hlc);
        // An update before any declaration of its namespace: a stand-in, which any declaration outranks.
        if (!namespaces.has(u.namespace)) {
          const stand = standIn(u.policy, originOf(u));
          namespaces.set(u.namespace, (await tx.declareNamespace(u.namespace, stand.policy, stand.by, stand.hlc)).row);
        }
      }
    }
    const policyOf = (k: KeyUpdates): NamespaceRow['policy'] => namespaces.get(k.namespace)!.policy;
    const rows = await rtx.lockKeys(keys.filter((k) => touchesRow(policyOf(k), k.updates)).map((k) => rowsReached(k, policyOf(k))));
    const skewMs = this.#o.hooks?.skewMs?.(this.#o.peer) ?? 0;
    const writes: { namespace: string; key: string; state: Uint8Array; maxHlc: bigint; partial: boolean }[] = [];
    const conflicts: ConflictObservation[] = [];
    const rejected: NonNullable<KeyFold['rejected']>[] = [];
    for (const k of keys) {
      const policy = policyOf(k);
      const row = rows.get(k.id);
      const fold = foldKey(k, policy, row, k.updates, skewMs, this.#o.clock.bound());
      if (fold.save) writes.push({ namespace: k.namespace, key: k.key, state: fold.save.state, maxHlc: fold.save.maxHlc, partial: row?.partial === true });
      conflicts.push(...fold.conflicts);
      for (let i = 0; i < fold.merges; i++) outcome.merges.push({ namespace: k.namespace, policy });
      if (!fold.rejected) continue;
      if (fold.rejected.update === context.retried) throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${context.letterId} still cannot be applied: ${fold.rejected.reason}`);
      rejected.push(fold.rejected);
      // A key inserted for this fold but never written keeps no row (a row's state is NULL only inside its inserting transaction).
      if (!fold.save && row && row.state === undefined) await tx.deleteEmptyKey(k.namespace, k.key);
    }
    await rtx.saveKeys(writes);
    for (const w of writes) outcome.saved.push({ namespace: namespaces.get(w.namespace)!, key: { namespace: w.namespace, key: w.key, state: w.state, maxHlc: w.maxHlc }, ...(w.partial ? { partial: true as const } : {}) });
    await this.#recordConflicts(rtx, conflicts, outcome);
    for (const r of rejected) await this.#rejectUpdate(rtx, r, context.sourceOf, outcome);
  }

  /** Records conflicts in one statement; only the ones this call recorded are traced (recorded once, whoever observes them). */
  async #recordConflicts(rtx: ApplyTransaction, conflicts: readonly ConflictObservation[], outcome: ApplyOutcome): Promise<void> {
    if (conflicts.length === 0) return;
    const recorded = await rtx.recordConflicts(conflicts.map((c) => c.record));
    for (const c of conflicts) {
      if (!recorded.delete(c.record.id)) continue;
      outcome.conflicts.push(c);
    }
  }

  /**
   * Applies a namespace declaration by `declare` (namespace-declaration.ts): the earliest (HLC,
   * actor) wins everywhere, a stand-in yields to any declaration. Answers why when the declaration
   * cannot be ranked (its HLC is beyond a bigint): the caller dead-letters it.
   */
  async #applyNamespace(tx: WriteTransaction, rtx: ApplyTransaction, r: NamespaceRecord, outcome: ApplyOutcome): Promise<string | undefined> {
    const origin = originOf(r);
    const incoming: Declaration = { policy: r.policy, by: origin, hlc: r.hlc };
    const refused = declare(undefined, incoming);
    if (refused.kind === 'refuse') return refused.reason;
    const { created, row } = await tx.declareNamespace(r.namespace, r.policy, origin, r.hlc);
    if (created) return undefined;
    const kept: Declaration = { policy: row.policy, by: row.declaredBy, hlc: row.declaredHlc };
    const step = declare(kept, incoming);
    if (step.kind !== 'replace' && step.kind !== 'keep') return undefined;
    if (!step.conflict) {
      if (step.kind === 'replace') await rtx.replaceNamespacePolicy(r.namespace, r.policy, origin, r.hlc);
      return undefined;
    }
    // Different policies: the incoming one wins (and displaces the keys written under the kept one) or loses.
    const incomingWins = step.kind === 'replace';
    const loser = incomingWins ? { policy: row.policy, by: row.declaredBy } : { policy: r.policy, by: origin };
    const winner = incomingWins ? { policy: r.policy, by: origin } : { policy: row.policy, by: row.declaredBy };
    let displaced: { key: string; state: string }[] = [];
    if (incomingWins) {
      displaced = (await rtx.takeNamespaceKeys(r.namespace)).map((k) => ({ key: k.key, state: Buffer.from(k.state).toString('base64') }));
      await rtx.replaceNamespacePolicy(r.namespace, r.policy, origin, r.hlc);
    }
    const record = {
      id: `ns-${[loser.by, winner.by].sort().join('-')}-${r.namespace}`.slice(0, 200),
      namespace: r.namespace,
      key: '',
      policy: winner.policy,
      kind: 'namespace-policy',
      versions: [
        { policy: row.policy, declaredBy: row.declaredBy, hlc: formatHlc(row.declaredHlc), ...(isStandIn(kept) ? { standIn: true } : {}) },
        { policy: r.policy, declaredBy: origin, hlc: formatHlc(r.hlc) },
      ],
      outcome: { winner, loser, displacedKeys: displaced },
      regions: [...new Set([row.declaredBy, origin].map((a) => a.split('.')[0]!))].sort(),
      traceIds: [],
      skewFlagged: false,
    };
    await this.#recordConflicts(rtx, [{ kind: 'namespace', namespace: r.namespace, policy: winner.policy, record }], outcome);
    return undefined;
  }

  /**
   * Redrives a dead letter: decodes it again and applies it (`retry`), or gives it up
   * (`discard`). Either way, when it is the one quarantining its key, the quarantine is lifted
   * and the updates held behind it are applied in order. A retry that still cannot decode
   * changes nothing and says why.
   */
  async redrive(id: bigint, mode: 'retry' | 'discard'): Promise<{ applied: number; released: boolean }> {
    const { result, outcome } = await this.#o.store.transaction(async (tx) => {
      const rtx = tx;
      const letter = await rtx.lockDeadLetter(id);
      if (!letter) throw new RedriveError('MERIDIAN_NOT_FOUND', `no dead letter ${id}`);
      if (letter.redriven) throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${id} was already redriven`);
      // Another region's record on this peer's topic is never the peer's to apply: discard only.
      if (mode === 'retry' && letter.code === FOREIGN_ORIGIN_CODE) throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${id} is a record of another region on ${this.#o.peer}'s topic: it can only be discarded (mode discard)`);
      const outcome = newOutcome();
      const quarantining = letter.namespace !== undefined && letter.key !== undefined && (await rtx.quarantinedBy(letter.namespace, letter.key)) === id;
      const updates: UpdateRecord[] = [];
      let retried: UpdateRecord | undefined;
      if (mode === 'retry') {
        let record: ReplicationRecord;
        try {
          record = letter.code === HELD_CODE ? decodeHeldUpdate(letter.raw) : decodeRecord(letter.raw);
        } catch (error) {
          throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${id} still cannot be applied: ${(error as Error).message}`);
        }
        if (record.kind === 'update') updates.push((retried = record));
        else if (record.kind === 'namespace') {
          const refused = await this.#applyNamespace(tx, rtx, record, outcome);
          if (refused) throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${id} still cannot be applied: ${refused}`);
        }
        outcome.applied++;
      }
      await rtx.markDeadLetterRedriven(id);
      if (quarantining) {
        await rtx.releaseQuarantine(letter.namespace, letter.key);
        for (const held of await rtx.heldFor(letter.namespace, letter.key, HELD_CODE)) {
          updates.push(decodeHeldUpdate(held.raw));
          await rtx.markDeadLetterRedriven(held.id);
          outcome.applied++;
        }
      }
      await this.#applyUpdates(tx, rtx, groupByKey(updates), outcome, { retried, letterId: id });
      return { result: { applied: outcome.applied, released: quarantining }, outcome };
    });
    // A held update that turned out invalid is a new dead letter.
    for (const d of outcome.deadLetters) this.#o.hooks?.onDeadLetter?.(this.#o.peer, d);
    return result;
  }

  #traceConflict(parent: Span, c: ConflictObservation): void {
    const { record } = c;
    const { links } = linksFromTraceparents(c.kind === 'register' ? c.traceparents : []);
    const span = meridianTracer().startSpan(
      SpanName.conflict,
      {
        links,
        attributes: conflictSpanAttributes(c),
      },
      trace.setSpan(otelContext.active(), parent),
    );
    span.end();
    this.#o.hooks?.onConflict?.(record.namespace, record.policy);
  }
}

/**
 * The lock of a key with the rows its updates reach, when it turns out to be a big set or map
 * stored a row per element: each update's delta entries and its `touchedRows`. Without an update's
 * `touchedRows` (an older writer), or with a payload that does not decode (the fold rejects it),
 * the whole collection is read.
 */
export function rowsReached(k: KeyUpdates, policy: NamespaceRow['policy']): KeyLock {
  const ref = { namespace: k.namespace, key: k.key };
  if (policy !== 'set' && policy !== 'map') return ref;
  const names = new Set<string>();
  for (const u of k.updates) {
    if (u.policy !== policy) continue; // a policy conflict: recorded, not applied
    if (u.touchedRows === undefined || u.payload.kind !== 'crdt') return ref;
    try {
      for (const name of deltaRowNames(policy, u.payload.delta)) names.add(name);
    } catch {
      return ref;
    }
    for (const name of u.touchedRows) names.add(name);
  }
  return { ...ref, rows: [...names] };
}

/** Records of each origin in sequence order (origins in the order they first appear). */
function inOriginOrder<R extends Sequenced>(records: readonly R[]): R[] {
  const byOrigin = new Map<string, R[]>();
  for (const r of records) {
    const list = byOrigin.get(originOf(r));
    if (list) list.push(r);
    else byOrigin.set(originOf(r), [r]);
  }
  return [...byOrigin.values()].flatMap((list) => list.sort((a, b) => (a.originSequence < b.originSequence ? -1 : a.originSequence > b.originSequence ? 1 : 0)));
}

/** Where each of a group's records came from; built on first use (only the rare paths ask). */
function sourcesOf(live: readonly { partition: number; fresh: readonly Decoded[] }[]): (r: ReplicationRecord) => Source | undefined {
  let sources: Map<ReplicationRecord, Source> | undefined;
  return (r) => {
    if (!sources) {
      sources = new Map();
      for (const { partition, fresh } of live) for (const message of fresh) if (message.record) sources.set(message.record, { partition, message });
    }
    return sources.get(r);
  };
}

/**
 * The envelope of an update that is no longer in its consumed message (held back, or redriven):
 * the protobuf record again, which a redrive decodes; the held JSON form if the record breaks a
 * rule of the envelope (it then never decodes, and a redrive says so).
 */
function envelopeOf(u: UpdateRecord): Uint8Array {
  try {
    return encodeRecord(u);
  } catch {
    return encodeHeldUpdate(u);
  }
}

function safeKey(key: Buffer | null): { namespace: string; key: string } | undefined {
  if (!key) return undefined;
  try {
    return parseKafkaMessageKey(key.toString());
  } catch {
    return undefined;
  }
}

/**
 * Per origin actor, the highest sequence among these consumed messages of one partition: the
 * peer's updates and namespace declarations (duplicates too: a copy's place in the partition is as telling as
 * the first one's), and poison that names its place (dead-lettered, it counts applied). Heartbeats
 * carry none. The sequence-gap check's evidence (DESIGN §4): the relay publishes an origin's
 * sequences in order, so a sequence below one of these that belongs to this partition lies before
 * it and was consumed.
 */
function highestSequences(messages: readonly Decoded[], peer: string): Map<string, bigint> {
  const highest = new Map<string, bigint>();
  const note = (origin: string, sequence: bigint): void => {
    if (sequence > (highest.get(origin) ?? 0n)) highest.set(origin, sequence);
  };
  for (const m of messages) {
    if (m.record && m.record.kind !== 'heartbeat' && m.record.origin.region === peer) note(originOf(m.record), m.record.originSequence);
    else if (m.poison && !m.tooNew) {
      const place = placeOf(m, peer);
      if (place) note(place.origin, place.sequence);
    }
  }
  return highest;
}

/**
 * Where a poison message says it stands in `peer`'s sequence (the relay's `meridian-origin`,
 * `meridian-sequence` and `meridian-outbox-id` headers), when it says so for `peer` itself.
 */
function placeOf(m: Decoded, peer: string): { origin: string; sequence: bigint; outboxId: bigint } | undefined {
  const header = (name: string): string | undefined => m.message.headers?.[name]?.toString();
  const origin = header('meridian-origin');
  const sequence = header('meridian-sequence');
  const outboxId = header('meridian-outbox-id');
  if (origin === undefined || sequence === undefined || outboxId === undefined) return undefined;
  const dot = origin.lastIndexOf('.');
  if (origin.slice(0, dot) !== peer || !/^\d+$/.test(origin.slice(dot + 1)) || !/^[1-9]\d*$/.test(sequence) || !/^\d+$/.test(outboxId)) return undefined;
  return { origin, sequence: BigInt(sequence), outboxId: BigInt(outboxId) };
}

/**
 * The idempotency records that these updates carry, with the answer as the origin gave it: its
 * session token (the other origins' positions the answer reflects; absent from older origins)
 * gets the write's own position, its origin actor at its outbox id.
 */
export function replicatedAnswers(keys: readonly Pick<KeyUpdates, 'updates'>[]): ReplicatedAnswer[] {
  return keys.flatMap((k) =>
    k.updates.flatMap((u) => {
      const a = u.idempotentAnswer;
      if (a === undefined) return [];
      const body = JSON.parse(a.bodyJson) as Record<string, unknown>;
      const response = { ...body, session: formatSession(mergeSessions(answeredSession(body['session']), new Map([[originOf(u), u.outboxId]]))) };
      return [{ namespace: u.namespace, key: u.key, idempotencyKey: a.idempotencyKey, fingerprint: a.fingerprint, status: a.status, response }];
    }),
  );
}

/** The session token an origin put in a replicated answer: nothing when absent or not a token. */
function answeredSession(token: unknown): SessionVector {
  if (typeof token !== 'string') return new Map();
  try {
    return parseSession(token);
  } catch {
    return new Map();
  }
}
