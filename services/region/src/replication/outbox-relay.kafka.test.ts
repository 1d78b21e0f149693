/**
 * The relay's commit-safe order against the real PostgreSQL and Kafka: an outbox row whose
 * transaction commits late (a lower id committing after a higher one) is never skipped — the
 * higher row waits until the lower one's transaction ends, then both go out in id order with
 * contiguous sequences; a rolled-back id is a hole nobody waits for.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { HybridLogicalClock } from '@meridian/causality';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { decodeRecord, encodeRecord, SCHEMA_VERSION, updatesTopic, type UpdateRecord } from '@meridian/protocol';
import { PgStore } from '@meridian/store';
import { uniqueName, waitFor } from '@meridian/testkit';
import { OutboxRelay } from './outbox-relay.ts';
import { silentLogger } from './logger.ts';

const infra = inject('infra');
const region = `relay${randomBytes(3).toString('hex')}`;
const dbName = uniqueName('relay_order');
let store: PgStore;
let db: pg.Pool;
let relay: OutboxRelay;
let consumer: Consumer;
const seen: { sequence: bigint; outboxId: bigint; key: string }[] = [];

function envelope(key: string): Buffer {
  const record: UpdateRecord = {
    kind: 'update',
    schemaVersion: SCHEMA_VERSION,
    origin: { region, epoch: 1 },
    originSequence: 0n,
    outboxId: 0n,
    namespace: 'ns',
    policy: 'counter',
    key,
    hlc: 1n,
    traceparent: '',
    payload: { kind: 'crdt', delta: new Uint8Array() },
  };
  return Buffer.from(encodeRecord(record));
}

/** Appends an outbox row the way a write does (transaction id first), in the given open transaction. */
async function appendIn(client: pg.PoolClient, key: string): Promise<bigint> {
  const { rows } = await client.query<{ id: string }>('INSERT INTO meridian_outbox (message_key, envelope) SELECT $1, $2 FROM (SELECT pg_current_xact_id()) AS x RETURNING id::text', [`ns/${key}`, envelope(key)]);
  return BigInt(rows[0]!.id);
}

async function append(key: string): Promise<bigint> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const id = await appendIn(client, key);
    await client.query('COMMIT');
    return id;
  } finally {
    client.release();
  }
}

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  store = await PgStore.open({ connectionString: url, poolSize: 3 });
  db = new pg.Pool({ connectionString: url, max: 3 });
  db.on('error', () => undefined);
  relay = new OutboxRelay({ store, region, epoch: 1, brokers: [infra.kafka[0]], partitions: 2, clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), log: silentLogger, pollMs: 5 });
  await relay.start();
  const kafka = new Kafka({ clientId: 'relay-order-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
  consumer = kafka.consumer({ groupId: `relay-order-${region}`, readUncommitted: false, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: updatesTopic(region), fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      const record = decodeRecord(message.value!);
      if (record.kind === 'update') seen.push({ sequence: record.originSequence, outboxId: record.outboxId, key: record.key });
      return Promise.resolve();
    },
  });
}, 120_000);

