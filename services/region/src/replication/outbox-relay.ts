/**
 * The outbox relay (DESIGN §4): publishes this region's committed writes to its own Kafka topic
 * `meridian.<region>.updates`, in outbox-id order, each with a contiguous origin sequence.
 *
 * - One active relay per region, by a lease in PostgreSQL (renewed every second; a standby
 *   takes over when it expires). Every batch is read in one statement with the lease check and
 *   the lease's published position, and its sequences are counted from that position — never
 *   from a relay's memory — so every relay assigns a row the same sequence. A paused or
 *   partitioned old relay can at most publish the one batch it had read, under exactly the
 *   sequences its successor gives those rows (peers drop the copies as duplicates); its publish
 *   marks and its next read are refused for the old lease epoch, and it stands by
 *   (docs/decisions/0002). The producer is idempotent, one request in flight, acks=all; no Kafka
 *   transactions (each costs the broker milliseconds of CPU — measured in docs/benchmarks.md).
 * - Commit-safe order: a batch is taken only below the horizon — the highest outbox id seen,
 *   published only once every transaction that was running when it was seen has ended — so a
 *   lower id committing late is never skipped, and a rolled-back id is a hole nobody waits for.
 * - Sequences are assigned deterministically from the last marked position: a relay that takes
 *   over after an old one published but did not mark republishes the same rows under the same
 *   sequences (peers drop the duplicates), never under new ones.
 * - The stream is the region's current incarnation's (DESIGN §6): every record goes out under the
 *   actor `region.epoch` of this relay, numbered from 1 in a new incarnation (the sequence restarts
 *   when the epoch changes: `PgStore.startIncarnation`); only a relay of the database's current
 *   epoch can take the lease.
 * - A heartbeat every second: origin wall time, high-water sequence and this region's applied
 *   vector (peers use it for lag, fallback routing and skew estimates).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { logLevel, type Kafka, type Producer, type Message } from 'kafkajs';
import { decodeRecord, encodeRecord, updatesTopic, SCHEMA_VERSION, type ReplicationRecord } from '@meridian/protocol';
import type { PgStore } from '@meridian/store';
import type { HybridLogicalClock } from '@meridian/causality';
import { createKafka, type KafkaClientSecurity } from './kafka-client.ts';
import { PublishHorizon } from './publish-horizon.ts';
import { ensureUpdatesTopic } from './updates-topic.ts';
import type { Logger } from './logger.ts';

export interface OutboxRelayOptions {
  readonly store: PgStore;
  readonly region: string;
  readonly epoch: number;
  readonly brokers: readonly string[];
  /** TLS and SASL for every Kafka this region connects to (kafka-client.ts); absent: plaintext. */
  readonly kafkaSecurity?: KafkaClientSecurity | undefined;
  readonly partitions: number;
  /** Replicas of each partition of the topic when this relay creates it (default 1). */
  readonly replicationFactor?: number;
  readonly clock: HybridLogicalClock;
  readonly log: Logger;
  readonly pollMs?: number;
  /**
   * After publishing a batch that was not full, wait this long before the next (default 20 ms):
   * under load, one Kafka request carries the writes of a whole linger instead of a few, which
   * costs Kafka and the relay far less CPU, for at most this much more latency.
   */
  readonly lingerMs?: number;
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  readonly batchSize?: number;
  readonly retentionSeconds?: number;
}

export type RelayRole = 'starting' | 'active' | 'standby' | 'stopped';

