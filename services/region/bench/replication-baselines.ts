/**
 * The baselines of the replication benchmark (replication-catchup.ts), each measured in the same
 * run on the same machine as the Meridian figure it stands beside:
 *
 * - `NativeReplication`: PostgreSQL's own logical replication (pgoutput publication →
 *   subscription) between two databases of one server, apply-only catch-up. The slot is created
 *   first and the subscription refers to it (`create_slot = false`): a subscription that creates
 *   its slot on its own cluster waits forever for its own transaction. `copy_data = false`, so
 *   every row reaches the subscriber through the apply worker (WAL decoding → apply), never
 *   through the initial COPY. The backlog is written while the subscription is disabled, one
 *   transaction per row (the apply worker replays each as its own transaction, as Meridian's
 *   writes are one transaction each), then the subscription is enabled and timed until every
 *   row is there.
 * - `kafkaLatency`: a raw kafkajs producer (acks = all, paced, the messages due at each ≈1 ms
 *   tick in one send, like a producer's linger) → a kafkajs consumer in this process, through
 *   one broker: the transport floor under Meridian's end-to-end lag (its relay and replicators
 *   add PostgreSQL polls, Kafka sends and applies).
 */
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { databaseUrl, type KafkaClientSecurity } from '@meridian/infra-local';
import { percentile } from './load.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A table shaped like Meridian's key rows (`meridian_keys`). */
const KEY_TABLE = `CREATE TABLE bench_keys (
  namespace text NOT NULL,
  key text NOT NULL,
  state bytea,
  max_hlc bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, key)
)`;

export interface NativeReplicationOptions {
  /** Any database URL of the server (its host and port are kept). */
  readonly serverUrl: string;
  readonly publisherDb: string;
  readonly subscriberDb: string;
  readonly rows: number;
  readonly stateBytes: number;
  readonly namespace: string;
}

export class NativeReplication {
  readonly #o: NativeReplicationOptions;
  readonly #publisher: pg.Client;
  readonly #subscriber: pg.Client;
  #subscribed = false;

  private constructor(options: NativeReplicationOptions) {
    this.#o = options;
    this.#publisher = new pg.Client({ connectionString: databaseUrl(options.serverUrl, options.publisherDb) });
    this.#subscriber = new pg.Client({ connectionString: databaseUrl(options.serverUrl, options.subscriberDb) });
  }

  /** Tables, publication, slot, and a disabled subscription. */
  static async prepare(options: NativeReplicationOptions): Promise<NativeReplication> {
    const native = new NativeReplication(options);
    await native.#publisher.connect();
    await native.#subscriber.connect();
    await native.#publisher.query(KEY_TABLE);
    await native.#subscriber.query(KEY_TABLE);
    await native.#publisher.query('CREATE PUBLICATION bench_pub FOR TABLE bench_keys');
    await native.#publisher.query("SELECT pg_create_logical_replication_slot('bench_slot', 'pgoutput')");
    const server = new URL(options.serverUrl);
    const conninfo = `host=${server.hostname} port=${server.port} user=${decodeURIComponent(server.username) || 'postgres'} dbname=${options.publisherDb}`;
    await native.#subscriber.query(
      `CREATE SUBSCRIPTION bench_sub CONNECTION '${conninfo}' PUBLICATION bench_pub WITH (create_slot = false, slot_name = 'bench_slot', enabled = false, copy_data = false)`,
    );
    native.#subscribed = true;
    return native;
  }

  /** The backlog: `rows` upserts of distinct keys, one transaction each, while the subscription is disabled. */
  async writeBacklog(): Promise<number> {
    const { rows, stateBytes, namespace } = this.#o;
    const started = performance.now();
    // A procedure-style DO block may COMMIT between statements: one transaction per row, without
    // a client round trip per row (the writing side is not what is measured).
    await this.#publisher.query(`DO $$
      DECLARE
        filler bytea := decode(repeat(md5('meridian'), ${Math.ceil(stateBytes / 16)}), 'hex');
      BEGIN
        FOR i IN 1..${rows} LOOP
          INSERT INTO bench_keys (namespace, key, state, max_hlc) VALUES ('${namespace}', 'k' || i, substring(int4send(i) || filler FROM 1 FOR ${stateBytes}), i)
          ON CONFLICT (namespace, key) DO UPDATE SET state = excluded.state, max_hlc = excluded.max_hlc, updated_at = now();
          COMMIT;
        END LOOP;
      END $$`);
    return (performance.now() - started) / 1000;
  }

  /** Enables the subscription; resolves with the seconds until the subscriber holds every row. */
  async catchUp(timeoutMs: number): Promise<number> {
    const started = performance.now();
    await this.#subscriber.query('ALTER SUBSCRIPTION bench_sub ENABLE');
    for (;;) {
      const { rows } = await this.#subscriber.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_keys');
      if (rows[0]!.n >= this.#o.rows) return (performance.now() - started) / 1000;
      if (performance.now() - started > timeoutMs) throw new Error(`native logical replication: ${rows[0]!.n} of ${this.#o.rows} rows after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  /** The subscription without dropping its slot remotely (same cluster), then the slot; best effort. */
  async close(): Promise<void> {
    if (this.#subscribed) {
      await this.#subscriber.query('ALTER SUBSCRIPTION bench_sub DISABLE').catch(() => undefined);
      await this.#subscriber.query('ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)').catch(() => undefined);
      await this.#subscriber.query('DROP SUBSCRIPTION bench_sub').catch(() => undefined);
      // The apply worker's walsender lets go of the slot a moment after the DISABLE.
      for (let i = 0; i < 50; i++) {
        const dropped = await this.#publisher.query("SELECT pg_drop_replication_slot('bench_slot')").then(
          () => true,
          (error: unknown) => /does not exist/.test((error as Error).message),
        );
        if (dropped) break;
        await sleep(100);
      }
    }
    await this.#publisher.end().catch(() => undefined);
    await this.#subscriber.end().catch(() => undefined);
  }
}