afterAll(async () => {
  await consumer?.disconnect();
  await relay?.stop();
  await store?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

describe('the relay publishes in commit-safe order', () => {
  it('holds back rows above an id whose transaction is still open, then publishes all in id order', async () => {
    const first = await append('k0');
    await waitFor(() => seen.length, (n) => n === 1, { timeoutMs: 30_000, what: 'the first row published' });

    // A lower id drawn by a transaction that stays open while a higher one commits.
    const slow = await db.connect();
    await slow.query('BEGIN');
    const low = await appendIn(slow, 'late');
    const high = await append('early');
    expect(high).toBeGreaterThan(low);
    // The relay polls every 5 ms: give it many polls; it must not publish `high` past the open `low`.
    await new Promise((r) => setTimeout(r, 1500));
    expect(seen.map((s) => s.key)).toEqual(['k0']);

    await slow.query('COMMIT');
    slow.release();
    await waitFor(() => seen.length, (n) => n === 3, { timeoutMs: 30_000, what: 'both rows published after the late commit' });
    // Partitions are consumed independently: compare by sequence, not by arrival.
    const bySequence = [...seen].sort((x, y) => (x.sequence < y.sequence ? -1 : 1));
    expect(bySequence.map((s) => [s.sequence, s.outboxId])).toEqual([
      [1n, first],
      [2n, low],
      [3n, high],
    ]);
  });

  it('does not wait for a rolled-back id: the hole is skipped, sequences stay contiguous', async () => {
    const aborted = await db.connect();
    await aborted.query('BEGIN');
    const hole = await appendIn(aborted, 'rolled-back');
    const after = await append('after-hole');
    await aborted.query('ROLLBACK');
    aborted.release();
    await waitFor(() => seen.length, (n) => n === 4, { timeoutMs: 30_000, what: 'the row after the hole published' });
    expect(seen.find((s) => s.sequence === 4n)).toEqual({ sequence: 4n, outboxId: after, key: 'after-hole' });
    expect(seen.some((s) => s.outboxId === hole)).toBe(false);
    // The relay marks rows published after Kafka acknowledged them: a consumer can see the row first.
    const sequences = async (): Promise<(string | null)[]> => (await db.query<{ sequence: string | null }>('SELECT sequence::text FROM meridian_outbox ORDER BY id')).rows.map((r) => r.sequence);
    expect(await waitFor(sequences, (s) => s.every((x) => x !== null), { timeoutMs: 10_000, what: 'the rows marked published' })).toEqual(['1', '2', '3', '4']);
    expect(await waitFor(() => relay.status.lastSequence, (s) => s === 4n, { timeoutMs: 10_000, what: 'the relay at sequence 4' })).toBe(4n);
  });

  it('a relay whose lease moved on publishes nothing more and stands by', async () => {
    const before = seen.length;
    // Another relay takes the lease (and keeps it): this one's next read is refused.
    await db.query(`UPDATE meridian_relay SET lease_epoch = lease_epoch + 1, lease_owner = 'another relay', lease_expires_at = now() + interval '1 hour'`);
    await append('after-takeover');
    await waitFor(() => relay.status.role, (role) => role === 'standby', { timeoutMs: 30_000, what: 'the relay stood by' });
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.length).toBe(before);
    const { rows } = await db.query<{ sequence: string | null }>(`SELECT sequence::text FROM meridian_outbox WHERE message_key = 'ns/after-takeover'`);
    expect(rows).toEqual([{ sequence: null }]);
  });
});

describe('the relay prunes the outbox', () => {
  it('deletes published rows once they are older than its retention (MERIDIAN_OUTBOX_RETENTION), and no unpublished row', async () => {
    const name = uniqueName('relay_prune');
    const url = await createDatabase(name, infra.postgresUrl);
    const pruneStore = await PgStore.open({ connectionString: url, poolSize: 2 });
    const pruneRegion = `prune${randomBytes(3).toString('hex')}`;
    const pruning = new OutboxRelay({ store: pruneStore, region: pruneRegion, epoch: 1, brokers: [infra.kafka[0]], partitions: 1, clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), log: silentLogger, pollMs: 5, retentionSeconds: 1 });
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      await pruning.start();
      const insert = `INSERT INTO meridian_outbox (message_key, envelope) SELECT $1, $2 FROM (SELECT pg_current_xact_id()) AS x`;
      for (const key of ['p1', 'p2', 'p3']) await raw.query(insert, [`ns/${key}`, envelope(key)]);
      await waitFor(() => pruning.status.lastSequence, (s) => s === 3n, { timeoutMs: 20_000, what: 'the three rows published' });
      // A row whose transaction is still open is not published, so never pruned.
      await raw.query('BEGIN');
      await raw.query(insert, ['ns/open', envelope('open')]);
      const count = async (): Promise<number> => {
        const probe = new pg.Client({ connectionString: url });
        await probe.connect();
        try {
          return (await probe.query<{ n: number }>('SELECT count(*)::int AS n FROM meridian_outbox')).rows[0]!.n;
        } finally {
          await probe.end();
        }
      };
      // Well within the relay's default hour, and its former fixed minute between prunes.
      expect(await waitFor(count, (n) => n === 0, { timeoutMs: 15_000, intervalMs: 250, what: 'the published rows pruned after a second' })).toBe(0);
      await raw.query('COMMIT');
      await waitFor(() => pruning.status.lastSequence, (s) => s === 4n, { timeoutMs: 20_000, what: 'the late row published' });
    } finally {
      await raw.end().catch(() => undefined);
      await pruning.stop();
      await pruneStore.close();
      await dropDatabase(name, infra.postgresUrl);
    }
  }, 90_000);
});
