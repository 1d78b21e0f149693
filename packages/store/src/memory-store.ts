/**
 * The store in memory, for fast unit tests of the write and apply paths: the same `Store`
 * behaviour as `PgStore` (store-contract.fixture.ts runs one suite against both), no I/O.
 *
 * Transactions run one at a time, each on a copy of the committed state that replaces it when
 * the function returns (and is dropped when it throws): the serial order PostgreSQL's row locks
 * give the transactions that touch the same rows. Reads outside a transaction see the committed
 * state. Ids (outbox, dead letters, conflict sequence) come from counters a rollback does not
 * return, as PostgreSQL's sequences. What only PostgreSQL does is outside `Store` (store.ts).
 */
/* eslint-disable @typescript-eslint/require-await -- the statements are synchronous in memory; they keep the Store's asynchronous signatures (and throw as rejections). */
import { StoreError, StoreErrorCode } from './store-error.ts';
import type { ApplyTransaction, Store, StoreTransaction, WriteTransaction } from './store.ts';
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
  KeyRef,
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
  StoredConflict,
  StoredDeadLetter,
  WriteSnapshot,
} from './rows.ts';

interface MemoryState {
  namespaces: Map<string, NamespaceRow>;
  /** By `keyId`; state undefined: a row inserted by insert-or-lock and not written yet. */
  keys: Map<string, { namespace: string; key: string; state: Uint8Array | undefined; maxHlc: bigint }>;
  outbox: Map<bigint, { messageKey: string; envelope: Uint8Array }>;
  applied: Map<string, AppliedRow>;
  /** By `${peer}/${partition}`; `highest`: per origin actor, the highest sequence consumed from the partition. */
  offsets: Map<string, { nextOffset: bigint; ownerEpoch: bigint; highest?: Map<string, bigint> }>;
  conflicts: Map<string, StoredConflict>;
  deadLetters: Map<bigint, StoredDeadLetter>;
  /** By `keyId`: the dead letter quarantining the key. */
  quarantine: Map<string, bigint>;
  /** By JSON [namespace, key, idempotency key]. */
  idempotency: Map<string, { fingerprint: string; status: number | undefined; response: unknown }>;
  heartbeats: Map<string, { wallMs: bigint; origin: string; highWater: bigint; applied: Record<string, string> }>;
}

const keyId = (k: KeyRef): string => JSON.stringify([k.namespace, k.key]);
const idempotencyId = (scope: IdempotencyScope, idempotencyKey: string): string => JSON.stringify([scope.namespace, scope.key, idempotencyKey]);
/** What a jsonb column gives back for a value stored as JSON. */
const asJson = (value: unknown): unknown => (value === undefined ? null : JSON.parse(JSON.stringify(value)));

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

function emptyState(): MemoryState {
  return { namespaces: new Map(), keys: new Map(), outbox: new Map(), applied: new Map(), offsets: new Map(), conflicts: new Map(), deadLetters: new Map(), quarantine: new Map(), idempotency: new Map(), heartbeats: new Map() };
}

/** Sequences, shared by every transaction and never rolled back. */
interface Counters {
  outboxId: bigint;
  deadLetterId: bigint;
  conflictSeq: bigint;
}

/** Statements over one state: the committed one (single statements) or a transaction's copy. */
class MemoryTransaction implements WriteTransaction, ApplyTransaction {
  readonly #s: MemoryState;
  readonly #n: Counters;

  constructor(state: MemoryState, counters: Counters) {
    this.#s = state;
    this.#n = counters;
  }

  // ---- reads shared with the store's single statements ----

  snapshot(namespace: string, key: string): WriteSnapshot {
    const ns = this.#s.namespaces.get(namespace);
    if (!ns) return { namespace: undefined, key: undefined };
    const row = this.#s.keys.get(keyId({ namespace, key }));
    return { namespace: ns, key: row ? { namespace, key, state: row.state, maxHlc: row.maxHlc } : undefined };
  }

