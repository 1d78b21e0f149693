/**
 * A replicator (DESIGN §4): consumes one peer region's topic from that peer's Kafka and applies
 * what it consumes in PostgreSQL transactions that also store the consumed offsets and the
 * applied vector — so a crash at any point neither loses nor double-applies an update.
 *
 * - kafkajs hands each partition's batch to `eachBatch`, several partitions at once; the batches
 *   waiting together are coalesced into ONE apply transaction (`GroupCommitQueue`, at most one
 *   batch per partition, a cap on the messages per transaction), and each batch's call returns
 *   when that transaction commits (or fails: kafkajs then retries it; nothing was stored). The
 *   apply itself is set-based (`BatchApplier`).
 * - Offsets live only in PostgreSQL: kafkajs auto-commit is off; on joining the group the
 *   consumer claims its partitions (bumping an owner epoch) and seeks to the stored offsets. A
 *   paused old consumer's batch fails the epoch check of its partition and changes nothing; the
 *   other partitions of its transaction apply.
 * - A stored offset that Kafka no longer has (retention passed) fails the link loudly: the
 *   region needs a reseed, never a silent reset. Checked when partitions are claimed and while
 *   streaming: kafkajs answers "offset out of range" by jumping to the earliest offset Kafka has,
 *   so a batch that starts anywhere but at the partition's next offset (kept in memory beside the
 *   stored one) is checked against the partition's log start and end before anything of it
 *   applies. Offsets that a jump skips and Kafka still holds (transaction markers, aborted
 *   records: kafkajs filters them out) are no gap; offsets below the log start are. The reseed
 *   (anti-entropy/reseed.ts) stores a new restart position and calls `restartAfterReseed`.
 * - A newer schema version pauses the link instead of being dead-lettered.
 * - An operator's pause is Meridian's state, not the consumer's: `pause`/`resume` set the link
 *   state whether or not the consumer is running (kafkajs refuses to pause a consumer between
 *   runs), and every claim pauses the consumer again while the link is paused; the intent itself
 *   is stored by `Replication` and survives restarts.
 */
