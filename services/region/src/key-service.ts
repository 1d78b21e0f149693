/**
 * The region's write and read paths (DESIGN §3), wiring the pure causality/CRDT logic to the
 * store. One write is one PostgreSQL transaction:
 *   1. claim the Idempotency-Key, if any (a retry returns the first answer, changes nothing);
 *   2. insert-or-lock the key's row and load its state;
 *   3. compute the new state with the causality/CRDT libraries; its HLC is
 *      max(now, the key's highest HLC + 1), so a write that saw a version orders after it;
 *   4. save the state and append the replication envelope to the outbox, in the same transaction;
 *   5. commit, then answer with the new (signed) context and a session token.
 * Bad input is refused before the transaction starts or by throwing inside it (rollback), so it
 * never changes stored data.
 */
import { createHash } from 'node:crypto';
import { type Span } from '@opentelemetry/api';
import { SpanAttribute, SpanName, currentTraceparent as activeTraceparent, withSpan } from '@meridian/telemetry';
import { CausalContext, DvvSet, HybridLogicalClock, actorId, type ActorId, type Hlc } from '@meridian/causality';
import { CrdtError, CrdtErrorCode, crdtKind as lookupCrdtKind, type CrdtKind } from '@meridian/crdt';

/** CRDT kinds with their state and op types erased to `unknown` (the service treats them alike). */
type AnyKind = CrdtKind<unknown, unknown>;
const crdtKind = (policy: string): AnyKind | undefined => lookupCrdtKind(policy);
import { encodeRecord, kafkaMessageKey, SCHEMA_VERSION, type Policy } from '@meridian/protocol';
import type { PgStore, StoreTx, NamespaceRow } from '@meridian/store';
import { MeridianError } from './errors.ts';
import type { ContextTokens } from './context-token.ts';
import { checkKeyName, checkNamespaceName } from './names.ts';
import { formatSession, type SessionVector } from './session-token.ts';
import {
  decodeRegisterSet,
  encodeRegisterSet,
  viewRegister,
  writeRegister,
  type Json,
  type RegisterPolicy,
  type RegisterSet,
} from './register-state.ts';

/** The body of a key's answer (reads and writes alike). */
export interface KeyAnswer {
  context: string;
  session: string;
  value?: unknown;
  values?: unknown[];
  deleted?: boolean;
}

export interface WriteAnswer {
  readonly status: number;
  readonly body: KeyAnswer;
}

export interface KeyServiceOptions {
  readonly store: PgStore;
  readonly region: string;
  readonly epoch: number;
  readonly tokens: ContextTokens;
  readonly maxValueBytes: number;
  readonly maxClockDriftMs: number;
  readonly now?: () => number;
  /** Called after each committed write (metrics). */
  readonly onWrite?: (namespace: string, policy: Policy, seconds: number) => void;
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

export class KeyService {
  readonly actor: ActorId;
  readonly #o: KeyServiceOptions;
  readonly #clock: HybridLogicalClock;

  constructor(options: KeyServiceOptions) {
    this.#o = options;
    this.actor = actorId(options.region, options.epoch);
    this.#clock = new HybridLogicalClock({ now: options.now ?? Date.now, maxDriftMs: options.maxClockDriftMs });
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

  async #namespace(tx: StoreTx, name: string): Promise<NamespaceRow> {
    const ns = await tx.getNamespace(name);
    if (!ns) throw new MeridianError('MERIDIAN_NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in region ${this.#o.region}`);
    return ns;
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Runs one write under the idempotency protocol and the `meridian.write` span. `work` runs in
   * the transaction and returns the answer; a retry with the same Idempotency-Key and the same
   * request returns the stored answer instead.
   */
  async #write(
    name: string,
    key: string,
    fingerprintParts: unknown,
    meta: WriteMeta,
    work: (tx: StoreTx, ns: NamespaceRow, span: Span) => Promise<{ body: KeyAnswer; policy: Policy }>,
  ): Promise<WriteAnswer> {
    checkNamespaceName(name);
    checkKeyName(key);
    const started = performance.now();
    return withSpan(SpanName.write, { [SpanAttribute.namespace]: name, [SpanAttribute.key]: key, 'meridian.region': this.#o.region }, async (span) => {
      const answer = await this.#o.store.transaction(async (tx) => {
        if (meta.idempotencyKey !== undefined) {
          const fingerprint = createHash('sha256').update(JSON.stringify([name, key, fingerprintParts])).digest('hex');
          const claim = await tx.claimIdempotencyKey(meta.idempotencyKey, fingerprint);
          if (!claim.claimed) {
            if (claim.fingerprint !== fingerprint) {
              throw new MeridianError('MERIDIAN_IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${JSON.stringify(meta.idempotencyKey)} was first used for a different request`);
            }
            span.setAttribute('meridian.idempotent_replay', true);
            return { status: claim.status ?? 200, body: claim.response as KeyAnswer, replay: true as const };
          }
        }
        const ns = await this.#namespace(tx, name);
        span.setAttribute(SpanAttribute.policy, ns.policy);
        const { body } = await work(tx, ns, span);
        if (meta.idempotencyKey !== undefined) await tx.recordIdempotentAnswer(meta.idempotencyKey, 200, body);
        return { status: 200, body, replay: false as const, policy: ns.policy };
      });
      if (!answer.replay) this.#o.onWrite?.(name, answer.policy, (performance.now() - started) / 1000);
      return { status: answer.status, body: answer.body };
    });
  }

  #checkValue(value: unknown): asserts value is Json {
    const size = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
    if (size > this.#o.maxValueBytes) {
      throw new MeridianError('MERIDIAN_VALUE_TOO_LARGE', `the value is ${size} bytes; the limit is ${this.#o.maxValueBytes}`);
    }
  }