export interface RelayStatus {
  readonly role: RelayRole;
  readonly lastSequence: bigint;
  readonly lastError: string | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class OutboxRelay {
  readonly #o: OutboxRelayOptions;
  readonly #kafka: Kafka;
  readonly #topic: string;
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  #producer: Producer | undefined;
  #role: RelayRole = 'starting';
  #epoch = 0n;
  #lastId = 0n;
  #lastSequence = 0n;
  #lastError: string | undefined;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #lastHeartbeat = 0;
  #lastRenew = 0;
  #lastPrune = 0;
  readonly #horizon: PublishHorizon;

  constructor(options: OutboxRelayOptions) {
    this.#o = options;
    this.#topic = updatesTopic(options.region);
    this.#horizon = new PublishHorizon(() => options.store.replication.outboxHorizon());
    this.#kafka = createKafka({ clientId: `meridian-relay-${options.region}`, brokers: [...options.brokers], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 }, ...options.kafkaSecurity });
  }

  get status(): RelayStatus {
    return { role: this.#role, lastSequence: this.#lastSequence, lastError: this.#lastError };
  }

  /** Creates or checks the topic (fixed partition count: `ensureUpdatesTopic`) and starts the publish loop in the background. */
  async start(): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      await ensureUpdatesTopic(admin, { topic: this.#topic, partitions: this.#o.partitions, replicationFactor: this.#o.replicationFactor ?? 1 });
    } finally {
      await admin.disconnect();
    }
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#loop;
    if (this.#role === 'active') await this.#o.store.replication.releaseRelayLease(this.#epoch).catch(() => undefined);
    await this.#producer?.disconnect().catch(() => undefined);
    this.#role = 'stopped';
  }

  async #run(): Promise<void> {
    const pollMs = this.#o.pollMs ?? 10;
    const lingerMs = this.#o.lingerMs ?? 20;
    const batchSize = this.#o.batchSize ?? 500;
    while (!this.#stopping) {
      try {
        if (this.#role !== 'active') {
          await this.#tryAcquire();
          if ((this.#role as RelayRole) !== 'active') {
            await sleep(500);
            continue;
          }
        }
        await this.#maintain();
        if (this.#role !== 'active') continue; // the lease was lost while renewing
        const published = await this.#publishOnce();
        this.#lastError = undefined;
        // A horizon waiting for running writes is checked again soon (they take milliseconds),
        // but not in a tight loop: every probe is a query, and under load one is nearly always waiting.
        if (published === 0) await sleep(this.#horizon.waiting ? Math.min(5, pollMs) : pollMs);
        else if (published < batchSize && lingerMs > 0) await sleep(lingerMs);
      } catch (error) {
        this.#lastError = (error as Error).message;
        this.#o.log.warn({ err: error }, 'relay: publish failed; retrying');
        // A Kafka failure may leave the idempotent producer's state unusable for good: a broker that
        // restarted without the producer's last batches answers every later send "out of order
        // sequence number". A new producer (a new producer id) starts clean; records it sends again
        // carry their origin sequences, which peers drop as duplicates.
        if (this.#role === 'active' && (error as Error).name.startsWith('KafkaJS')) await this.#newProducer().catch(() => undefined);
        await sleep(200);
      }
    }
  }

  async #tryAcquire(): Promise<void> {
    const lease = await this.#o.store.replication.acquireRelayLease(this.#owner, this.#o.leaseMs ?? 5000, this.#o.epoch);
    if (!lease) {
      this.#role = 'standby';
      return;
    }
    this.#epoch = lease.leaseEpoch;
    this.#lastId = lease.lastOutboxId;
    this.#lastSequence = lease.lastSequence;
    this.#horizon.reset();
    await this.#newProducer();
    this.#role = 'active';
    this.#lastRenew = Date.now();
    this.#o.log.info({ epoch: this.#epoch.toString(), lastSequence: this.#lastSequence.toString() }, 'relay: active');
  }

  /** Idempotent, one request in flight: a retried send neither duplicates nor reorders a partition. */
  async #newProducer(): Promise<void> {
    await this.#producer?.disconnect().catch(() => undefined);
    this.#producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.#producer.connect();
  }

  /** Lease renewal, heartbeats and pruning, each on its own period. */
  async #maintain(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastRenew >= 1000) {
      if (!(await this.#o.store.replication.renewRelayLease(this.#epoch, this.#o.leaseMs ?? 5000))) {
        this.#o.log.warn('relay: lease lost; standing by');
        this.#role = 'standby';
        return;
      }
      this.#lastRenew = now;
    }
    if (now - this.#lastHeartbeat >= (this.#o.heartbeatMs ?? 1000)) {
      await this.#heartbeat();
      this.#lastHeartbeat = now;
    }
    // Every minute, or every retention period when that is shorter.
    const retentionSeconds = this.#o.retentionSeconds ?? 3600;
    if (now - this.#lastPrune >= Math.min(60_000, retentionSeconds * 1000)) {
      await this.#o.store.replication.pruneOutbox(retentionSeconds);
      this.#lastPrune = now;
    }
  }

  async #heartbeat(): Promise<void> {
    const applied = new Map<string, bigint>();
    for (const row of await this.#o.store.replication.appliedPositions()) applied.set(row.origin, row.contiguous);
    const record: ReplicationRecord = {
      kind: 'heartbeat',
      schemaVersion: SCHEMA_VERSION,
      origin: { region: this.#o.region, epoch: this.#o.epoch },
      originWallMs: Date.now(),
      highWaterSequence: this.#lastSequence,
      applied,
      hlc: this.#o.clock.now(),
    };
    await this.#producer!.send({ topic: this.#topic, acks: -1, messages: [{ key: '~heartbeat', value: Buffer.from(encodeRecord(record)), partition: 0 }] });
  }

  /** One batch below the horizon; returns how many rows it published. */
  async #publishOnce(): Promise<number> {
    const replication = this.#o.store.replication;
    const safe = await this.#horizon.safe(this.#lastId);
    if (safe <= this.#lastId) return 0;
    // The rows and the position their sequences count from, read with the lease check.
    const batch = await replication.outboxForLease(this.#epoch, safe, this.#o.batchSize ?? 500);
    if (batch === 'fenced') {
      this.#standBy('relay: the lease moved on; standing by');
      return 0;
    }
    const { rows } = batch;
    if (rows.length === 0) {
      this.#lastId = safe; // only rolled-back ids in between: holes nobody waits for
      return 0;
    }
    let sequence = batch.lastSequence;
    const marks: { id: bigint; sequence: bigint }[] = [];
    const messages: Message[] = rows.flatMap((row) => {
      sequence += 1n;
      marks.push({ id: row.id, sequence });
      const record = decodeRecord(row.envelope);
      // The stream is this incarnation's: a row written under an earlier epoch and not yet
      // published goes out under this actor and its sequence (its payload's dots are as written).
      const stamped = Buffer.from(encodeRecord({ ...record, origin: { region: this.#o.region, epoch: this.#o.epoch }, originSequence: sequence, outboxId: row.id } as ReplicationRecord));
      const headers: Record<string, string> = { 'meridian-origin': `${this.#o.region}.${this.#o.epoch}`, 'meridian-sequence': sequence.toString(), 'meridian-outbox-id': row.id.toString() };
      if (record.kind !== 'heartbeat' && record.traceparent) headers['traceparent'] = record.traceparent;
      // A namespace declaration goes to every partition, ahead of every later update of that
      // namespace in each: a consumer never meets an update of a namespace it cannot know yet
      // (the copies share one sequence; all but the first are dropped as duplicates).
      if (record.kind === 'namespace') return Array.from({ length: this.#o.partitions }, (_, partition) => ({ key: row.messageKey, value: stamped, headers, partition }));
      return [{ key: row.messageKey, value: stamped, headers }];
    });
    await this.#producer!.send({ topic: this.#topic, acks: -1, messages });
    if ((await replication.markPublished(this.#epoch, marks)) === 'fenced') {
      this.#standBy('relay: the lease moved on while publishing; standing by');
      return 0;
    }
    this.#lastId = rows.at(-1)!.id;
    this.#lastSequence = sequence;
    return rows.length;
  }

  #standBy(message: string): void {
    this.#o.log.warn(message);
    this.#role = 'standby';
  }
}