import { logLevel, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import type { HybridLogicalClock } from '@meridian/causality';
import { updatesTopic } from '@meridian/protocol';
import type { PgStore } from '@meridian/store';
import { BatchApplier, decode, type BatchResult, type Decoded, type PartitionBatch, type ReplicatorHooks } from './batch-applier.ts';
import { GroupCommitQueue } from '../group-commit.ts';
import { createKafka } from './kafka-client.ts';
import { nextLinkState, type LinkEvent, type LinkState } from '@meridian/replication-link';
import type { Logger } from './logger.ts';
import { originOf } from './key-fold.ts';
import { lostOffset, sequenceGap, type SequenceGap, type Watermark } from './reseed-plan.ts';

export { RedriveError, type ReplicatorHooks } from './batch-applier.ts';

/** The default cap on the messages one apply transaction takes (a single larger batch still goes alone). */
export const DEFAULT_MAX_GROUP_MESSAGES = 5000;

export interface PeerReplicatorOptions {
  readonly store: PgStore;
  readonly self: string;
  readonly peer: string;
  readonly brokers: readonly string[];
  readonly clock: HybridLogicalClock;
  readonly log: Logger;
  readonly hooks?: ReplicatorHooks;
  /** Partitions of the peer's topic: how many batches kafkajs hands over at once (default 16). */
  readonly partitions?: number;
  /** Cap on the messages of one apply transaction (default DEFAULT_MAX_GROUP_MESSAGES). */
  readonly maxGroupMessages?: number;
  /** How a link that needs a reseed recovers (or why it cannot by itself): appended to its failure reason. */
  readonly reseedNote?: string;
  /**
   * A joining region's first step (anti-entropy/reseed.ts `seedLink`): merges the peer's state and
   * stores the offsets and applied vector that state reflects, before the consumer first starts.
   * Retried with backoff until it succeeds; the link stays `connecting` meanwhile.
   */
  readonly seed?: () => Promise<void>;
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
  /**
   * Per claimed partition, the offset the next batch must start at: the stored next offset at the
   * claim, then past each applied chunk (and past a whole batch's filtered control records).
   */
  #expected = new Map<number, bigint>();
  /** Per claimed partition, per origin actor, the highest sequence applied from it since the claim (`sequenceGap`). */
  #seen = new Map<number, Map<string, bigint>>();
  /** The partition count of the peer's topic at the latest claim. */
  #partitionCount = 0;
  /** The gap in an origin's sequences this link failed on (a reseed then restarts every partition). */
  #gap: SequenceGap | undefined;
  #needsReseed = false;
  /** The partitions of the latest group join (a failed link's resume claims them again). */
  #assigned: readonly number[] = [];
  /** Why the link needs a reseed (the failure reason, before any reseed attempt's). */
  #lostReason: string | undefined;
  #operatorPaused = false;
  #claiming: Promise<void> = Promise.resolve();
  /** Counts group joins: a claim for an older join gives way to the newer one. */
  #generation = 0;
  #stopping = false;
  #connectLoop: Promise<void> | undefined;
  #everStreamed = false;
  /** Set while the link seeds from the peer (options.seed), before its consumer starts. */
  #seeding: boolean;
  readonly #applier: BatchApplier;
  readonly #queue: GroupCommitQueue<PartitionBatch, BatchResult>;
  /** The most messages of one partition a transaction takes: its share of a full group. */
  readonly #chunk: number;

  constructor(options: PeerReplicatorOptions) {
    this.#o = options;
    this.peer = options.peer;
    this.#seeding = options.seed !== undefined;
    this.#topic = updatesTopic(options.peer);
    this.#kafka = createKafka({ clientId: `meridian-${options.self}-from-${options.peer}`, brokers: [...options.brokers], logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 200 } });
    const maxGroupMessages = options.maxGroupMessages ?? DEFAULT_MAX_GROUP_MESSAGES;
    this.#chunk = Math.max(1, Math.floor(maxGroupMessages / (options.partitions ?? 16)));
    this.#applier = new BatchApplier({ store: options.store, peer: options.peer, clock: options.clock, hooks: options.hooks });
    this.#queue = new GroupCommitQueue({
      run: (batches) => this.#applier.applyGroup(batches),
      weight: (b) => b.messages.length,
      maxWeight: maxGroupMessages,
      lane: (b) => b.partition,
    });
  }

  get state(): LinkState {
    return this.#state;
  }
  get reason(): string | undefined {
    return this.#reason;
  }
  /** Whether the link failed because Kafka no longer has updates this region has not applied. */
  get needsReseed(): boolean {
    return this.#needsReseed;
  }
  /**
   * The gap in an origin's sequences that failed the link, when it failed on one rather than on an
   * offset: the offsets cannot say which partition skipped records, so a reseed restarts them all.
   */
  get sequenceGap(): SequenceGap | undefined {
    return this.#needsReseed ? this.#gap : undefined;
  }
  /** Whether the link was started to seed from the peer (a joining region): it is caught up only once it has streamed. */
  get joining(): boolean {
    return this.#o.seed !== undefined;
  }
  /** Whether the link is still seeding from the peer (a joining region), before it consumes. */
  get seeding(): boolean {
    return this.#seeding;
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

  /** Whether an operator paused this link (the stored intent, as this process applied it). */
  get operatorPaused(): boolean {
    return this.#operatorPaused;
  }

  /** Stops applying this peer's updates (they wait in Kafka) until `resume`; the consumer may be running or not. */
  pause(reason = 'paused by an operator'): void {
    this.#operatorPaused = true;
    this.signal('operator-paused', reason);
    this.#pauseConsumer(this.#consumer);
  }

  resume(): void {
    this.#operatorPaused = false;
    const retry = this.#state === 'failed';
    this.signal('resumed');
    const consumer = this.#consumer;
    if (retry && consumer) {
      // Resuming a failed link retries it: claim the assigned partitions again, which checks each
      // stored offset against Kafka once more. A partition lost at its claim was never claimed, so
      // without a new claim it would apply nothing while the link no longer looked failed. The
      // need of a reseed is not cleared: stored (`meridian_link_reseeds`), the claim fails the
      // link again until a reseed completes.
      this.#claiming = this.#claimUntilDone(consumer, this.#assigned, ++this.#generation);
    }
    try {
      this.#consumer?.resume([{ topic: this.#topic }]);
    } catch {
      // Between runs: the consumer starts unpaused, and its next claim sees the link running.
    }
  }

  /** Pauses the consumer's fetching of the topic when it runs; between runs, the next claim does. */
  #pauseConsumer(consumer: Consumer | undefined): void {
    try {
      consumer?.pause([{ topic: this.#topic }]);
    } catch {
      // kafkajs: "Consumer group was not initialized, consumer#run must be called first".
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#connectLoop;
    await this.#consumer?.disconnect().catch(() => undefined);
  }

  /** Keeps trying to join until it streams (the peer's Kafka or topic may not exist yet); a joining region's link seeds first. */
  async #connect(): Promise<void> {
    for (let attempt = 0; !this.#stopping; attempt++) {
      try {
        if (this.#seeding) {
          this.#reason = `seeding from ${this.peer} over gRPC before consuming (a joining region)`;
          await this.#o.seed!();
          this.#seeding = false;
          this.#reason = undefined;
          if (this.#stopping) return;
        }
        await this.#startConsumer();
        return;
      } catch (error) {
        this.#reason = this.#seeding ? `seeding from ${this.peer} failed (retrying): ${(error as Error).message}` : `cannot consume ${this.#topic}: ${(error as Error).message}`;
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
      this.#assigned = partitions;
      this.#claiming = this.#claimUntilDone(consumer, partitions, ++this.#generation);
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
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: this.#o.partitions ?? 16, eachBatch: (payload) => this.#eachBatch(payload) });
  }

  /**
   * Claims the assigned partitions, retrying with backoff until it succeeds, the consumer stops or
   * a newer join takes over: a partition without a claim applies nothing, so a claim that failed
   * once (PostgreSQL or Kafka briefly unreachable) must not leave the link stalled until the next
   * rebalance.
   */
  async #claimUntilDone(consumer: Consumer, partitions: readonly number[], generation: number): Promise<void> {
    for (let attempt = 0; !this.#stopping && generation === this.#generation; attempt++) {
      try {
        await this.#claim(consumer, partitions, generation);
        return;
      } catch (error) {
        this.#o.log.error({ err: error, peer: this.peer, attempt }, 'replication: claiming partitions failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  /** Claims the assigned partitions (owner epochs) and seeks each to its stored offset. */
  async #claim(consumer: Consumer, partitions: readonly number[], generation: number): Promise<void> {
    this.#epochs = new Map();
    this.#expected = new Map();
    this.#seen = new Map();
    if (partitions.length === 0) return;
    const claimed = await this.#o.store.replication.claimPartitions(this.peer, partitions);
    const watermarks = await this.#watermarks();
    // A reseed found needed before (by this process, another replica, before a restart) and not
    // completed since: the link stays failed — a sequence gap is judged only once every partition
    // delivered since a claim, so a new claim would otherwise stream over the hole.
    const needed = (await this.#o.store.replication.linkReseed(this.peer)) ?? (this.#needsReseed && this.#lostReason ? { reason: this.#lostReason, gap: this.#gap } : undefined);
    if (generation !== this.#generation) return; // a newer join claims for itself
    this.#partitionCount = watermarks.size;
    let lostNow = false;
    for (const [partition, c] of claimed) {
      const mark = watermarks.get(partition);
      const low = mark?.low ?? 0n;
      const lost = c.known ? lostOffset(c.nextOffset, low, mark?.high ?? 0n) : undefined;
      if (lost !== undefined) {
        await this.#lose(consumer, `partition ${partition}: ${lost}`);
        lostNow = true;
        continue;
      }
      const next = c.known ? c.nextOffset : low;
      this.#epochs.set(partition, c.epoch);
      this.#expected.set(partition, next);
      consumer.seek({ topic: this.#topic, partition, offset: next.toString() });
    }
    // A loss found now says why in its own words (a stored sequence gap still restarts every
    // partition); otherwise the stored need holds.
    if (needed && lostNow) this.#gap ??= needed.gap;
    else if (needed) this.#fail(consumer, needed.reason, needed.gap);
    // A paused or failed link fetches nothing: kafkajs would hand the same batch over again and again.
    if (this.#state === 'paused' || this.#state === 'failed') this.#pauseConsumer(consumer);
    if (this.#state === 'connecting') this.signal('joined');
  }

  /**
   * After a reseed stored new offsets and the applied vector (`reseed.ts`): clears the failure and
   * starts a new consumer, which claims the partitions and seeks to the stored offsets. An
   * operator's pause still holds.
   */
  async restartAfterReseed(): Promise<void> {
    if (this.#stopping) return;
    this.#needsReseed = false;
    this.#gap = undefined;
    this.signal('resumed', 'reseeded');
    if (this.#operatorPaused) this.signal('operator-paused', 'paused by an operator');
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#generation++; // a claim of the old consumer's join gives way
    await this.#connectLoop;
    await consumer?.disconnect().catch(() => undefined);
    if (this.#stopping) return;
    this.#connectLoop = this.#connect();
  }

  /** A reseed attempt failed: the failure reason says why too (the link stays failed). */
  noteReseedFailure(message: string): void {
    if (!this.#needsReseed || this.#state !== 'failed') return;
    this.#reason = `${this.#lostReason ?? 'needs a reseed'}; the last reseed attempt failed: ${message}`;
  }

  /** Each partition's log start (`low`) and end (`high`) offsets in the peer's Kafka. */
  watermarks(): Promise<Map<number, Watermark>> {
    return this.#watermarks();
  }

  async #watermarks(): Promise<Map<number, Watermark>> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      return new Map((await admin.fetchTopicOffsets(this.#topic)).map((w) => [w.partition, { low: BigInt(w.low), high: BigInt(w.high) }]));
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Fails the link: Kafka no longer has updates of the peer this region has not applied. Nothing
   * more applies. Stored (`meridian_link_reseeds`), so that a restart, a rebalance or a resume
   * keeps the link failed until a reseed's commit deletes it; if storing fails, this process still
   * holds it.
   */
  async #lose(consumer: Consumer | undefined, lost: string, gap?: SequenceGap): Promise<void> {
    this.#fail(consumer, `${lost} — this region needs a reseed from ${this.peer}${this.#o.reseedNote ? `; ${this.#o.reseedNote}` : ''}`, gap);
    try {
      await this.#o.store.replication.setLinkReseed(this.peer, { reason: this.#lostReason!, gap });
    } catch (error) {
      this.#o.log.error({ err: error, peer: this.peer }, 'replication: storing that the link needs a reseed failed; this process holds it');
    }
  }

  #fail(consumer: Consumer | undefined, reason: string, gap: SequenceGap | undefined): void {
    this.#needsReseed = true;
    if (gap) this.#gap = gap;
    this.#lostReason = reason;
    this.signal('offset-lost', reason);
    this.#pauseConsumer(consumer); // between runs, the failed state keeps every batch from applying
  }

  /**
   * Whether a batch that does not start where the partition's next offset is (`expected`) lies
   * past a gap: Kafka's log start is above `expected` (records deleted: retention, a trimmed
   * topic) or its end below it (the topic was recreated). Offsets skipped that Kafka still holds
   * are transaction markers or aborted records, which kafkajs filters: no gap.
   */
  async #gapBefore(partition: number, expected: bigint): Promise<string | undefined> {
    const mark = (await this.#watermarks()).get(partition);
    if (!mark) return `partition ${partition} is gone from ${this.#topic}`;
    return lostOffset(expected, mark.low, mark.high);
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    await this.#claiming;
    const epoch = this.#epochs.get(batch.partition);
    if (epoch === undefined || this.#state === 'paused' || this.#state === 'failed' || !payload.isRunning() || payload.isStale()) return;
    // The batch's first offset as fetched, control records and aborted records included.
    const first = batch.firstOffset();
    const expected = this.#expected.get(batch.partition);
    if (first !== null && expected !== undefined && BigInt(first) !== expected) {
      const lost = await this.#gapBefore(batch.partition, expected);
      if (lost !== undefined) {
        await this.#lose(this.#consumer, `partition ${batch.partition}: ${lost}`);
        return; // nothing of this batch applies, and no offset moves past the gap
      }
    }
    const decoded = batch.messages.map((m) => decode(m));
    const tooNew = decoded.findIndex((d) => d.tooNew);
    const applicable = tooNew >= 0 ? decoded.slice(0, tooNew) : decoded;
    // A large batch (a catch-up: kafkajs hands over a partition's whole backlog) goes in chunks,
    // one after the other, so that each transaction takes a slice of every partition instead of
    // a few partitions whole: the origin's sequences then apply roughly in order, the applied
    // vector's `beyond` set (loaded and saved with every transaction) stays small, and the
    // contiguous prefix moves all along.
    for (let start = 0; start < applicable.length; start += this.#chunk) {
      const chunk = applicable.slice(start, start + this.#chunk);
      let result: BatchResult;
      try {
        // Waits for the transaction that takes this chunk together with the other partitions' waiting ones.
        result = await this.#queue.submit({ partition: batch.partition, epoch, messages: chunk });
      } catch (error) {
        this.#o.log.error({ err: error, peer: this.peer, partition: batch.partition }, 'replication: applying a batch failed; it will be retried');
        throw error; // kafkajs retries the batch; nothing of this chunk's transaction was stored (earlier chunks' offsets were)
      }
      if (result === 'fenced') {
        this.#o.log.warn({ peer: this.peer, partition: batch.partition }, 'replication: partition claimed by a newer consumer; dropping the batch');
        if (this.#epochs.get(batch.partition) === epoch) this.#epochs.delete(batch.partition);
        return;
      }
      // Tell kafkajs where to fetch next. These are not the offsets that count (PostgreSQL's are);
      // without them kafkajs would fetch from the seek position again and again.
      payload.resolveOffset(chunk.at(-1)!.message.offset);
      if (this.#epochs.get(batch.partition) === epoch) this.#expected.set(batch.partition, chunk.at(-1)!.offset + 1n);
      this.#see(batch.partition, chunk);
      const gap = await this.#sequenceGap();
      if (gap) {
        await this.#lose(this.#consumer, `${gap.origin}'s sequence ${gap.sequence} is in none of the partitions of ${this.#topic}: each has delivered later ones (from ${gap.floor} on) since the link claimed it, so records were deleted or the topic was recreated and refilled past the stored offsets`, gap);
        return;
      }
      if (start + this.#chunk < applicable.length) await payload.heartbeat();
    }
    // Resolving the last message resolves the control records after it too (kafkajs): the next batch starts past them.
    if (tooNew < 0 && applicable.length > 0 && this.#epochs.get(batch.partition) === epoch) this.#expected.set(batch.partition, BigInt(batch.lastOffset()) + 1n);
    if (tooNew >= 0) {
      const d = decoded[tooNew]!;
      this.signal('schema-too-new', d.poison?.reason ?? 'a newer schema version arrived: upgrade this region');
      this.#consumer?.pause([{ topic: this.#topic, partitions: [batch.partition] }]);
    }
    await payload.heartbeat();
  }

  /** Notes the highest sequence of each origin applied from `partition` (updates and declarations; heartbeats have none). */
  #see(partition: number, chunk: readonly Decoded[]): void {
    let here = this.#seen.get(partition);
    for (const { record } of chunk) {
      if (!record || record.kind === 'heartbeat') continue;
      const origin = originOf(record);
      here ??= new Map();
      if (record.originSequence > (here.get(origin) ?? 0n)) here.set(origin, record.originSequence);
    }
    if (here) this.#seen.set(partition, here);
  }

  /**
   * A gap in an origin's sequences that no partition can fill (`sequenceGap`; needs every partition
   * of the topic claimed here). The applier's prefixes are a lower bound (a reseed, another replica
   * may have moved them): a suspicion is confirmed against the stored vectors before failing.
   */
  async #sequenceGap(): Promise<SequenceGap | undefined> {
    if (this.#epochs.size < this.#partitionCount) return undefined;
    if (!sequenceGap(this.#seen, this.#partitionCount, (origin) => this.#applier.contiguous(origin) ?? 0n)) return undefined;
    const stored = new Map((await this.#o.store.replication.appliedPositions()).map((p) => [p.origin, p.contiguous]));
    return sequenceGap(this.#seen, this.#partitionCount, (origin) => stored.get(origin) ?? 0n);
  }

  /** Redrives (or discards) a dead letter of this peer: see `BatchApplier.redrive`. */
  redrive(id: bigint, mode: 'retry' | 'discard'): Promise<{ applied: number; released: boolean }> {
    return this.#applier.redrive(id, mode);
  }
}