export interface KafkaLatency {
  readonly sent: number;
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Every latency in ms (for combining flows). */
  readonly sample: Float64Array;
}

/**
 * Produce → consume latency through one broker at `rate` messages/s for `seconds`: each message
 * carries its send time (this process's monotonic clock) and the consumer, in this process,
 * subtracts it on receipt. The consumer joins and receives a warm-up message before the paced
 * sends start, so group joins and first fetches are not measured.
 */
export async function kafkaLatency(options: {
  readonly bootstrap: string;
  readonly topic: string;
  readonly partitions: number;
  readonly rate: number;
  readonly seconds: number;
  readonly valueBytes: number;
  readonly keys: number;
  /** TLS and SASL settings (a broker's `adminSecurity`); absent: plaintext. */
  readonly security?: KafkaClientSecurity | undefined;
}): Promise<KafkaLatency> {
  const kafka = new Kafka({ clientId: 'meridian-bench-kafka-baseline', brokers: [options.bootstrap], logLevel: logLevel.NOTHING, ...options.security });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: options.topic, numPartitions: options.partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  // The replicator's fetch settings (peer-replicator.ts): maxWaitTimeInMs 100, every partition's batch at once.
  const consumer = kafka.consumer({ groupId: `${options.topic}.consumer`, maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  const latencies: number[] = [];
  let warmups = 0;
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      // Like the replicator: offsets are not committed to Kafka (a commit per batch would slow the fetch loop).
      autoCommit: false,
      partitionsConsumedConcurrently: options.partitions,
      eachMessage: ({ message }) => {
        const at = performance.now();
        const value = message.value;
        if (!value || value.length < 9) return Promise.resolve();
        if (value[8] === 1) warmups++;
        else latencies.push(at - value.readDoubleLE(0));
        return Promise.resolve();
      },
    });
    const value = (warmup: boolean): Buffer => {
      const buffer = Buffer.alloc(Math.max(9, options.valueBytes), 0x78);
      buffer.writeDoubleLE(performance.now(), 0);
      buffer[8] = warmup ? 1 : 0;
      return buffer;
    };
    const deadline = Date.now() + 60_000;
    while (warmups === 0) {
      if (Date.now() > deadline) throw new Error(`kafka baseline on ${options.bootstrap}: the consumer received nothing within 60 s`);
      await producer.send({ topic: options.topic, acks: -1, messages: [{ key: 'warmup', value: value(true) }] });
      await sleep(500);
    }

    const total = Math.max(1, Math.round(options.rate * options.seconds));
    const interval = 1000 / options.rate;
    const inFlight = new Set<Promise<unknown>>();
    let failures = 0;
    let sent = 0;
    const started = performance.now();
    while (sent < total) {
      const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      if (sent < due) {
        // Every message due by now in one request: one per tick of this loop (≈ 1 ms), like a
        // producer's linger. Only a late tick (a busy machine) groups several.
        const messages = Array.from({ length: due - sent }, () => ({ key: `k${1 + Math.floor(Math.random() * options.keys)}`, value: value(false) }));
        const done = producer.send({ topic: options.topic, acks: -1, messages }).catch(() => {
          failures += messages.length;
        });
        sent = due;
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done));
      }
      if (sent < total) await sleep(1);
    }
    await Promise.all(inFlight);
    if (failures > 0) throw new Error(`kafka baseline on ${options.bootstrap}: ${failures} of ${total} sends failed`);
    const drainDeadline = Date.now() + 30_000;
    while (latencies.length < total && Date.now() < drainDeadline) await sleep(20);
    const sample = Float64Array.from(latencies);
    const received = sample.length;
    return { sent: total, received, p50: percentile(sample, 50), p99: percentile(sample, 99), max: sample.length > 0 ? sample[sample.length - 1]! : Number.NaN, sample };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
  }
}
