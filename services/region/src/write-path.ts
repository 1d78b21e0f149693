/**
 * The region's write and read paths (docs/design.md §3), wiring the pure causality/CRDT logic to the
 * store. A write:
 *   1. is planned from a snapshot of the namespace and the key's row (the process's cached one,
 *      or one read in a statement): the new state computed with the causality/CRDT libraries,
 *      its HLC max(now, the key's highest HLC + 1), so a write that saw a version orders after it;
 *   2. is stored with its replication envelope in the outbox by one conditional statement, shared
 *      with the other updates waiting at that moment (group commit), which saves it only if the
 *      row and the namespace's policy still match the snapshot, else answers with the current
 *      row to plan from again (decisions 0003 and 0004);
 *   3. after repeated lost races, or when it carries an Idempotency-Key (claimed so a retry
 *      returns the first answer and changes nothing), runs in one transaction under the key's
 *      row lock (insert-or-lock) instead;
 *   4. answers, once committed, with the new (signed) context and a session token.
 * Bad input is refused before anything is stored, or by throwing inside the transaction
 * (rollback), so it never changes stored data.
 */
import { createHash } from 'node:crypto';
import { type Span } from '@opentelemetry/api';
import { SpanAttribute, SpanName, currentTraceparent as activeTraceparent, withSpan } from '@meridian/telemetry';
import { CausalContext, DvvSet, HybridLogicalClock, VersionVector, actorId, hlcPhysical, type ActorId, type Hlc } from '@meridian/causality';
import { freshDotBase } from '@meridian/retention';
import {
  COLLECTION_SPLIT_ROWS,
  CrdtError,
  CrdtErrorCode,
  canonicalJson,
  MAX_JSON_DEPTH,
  ORMap,
  ORSet,
  collectionHeaderContext,
  collectionOpRows,
  crdtKind as lookupCrdtKind,
  fieldRowName,
  mapKind,
  nestedDeeperThan,
  planCollectionWrite,
  touchedRows,
  setKind,
  splitsAbove,
  type CrdtKind,
  type MapOp,
  type SetOp,
} from '@meridian/crdt';

/** CRDT kinds with their state and op types erased to `unknown` (the service treats them alike). */
type AnyKind = CrdtKind<unknown, unknown>;
/** A deadlock or serialization failure: the statement stored nothing, and the locked path may take over. */
const lostToDeadlock = (error: unknown): boolean => error instanceof StoreError && error.code === StoreErrorCode.retry;
const crdtKind = (policy: string): AnyKind | undefined => lookupCrdtKind(policy);
import { claimableApplied, decodeRecord, encodeRecord, kafkaMessageKey, SCHEMA_VERSION, uncoveredSession, type HeldBack, type IdempotentAnswer, type OwnActors, type Policy } from '@meridian/protocol';
import { StoreError, StoreErrorCode, type AppliedPositions, type ConditionalWrite, type ConditionalWriteResult, type HeldLetter, type KeyRow, type NamespaceRow, type ReadView, type RowsWriteResult, type Store, type WriteSnapshot, type WriteTransaction } from '@meridian/store';
import { GroupCommitQueue } from './group-commit.ts';
import { ContextNotCoveredError, MeridianError } from './errors.ts';
import type { ContextTokens } from './context-token.ts';
import { checkKeyName, checkNamespaceName } from './names.ts';
import { WriteCache } from './write-cache.ts';
import { WHOLE, encodeCursor, type CollectionRead } from './collection-read.ts';
import { formatSession, type SessionVector } from './session-token.ts';
import { earlierOwnPosition } from './replication/incarnation.ts';
import {
  decodeRegisterSet,
  decodeRegisterSetForWrite,
  encodeRegisterSet,
  viewRegister,
  writeRegister,
  type Json,
  type RegisterPolicy,
  type RegisterSet,
} from '@meridian/crdt';

/** The body of a key's answer (reads and writes alike). */
export interface KeyAnswer {
  context: string;
  session: string;
  value?: unknown;
  values?: unknown[];
  deleted?: boolean;
  /** A page's cursor for the page after it; absent on the last page and on whole reads. */
  next?: string;
}

export interface WriteAnswer {
  readonly status: number;
  readonly body: KeyAnswer;
}

export interface WritePathOptions {
  /** The incarnations this database started (its earlier actors' sessions are held here up to each switch). */
  readonly incarnations?: readonly { readonly epoch: number; readonly outboxId: bigint }[];
  readonly store: Store;
  readonly region: string;
  readonly epoch: number;
  readonly tokens: ContextTokens;
  readonly maxValueBytes: number;
  readonly maxClockDriftMs: number;
  /** The write path's snapshot cache (write-cache.ts); none: every write reads its snapshot. */
  readonly cache?: WriteCache;
  /** Group-committed statements of writes in flight at once (their connections come from the store's pool); 1 if absent. */
  readonly writeConcurrency?: number;
  /** A second statement starts beside a running one only once this many writes wait (group-commit.ts `overlapAt`); 1 if absent. */
  readonly writeOverlapAt?: number;
  readonly now?: () => number;
  /** Called after each committed write (metrics). */
  readonly onWrite?: (namespace: string, policy: Policy, seconds: number) => void;
  /**
   * The store's split threshold (`StoreOptions.splitRows`; @meridian/crdt's COLLECTION_SPLIT_ROWS
   * if absent): a write into a set or map holding more elements or fields answers without `value`.
   */
  readonly splitRows?: number;
}

