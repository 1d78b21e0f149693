/**
 * A replicator (DESIGN §4): consumes one peer region's topic from that peer's Kafka and applies
 * each batch in ONE PostgreSQL transaction, together with the consumed offsets and the applied
 * vector — so a crash at any point neither loses nor double-applies an update.
 *
 * - Offsets live only in PostgreSQL: kafkajs auto-commit is off; on joining the group the
 *   consumer claims its partitions (bumping an owner epoch) and seeks to the stored offsets. A
 *   paused old consumer's apply fails the epoch check and changes nothing.
 * - A stored offset that Kafka no longer has (retention passed) fails the link loudly: the
 *   region needs a reseed, never a silent reset.
 * - Per key (locked in sorted order): an update whose sequence is already applied is dropped
 *   first; otherwise the incoming state is joined with the stored one (dominated → dropped,
 *   dominating → replaces, concurrent → conflict → the namespace's policy).
 * - Poison input (undecodable or invalid) goes to the dead-letter table with its raw bytes and
 *   reason and quarantines its key; a newer schema version pauses the link instead.
 * - Conflicts are recorded (deterministic id) and traced: a `meridian.conflict` span under the
 *   batch's `meridian.replicate.apply` span, linked to the spans of the concurrent writes.
 */
import { Kafka, logLevel, type Consumer, type EachBatchPayload, type KafkaMessage } from 'kafkajs';
import { context as otelContext, trace, type Span } from '@opentelemetry/api';
import { DvvSet, dotKey, formatHlc, hlcPhysical, type HybridLogicalClock } from '@meridian/causality';
import { crdtKind } from '@meridian/crdt';
import { decodeRecord, parseKafkaMessageKey, ProtocolError, updatesTopic, type NamespaceRecord, type UpdateRecord, type ReplicationRecord } from '@meridian/protocol';
import { ReplicationTx, type ConflictRow, type NamespaceRow, type PgStore, type StoreTx } from '@meridian/store';
import { SpanAttribute, SpanName, linksFromTraceparents, meridianTracer, withSpan } from '@meridian/telemetry';
import { decodeRegisterSet, encodeRegisterSet, type RegisterPolicy, type RegisterVersion } from '../register-state.ts';
import { hasApplied, markApplied } from './applied-vector.ts';
import { mergeRegister, withinSkew, type RegisterConflict } from './register-merge.ts';
import { nextLinkState, type LinkEvent, type LinkState } from './link-state.ts';
import type { Logger } from './logger.ts';


export interface ReplicatorHooks {
  onApplied?(origin: string, count: number): void;
  onConflict?(namespace: string, policy: string): void;
  onConcurrentMerge?(namespace: string, policy: string): void;
  onDeadLetter?(origin: string, reason: string): void;
  /** Estimated clock skew to a peer in ms (from heartbeats), for flagging LWW decisions. */
  skewMs?(peer: string): number;
}

export interface PeerReplicatorOptions {
  readonly store: PgStore;
  readonly self: string;
  readonly peer: string;
  readonly brokers: readonly string[];
  readonly clock: HybridLogicalClock;
  readonly log: Logger;
  readonly hooks?: ReplicatorHooks;
}

class Fenced extends Error {}

export class RedriveError extends Error {
  readonly code: 'MERIDIAN_NOT_FOUND' | 'MERIDIAN_REDRIVE_FAILED';
  constructor(code: 'MERIDIAN_NOT_FOUND' | 'MERIDIAN_REDRIVE_FAILED', message: string) {
    super(message);
    this.name = 'RedriveError';
    this.code = code;
  }
}

interface Decoded {
  readonly message: KafkaMessage;
  readonly offset: bigint;
  readonly record?: ReplicationRecord;
  readonly poison?: { code: string; reason: string };
  readonly tooNew?: boolean;
}