  async #appendUpdate(tx: StoreTx, ns: NamespaceRow, key: string, hlc: Hlc, payload: { kind: 'register'; state: Uint8Array } | { kind: 'crdt'; delta: Uint8Array }): Promise<bigint> {
    const envelope = encodeRecord({
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
    });
    return tx.appendOutbox(kafkaMessageKey(ns.name, key), envelope);
  }

  /** PUT (value) or DELETE (value undefined) of a register. */
  async writeRegister(name: string, key: string, value: unknown, contextToken: string | undefined, meta: WriteMeta): Promise<WriteAnswer> {
    if (value !== undefined) this.#checkValue(value);
    // Verify the token before touching the database: a forged one stores nothing.
    checkNamespaceName(name);
    checkKeyName(key);
    const clientContext = contextToken === undefined ? undefined : this.#o.tokens.verifyVector(name, key, contextToken);
    return this.#write(name, key, [value === undefined ? 'delete' : 'put', value, contextToken ?? null], meta, async (tx, ns, span) => {
      if (!isRegister(ns.policy)) {
        throw new MeridianError('MERIDIAN_WRONG_POLICY', `namespace ${name} holds ${ns.policy} values: use POST /v1/ns/${name}/keys/{key}/ops, not ${value === undefined ? 'DELETE' : 'PUT'}`);
      }
      const row = await tx.lockKey(name, key);
      const set: RegisterSet = row.state ? decodeRegisterSet(row.state) : DvvSet.empty();
      const hlc = this.#stamp(row.maxHlc);
      const { set: next, dot } = writeRegister(set, ns.policy, clientContext, this.actor, { value, hlc, traceparent: currentTraceparent() || undefined });
      span.setAttribute('meridian.dot', `${dot.actor}:${dot.counter}`);
      span.setAttribute('meridian.blind_write', clientContext === undefined && ns.policy === 'mv');
      const state = encodeRegisterSet(next);
      await tx.saveKey(name, key, state, hlc);
      const outboxId = await this.#appendUpdate(tx, ns, key, hlc, { kind: 'register', state });
      return { policy: ns.policy, body: this.#registerBody(name, key, next, ns.policy, new Map([[this.actor, outboxId]])) };
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
    checkNamespaceName(name);
    checkKeyName(key);
    const ns = await this.#o.store.getNamespace(name);
    if (!ns) throw new MeridianError('MERIDIAN_NAMESPACE_NOT_FOUND', `namespace ${name} does not exist in region ${this.#o.region}`);
    const [row, highWater] = await Promise.all([this.#o.store.readKey(name, key), this.#o.store.outboxHighWater()]);
    const session = new Map([[this.actor, highWater]]);
    if (!row?.state) throw new MeridianError('MERIDIAN_KEY_NOT_FOUND', `key ${key} does not exist in namespace ${name}`, { session: formatSession(session) });
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

  #crdtBody(name: string, key: string, kind: AnyKind, state: unknown, session: SessionVector): KeyAnswer {
    return { value: kind.value(state), context: this.#o.tokens.signContext(name, key, crdtContext(state)), session: formatSession(session) };
  }

  /**
   * POST …/ops on a CRDT key: validate the operation for the namespace's kind, apply it under
   * the key's lock, store the new state and ship the delta. A `context` field (from a read)
   * limits a remove to what the client saw; without it, a remove removes what this region has.
   */
  async applyOps(name: string, key: string, body: unknown, meta: WriteMeta): Promise<WriteAnswer> {
    checkNamespaceName(name);
    checkKeyName(key);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MeridianError('MERIDIAN_INVALID_OPERATION', 'expected an operation object');
    const { context: token, ...opBody } = body as Record<string, unknown>;
    if (token !== undefined && typeof token !== 'string') throw new MeridianError('MERIDIAN_INVALID_CONTEXT', 'expected "context" to be a context token string');
    const observed = token === undefined ? undefined : this.#o.tokens.verifyContext(name, key, token);
    return this.#write(name, key, ['ops', body], meta, async (tx, ns, span) => {
      const kind = crdtKind(ns.policy);
      if (!kind) throw new MeridianError('MERIDIAN_WRONG_POLICY', `namespace ${name} holds ${ns.policy} registers: write them with PUT /v1/ns/${name}/keys/{key}`);
      const op = crdtCall(() => kind.validateOp(opBody));
      const row = await tx.lockKey(name, key);
      const state = row.state ? kind.decode(row.state) : kind.empty();
      const hlc = this.#stamp(row.maxHlc);
      const { state: next, delta } = crdtCall(() => kind.apply(state, op, { actor: this.actor, hlc, ...(observed ? { observed } : {}) }));
      let outboxId: bigint | undefined;
      if (!kind.isBottom(delta)) {
        // A delta that changes nothing (removing an absent element) needs no replication.
        await tx.saveKey(name, key, kind.encode(next), hlc);
        outboxId = await this.#appendUpdate(tx, ns, key, hlc, { kind: 'crdt', delta: kind.encode(delta) });
        span.setAttribute('meridian.outbox_id', outboxId.toString());
      } else if (row.state === undefined) {
        // Nothing was written: the freshly inserted row must not stay behind empty.
        await tx.deleteEmptyKey(name, key);
      }
      const session = new Map([[this.actor, outboxId ?? (await tx.outboxHighWater())]]);
      return { policy: ns.policy, body: this.#crdtBody(name, key, kind, next, session) };
    });
  }
}

/** The causal context of a CRDT state (sets and maps have one; counters need none). */
function crdtContext(state: unknown): CausalContext {
  const context = (state as { context?: unknown }).context;
  return context instanceof CausalContext ? context : CausalContext.empty;
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