/** What the request carried besides its body. */
export interface WriteMeta {
  readonly idempotencyKey?: string | undefined;
}

function isRegister(policy: Policy): policy is RegisterPolicy {
  return policy === 'lww' || policy === 'mv';
}

/** The W3C traceparent of the active span ('' when none): stored with each version for conflict links. */
function currentTraceparent(): string {
  return activeTraceparent() ?? '';
}

export class WritePath {
  readonly actor: ActorId;
  /** This region's current actor and its earlier incarnations' (session coverage). */
  readonly ownActors: OwnActors;
  /** Regions removed from the deployment (membership.ts keeps it): their session entries are no longer demanded. */
  readonly removedRegions = new Set<string>();
  readonly #o: WritePathOptions;
  readonly #clock: HybridLogicalClock;
  /** Wall time (ms) for the first dot of a key without a row (freshDotBase). */
  readonly #now: () => number;
  readonly #cache: WriteCache;
  /** Above this many elements or fields a set or map is stored split (`WritePathOptions.splitRows`). */
  readonly #splitRows: number;
  /** The highest outbox id allocated when this incarnation began (0 for a first one): the current actor's positions start above it. */
  readonly #incarnationStart: bigint;
  /** Writes of existing rows, group-committed: those waiting together go in one statement. */
  readonly #updates: GroupCommitQueue<ConditionalWrite, ConditionalWriteResult>;

