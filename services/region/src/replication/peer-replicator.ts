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
 * - A gap no batch shows: after its applies, and after each claim, a replica judges the link
 *   from the database — whichever replica consumed which partition, idle partitions too — and
 *   Kafka's offsets read after it, at most once per `GAP_CHECK_MS`, and every `GAP_RECHECK_MS`
 *   while it runs (a replica whose partitions are idle finds what the others' consumption
 *   revealed): every stored offset against its partition's log start and end (`lostStoredOffset`:
 *   records deleted to the end of a partition that then stays idle fetch nothing), then every
 *   origin's sequences (`sequenceGap`: a topic recreated and refilled past the stored offsets).
 *   A partition's end is its high watermark, not its last stable offset. A loss one replica
 *   stored fails the link on every replica at their next check.
 * - A newer schema version pauses the link instead of being dead-lettered.
 * - An operator's pause is Meridian's state, not the consumer's: `pause`/`resume` set the link
 *   state whether or not the consumer is running (kafkajs refuses to pause a consumer between
 *   runs), and every claim pauses the consumer again while the link is paused; the intent itself
 *   is stored by `Replication` and survives restarts.
 */
import { logLevel, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import type { HybridLogicalClock } from '@meridian/causality';
import { consumerGroupPrefix, updatesTopic } from '@meridian/protocol';
import type { PgStore, StoredLinkStream } from '@meridian/store';
import { BatchApplier, decode, type BatchResult, type PartitionBatch, type ReplicatorHooks } from './batch-applier.ts';
import { GroupCommitQueue } from '../group-commit.ts';
import { createKafka, type KafkaClientSecurity } from './kafka-client.ts';
import { nextLinkState, type LinkEvent, type LinkState } from '@meridian/replication-link';
import type { Logger } from './logger.ts';
import { earlierTailsPending, lostOffset, lostStoredOffset, sequenceGap, type LostPartition, type SequenceGap, type Watermark } from './reseed-plan.ts';

export { RedriveError, type ReplicatorHooks } from './batch-applier.ts';

/** The most often a replica judges the link's stored offsets and stream for a loss (a database read, then Kafka's offsets). */
export const GAP_CHECK_MS = 1000;
/** How often a running link judges its stream for a sequence gap when nothing asks sooner (idle partitions, another replica's finding). */
export const GAP_RECHECK_MS = 5000;

/** The default cap on the messages one apply transaction takes (a single larger batch still goes alone). */
export const DEFAULT_MAX_GROUP_MESSAGES = 5000;

export interface PeerReplicatorOptions {
  readonly store: PgStore;
  readonly self: string;
  readonly peer: string;
  readonly brokers: readonly string[];
  /** TLS and SASL for every Kafka this region connects to (kafka-client.ts); absent: plaintext. */
  readonly kafkaSecurity?: KafkaClientSecurity | undefined;
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
  /**
   * Whether an earlier incarnation of the peer may still have records this link has not consumed
   * (`earlierTailsPending`), as the latest check found; undefined: not judged since the claim.
   */
  #earlierTail: boolean | undefined;
  /** The sequence-gap check (`#requestGapCheck`): running, asked again meanwhile, scheduled, last started. */
  #gapCheck: { running: boolean; again: boolean; timer: NodeJS.Timeout | undefined; due: number; last: number } = { running: false, again: false, timer: undefined, due: 0, last: 0 };
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
  /** Every connect loop still running (`stop` waits for them all). */
  readonly #loops = new Set<Promise<void>>();
  /**
   * Counts connect loops: a loop whose number is no longer this one gives way (a reseed's restart
   * or a crash started another), so that the link never keeps two consumers in its group.
   */
  #loop = 0;
  #everStreamed = false;
  /** Crashes of the link's consumer since it last applied a batch: the backoff of the next start. */
  #crashes = 0;
  /** Each consumer's sweep (`#newConsumer`): an old consumer handed a batch stops itself. */
  readonly #sweeps = new WeakMap<Consumer, () => void>();
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
    // Its admins answer high watermarks (`listingHighWatermarks`): the end of a partition is its last record, not its last stable offset.
    this.#kafka = createKafka({ clientId: `meridian-${options.self}-from-${options.peer}`, brokers: [...options.brokers], logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 200 }, ...options.kafkaSecurity }, { highWatermarks: true });
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
  /**
   * Whether an earlier incarnation of the peer may still have records this link has not consumed
   * (undefined: not judged since the latest claim): lag measures the current actor's stream only,
   * so the link is not caught up while this holds (`Replication.refresh`).
   */
  get earlierTailPending(): boolean | undefined {
    return this.#earlierTail;
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
    this.#startLoop(0);
  }

  /**
   * The link's consumer is no longer the link's: its events stop counting, its claim gives way and
   * its assignment is forgotten (a resume claims only what the next consumer's join assigns).
   */
  #retire(): Consumer | undefined {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#assigned = [];
    this.#generation++;
    return consumer;
  }

  /** Starts a connect loop (after `delayMs`); every earlier loop gives way. */
  #startLoop(delayMs: number): void {
    const loop = this.#connect(++this.#loop, delayMs);
    this.#loops.add(loop);
    void loop.finally(() => this.#loops.delete(loop));
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
    if (retry && consumer && this.#assigned.length > 0) {
      // Resuming a failed link retries it: claim the assigned partitions again, which checks each
      // stored offset against Kafka once more. A partition lost at its claim was never claimed, so
      // without a new claim it would apply nothing while the link no longer looked failed. The
      // need of a reseed is not cleared: stored (`meridian_link_reseeds`), the claim fails the
      // link again until a reseed completes.
      this.#claiming = this.#claimAfter(consumer, this.#assigned, ++this.#generation);
    }
    try {
      this.#consumer?.resume([{ topic: this.#topic }]);
    } catch {
      // Between runs: the consumer starts unpaused, and its next claim sees the link running.
    }
    this.#requestGapCheck();
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
    clearTimeout(this.#gapCheck.timer);
    const consumer = this.#retire(); // if it is still starting, it stops itself once it runs
    await consumer?.disconnect().catch(() => undefined);
    await Promise.all([...this.#loops]);
  }

  /**
   * Keeps trying to join until it streams (the peer's Kafka or topic may not exist yet); a joining
   * region's link seeds first. Gives way as soon as another loop started (`#loop`), and each
   * attempt disconnects only the consumer it made — also one that started after the loop gave way
   * (kafkajs ignores a disconnect while a consumer is still joining).
   */
  async #connect(loop: number, delayMs: number): Promise<void> {
    const current = () => !this.#stopping && loop === this.#loop;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    for (let attempt = 0; current(); attempt++) {
      let consumer: Consumer | undefined;
      try {
        if (this.#seeding) {
          this.#reason = `seeding from ${this.peer} over gRPC before consuming (a joining region)`;
          await this.#o.seed!();
          this.#seeding = false;
          this.#reason = undefined;
        }
        if (!current()) return;
        consumer = this.#newConsumer();
        await this.#runConsumer(consumer);
        if (!current()) await consumer.disconnect().catch(() => undefined);
        return;
      } catch (error) {
        if (consumer !== undefined && this.#consumer === consumer) this.#retire();
        await consumer?.disconnect().catch(() => undefined);
        if (!current()) return;
        this.#reason = this.#seeding ? `seeding from ${this.peer} failed (retrying): ${(error as Error).message}` : `cannot consume ${this.#topic}: ${(error as Error).message}`;
        this.signal('disconnected', this.#reason);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  /**
   * Makes the link's consumer. Its events count only while it is the link's consumer
   * (`this.#consumer`): an old one being disconnected (a reseed's restart, a crash) still emits
   * joins, crashes and batches, which must neither claim, start another consumer nor apply. Nor
   * may it stay in the group, where a member that applies nothing holds its partitions for good:
   * kafkajs restarts a crashed consumer by itself after a delay, even one whose `disconnect` ran
   * while it crashed, and a `disconnect` while a consumer joins does nothing (kafkajs stops only
   * a running consumer). So kafkajs never restarts a consumer (`restartOnFailure`: a crash starts
   * a new connect loop, after a backoff), and an old consumer that shows it runs (it joins,
   * fetches, heartbeats or is handed a batch) is disconnected again.
   */
  #newConsumer(): Consumer {
    const current = (): boolean => consumer === this.#consumer;
    let sweeping = false;
    const sweep = (): void => {
      if (current() || sweeping) return;
      sweeping = true;
      // After the emitting call returns: a join's consumer runs only once its join completes.
      setImmediate(() => void consumer.disconnect().catch(() => undefined).finally(() => (sweeping = false)));
    };
    const consumer: Consumer = this.#kafka.consumer({
      groupId: `${consumerGroupPrefix(this.#o.self)}from.${this.peer}`,
      readUncommitted: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 100,
      retry: { retries: 10, restartOnFailure: () => Promise.resolve(false) },
    });
    this.#consumer = consumer;
    this.#sweeps.set(consumer, sweep);
    consumer.on(consumer.events.FETCH_START, sweep);
    consumer.on(consumer.events.HEARTBEAT, sweep);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (!current()) {
        sweep();
        return;
      }
      const partitions = payload.memberAssignment[this.#topic] ?? [];
      this.#assigned = partitions;
      this.#claiming = this.#claimAfter(consumer, partitions, ++this.#generation);
    });
    // A fetched batch of control records (transaction markers) or aborted records only never
    // reaches eachBatch (kafkajs resolves it itself): its end is stored here, so that the partition
    // reads caught up exactly (`PartitionBatch.through`).
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (!current() || payload.topic !== this.#topic || payload.batchSize !== 0 || payload.firstOffset === null) return;
      void this.#passFiltered(consumer, payload.partition, BigInt(payload.firstOffset), BigInt(payload.lastOffset));
    });
    // kafkajs disconnected the crashed consumer already and does not restart it: a new loop does.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.#stopping || !current()) return;
      this.#restartAfterCrash(`consumer crashed: ${payload.error.message}`);
    });
    // kafkajs stops a consumer that crashed before it says so (CRASH), and says nothing if its own
    // disconnect then fails: a current consumer stopped by no one here counts as crashed.
    consumer.on(consumer.events.STOP, () => {
      if (this.#stopping || !current()) return;
      setTimeout(() => {
        if (!this.#stopping && current()) this.#restartAfterCrash('consumer stopped');
      }, 1000);
    });
    return consumer;
  }

  /** The link's consumer crashed (kafkajs disconnected it and does not restart it): a new loop starts after a backoff. */
  #restartAfterCrash(reason: string): void {
    this.signal('disconnected', reason);
    // Already disconnected after a crash; after a stop whose disconnect failed, its connections close now.
    void this.#retire()?.disconnect().catch(() => undefined);
    this.#crashes++;
    this.#startLoop(Math.min(5000, 250 * 2 ** Math.min(this.#crashes, 5)));
  }

  async #runConsumer(consumer: Consumer): Promise<void> {
    await consumer.connect();
    await consumer.subscribe({ topic: this.#topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: this.#o.partitions ?? 16, eachBatch: (payload) => this.#eachBatch(consumer, payload) });
  }

  /**
   * Claims the assigned partitions, retrying with backoff until it succeeds, the consumer stops or
   * a newer join takes over: a partition without a claim applies nothing, so a claim that failed
   * once (PostgreSQL or Kafka briefly unreachable) must not leave the link stalled until the next
   * rebalance.
   */
  /**
   * A claim starts once the previous one has given way: two running at once would bump the owner
   * epochs in either order, and the later claim's epoch could be the lower one (its batches fenced).
   */
  async #claimAfter(consumer: Consumer, partitions: readonly number[], generation: number): Promise<void> {
    await this.#claiming;
    await this.#claimUntilDone(consumer, partitions, generation);
  }

  /** Whether a claim made for `consumer` at `generation` still stands: no newer join, no other consumer, not stopping. */
  #claimStands(consumer: Consumer, generation: number): boolean {
    return !this.#stopping && generation === this.#generation && consumer === this.#consumer;
  }

  async #claimUntilDone(consumer: Consumer, partitions: readonly number[], generation: number): Promise<void> {
    for (let attempt = 0; this.#claimStands(consumer, generation); attempt++) {
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
    this.#earlierTail = undefined;
    // A consumer that crashed or was replaced claims nothing: each claim bumps the owner epochs and
    // would fence the batches of whoever holds the partitions now (another replica, the new consumer).
    if (partitions.length === 0 || !this.#claimStands(consumer, generation)) return;
    const claimed = await this.#o.store.replication.claimPartitions(this.peer, partitions);
    const watermarks = await this.#watermarks();
    // A reseed found needed before (by this process, another replica, before a restart) and not
    // completed since: the link stays failed until a reseed's commit deletes the stored need (the
    // records it skipped were never applied; the offsets may already be past them).
    const needed = (await this.#o.store.replication.linkReseed(this.peer)) ?? (this.#needsReseed && this.#lostReason ? { reason: this.#lostReason, gap: this.#gap } : undefined);
    if (!this.#claimStands(consumer, generation)) return; // a newer join, or another consumer, claims for itself
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
    // A gap another replica's consumption (or this one's before a restart) left in the database.
    this.#requestGapCheck();
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
    // The old consumer's events no longer count (its crash would start a consumer of its own; its
    // join would claim beside the new one's), and a running connect loop gives way without being
    // waited for (it may retry a join for minutes while the peer's Kafka is down): the consumer
    // it is starting disconnects itself once it runs.
    const old = this.#retire(); // a claim of the old consumer's join gives way
    await old?.disconnect().catch(() => undefined);
    if (this.#stopping) return;
    this.#startLoop(0);
  }

  /** A reseed attempt failed: the failure reason says why too (the link stays failed). */
  noteReseedFailure(message: string): void {
    if (!this.#needsReseed || this.#state !== 'failed') return;
    this.#reason = `${this.#lostReason ?? 'needs a reseed'}; the last reseed attempt failed: ${message}`;
  }

  /** Each partition's log start (`low`) and end (`high`: its high watermark, open transactions' records included) offsets in the peer's Kafka. */
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

  async #eachBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    // An old consumer's batch (a reseed restarted the link): the partition epochs are the new one's.
    const old = (): boolean => {
      if (consumer === this.#consumer && !this.#stopping) return false;
      this.#sweeps.get(consumer)?.();
      return true;
    };
    if (old()) return;
    await this.#claiming;
    if (old()) return;
    const epoch = this.#epochs.get(batch.partition);
    if (epoch === undefined || this.#state === 'paused' || this.#state === 'failed' || !payload.isRunning() || payload.isStale()) return;
    // The batch's first offset as fetched, control records and aborted records included.
    const first = batch.firstOffset();
    const expected = this.#expected.get(batch.partition);
    if (first !== null && expected !== undefined && BigInt(first) !== expected) {
      const lost = await this.#gapBefore(batch.partition, expected);
      if (old() || this.#epochs.get(batch.partition) !== epoch) return; // no longer this consumer's to judge
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
      // A link paused or failed meanwhile (the gap check runs on its own timer; an operator pauses
      // at any time; a newer claim fences) applies nothing more of the batch: a failed link moves
      // no offset. kafkajs fetches the rest again once the link runs.
      if (consumer !== this.#consumer || !this.#mayApply(batch.partition, epoch)) return;
      const chunk = applicable.slice(start, start + this.#chunk);
      let result: BatchResult;
      try {
        // Waits for the transaction that takes this chunk together with the other partitions' waiting ones.
        // The batch's last chunk stores the offset past its trailing control records, if any.
        const last = tooNew < 0 && start + this.#chunk >= applicable.length;
        result = await this.#queue.submit({ partition: batch.partition, epoch, messages: chunk, through: last ? BigInt(batch.lastOffset()) + 1n : undefined });
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
      this.#crashes = 0;
      if (this.#epochs.get(batch.partition) === epoch) this.#expected.set(batch.partition, chunk.at(-1)!.offset + 1n);
      this.#requestGapCheck();
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

  /**
   * Stores the end of a fetched batch that held only control or aborted records (`END_BATCH_PROCESS`
   * with no message) as the partition's next offset, when it starts where the partition's next
   * offset is: one that starts elsewhere (a jump) is left to the next batch's gap check.
   */
  async #passFiltered(consumer: Consumer, partition: number, first: bigint, last: bigint): Promise<void> {
    await this.#claiming;
    const epoch = this.#epochs.get(partition);
    if (consumer !== this.#consumer || epoch === undefined || this.#state === 'paused' || this.#state === 'failed' || this.#expected.get(partition) !== first) return;
    this.#expected.set(partition, last + 1n);
    try {
      const result = await this.#queue.submit({ partition, epoch, messages: [], through: last + 1n });
      if (result === 'fenced' && this.#epochs.get(partition) === epoch) this.#epochs.delete(partition);
    } catch (error) {
      // Nothing stored: the partition's next offset stays at the markers (never read as caught up).
      this.#o.log.warn({ err: error, peer: this.peer, partition }, 'replication: storing the offset past control records failed');
    }
  }

  /** Whether a batch fetched under `epoch` may still apply: the link neither paused nor failed, the partition's claim still held. */
  #mayApply(partition: number, epoch: bigint): boolean {
    return this.#state !== 'paused' && this.#state !== 'failed' && this.#epochs.get(partition) === epoch;
  }

  /** Stopping, paused or failed: no gap check runs (a paused link consumes nothing; a failed one already needs a reseed). */
  #halted(): boolean {
    return this.#stopping || this.#state === 'paused' || this.#state === 'failed';
  }

  /**
   * Asks for a sequence-gap check: as soon as `GAP_CHECK_MS` has passed since the last one began
   * (`delayMs`: not before then either); once more after a running one. Besides the checks its
   * applies and claims ask for, a running link checks every `GAP_RECHECK_MS`: a replica whose
   * partitions are idle must still find a gap that the other replicas' consumption revealed, or
   * that one of them stored (it follows the stored need of a reseed, as a claim does).
   */
  #requestGapCheck(delayMs = 0): void {
    const g = this.#gapCheck;
    if (g.running) {
      g.again = true;
      return;
    }
    if (this.#stopping) return;
    const due = Math.max(Date.now() + delayMs, g.last + GAP_CHECK_MS);
    if (g.timer !== undefined && g.due <= due) return;
    clearTimeout(g.timer);
    g.due = due;
    g.timer = setTimeout(() => {
      g.timer = undefined;
      void this.#runGapCheck();
    }, due - Date.now());
  }

  async #runGapCheck(): Promise<void> {
    const g = this.#gapCheck;
    if (this.#halted()) return;
    g.running = true;
    g.last = Date.now();
    try {
      // Another replica of the region found a loss (a gap, an offset) and stored it: this one fails too.
      const needed = await this.#o.store.replication.linkReseed(this.peer);
      const stored = await this.#o.store.replication.linkStream(this.peer);
      // Kafka's offsets after the snapshot: every stored partition against its log start and end
      // (an idle one fetches nothing, so no batch's jump would reveal records deleted from it).
      const marks = needed ? undefined : await this.#watermarks();
      const lost = marks ? await this.#lostStoredOffset(stored, marks) : undefined;
      const gap = marks && !lost ? sequenceGap(stored, new Map([...marks].map(([partition, mark]) => [partition, mark.high]))) : undefined;
      if (!needed && !lost && !gap) this.#earlierTail = await this.#earlierTailPending(stored);
      if (needed && !this.#halted()) this.#fail(this.#consumer, needed.reason, needed.gap);
      else if (lost && !this.#halted()) await this.#lose(this.#consumer, `partition ${lost.partition}: ${lost.reason}`);
      else if (gap && !this.#halted()) {
        await this.#lose(this.#consumer, `${gap.origin}'s sequence ${gap.sequence} is in none of the partitions of ${this.#topic}: each was consumed past where it would lie (later sequences, or the end of the partition after the peer had published it), so records were deleted or the topic was recreated and refilled past the stored offsets`, gap);
      }
    } catch (error) {
      this.#o.log.warn({ err: error, peer: this.peer }, 'replication: the sequence-gap check failed; it runs again');
    } finally {
      g.running = false;
      const again = g.again;
      g.again = false;
      if (!this.#halted()) this.#requestGapCheck(again ? 0 : GAP_RECHECK_MS);
    }
  }

  /**
   * A stored partition Kafka can no longer serve (`lostStoredOffset`): the offsets of `stored` (read
   * before `marks`), and, only when one of them is below a log start, the stored offsets read again
   * after `marks` to confirm it (the link may have consumed past a log start that moved since).
   */
  async #lostStoredOffset(stored: StoredLinkStream, marks: ReadonlyMap<number, Watermark>): Promise<LostPartition | undefined> {
    const before = new Map([...stored.partitions].map(([partition, at]) => [partition, at.nextOffset]));
    if (!lostStoredOffset(before, marks, before)) return undefined;
    return lostStoredOffset(before, marks, await this.#o.store.replication.peerOffsets(this.peer));
  }

  /**
   * Whether an earlier incarnation's tail may be unconsumed (`earlierTailsPending`). Kafka's
   * offsets are read only when the peer has had another actor and some partition has not yet
   * delivered one of the current actor's records.
   */
  async #earlierTailPending(stored: StoredLinkStream): Promise<boolean> {
    const current = stored.current;
    if (current === undefined) return false; // no heartbeat yet: lag is not measured either
    // Kafka's offsets only when the peer has had another actor: against a partition nothing settles, every earlier actor is listed.
    if (earlierTailsPending(stored, current, new Map([[-1, { low: 0n, high: 1n }]])).length === 0) return false;
    return earlierTailsPending(stored, current, await this.#watermarks()).length > 0;
  }

  /** Redrives (or discards) a dead letter of this peer: see `BatchApplier.redrive`. */
  redrive(id: bigint, mode: 'retry' | 'discard'): Promise<{ applied: number; released: boolean }> {
    return this.#applier.redrive(id, mode);
  }
}