export class PeerReplicator {
  readonly peer: string;
  readonly #o: PeerReplicatorOptions;
  readonly #kafka: Kafka;
  readonly #topic: string;
  #consumer: Consumer | undefined;
  #state: LinkState = 'connecting';
  #reason: string | undefined;
  #epochs = new Map<number, bigint>();
  #claiming: Promise<void> = Promise.resolve();
  #stopping = false;
  #connectLoop: Promise<void> | undefined;
  #everStreamed = false;

  constructor(options: PeerReplicatorOptions) {
    this.#o = options;
    this.peer = options.peer;
    this.#topic = updatesTopic(options.peer);
    this.#kafka = new Kafka({ clientId: `meridian-${options.self}-from-${options.peer}`, brokers: [...options.brokers], logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 200 } });
  }

  get state(): LinkState {
    return this.#state;
  }
  get reason(): string | undefined {
    return this.#reason;
  }
  /** Whether the link has been caught up (streaming) at least once since this process started. */
  get everStreamed(): boolean {
    return this.#everStreamed;
  }

  /** Sets the link state from an event; `caught-up`/`fell-behind` come from the lag monitor. */
  signal(event: LinkEvent, reason?: string): void {
    const next = nextLinkState(this.#state, event);
    if (next !== this.#state) this.#o.log.info({ peer: this.peer, from: this.#state, to: next, event, reason }, 'replication link state');
    this.#state = next;
    if (next === 'streaming') this.#everStreamed = true;
    if (reason !== undefined || next === 'streaming' || next === 'catching-up') this.#reason = reason;
  }

  start(): void {
    this.#connectLoop = this.#connect();
  }

  /** Stops applying this peer's updates (they wait in Kafka) until `resume`. */
  pause(reason = 'paused by an operator'): void {
    this.#consumer?.pause([{ topic: this.#topic }]);
    this.signal('operator-paused', reason);
  }

  resume(): void {
    this.signal('resumed');
    this.#consumer?.resume([{ topic: this.#topic }]);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#connectLoop;
    await this.#consumer?.disconnect().catch(() => undefined);
  }

  /** Keeps trying to join until it streams (the peer's Kafka or topic may not exist yet). */
  async #connect(): Promise<void> {
    for (let attempt = 0; !this.#stopping; attempt++) {
      try {
        await this.#startConsumer();
        return;
      } catch (error) {
        this.#reason = `cannot consume ${this.#topic}: ${(error as Error).message}`;
        this.signal('disconnected', this.#reason);
        await this.#consumer?.disconnect().catch(() => undefined);
        this.#consumer = undefined;
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  async #startConsumer(): Promise<void> {
    const consumer = this.#kafka.consumer({ groupId: `meridian.${this.#o.self}.from.${this.peer}`, readUncommitted: false, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 100, retry: { retries: 10 } });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = payload.memberAssignment[this.#topic] ?? [];
      this.#claiming = this.#claim(consumer, partitions).catch((error: unknown) => {
        this.#o.log.error({ err: error, peer: this.peer }, 'replication: claiming partitions failed');
      });
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.#stopping) return;
      this.signal('disconnected', `consumer crashed: ${payload.error.message}`);
      if (!payload.restart) {
        this.#connectLoop = this.#connect();
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.#topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (payload) => this.#eachBatch(payload) });
  }

  /** Claims the assigned partitions (owner epochs) and seeks each to its stored offset. */
  async #claim(consumer: Consumer, partitions: readonly number[]): Promise<void> {
    this.#epochs = new Map();
    if (partitions.length === 0) return;
    const claimed = await this.#o.store.replication.claimPartitions(this.peer, partitions);
    const admin = this.#kafka.admin();
    await admin.connect();
    let watermarks: { partition: number; low: string; high: string }[];
    try {
      watermarks = await admin.fetchTopicOffsets(this.#topic);
    } finally {
      await admin.disconnect();
    }
    for (const [partition, c] of claimed) {
      const low = BigInt(watermarks.find((w) => w.partition === partition)?.low ?? '0');
      if (c.known && c.nextOffset < low) {
        this.signal('offset-lost', `partition ${partition}: stored offset ${c.nextOffset} is below the earliest offset Kafka still has (${low}); retention passed — this region needs a reseed from ${this.peer}`);
        consumer.pause([{ topic: this.#topic, partitions: [partition] }]);
        continue;
      }
      this.#epochs.set(partition, c.epoch);
      consumer.seek({ topic: this.#topic, partition, offset: (c.known ? c.nextOffset : low).toString() });
    }
    if (this.#state === 'connecting') this.signal('joined');
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    await this.#claiming;
    const epoch = this.#epochs.get(batch.partition);
    if (epoch === undefined || this.#state === 'paused' || this.#state === 'failed' || !payload.isRunning() || payload.isStale()) return;
    const decoded = batch.messages.map((m) => decode(m));
    const tooNew = decoded.findIndex((d) => d.tooNew);
    const applicable = tooNew >= 0 ? decoded.slice(0, tooNew) : decoded;
    try {
      if (applicable.length > 0) await this.#apply(batch.partition, epoch, applicable);
    } catch (error) {
      if (error instanceof Fenced) {
        this.#o.log.warn({ peer: this.peer, partition: batch.partition }, 'replication: partition claimed by a newer consumer; dropping the batch');
        this.#epochs.delete(batch.partition);
        return;
      }
      this.#o.log.error({ err: error, peer: this.peer, partition: batch.partition }, 'replication: applying a batch failed; it will be retried');
      throw error; // kafkajs retries the batch; nothing was stored
    }
    // Tell kafkajs where to fetch next. These are not the offsets that count (PostgreSQL's are);
    // without them kafkajs would fetch from the seek position again and again.
    const last = applicable.at(-1);
    if (last) payload.resolveOffset(last.message.offset);
    if (tooNew >= 0) {
      const d = decoded[tooNew]!;
      this.signal('schema-too-new', d.poison?.reason ?? 'a newer schema version arrived: upgrade this region');
      this.#consumer?.pause([{ topic: this.#topic, partitions: [batch.partition] }]);
    }
    await payload.heartbeat();
  }

  async #apply(partition: number, epoch: bigint, messages: readonly Decoded[]): Promise<void> {
    await withSpan(SpanName.replicateApply, { [SpanAttribute.origin]: this.peer, [SpanAttribute.batchSize]: messages.length, 'meridian.partition': partition }, async (span) => {
      const outcome = await this.#o.store.transaction((tx, client) => this.#applyInTransaction(tx, new ReplicationTx(client), partition, epoch, messages));
      for (const c of outcome.conflicts) this.#traceConflict(span, c);
      if (outcome.applied > 0) this.#o.hooks?.onApplied?.(this.peer, outcome.applied);
      for (const m of outcome.merges) this.#o.hooks?.onConcurrentMerge?.(m.namespace, m.policy);
      for (const d of outcome.deadLetters) this.#o.hooks?.onDeadLetter?.(this.peer, d);
      span.setAttribute('meridian.applied', outcome.applied);
      span.setAttribute('meridian.duplicates', outcome.duplicates);
    });
  }

  async #applyInTransaction(tx: StoreTx, rtx: ReplicationTx, partition: number, epoch: bigint, messages: readonly Decoded[]): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: 0, duplicates: 0, conflicts: [], merges: [], deadLetters: [] };
    const stored = await rtx.lockOffset(this.peer, partition, epoch);
    if (stored === 'fenced') throw new Fenced();
    const fresh = messages.filter((m) => m.offset >= stored);
    if (fresh.length === 0) return outcome;

    const sequenced = fresh.flatMap((m) => (m.record && m.record.kind !== 'heartbeat' ? [m.record] : []));
    const applied = await rtx.lockApplied(sequenced.map((r) => ({ origin: `${r.origin.region}.${r.origin.epoch}`, region: r.origin.region })));
    const originOf = (r: UpdateRecord | NamespaceRecord): string => `${r.origin.region}.${r.origin.epoch}`;
    const mark = (r: UpdateRecord | NamespaceRecord): void => {
      const o = originOf(r);
      applied.set(o, markApplied(applied.get(o)!, r.originSequence, r.outboxId));
    };
    const isDuplicate = (r: UpdateRecord | NamespaceRecord): boolean => hasApplied(applied.get(originOf(r))!, r.originSequence);

    // Heartbeats: the latest one of this batch.
    const beat = fresh.map((m) => m.record).filter((r): r is Extract<ReplicationRecord, { kind: 'heartbeat' }> => r?.kind === 'heartbeat').at(-1);
    if (beat) {
      await rtx.saveHeartbeat(this.peer, `${beat.origin.region}.${beat.origin.epoch}`, BigInt(beat.originWallMs), beat.highWaterSequence, Object.fromEntries([...beat.applied].map(([k, v]) => [k, v.toString()])));
    }

    // Poison: dead letters, with the key quarantined so later deltas cannot paper over the gap.
    for (const m of fresh) {
      if (!m.poison || m.tooNew) continue;
      const target = safeKey(m.message.key);
      const header = (name: string): string | undefined => m.message.headers?.[name]?.toString();
      const id = await rtx.deadLetter({
        peer: this.peer,
        partition,
        offset: m.offset,
        messageKey: m.message.key?.toString(),
        raw: m.message.value ?? new Uint8Array(),
        code: m.poison.code,
        reason: m.poison.reason,
        namespace: target?.namespace,
        key: target?.key,
        origin: header('meridian-origin'),
        sequence: header('meridian-sequence') !== undefined && /^\d+$/.test(header('meridian-sequence')!) ? BigInt(header('meridian-sequence')!) : undefined,
      });
      if (target) await rtx.quarantine(target.namespace, target.key, id);
      outcome.deadLetters.push(m.poison.code);
    }

    // Namespace declarations first (they precede their namespace's updates in every partition).
    for (const r of sequenced) {
      if (r.kind !== 'namespace' || isDuplicate(r)) continue;
      await this.#applyNamespace(tx, rtx, r, outcome);
      mark(r);
    }

    // Updates, grouped by key, keys locked in sorted order (no deadlocks between replicators).
    const updates = sequenced.filter((r): r is UpdateRecord => r.kind === 'update');
    const byKey = new Map<string, UpdateRecord[]>();
    for (const u of updates) {
      if (isDuplicate(u)) {
        outcome.duplicates++;
        continue;
      }
      const k = JSON.stringify([u.namespace, u.key]);
      byKey.set(k, [...(byKey.get(k) ?? []), u]);
    }
    // One query for the batch's quarantined keys, one lookup per namespace (not per update).
    const quarantined = await rtx.quarantinedAmong([...byKey.keys()].map((k) => JSON.parse(k) as [string, string]).map(([namespace, key]) => ({ namespace, key })));
    const namespaces = new Map<string, NamespaceRow>();
    for (const k of [...byKey.keys()].sort()) {
      const group = byKey.get(k)!.sort((a, b) => (a.originSequence < b.originSequence ? -1 : 1));
      for (const u of group) {
        if (isDuplicate(u)) {
          outcome.duplicates++;
          continue;
        }
        if (quarantined.has(k)) {
          const id = await rtx.deadLetter({ peer: this.peer, partition, offset: -1n, messageKey: `${u.namespace}/${u.key}`, raw: encodeUpdate(u), code: HELD_CODE, reason: 'an earlier update of this key is dead-lettered; redrive it first', namespace: u.namespace, key: u.key, origin: originOf(u), sequence: u.originSequence });
          outcome.deadLetters.push(`quarantined:${id}`);
        } else {
          await this.#applyUpdate(tx, rtx, u, outcome, namespaces);
        }
        mark(u);
        outcome.applied++;
      }
    }

    for (const row of applied.values()) await rtx.saveApplied(row);
    await rtx.saveOffset(this.peer, partition, fresh.at(-1)!.offset + 1n);
    return outcome;
  }

  async #applyNamespace(tx: StoreTx, rtx: ReplicationTx, r: NamespaceRecord, outcome: ApplyOutcome): Promise<void> {
    const origin = `${r.origin.region}.${r.origin.epoch}`;
    const { created, row } = await tx.declareNamespace(r.namespace, r.policy, origin, r.hlc);
    if (created || row.policy === r.policy) {
      if (!created && (r.hlc < row.declaredHlc || (r.hlc === row.declaredHlc && origin < row.declaredBy))) await rtx.replaceNamespacePolicy(r.namespace, r.policy, origin, r.hlc);
      return;
    }
    // Concurrent declarations with different policies: the earliest (HLC, then actor) wins everywhere.
    const incomingWins = r.hlc < row.declaredHlc || (r.hlc === row.declaredHlc && origin < row.declaredBy);
    const loser = incomingWins ? { policy: row.policy, by: row.declaredBy } : { policy: r.policy, by: origin };
    const winner = incomingWins ? { policy: r.policy, by: origin } : { policy: row.policy, by: row.declaredBy };
    let displaced: { key: string; state: string }[] = [];
    if (incomingWins) {
      displaced = (await rtx.takeNamespaceKeys(r.namespace)).map((k) => ({ key: k.key, state: Buffer.from(k.state).toString('base64') }));
      await rtx.replaceNamespacePolicy(r.namespace, r.policy, origin, r.hlc);
    }
    const conflict = {
      id: `ns-${[loser.by, winner.by].sort().join('-')}-${r.namespace}`.slice(0, 200),
      namespace: r.namespace,
      key: '',
      policy: winner.policy,
      kind: 'namespace-policy',
      versions: [
        { policy: row.policy, declaredBy: row.declaredBy, hlc: formatHlc(row.declaredHlc) },
        { policy: r.policy, declaredBy: origin, hlc: formatHlc(r.hlc) },
      ],
      outcome: { winner, loser, displacedKeys: displaced },
      regions: [...new Set([row.declaredBy, origin].map((a) => a.split('.')[0]!))].sort(),
      traceIds: [],
      skewFlagged: false,
    };
    if (await rtx.recordConflict(conflict)) outcome.conflicts.push({ kind: 'namespace', namespace: r.namespace, policy: winner.policy, record: conflict });
  }

  /** `namespaces` caches lookups within one transaction (declarations are applied before updates). */
  async #applyUpdate(tx: StoreTx, rtx: ReplicationTx, u: UpdateRecord, outcome: ApplyOutcome, namespaces = new Map<string, NamespaceRow>()): Promise<void> {
    this.#o.clock.receive(u.hlc);
    let ns = namespaces.get(u.namespace) ?? (await tx.getNamespace(u.namespace));
    if (!ns) ns = (await tx.declareNamespace(u.namespace, u.policy, `${u.origin.region}.${u.origin.epoch}`, u.hlc)).row;
    namespaces.set(u.namespace, ns);
    if (ns.policy !== u.policy) {
      // Written under a policy that lost (or has not yet met) this namespace's winner: kept in a conflict record, not applied.
      const record = {
        id: `nsu-${u.origin.region}.${u.origin.epoch}-${u.originSequence}`,
        namespace: u.namespace,
        key: u.key,
        policy: ns.policy,
        kind: 'namespace-policy-update',
        versions: [{ policy: u.policy, origin: `${u.origin.region}.${u.origin.epoch}`, hlc: formatHlc(u.hlc), envelope: Buffer.from(encodeUpdate(u)).toString('base64') }],
        outcome: { kept: ns.policy, dropped: u.policy },
        regions: [u.origin.region],
        traceIds: [],
        skewFlagged: false,
      };
      if (await rtx.recordConflict(record)) outcome.conflicts.push({ kind: 'namespace', namespace: u.namespace, policy: ns.policy, record });
      return;
    }
    const row = await tx.lockKey(u.namespace, u.key);
    const maxHlc = row.maxHlc > u.hlc ? row.maxHlc : u.hlc;
    if (u.payload.kind === 'register') {
      const policy = u.policy as RegisterPolicy;
      const incoming = decodeRegisterSet(u.payload.state);
      const stored = row.state ? decodeRegisterSet(row.state) : DvvSet.empty<RegisterVersion>();
      const merge = mergeRegister(u.namespace, u.key, stored, incoming, policy);
      if (merge.changed || !row.state) await tx.saveKey(u.namespace, u.key, encodeRegisterSet(merge.next), maxHlc);
      if (merge.conflict) {
        const c = merge.conflict;
        const regions = [...new Set(c.versions.map((v) => v.dot.actor.split('.')[0]!))].sort();
        const traceparents = c.versions.map((v) => v.value.traceparent);
        const { traceIds } = linksFromTraceparents(traceparents);
        const record = {
          id: c.id,
          namespace: u.namespace,
          key: u.key,
          policy,
          kind: 'register',
          versions: c.versions.map((v) => ({ dot: dotKey(v.dot), value: v.value.value ?? null, deleted: v.value.value === undefined, hlc: formatHlc(v.value.hlc), physicalMs: hlcPhysical(v.value.hlc), traceparent: v.value.traceparent ?? null })),
          outcome: c.outcome,
          regions,
          traceIds,
          skewFlagged: policy === 'lww' && withinSkew(c.versions, this.#o.hooks?.skewMs?.(this.peer) ?? 0),
        };
        if (await rtx.recordConflict(record)) outcome.conflicts.push({ kind: 'register', namespace: u.namespace, policy, record, register: c, traceparents });
      }
      return;
    }
    const kind = crdtKind(u.policy);
    if (!kind || u.payload.kind !== 'crdt') throw new Error(`update for ${u.namespace}/${u.key} has a ${u.payload.kind} payload for policy ${u.policy}`);
    const delta: unknown = kind.decode(u.payload.delta);
    const current: unknown = row.state ? kind.decode(row.state) : kind.empty();
    if (row.state && kind.concurrent(current, delta)) outcome.merges.push({ namespace: u.namespace, policy: u.policy });
    const next: unknown = kind.join(current, delta);
    if (!row.state || !kind.equals(next, current)) await tx.saveKey(u.namespace, u.key, kind.encode(next), maxHlc);
  }

  /**
   * Redrives a dead letter: decodes it again and applies it (`retry`), or gives it up
   * (`discard`). Either way, when it is the one quarantining its key, the quarantine is lifted
   * and the updates held behind it are applied in order. A retry that still cannot decode
   * changes nothing and says why.
   */
  async redrive(id: bigint, mode: 'retry' | 'discard'): Promise<{ applied: number; released: boolean }> {
    return this.#o.store.transaction(async (tx, client) => {
      const rtx = new ReplicationTx(client);
      const letter = await rtx.lockDeadLetter(id);
      if (!letter) throw new RedriveError('MERIDIAN_NOT_FOUND', `no dead letter ${id}`);
      if (letter.redriven) throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${id} was already redriven`);
      const outcome: ApplyOutcome = { applied: 0, duplicates: 0, conflicts: [], merges: [], deadLetters: [] };
      const quarantining = letter.namespace !== undefined && letter.key !== undefined && (await rtx.quarantinedBy(letter.namespace, letter.key)) === id;
      if (mode === 'retry') {
        let record: ReplicationRecord;
        try {
          record = letter.code === HELD_CODE ? decodeHeld(letter.raw) : decodeRecord(letter.raw);
        } catch (error) {
          throw new RedriveError('MERIDIAN_REDRIVE_FAILED', `dead letter ${id} still cannot be applied: ${(error as Error).message}`);
        }
        if (record.kind === 'update') await this.#applyUpdate(tx, rtx, record, outcome);
        else if (record.kind === 'namespace') await this.#applyNamespace(tx, rtx, record, outcome);
        outcome.applied++;
      }
      await rtx.markDeadLetterRedriven(id);
      if (quarantining) {
        await rtx.releaseQuarantine(letter.namespace!, letter.key!);
        for (const held of await rtx.heldFor(letter.namespace!, letter.key!, HELD_CODE)) {
          await this.#applyUpdate(tx, rtx, decodeHeld(held.raw), outcome);
          await rtx.markDeadLetterRedriven(held.id);
          outcome.applied++;
        }
      }
      return { applied: outcome.applied, released: quarantining };
    });
  }

  #traceConflict(parent: Span, c: RecordedConflict): void {
    const record = c.record;
    const { links } = linksFromTraceparents(c.kind === 'register' ? c.traceparents : []);
    const span = meridianTracer().startSpan(SpanName.conflict, {
      links,
      attributes: {
        [SpanAttribute.alwaysSample]: true,
        [SpanAttribute.conflictId]: record.id,
        [SpanAttribute.namespace]: record.namespace,
        [SpanAttribute.key]: record.key,
        [SpanAttribute.policy]: record.policy,
        [SpanAttribute.conflictTraceIds]: record.traceIds.join(','),
        [SpanAttribute.conflictRegions]: record.regions.join(','),
        [SpanAttribute.conflictOutcome]: JSON.stringify(record.outcome),
        [SpanAttribute.conflictDots]: c.kind === 'register' ? c.register.versions.map((v) => dotKey(v.dot)).join(',') : '',
        'meridian.conflict.kind': record.kind,
        'meridian.conflict.skew_flagged': record.skewFlagged,
      },
    }, trace.setSpan(otelContext.active(), parent));
    span.end();
    this.#o.hooks?.onConflict?.(record.namespace, record.policy);
  }
}

type RecordedConflict =
  | { kind: 'register'; namespace: string; policy: string; record: ConflictRow; register: RegisterConflict; traceparents: (string | undefined)[] }
  | { kind: 'namespace'; namespace: string; policy: string; record: ConflictRow };

interface ApplyOutcome {
  applied: number;
  duplicates: number;
  conflicts: RecordedConflict[];
  merges: { namespace: string; policy: string }[];
  deadLetters: string[];
}

function decode(message: KafkaMessage): Decoded {
  const offset = BigInt(message.offset);
  if (!message.value) return { message, offset, poison: { code: 'MERIDIAN_ENVELOPE_UNDECODABLE', reason: 'empty message' } };
  try {
    return { message, offset, record: decodeRecord(message.value) };
  } catch (error) {
    if (error instanceof ProtocolError) {
      if (error.code === 'MERIDIAN_SCHEMA_TOO_NEW') return { message, offset, tooNew: true, poison: { code: error.code, reason: error.message } };
      return { message, offset, poison: { code: error.code, reason: error.message } };
    }
    return { message, offset, poison: { code: 'MERIDIAN_ENVELOPE_UNDECODABLE', reason: (error as Error).message } };
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

/** The JSON form of an update held back by a quarantine (its protobuf bytes may never have existed here as such). */
export const HELD_CODE = 'MERIDIAN_KEY_QUARANTINED';

function decodeHeld(raw: Uint8Array): UpdateRecord {
  const j = JSON.parse(new TextDecoder().decode(raw)) as { namespace: string; key: string; origin: { region: string; epoch: number }; sequence: string; outboxId: string; hlc: string; policy: UpdateRecord['policy']; payload: string; payloadKind: 'register' | 'crdt'; traceparent: string };
  const bytes = new Uint8Array(Buffer.from(j.payload, 'base64'));
  return {
    kind: 'update',
    schemaVersion: 1,
    origin: j.origin,
    originSequence: BigInt(j.sequence),
    outboxId: BigInt(j.outboxId),
    namespace: j.namespace,
    key: j.key,
    hlc: BigInt(`0x${j.hlc}`),
    policy: j.policy,
    traceparent: j.traceparent,
    payload: j.payloadKind === 'register' ? { kind: 'register', state: bytes } : { kind: 'crdt', delta: bytes },
  };
}

function encodeUpdate(u: UpdateRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ namespace: u.namespace, key: u.key, origin: u.origin, sequence: u.originSequence.toString(), outboxId: u.outboxId.toString(), hlc: formatHlc(u.hlc), policy: u.policy, payload: Buffer.from(u.payload.kind === 'register' ? u.payload.state : u.payload.delta).toString('base64'), payloadKind: u.payload.kind, traceparent: u.traceparent }));
}