  constructor(options: WritePathOptions) {
    this.#o = options;
    this.#cache = options.cache ?? new WriteCache(0);
    this.#splitRows = options.splitRows ?? COLLECTION_SPLIT_ROWS;
    this.#updates = new GroupCommitQueue({
      run: async (writes) => (writes.length === 1 ? [await options.store.compareAndWrite(writes[0]!)] : options.store.compareAndWriteMany(writes)),
      weight: () => 1,
      maxWeight: MAX_WRITES_PER_STATEMENT,
      // A batch holds each key once (compareAndWriteMany's rule); a key's writes go in order.
      lane: (w) => w.messageKey,
      concurrency: options.writeConcurrency ?? 1,
      overlapAt: options.writeOverlapAt ?? 1,
    });
    this.actor = actorId(options.region, options.epoch);
    const incarnations = options.incarnations ?? [];
    this.#incarnationStart = incarnations.find((i) => i.epoch === options.epoch)?.outboxId ?? 0n;
    this.ownActors = { self: this.actor, earlier: (actor) => earlierOwnPosition(options.region, options.epoch, incarnations, actor) };
    this.#now = options.now ?? Date.now;
    this.#clock = new HybridLogicalClock({ now: this.#now, maxDriftMs: options.maxClockDriftMs });
  }

  /**
   * A register without a row: maybe never written, maybe purged by the tombstone GC — whose
   * dots a region that has not purged it yet still holds. Its first dot here comes after every
   * counter this region could have used for it before (decision 0012).
   */
  #freshRegister(): RegisterSet {
    // Above the HLC ceiling too: a wall clock stepped back, or behind a peer's, mints no old dot.
    const base = freshDotBase(this.#now(), hlcPhysical(this.#clock.peek()));
    return base <= 1 ? DvvSet.empty() : DvvSet.seen(CausalContext.fromVector(VersionVector.from({ [this.actor]: base - 1 })));
  }

  get clock(): HybridLogicalClock {
    return this.#clock;
  }

  /** The key's HLC for a new version: after the process clock and after every version the key holds. */
  #stamp(keyMax: Hlc): Hlc {
    const now = this.#clock.now();
    return now > keyMax ? now : keyMax + 1n;
  }

  // ---- namespaces -------------------------------------------------------------------------

  async declareNamespace(name: string, policy: Policy): Promise<{ created: boolean; namespace: NamespaceRow }> {
    checkNamespaceName(name);
    return this.#o.store.transaction(async (tx) => {
      const hlc = this.#clock.now();
      const { created, row } = await tx.declareNamespace(name, policy, this.actor, hlc);
      if (!created) {
        if (row.policy !== policy) {
          throw new MeridianError('MERIDIAN_POLICY_CONFLICT', `namespace ${name} exists with policy ${row.policy} (asked for ${policy}); a namespace's policy is fixed at creation`);
        }
        return { created: false, namespace: row };
      }
      const envelope = encodeRecord({
        kind: 'namespace',
        schemaVersion: SCHEMA_VERSION,
        origin: { region: this.#o.region, epoch: this.#o.epoch },
        originSequence: 0n,
        outboxId: 0n,
        namespace: name,
        policy,
        hlc,
        traceparent: currentTraceparent(),
      });
      await tx.appendOutbox(`${name}/`, envelope);
      return { created: true, namespace: row };
    });
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Runs one write under the `meridian.write` span. The write is planned from a snapshot of the
   * namespace and the key's row — this process's cached one, or one read in a statement — and
   * stored by one conditional statement, which answers with the current snapshot when the row
   * changed meanwhile; the write is then planned again from that. After a few lost races, and
   * always for a write with an Idempotency-Key (claimed in the transaction: a retry with the same
   * key and request returns the stored answer), the write runs under the row lock instead.
   */
  async #write(name: string, key: string, fingerprintParts: unknown, meta: WriteMeta, plan: PlanWrite, rows?: PlanRows): Promise<WriteAnswer> {
    checkNamespaceName(name);
    checkKeyName(key);
    const started = performance.now();
    return withSpan(SpanName.write, { [SpanAttribute.namespace]: name, [SpanAttribute.key]: key, 'meridian.region': this.#o.region }, async (span) => {
      const answer = (meta.idempotencyKey === undefined ? await this.#writeOptimistic(name, key, plan, span, rows) : undefined) ?? (await this.#writeLocked(name, key, fingerprintParts, meta, plan, span, rows));
      if (answer.stored) this.#cache.set(answer.stored.namespace, answer.stored.key);
      if (answer.policy !== undefined) this.#o.onWrite?.(name, answer.policy, (performance.now() - started) / 1000);
      return { status: answer.status, body: answer.body };
    });
  }

  /**
   * Plan from a snapshot, compare-and-write, and again from the snapshot a lost race returns.
   * Undefined after OPTIMISTIC_ATTEMPTS lost races (nothing stored: the caller takes the lock).
   */
  async #writeOptimistic(name: string, key: string, plan: PlanWrite, span: Span, rows: PlanRows | undefined): Promise<Written | undefined> {
    const cached = this.#cache.get(name, key);
    let snapshot = cached ?? (await this.#o.store.writeSnapshot(name, key));
    span.setAttribute('meridian.write.cached_snapshot', cached !== undefined);
    for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
      // A big set or map stored a row per element: planned from the rows the write names.
      if (snapshot.key?.split) return rows ? this.#writeRows(name, key, snapshot, rows, span) : undefined;
      const ns = this.#requireNamespace(name, snapshot.namespace);
      span.setAttribute(SpanAttribute.policy, ns.policy);
      let planned: WritePlan;
      try {
        planned = plan(ns, snapshot.key, span);
      } catch (error) {
        // Refused against a cached snapshot (its policy may be out of date): ask the database.
        if (snapshot !== cached) throw error;
        this.#cache.delete(name, key);
        snapshot = await this.#o.store.writeSnapshot(name, key);
        continue;
      }
      if (!planned.save) {
        // Nothing to store is an answer about the row as it is: a cached snapshot may miss what
        // another process or a replicator added (a remove of an element it does not show).
        if (snapshot === cached) {
          snapshot = await this.#o.store.writeSnapshot(name, key);
          continue;
        }
        // Positions read after the snapshot cover what it reflects; a quarantined key's held
        // updates are not claimed (the key does not reflect them).
        const view = await this.#o.store.readView(name, key);
        return { status: 200, body: planned.answer(this.#session(view.highWater, claimableApplied(view.applied, heldBack(view.held)))), policy: ns.policy, stored: undefined };
      }
      const write: ConditionalWrite = {
        namespace: name,
        policy: ns.policy,
        key,
        expected: snapshot.key,
        state: planned.save.state,
        maxHlc: planned.save.hlc,
        messageKey: kafkaMessageKey(name, key),
        envelope: planned.save.envelope,
      };
      let result: ConditionalWriteResult;
      try {
        // A key's first write inserts its row alone; so does a write that splits a set or map (a
        // transaction of its own: collections.ts); updates share statements with other writes.
        result = write.expected && !splitsAbove(write.state, this.#splitRows) ? await this.#updates.submit(write) : await this.#o.store.compareAndWrite(write);
      } catch (error) {
        // A deadlock or serialization failure of a shared statement stored nothing: take the lock.
        if (lostToDeadlock(error)) break;
        throw error;
      }
      if (result.saved) {
        span.setAttribute('meridian.outbox_id', result.outboxId.toString());
        return { status: 200, body: planned.answer(this.#session(result.outboxId, claimableApplied(result.applied, heldBack(result.held)))), policy: ns.policy, stored: storedRow(ns, key, planned.save) };
      }
      span.setAttribute('meridian.write.lost_races', attempt);
      this.#cache.delete(name, key);
      snapshot = result.snapshot;
    }
    span.setAttribute('meridian.write.relocked', true);
    return undefined;
  }

  /**
   * A write on a big set or map stored a row per element or field (decision 0013): planned from the
   * key's header and the rows the operation names, read in one statement, and stored with the rows
   * it changes by one statement that requires the key's generation unchanged (no row of it changed
   * meanwhile). Undefined — the caller takes the row lock and writes the whole state — after
   * OPTIMISTIC_ATTEMPTS lost races, when the key is no longer split, or when the write leaves the
   * collection at or below the threshold (stored whole again).
   */
  async #writeRows(name: string, key: string, first: WriteSnapshot, rows: PlanRows, span: Span): Promise<Written | undefined> {
    const store = this.#o.store;
    if (!store.collectionSnapshot || !store.compareAndWriteRows) return undefined;
    span.setAttribute('meridian.write.split', true);
    let ns = this.#requireNamespace(name, first.namespace);
    for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
      const snapshot = await store.collectionSnapshot(name, key, rows.names(ns));
      ns = this.#requireNamespace(name, snapshot.namespace);
      const row = snapshot.key;
      if (!row?.split || row.state === undefined) return undefined;
      const planned = rows.plan(ns, row, span);
      if (planned.count <= this.#splitRows) return undefined;
      if (!planned.save) {
        // Positions only: none of the collection's rows is read.
        const view = await store.readView(name, key, []);
        return { status: 200, body: planned.answer(this.#session(view.highWater, claimableApplied(view.applied, heldBack(view.held)))), policy: ns.policy, stored: undefined };
      }
      let result: RowsWriteResult;
      try {
        result = await store.compareAndWriteRows({
          namespace: name,
          policy: ns.policy,
          key,
          expected: { generation: row.split.generation, maxHlc: row.maxHlc },
          header: planned.save.header,
          elements: planned.count,
          upserts: planned.save.upserts,
          deletes: planned.save.deletes,
          maxHlc: planned.save.hlc,
          messageKey: kafkaMessageKey(name, key),
          envelope: planned.save.envelope,
        });
      } catch (error) {
        // A deadlock or serialization failure stored nothing: take the lock.
        if (lostToDeadlock(error)) return undefined;
        throw error;
      }
      if (result.saved) {
        span.setAttribute('meridian.outbox_id', result.outboxId.toString());
        this.#cache.delete(name, key);
        return { status: 200, body: planned.answer(this.#session(result.outboxId, claimableApplied(result.applied, heldBack(result.held)))), policy: ns.policy, stored: undefined };
      }
      span.setAttribute('meridian.write.lost_races', attempt);
    }
    return undefined;
  }

  /**
   * The write in one transaction under the key's row lock (insert-or-lock), with the idempotency
   * protocol. A big set or map stored a row per element is locked with the rows the operation
   * names and written through them (`#rowsLocked`), unless the write brings it to the threshold.
   */
  async #writeLocked(name: string, key: string, fingerprintParts: unknown, meta: WriteMeta, plan: PlanWrite, span: Span, rows: PlanRows | undefined): Promise<Written> {
    return this.#o.store.transaction(async (tx) => {
      let idempotent: { readonly idempotencyKey: string; readonly fingerprint: string } | undefined;
      if (meta.idempotencyKey !== undefined) {
        const fingerprint = createHash('sha256').update(JSON.stringify([name, key, fingerprintParts])).digest('hex');
        idempotent = { idempotencyKey: meta.idempotencyKey, fingerprint };
        const claim = await tx.claimIdempotencyKey({ namespace: name, key }, meta.idempotencyKey, fingerprint);
        if (!claim.claimed) {
          if (claim.fingerprint !== fingerprint) {
            throw new MeridianError('MERIDIAN_IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${JSON.stringify(meta.idempotencyKey)} was first used for a different request`);
          }
          span.setAttribute('meridian.idempotent_replay', true);
          return { status: claim.status ?? 200, body: claim.response as KeyAnswer, policy: undefined, stored: undefined };
        }
      }
      const ns = this.#requireNamespace(name, await tx.getNamespace(name));
      span.setAttribute(SpanAttribute.policy, ns.policy);
      let row = await tx.lockKey(name, key, rows && tx.saveRows && (ns.policy === 'set' || ns.policy === 'map') ? rows.names(ns) : undefined);
      if (row.split) {
        const written = await this.#rowsLocked(tx, name, key, ns, row, rows!, idempotent, span);
        if (written) {
          if (meta.idempotencyKey !== undefined) await tx.recordIdempotentAnswer({ namespace: name, key }, meta.idempotencyKey, 200, written.body);
          return written;
        }
        // Back to the threshold: the whole collection, under the lock this transaction holds.
        row = await tx.lockKey(name, key);
      }
      const planned = plan(ns, row, span);
      // Read under the row lock: they cover every replicated update the row reflects.
      const applied = claimableApplied(await tx.appliedPositions(), heldBack(await tx.heldLetters(name, key)));
      let position: bigint;
      if (planned.save) {
        await tx.saveKey(name, key, planned.save.state, planned.save.hlc);
        // The answer travels with the update, so a retry in a region that applied it is answered,
        // not applied again; its session token holds the other origins' positions the answer
        // reflects (the receiver adds the write's own position, unknown until it is stored).
        const envelope = idempotent === undefined ? planned.save.envelope : withIdempotentAnswer(planned.save.envelope, { ...idempotent, status: 200, bodyJson: JSON.stringify(planned.answer(applied)) });
        position = await tx.appendOutbox(kafkaMessageKey(name, key), envelope);
        span.setAttribute('meridian.outbox_id', position.toString());
      } else {
        // Nothing to store; a row this transaction inserted for the key must not stay behind empty.
        if (row.state === undefined) await tx.deleteEmptyKey(name, key);
        position = await tx.outboxHighWater();
      }
      const body = planned.answer(this.#session(position, applied));
      if (meta.idempotencyKey !== undefined) await tx.recordIdempotentAnswer({ namespace: name, key }, meta.idempotencyKey, 200, body);
      return { status: 200, body, policy: ns.policy, stored: planned.save ? storedRow(ns, key, planned.save) : undefined };
    });
  }

  /**
   * A write on a split key under its row lock (locked with the rows the operation names): planned
   * as `#writeRows` plans it, stored with `saveRows`. Undefined, storing nothing, when the write
   * would leave the collection at or below the threshold.
   */
  async #rowsLocked(tx: WriteTransaction, name: string, key: string, ns: NamespaceRow, row: KeyRow, rows: PlanRows, idempotent: { readonly idempotencyKey: string; readonly fingerprint: string } | undefined, span: Span): Promise<Written | undefined> {
    span.setAttribute('meridian.write.split', true);
    const planned = rows.plan(ns, row, span);
    if (planned.count <= this.#splitRows) return undefined;
    const applied = claimableApplied(await tx.appliedPositions(), heldBack(await tx.heldLetters(name, key)));
    if (!planned.save) return { status: 200, body: planned.answer(this.#session(await tx.outboxHighWater(), applied)), policy: ns.policy, stored: undefined };
    const { save } = planned;
    await tx.saveRows!(name, key, { header: save.header, elements: planned.count, maxHlc: save.hlc, upserts: save.upserts, deletes: save.deletes });
    const envelope = idempotent === undefined ? save.envelope : withIdempotentAnswer(save.envelope, { ...idempotent, status: 200, bodyJson: JSON.stringify(planned.answer(applied)) });
    const position = await tx.appendOutbox(kafkaMessageKey(name, key), envelope);
    span.setAttribute('meridian.outbox_id', position.toString());
    this.#cache.delete(name, key);
    return { status: 200, body: planned.answer(this.#session(position, applied)), policy: ns.policy, stored: undefined };
  }

  /**
   * A session token's vector: this region's own position and the applied positions of the other
   * origins, both read with or after the state the answer shows (never before: a token must cover
   * every update the answer reflects, or a region further behind could satisfy it with older data).
   */
  #session(own: bigint, applied: AppliedPositions): SessionVector {
    const session = new Map(applied);
    // Ids up to this incarnation's start were allocated under an earlier actor: naming them as the
    // current actor's would claim positions of a stream that never holds them (no peer covers them).
    if (own > this.#incarnationStart) session.set(this.actor, own);
    return session;
  }

  #requireNamespace(name: string, ns: NamespaceRow | undefined): NamespaceRow {
    if (!ns) throw new MeridianError('MERIDIAN_NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in region ${this.#o.region}`);
    return ns;
  }

  #checkValue(value: unknown): asserts value is Json {
    checkNesting(value, MAX_JSON_DEPTH, 'the value');
    const size = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
    if (size > this.#o.maxValueBytes) {
      throw new MeridianError('MERIDIAN_VALUE_TOO_LARGE', `the value is ${size} bytes; the limit is ${this.#o.maxValueBytes}`);
    }
  }

  /** An update's envelope; `touched`: a set or map write's rows besides its delta's entries (`touchedRows`). */
  #updateEnvelope(ns: NamespaceRow, key: string, hlc: Hlc, payload: { kind: 'register'; state: Uint8Array } | { kind: 'crdt'; delta: Uint8Array }, touched?: readonly string[]): Uint8Array {
    return encodeRecord({
      kind: 'update',
      schemaVersion: SCHEMA_VERSION,
      origin: { region: this.#o.region, epoch: this.#o.epoch },
      originSequence: 0n,
      outboxId: 0n,
      namespace: ns.name,
      policy: ns.policy,
      key,
      hlc,
      traceparent: currentTraceparent(),
      payload,
      ...(touched === undefined ? {} : { touchedRows: touched }),
    });
  }

  /** PUT (value) or DELETE (value undefined) of a register. */
  async writeRegister(name: string, key: string, value: unknown, contextToken: string | undefined, meta: WriteMeta): Promise<WriteAnswer> {
    if (value !== undefined) this.#checkValue(value);
    // Verify the token before touching the database: a forged one stores nothing.
    checkNamespaceName(name);
    checkKeyName(key);
    const clientContext = contextToken === undefined ? undefined : this.#o.tokens.verifyVector(name, key, contextToken);
    return this.#write(name, key, [value === undefined ? 'delete' : 'put', value, contextToken ?? null], meta, (ns, row, span) => {
      const policy = ns.policy;
      if (!isRegister(policy)) {
        throw new MeridianError('MERIDIAN_WRONG_POLICY', `namespace ${name} holds ${policy} values: use POST /v1/ns/${name}/keys/{key}/ops, not ${value === undefined ? 'DELETE' : 'PUT'}`);
      }
      const set: RegisterSet = row?.state ? decodeRegisterSetForWrite(row.state, policy) : this.#freshRegister();
      const hlc = this.#stamp(row?.maxHlc ?? 0n);
      const { set: next, dot } = writeRegister(set, policy, clientContext, this.actor, { value, hlc, traceparent: currentTraceparent() || undefined });
      span.setAttribute('meridian.dot', `${dot.actor}:${dot.counter}`);
      span.setAttribute('meridian.blind_write', clientContext === undefined && policy === 'mv');
      const state = encodeRegisterSet(next);
      return {
        save: { state, hlc, envelope: this.#updateEnvelope(ns, key, hlc, { kind: 'register', state }) },
        answer: (session) => this.#registerBody(name, key, next, policy, session),
      };
    });
  }

  #registerBody(name: string, key: string, set: RegisterSet, policy: RegisterPolicy, session: SessionVector): KeyAnswer {
    const view = viewRegister(set, policy);
    const body: KeyAnswer = { context: this.#o.tokens.signVector(name, key, set.context()), session: formatSession(session) };
    if (view.kind === 'value') body.value = view.value;
    if (view.kind === 'values') body.values = view.values;
    if (view.kind === 'deleted') body.deleted = true;
    return body;
  }

  // ---- reads --------------------------------------------------------------------------------

  /** GET of a key: 200 with its value(s), or a MERIDIAN_KEY_NOT_FOUND error (with the context of a deleted key). */
  async read(name: string, key: string): Promise<KeyAnswer> {
    return (await this.readCovering(name, key, new Map())).answer();
  }

  /**
   * A read of a key in one statement, and the entries of `session` it does not reflect: those of
   * origins this region has not applied that far, and those at or beyond an update of this key
   * held back by a quarantine (applied positions pass held updates so the stream never stalls,
   * but the key does not reflect them). `answer` builds the answer (or throws its error), with a
   * session token built from positions read in that same statement.
   */
  async readCovering(name: string, key: string, session: SessionVector, part: CollectionRead = WHOLE): Promise<{ missing: Map<string, bigint>; answer: () => KeyAnswer }> {
    checkNamespaceName(name);
    checkKeyName(key);
    // One element or field: a big collection's other rows are not read.
    const rows = part.kind === 'element' ? [canonicalJson(JSON.parse(part.text), 'set element')] : part.kind === 'field' ? [fieldRowName(part.name)] : undefined;
    const view = await this.#o.store.readView(name, key, rows);
    const held = heldBack(view.held);
    // No namespace: nothing to wait for (the answer is MERIDIAN_NAMESPACE_NOT_FOUND; the statement read no positions).
    const missing = view.namespace ? uncoveredSession(session, view.applied, held, this.ownActors, this.removedRegions) : new Map<string, bigint>();
    return { missing, answer: () => this.#readAnswer(name, key, view, claimableApplied(view.applied, held), part) };
  }

  #readAnswer(name: string, key: string, view: ReadView, applied: AppliedPositions, part: CollectionRead): KeyAnswer {
    const ns = this.#requireNamespace(name, view.namespace);
    const row = view.key;
    const session = this.#session(view.highWater, applied);
    if (part.kind !== 'whole') checkPartPolicy(ns, part);
    if (!row?.state) throw new MeridianError('MERIDIAN_KEY_NOT_FOUND', `key ${key} does not exist in namespace ${name}`, { session: formatSession(session) });
    if (part.kind !== 'whole') return this.#partBody(name, key, ns.policy, row.state, part, session);
    if (isRegister(ns.policy)) {
      const set = decodeRegisterSet(row.state);
      const body = this.#registerBody(name, key, set, ns.policy, session);
      if (body.deleted === true) {
        throw new MeridianError('MERIDIAN_KEY_NOT_FOUND', `key ${key} in namespace ${name} is deleted`, { context: body.context, session: body.session, deleted: true });
      }
      return body;
    }
    const kind = crdtKind(ns.policy);
    if (!kind) throw new MeridianError('MERIDIAN_INTERNAL', `namespace ${name} has an unknown policy ${ns.policy}`);
    return this.#crdtBody(name, key, kind, kind.decode(row.state), session);
  }

  /** A page of a set or map, or one element or field (the policy was checked against the part). */
  #partBody(name: string, key: string, policy: Policy, stored: Uint8Array, part: Exclude<CollectionRead, { kind: 'whole' }>, session: SessionVector): KeyAnswer {
    const state = policy === 'set' ? setKind.decode(stored) : mapKind.decode(stored);
    const body: KeyAnswer = { context: this.#o.tokens.signContext(name, key, state.context), session: formatSession(session) };
    switch (part.kind) {
      case 'page': {
        let next: string | undefined;
        if (state instanceof ORSet) ({ elements: body.value, next } = state.page(part.after, part.limit));
        else {
          const page = state.page(part.after, part.limit);
          body.value = Object.fromEntries(page.fields);
          next = page.next;
        }
        if (next !== undefined) body.next = encodeCursor(next);
        return body;
      }
      case 'element': {
        const element: unknown = JSON.parse(part.text);
        if (!(state instanceof ORSet) || !state.has(element)) {
          throw new MeridianError('MERIDIAN_ELEMENT_NOT_FOUND', `the set ${key} in namespace ${name} does not hold ${part.text.slice(0, 64)}`, { context: body.context, session: body.session });
        }
        body.value = element;
        return body;
      }
      case 'field': {
        const value = state instanceof ORMap ? state.fieldJson(part.name) : undefined;
        if (value === undefined) throw new MeridianError('MERIDIAN_FIELD_NOT_FOUND', `the map ${key} in namespace ${name} has no field ${JSON.stringify(part.name.slice(0, 64))}`, { context: body.context, session: body.session });
        body.value = value;
        return body;
      }
    }
  }

  #crdtBody(name: string, key: string, kind: AnyKind, state: unknown, session: SessionVector): KeyAnswer {
    return { value: kind.value(state), context: this.#o.tokens.signContext(name, key, crdtContext(state)), session: formatSession(session) };
  }

  /**
   * POST …/ops on a CRDT key: validate the operation for the namespace's kind, apply it to the
   * key's state, store the new state and ship the delta. A `context` field (from a read)
   * limits a remove to what the client saw; without it, a remove removes what this region has.
   */
  async applyOps(name: string, key: string, body: unknown, meta: WriteMeta): Promise<WriteAnswer> {
    checkNamespaceName(name);
    checkKeyName(key);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MeridianError('MERIDIAN_INVALID_OPERATION', 'expected an operation object');
    // Before anything walks the body (the idempotency fingerprint, the operation's check): a value
    // sits two levels into it ({"add": [v]}, {"set": {"field": v}}).
    checkNesting(body, MAX_JSON_DEPTH + OPERATION_NESTING, 'the operation');
    const { context: token, ...opBody } = body as Record<string, unknown>;
    if (token !== undefined && typeof token !== 'string') throw new MeridianError('MERIDIAN_INVALID_CONTEXT', 'expected "context" to be a context token string');
    const observed = token === undefined ? undefined : this.#o.tokens.verifyContext(name, key, token);
    const collectionOp = (ns: NamespaceRow): { policy: 'set' | 'map'; op: SetOp | MapOp } => {
      if (ns.policy !== 'set' && ns.policy !== 'map') throw new MeridianError('MERIDIAN_INTERNAL', `namespace ${name} (${ns.policy}) has no key stored a row per element`);
      const kind = crdtKind(ns.policy)!;
      return { policy: ns.policy, op: crdtCall(() => kind.validateOp(opBody)) as SetOp | MapOp };
    };
    const rows: PlanRows = {
      names: (ns) => {
        const { policy, op } = collectionOp(ns);
        return crdtCall(() => collectionOpRows(policy, op));
      },
      plan: (ns, row, span) => {
        const { policy, op } = collectionOp(ns);
        const split = row.split!;
        // As below: a context naming dots this collection lacks is refused.
        if (observed) {
          const missing = uncoveredDots(collectionHeaderContext(row.state!), observed);
          if (missing.length > 0) throw new ContextNotCoveredError(missing);
        }
        const hlc = this.#stamp(row.maxHlc);
        const planned = crdtCall(() => planCollectionWrite(row.state!, split.elements, split.rows, op, { actor: this.actor, hlc, observed }));
        span.setAttribute('meridian.write.rows', planned.upserts.size + planned.deletes.length);
        // The answer carries no value: the collection is read by pages (GET …?limit=).
        const answer = (session: SessionVector): KeyAnswer => ({ context: this.#o.tokens.signContext(name, key, planned.context), session: formatSession(session) });
        if (planned.delta === undefined) return { count: planned.count, save: undefined, answer };
        const envelope = this.#updateEnvelope(ns, key, hlc, { kind: 'crdt', delta: planned.delta }, touchedRows(policy, op, planned.delta));
        return { count: planned.count, save: { header: planned.header, upserts: planned.upserts, deletes: planned.deletes, hlc, envelope }, answer };
      },
    };
    return this.#write(name, key, ['ops', body], meta, (ns, row) => {
      const kind = crdtKind(ns.policy);
      if (!kind) throw new MeridianError('MERIDIAN_WRONG_POLICY', `namespace ${name} holds ${ns.policy} registers: write them with PUT /v1/ns/${name}/keys/{key}`);
      const op = crdtCall(() => kind.validateOp(opBody));
      const state = row?.state ? kind.decode(row.state) : kind.empty();
      // The client's context names dots this state lacks (updates not applied here yet): this
      // region cannot tell what they add, so the operation (a remove of an element added there)
      // would be undone when they arrive. It is not acknowledged (DESIGN §6, causal writes). The
      // check runs in the plan, so it holds against the row the write is stored on (a cached
      // snapshot that refuses is read again from the database).
      if (observed) {
        const missing = uncoveredDots(crdtContext(state), observed);
        if (missing.length > 0) throw new ContextNotCoveredError(missing);
      }
      const hlc = this.#stamp(row?.maxHlc ?? 0n);
      const { state: next, delta } = crdtCall(() => kind.apply(state, op, { actor: this.actor, hlc, ...(observed ? { observed } : {}) }));
      const answer = (session: SessionVector): KeyAnswer => this.#writeBody(name, key, kind, next, session);
      // A delta that changes nothing (removing an absent element) needs no replication.
      if (kind.isBottom(delta)) return { save: undefined, answer };
      const encoded = kind.encode(delta);
      // A set or map names the rows its delta reaches besides its entries: a region storing the
      // collection a row per element applies it to those rows alone (decision 0013).
      const touched = ns.policy === 'set' || ns.policy === 'map' ? touchedRows(ns.policy, op as SetOp | MapOp, encoded) : undefined;
      return { save: { state: kind.encode(next), hlc, envelope: this.#updateEnvelope(ns, key, hlc, { kind: 'crdt', delta: encoded }, touched) }, answer };
    }, rows);
  }

  /** A CRDT write's answer: a set or map above the split threshold answers without its value (read it by pages). */
  #writeBody(name: string, key: string, kind: AnyKind, state: unknown, session: SessionVector): KeyAnswer {
    const size = state instanceof ORSet ? state.size : state instanceof ORMap ? state.fields().length : 0;
    if (size <= this.#splitRows) return this.#crdtBody(name, key, kind, state, session);
    return { context: this.#o.tokens.signContext(name, key, crdtContext(state)), session: formatSession(session) };
  }
}

/** Refuses a part read that the namespace's policy has no such part for (before the key is looked at). */
function checkPartPolicy(ns: NamespaceRow, part: Exclude<CollectionRead, { kind: 'whole' }>): void {
  const fits = part.kind === 'page' ? ns.policy === 'set' || ns.policy === 'map' : part.kind === 'element' ? ns.policy === 'set' : ns.policy === 'map';
  if (fits) return;
  const what = part.kind === 'page' ? '`limit` and `cursor` page a set or map' : part.kind === 'element' ? '…/elements/{element} reads a set' : '…/fields/{field} reads a map';
  throw new MeridianError('MERIDIAN_WRONG_POLICY', `namespace ${ns.name} holds ${ns.policy} values: ${what}`);
}

/** What a write computed from the key's state: what to store, and its answer. */
interface WritePlan {
  /** The new state, its HLC and its replication envelope; undefined when the write changes nothing. */
  readonly save: { readonly state: Uint8Array; readonly hlc: Hlc; readonly envelope: Uint8Array } | undefined;
  /** The answer, given its session vector (this region's position — the write's outbox id, or the high-water — and the applied positions). */
  answer(session: SessionVector): KeyAnswer;
}

/**
 * Plans a write from the namespace and the key's row (undefined: no row). It may run twice (a
 * lost compare-and-write is planned again under the lock), so it only computes; bad input throws.
 */
type PlanWrite = (ns: NamespaceRow, row: KeyRow | undefined, span: Span) => WritePlan;

/** How a set or map operation is planned on a key stored a row per element or field. */
interface PlanRows {
  /** The rows (element texts, field names) the operation reads and may write. */
  names(ns: NamespaceRow): string[];
  /** Plans from a split snapshot (`row.split` holds the named rows that exist). */
  plan(ns: NamespaceRow, row: KeyRow, span: Span): RowsPlan;
}

interface RowsPlan {
  /** Elements or fields after the write. */
  readonly count: number;
  readonly save: { readonly header: Uint8Array; readonly upserts: ReadonlyMap<string, Uint8Array>; readonly deletes: readonly string[]; readonly hlc: Hlc; readonly envelope: Uint8Array } | undefined;
  answer(session: SessionVector): KeyAnswer;
}

/** A write's outcome; `policy` is undefined for an idempotent replay (not a new write). */
interface Written {
  readonly status: number;
  readonly body: KeyAnswer;
  readonly policy: Policy | undefined;
  /** What the key's row holds once the write committed (for the snapshot cache); undefined when it stored nothing. */
  readonly stored: { readonly namespace: NamespaceRow; readonly key: KeyRow } | undefined;
}

/** The key's row as a committed write left it (what the snapshot cache keeps). */
function storedRow(ns: NamespaceRow, key: string, save: { readonly state: Uint8Array; readonly hlc: bigint }): NonNullable<Written['stored']> {
  return { namespace: ns, key: { namespace: ns.name, key, state: save.state, maxHlc: save.hlc } };
}

/**
 * An update's envelope with the answer its write is given. The answer's session token lacks the
 * write's own position (its outbox id exists only once the envelope is stored): a region that
 * stores the answer adds it from the update's origin and outbox id.
 */
function withIdempotentAnswer(envelope: Uint8Array, answer: IdempotentAnswer): Uint8Array {
  const record = decodeRecord(envelope);
  if (record.kind !== 'update') throw new Error(`an idempotent write's envelope holds a ${record.kind} record`);
  return encodeRecord({ ...record, idempotentAnswer: answer });
}

/** A quarantined key's dead letters as session coverage sees them: nothing of `origin` from `from` on. */
function heldBack(letters: readonly HeldLetter[]): HeldBack[] {
  return letters.map((h) => ({ origin: h.origin, region: h.peer, from: h.sequence ?? 1n }));
}

/** Levels an operation body adds around the values it carries: `{"add": [v]}`, `{"set": {"field": v}}`. */
const OPERATION_NESTING = 2;

/** Refuses a value nested deeper than `limit` before anything recursive (JSON.stringify, a fingerprint) walks it. */
function checkNesting(value: unknown, limit: number, what: string): void {
  if (nestedDeeperThan(value, limit)) {
    throw new MeridianError('MERIDIAN_VALUE_TOO_DEEP', `${what} nests arrays and objects more than ${limit} levels deep; JSON values may nest at most ${MAX_JSON_DEPTH} levels`);
  }
}

/** Lost compare-and-writes before a write takes the row lock. */
const OPTIMISTIC_ATTEMPTS = 3;
/** Writes group-committed in one statement at most. */
const MAX_WRITES_PER_STATEMENT = 64;

/** The causal context of a CRDT state (sets and maps have one; counters need none). */
function crdtContext(state: unknown): CausalContext {
  const context = (state as { context?: unknown }).context;
  return context instanceof CausalContext ? context : CausalContext.empty;
}

/**
 * The dots of `want` that `have` lacks, at most the first one per actor (`actor:counter`); empty
 * when `have` covers `want`.
 */
function uncoveredDots(have: CausalContext, want: CausalContext): string[] {
  if (have.covers(want)) return [];
  const missing: string[] = [];
  for (const actor of want.vector.actors()) {
    for (let counter = have.vector.get(actor) + 1; counter <= want.vector.get(actor); counter++) {
      if (!have.contains({ actor, counter })) {
        missing.push(`${actor}:${counter}`);
        break;
      }
    }
  }
  for (const d of want.cloud()) if (!have.contains(d) && !missing.some((m) => m.startsWith(`${d.actor}:`))) missing.push(`${d.actor}:${d.counter}`);
  return missing;
}

/** Runs a CRDT call, mapping its refusals to the API's errors. */
function crdtCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof CrdtError) {
      if (error.code === CrdtErrorCode.FieldTypeClash || error.code === CrdtErrorCode.CounterOverflow) throw new MeridianError('MERIDIAN_OPERATION_CONFLICT', error.message);
      if (error.code === CrdtErrorCode.InvalidOp || error.code === CrdtErrorCode.InvalidValue) throw new MeridianError('MERIDIAN_INVALID_OPERATION', error.message);
    }
    throw error;
  }
}