  highWater(): bigint {
    let max = 0n;
    for (const id of this.#s.outbox.keys()) if (id > max) max = id;
    return max;
  }

  positions(): AppliedPositions {
    return new Map([...this.#s.applied.values()].map((r) => [r.origin, r.contiguousOutboxId]));
  }

  held(namespace: string, key: string): HeldLetter[] {
    if (!this.#s.quarantine.has(keyId({ namespace, key }))) return [];
    return [...this.#s.deadLetters.values()].filter((d) => d.namespace === namespace && d.key === key && d.redrivenAt === undefined).map((d) => ({ origin: d.origin, peer: d.peer, sequence: d.sequence }));
  }

  /** One compare-and-write, applied to this state iff its condition holds. */
  conditionalWrite(w: ConditionalWrite): { saved: true; outboxId: bigint } | { saved: false; snapshot: WriteSnapshot } {
    const ns = this.#s.namespaces.get(w.namespace);
    const id = keyId(w);
    const row = this.#s.keys.get(id);
    const unchanged = w.expected ? row !== undefined && sameBytes(row.state, w.expected.state) && row.maxHlc === w.expected.maxHlc : row === undefined;
    if (!ns || ns.policy !== w.policy || !unchanged) return { saved: false, snapshot: this.snapshot(w.namespace, w.key) };
    this.#s.keys.set(id, { namespace: w.namespace, key: w.key, state: w.state, maxHlc: w.maxHlc });
    return { saved: true, outboxId: this.appendOutboxNow(w.messageKey, w.envelope) };
  }

  appendOutboxNow(messageKey: string, envelope: Uint8Array): bigint {
    const id = ++this.#n.outboxId;
    this.#s.outbox.set(id, { messageKey, envelope });
    return id;
  }

  // ---- WriteTransaction ----

  async getNamespace(name: string): Promise<NamespaceRow | undefined> {
    return this.#s.namespaces.get(name);
  }

  async declareNamespace(name: string, policy: NamespacePolicy, declaredBy: string, declaredHlc: bigint): Promise<{ created: boolean; row: NamespaceRow }> {
    const stored = this.#s.namespaces.get(name);
    if (stored) return { created: false, row: stored };
    const row: NamespaceRow = { name, policy, declaredBy, declaredHlc, createdAt: new Date() };
    this.#s.namespaces.set(name, row);
    return { created: true, row };
  }

  async lockKey(namespace: string, key: string): Promise<KeyRow> {
    const id = keyId({ namespace, key });
    const row = this.#s.keys.get(id) ?? { namespace, key, state: undefined, maxHlc: 0n };
    this.#s.keys.set(id, row);
    return { namespace, key, state: row.state, maxHlc: row.maxHlc };
  }

  async saveKey(namespace: string, key: string, state: Uint8Array, maxHlc: bigint): Promise<void> {
    const id = keyId({ namespace, key });
    if (this.#s.keys.has(id)) this.#s.keys.set(id, { namespace, key, state, maxHlc });
  }

  async deleteEmptyKey(namespace: string, key: string): Promise<void> {
    const id = keyId({ namespace, key });
    if (this.#s.keys.get(id)?.state === undefined) this.#s.keys.delete(id);
  }

  async outboxHighWater(): Promise<bigint> {
    return this.highWater();
  }

  async appliedPositions(): Promise<AppliedPositions> {
    return this.positions();
  }

  async heldLetters(namespace: string, key: string): Promise<HeldLetter[]> {
    return this.held(namespace, key);
  }

  async appendOutbox(messageKey: string, envelope: Uint8Array): Promise<bigint> {
    return this.appendOutboxNow(messageKey, envelope);
  }

  async claimIdempotencyKey(scope: IdempotencyScope, idempotencyKey: string, fingerprint: string): Promise<IdempotencyClaim> {
    const id = idempotencyId(scope, idempotencyKey);
    const stored = this.#s.idempotency.get(id);
    if (!stored) {
      this.#s.idempotency.set(id, { fingerprint, status: undefined, response: null });
      return { claimed: true };
    }
    return { claimed: false, fingerprint: stored.fingerprint, status: stored.status, response: stored.response };
  }

  async recordIdempotentAnswer(scope: IdempotencyScope, idempotencyKey: string, status: number, response: unknown): Promise<void> {
    const id = idempotencyId(scope, idempotencyKey);
    const stored = this.#s.idempotency.get(id);
    if (stored) this.#s.idempotency.set(id, { ...stored, status, response: asJson(response) });
  }

  async storeReplicatedAnswers(answers: readonly ReplicatedAnswer[]): Promise<void> {
    for (const a of answers) {
      const id = idempotencyId(a, a.idempotencyKey);
      if (!this.#s.idempotency.has(id)) this.#s.idempotency.set(id, { fingerprint: a.fingerprint, status: a.status, response: asJson(a.response) });
    }
  }

  // ---- ApplyTransaction ----

  async lockOffsets(peer: string, owners: readonly { readonly partition: number; readonly epoch: bigint }[]): Promise<Map<number, LockedOffset>> {
    return new Map(
      owners.map((o): [number, LockedOffset] => {
        const row = this.#s.offsets.get(`${peer}/${o.partition}`);
        return [o.partition, row && row.ownerEpoch === o.epoch ? { nextOffset: row.nextOffset } : 'fenced'];
      }),
    );
  }

  async saveOffsets(peer: string, offsets: readonly OffsetSave[]): Promise<void> {
    for (const o of offsets) {
      const row = this.#s.offsets.get(`${peer}/${o.partition}`);
      if (!row) continue;
      const highest = new Map(row.highest);
      for (const [origin, sequence] of o.highest ?? []) if (sequence > (highest.get(origin) ?? 0n)) highest.set(origin, sequence);
      this.#s.offsets.set(`${peer}/${o.partition}`, { ...row, nextOffset: o.nextOffset, highest });
    }
  }

  claim(peer: string, partitions: readonly number[]): Map<number, PartitionClaim> {
    const out = new Map<number, PartitionClaim>();
    for (const partition of [...partitions].sort((a, b) => a - b)) {
      const row = this.#s.offsets.get(`${peer}/${partition}`);
      const next = row ? { ...row, ownerEpoch: row.ownerEpoch + 1n } : { nextOffset: 0n, ownerEpoch: 1n };
      this.#s.offsets.set(`${peer}/${partition}`, next);
      out.set(partition, { nextOffset: next.nextOffset, epoch: next.ownerEpoch, known: row !== undefined });
    }
    return out;
  }

  async lockApplied(origins: readonly { origin: string; region: string }[]): Promise<Map<string, AppliedRow>> {
    const out = new Map<string, AppliedRow>();
    for (const o of origins) {
      const row = this.#s.applied.get(o.origin) ?? { origin: o.origin, region: o.region, contiguous: 0n, contiguousOutboxId: 0n, beyond: [] };
      this.#s.applied.set(o.origin, row);
      out.set(o.origin, row);
    }
    return out;
  }

  async saveApplied(rows: readonly AppliedRow[]): Promise<void> {
    for (const r of rows) if (this.#s.applied.has(r.origin)) this.#s.applied.set(r.origin, { ...r, region: this.#s.applied.get(r.origin)!.region });
  }

  async namespacesAmong(names: readonly string[]): Promise<Map<string, NamespaceRow>> {
    return new Map(names.flatMap((n) => (this.#s.namespaces.has(n) ? [[n, this.#s.namespaces.get(n)!] as const] : [])));
  }

  async lockKeys(keys: readonly KeyLock[]): Promise<Map<string, LockedKey>> {
    const out = new Map<string, LockedKey>();
    for (const k of keys) {
      const { namespace, key, state, maxHlc } = await this.lockKey(k.namespace, k.key);
      out.set(keyId(k), { namespace, key, state, maxHlc });
    }
    return out;
  }

  async saveKeys(writes: readonly KeyWrite[]): Promise<void> {
    for (const w of writes) await this.saveKey(w.namespace, w.key, w.state, w.maxHlc);
  }

  async recordConflicts(conflicts: readonly ConflictRow[]): Promise<Set<string>> {
    const recorded = new Set<string>();
    for (const c of conflicts) {
      if (this.#s.conflicts.has(c.id)) continue;
      this.#s.conflicts.set(c.id, { ...c, versions: asJson(c.versions), outcome: asJson(c.outcome), seq: ++this.#n.conflictSeq, observedAt: new Date() });
      recorded.add(c.id);
    }
    return recorded;
  }

  async deadLetter(d: DeadLetterInput): Promise<bigint> {
    const id = ++this.#n.deadLetterId;
    this.#s.deadLetters.set(id, { ...d, id, createdAt: new Date(), redrivenAt: undefined });
    return id;
  }

  async quarantine(namespace: string, key: string, deadLetterId: bigint): Promise<void> {
    const id = keyId({ namespace, key });
    if (!this.#s.quarantine.has(id)) this.#s.quarantine.set(id, deadLetterId);
  }

  async quarantinedAmong(keys: readonly { namespace: string; key: string }[]): Promise<Set<string>> {
    return new Set(keys.map(keyId).filter((id) => this.#s.quarantine.has(id)));
  }

  async releaseQuarantine(namespace: string, key: string): Promise<void> {
    this.#s.quarantine.delete(keyId({ namespace, key }));
  }

  async saveHeartbeat(peer: string, origin: string, wallMs: bigint, highWater: bigint, applied: Record<string, string>): Promise<void> {
    const stored = this.#s.heartbeats.get(peer);
    // As heartbeats.ts: an older heartbeat of the stored origin still raises its high-water.
    const high = stored?.origin === origin && stored.highWater > highWater ? stored.highWater : highWater;
    if (!stored || stored.wallMs <= wallMs) this.#s.heartbeats.set(peer, { wallMs, origin, highWater: high, applied });
    else if (stored.origin === origin) this.#s.heartbeats.set(peer, { ...stored, highWater: high });
  }

  async replaceNamespacePolicy(name: string, policy: string, declaredBy: string, declaredHlc: bigint): Promise<void> {
    const stored = this.#s.namespaces.get(name);
    if (stored) this.#s.namespaces.set(name, { ...stored, policy: policy as NamespacePolicy, declaredBy, declaredHlc });
  }

  async takeNamespaceKeys(name: string): Promise<{ key: string; state: Uint8Array }[]> {
    const taken: { key: string; state: Uint8Array }[] = [];
    for (const [id, row] of this.#s.keys) {
      if (row.namespace !== name) continue;
      this.#s.keys.delete(id);
      if (row.state) taken.push({ key: row.key, state: row.state });
    }
    return taken;
  }

  async lockDeadLetter(id: bigint): Promise<LockedDeadLetter | undefined> {
    const d = this.#s.deadLetters.get(id);
    return d ? { id, code: d.code, raw: d.raw, namespace: d.namespace, key: d.key, redriven: d.redrivenAt !== undefined } : undefined;
  }

  async quarantinedBy(namespace: string, key: string): Promise<bigint | undefined> {
    return this.#s.quarantine.get(keyId({ namespace, key }));
  }

  async heldFor(namespace: string, key: string, code: string): Promise<{ id: bigint; raw: Uint8Array }[]> {
    return [...this.#s.deadLetters.values()]
      .filter((d) => d.namespace === namespace && d.key === key && d.code === code && d.redrivenAt === undefined)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((d) => ({ id: d.id, raw: d.raw }));
  }

  async markDeadLetterRedriven(id: bigint): Promise<void> {
    const d = this.#s.deadLetters.get(id);
    if (d) this.#s.deadLetters.set(id, { ...d, redrivenAt: new Date() });
  }
}

export class MemoryStore implements Store {
  #state: MemoryState = emptyState();
  readonly #counters: Counters = { outboxId: 0n, deadLetterId: 0n, conflictSeq: 0n };
  /** The tail of the queue of transactions and single writes: each runs alone, in arrival order. */
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once everything queued before it has finished. */
  #serially<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #committed(): MemoryTransaction {
    return new MemoryTransaction(this.#state, this.#counters);
  }

  async writeSnapshot(namespace: string, key: string): Promise<WriteSnapshot> {
    return this.#committed().snapshot(namespace, key);
  }

  async readView(namespace: string, key: string): Promise<ReadView> {
    const view = this.#committed();
    const { namespace: ns, key: row } = view.snapshot(namespace, key);
    if (!ns) return { namespace: undefined, key: undefined, highWater: 0n, applied: new Map(), held: [] };
    return { namespace: ns, key: row?.state ? row : undefined, highWater: view.highWater(), applied: view.positions(), held: view.held(namespace, key) };
  }

  async compareAndWrite(write: ConditionalWrite): Promise<ConditionalWriteResult> {
    return (await this.#compareAndWrite([write], true))[0]!;
  }

  async compareAndWriteMany(writes: readonly ConditionalWrite[]): Promise<ConditionalWriteResult[]> {
    return this.#compareAndWrite(writes, false);
  }

  /** Compare-and-writes committed together; `firstWrites`: a write may have no expected row (`compareAndWrite`'s insert). */
  async #compareAndWrite(writes: readonly ConditionalWrite[], firstWrites: boolean): Promise<ConditionalWriteResult[]> {
    const seen = new Set<string>();
    for (const w of writes) {
      if (!w.expected && !firstWrites) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${w.namespace}/${w.key} has no expected row`);
      if (seen.has(w.messageKey)) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${w.messageKey} twice in one batch`);
      seen.add(w.messageKey);
    }
    return this.#serially(() => {
      const tx = this.#committed();
      const results = writes.map((w) => tx.conditionalWrite(w));
      const applied = tx.positions();
      return results.map((r, i): ConditionalWriteResult => (r.saved ? { ...r, applied, held: tx.held(writes[i]!.namespace, writes[i]!.key) } : r));
    });
  }

  async claimPartitions(peer: string, partitions: readonly number[]): Promise<Map<number, PartitionClaim>> {
    return this.#serially(() => this.#committed().claim(peer, partitions));
  }

  /** Runs `fn` alone on a copy of the committed state, which replaces it if `fn` returns. A compare-and-write or transaction started inside `fn` would wait for `fn`: never start one. */
  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#serially(async () => {
      const working = structuredClone(this.#state);
      const value = await fn(new MemoryTransaction(working, this.#counters));
      this.#state = working;
      return value;
    });
  }
}
