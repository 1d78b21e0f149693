/**
 * A replicator catching up on a backlog larger than its transactions: each partition's batch is
 * applied in chunks (its share of a group), so every transaction takes a slice of every
 * partition — and everything is applied, once, with the offsets and the applied vector complete.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { DvvSet, HybridLogicalClock } from '@meridian/causality';
import { consumerGroupPrefix, encodeRecord, kafkaMessageKey, updatesTopic, withSequence, type UpdateRecord } from '@meridian/protocol';
import { PgStore } from '@meridian/store';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { decodeRegisterSet, encodeRegisterSet, type RegisterVersion } from '@meridian/crdt';
import { BatchApplier } from './batch-applier.ts';
import { silentLogger } from './logger.ts';
import { PeerReplicator } from './peer-replicator.ts';

const infra = inject('infra');
const PEER = `pr${randomBytes(3).toString('hex')}`;
const PARTITIONS = 2;
const UPDATES = 120;
const db = uniqueName('peer_replicator');
let store: PgStore;

/** A peer's backlog on its topic: its namespace (on every partition), then UPDATES lww writes of distinct keys (sequences after `after`). */
async function produceBacklog(peer: string, after = 1): Promise<void> {
  const kafka = new Kafka({ clientId: 'peer-replicator-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  if (after === 1) await admin.createTopics({ topics: [{ topic: updatesTopic(peer), numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const fields = (sequence: number) => ({ schemaVersion: 1, origin: { region: peer, epoch: 1 }, originSequence: 0n, outboxId: BigInt(sequence), namespace: 'n', policy: 'lww' as const, hlc: BigInt(1000 + sequence) << 16n, traceparent: '' });
  const declared = withSequence(encodeRecord({ kind: 'namespace', ...fields(1) }), 1n);
  const messages = Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, key: 'n/', value: Buffer.from(declared) }));
  if (after > 1) messages.length = 0;
  for (let sequence = after + 1; sequence <= after + UPDATES; sequence++) {
    const key = `k${sequence}`;
    const state = encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, `${peer}.1`, { value: sequence, hlc: BigInt(1000 + sequence) << 16n, traceparent: undefined }).set);
    const record: UpdateRecord = { kind: 'update', ...fields(sequence), key, payload: { kind: 'register', state } };
    messages.push({ partition: sequence % PARTITIONS, key: kafkaMessageKey('n', key), value: Buffer.from(withSequence(encodeRecord(record), BigInt(sequence))) });
  }
  await producer.send({ topic: updatesTopic(peer), acks: -1, messages });
  await producer.disconnect();
}

/** A link from `peer` into this region's store, as the tests below restart it. */
const replicatorFor = (peer: string): PeerReplicator =>
  new PeerReplicator({ store, self: 'here', peer, brokers: [infra.kafka[0]], clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), log: silentLogger, partitions: PARTITIONS });

/** Waits until the peer's stream is applied contiguously through `sequence`. */
async function appliedThrough(peer: string, sequence: number): Promise<void> {
  await waitFor(() => store.replication.appliedPositions(), (rows) => rows.some((r) => r.origin === `${peer}.1` && r.contiguous === BigInt(sequence)), { timeoutMs: 60_000, what: `${peer}'s stream applied through ${sequence}` });
}

beforeAll(async () => {
  store = await PgStore.open({ connectionString: await createDatabase(db, infra.postgresUrl), poolSize: 3 });
  await produceBacklog(PEER);
}, 120_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await store?.close();
  await dropDatabase(db, infra.postgresUrl);
});

describe('a replicator catching up on a backlog larger than one transaction', () => {
  it('applies each partition\'s batch in chunks, a slice of every partition per transaction, and everything once', async () => {
    const applyGroup = vi.spyOn(BatchApplier.prototype, 'applyGroup'); // calls through
    // Groups of at most 20 messages over 2 partitions: chunks of 10.
    const replicator = new PeerReplicator({ store, self: 'here', peer: PEER, brokers: [infra.kafka[0]], clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), log: silentLogger, partitions: PARTITIONS, maxGroupMessages: 20 });
    replicator.start();
    try {
      await waitFor(() => store.replication.appliedPositions(), (rows) => rows[0]?.contiguous === BigInt(UPDATES + 1), { timeoutMs: 60_000, what: 'the whole backlog applied' });
    } finally {
      await replicator.stop();
    }
    const [applied] = await store.replication.applied();
    expect(applied!.beyond).toEqual([]);
    for (let sequence = 2; sequence <= UPDATES + 1; sequence++) {
      const row = await store.readKey('n', `k${sequence}`);
      expect(decodeRegisterSet(row!.state!).values().map((v) => v.value)).toEqual([sequence]);
    }
    const offsets = (await store.pool.query<{ partition: number; next_offset: string }>('SELECT partition, next_offset::text FROM meridian_offsets WHERE peer = $1 ORDER BY partition', [PEER])).rows;
    expect(offsets).toEqual([0, 1].map((partition) => ({ partition, next_offset: String(1 + UPDATES / PARTITIONS) })));
    // No batch went into a transaction above its share, and transactions took both partitions at once.
    const groups = applyGroup.mock.calls.map(([batches]) => batches.map((b) => ({ partition: b.partition, messages: b.messages.length })));
    expect(groups.flat().every((b) => b.messages <= 10)).toBe(true);
    expect(groups.filter((g) => g.length === PARTITIONS).length).toBeGreaterThan(3);
    expect(groups.flat().reduce((n, b) => n + b.messages, 0)).toBeGreaterThanOrEqual(UPDATES + PARTITIONS);
  });
});

describe('a link halted while a batch applies in chunks', () => {
  const peer = `ph${randomBytes(3).toString('hex')}`;

  it('applies no further chunk of it: a paused or failed link moves no offset', async () => {
    await produceBacklog(peer);
    const applyGroup = vi.spyOn(BatchApplier.prototype, 'applyGroup'); // calls through (the same spy as above, if any)
    const before = applyGroup.mock.calls.length;
    let committed = 0;
    // The link is halted (an operator's pause here; a failure found by the timed gap check takes
    // the same path) as the second transaction commits, while each partition's batch has chunks left.
    const replicator: PeerReplicator = new PeerReplicator({
      store,
      self: 'here',
      peer,
      brokers: [infra.kafka[0]],
      clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }),
      log: silentLogger,
      partitions: PARTITIONS,
      maxGroupMessages: 20,
      hooks: { onApplied: () => void (++committed === 2 && replicator.pause()) },
    });
    replicator.start();
    try {
      await waitFor(() => Promise.resolve(replicator.state), (state) => state === 'paused', { timeoutMs: 60_000, what: 'the link paused while applying' });
      await new Promise((res) => setTimeout(res, 1500));
    } finally {
      await replicator.stop();
    }
    // At most the transaction already waiting when the pause came commits after it: 3 of the 12+ a full catch-up takes.
    expect(applyGroup.mock.calls.length - before).toBeLessThanOrEqual(3);
    const stored = [...(await store.replication.peerOffsets(peer)).values()].reduce((n, o) => n + o, 0n);
    expect(stored).toBeLessThanOrEqual(3n * 20n);
    expect(stored).toBeLessThan(BigInt(UPDATES + PARTITIONS));
  });
});

describe('a link restarted after a reseed while its connect loop still retries', () => {
  const peer = `pl${randomBytes(3).toString('hex')}`;

  it('runs one consumer in its group and applies everything (a second consumer would split the partitions and claim one half)', async () => {
    // The peer's topic does not exist yet: the link's connect loop retries. The restart a reseed
    // makes comes meanwhile; the loop then succeeds. Only one consumer may stay (fault suite, issue 18.1 seed).
    const replicator = replicatorFor(peer);
    replicator.start();
    const kafka = new Kafka({ clientId: 'restart-test', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await new Promise((res) => setTimeout(res, 500));
      const restarted = replicator.restartAfterReseed();
      await produceBacklog(peer);
      await restarted;
      await appliedThrough(peer, UPDATES + 1);
      const groupId = `${consumerGroupPrefix('here')}from.${peer}`;
      const [group] = (await admin.describeGroups([groupId])).groups;
      expect(group!.members).toHaveLength(1);
    } finally {
      await admin.disconnect();
      await replicator.stop();
    }
  });
});

describe('a link restarted while its consumer is still joining the group', () => {
  const peer = `pj${randomBytes(3).toString('hex')}`;

  it('leaves no old consumer in the group (a disconnect during a join fails it; kafkajs would restart it)', async () => {
    await produceBacklog(peer);
    const kafka = new Kafka({ clientId: 'slow-member', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
    const groupId = `${consumerGroupPrefix('here')}from.${peer}`;
    // Another member that rejoins only at its next heartbeat: the link's consumer's join waits for it.
    const slow = kafka.consumer({ groupId, sessionTimeout: 30_000, rebalanceTimeout: 30_000, heartbeatInterval: 5000 });
    await slow.connect();
    await slow.subscribe({ topic: updatesTopic(peer), fromBeginning: true });
    await slow.run({ autoCommit: false, eachBatch: async () => {} });
    const replicator = replicatorFor(peer);
    const admin = kafka.admin();
    await admin.connect();
    try {
      replicator.start();
      await waitFor(() => admin.describeGroups([groupId]), (d) => d.groups[0]?.state === 'PreparingRebalance', { timeoutMs: 30_000, what: 'the link\'s consumer joining' });
      await replicator.restartAfterReseed();
      await slow.disconnect();
      await appliedThrough(peer, UPDATES + 1);
      await waitFor(() => admin.describeGroups([groupId]), (d) => d.groups[0]?.state === 'Stable' && d.groups[0].members.length === 1, { timeoutMs: 30_000, what: 'one member left in the group' });
    } finally {
      await slow.disconnect().catch(() => undefined);
      await admin.disconnect();
      await replicator.stop();
    }
  });
});

describe('a link restarted while its consumer\'s claim is still on its way to PostgreSQL', () => {
  const peer = `pc${randomBytes(3).toString('hex')}`;

  it('applies what the peer writes after the old claim\'s epochs landed (the restart waits for that claim)', async () => {
    await produceBacklog(peer);
    const replicator = replicatorFor(peer);
    const claim = store.replication.claimPartitions.bind(store.replication);
    let claims = 0;
    let lateClaimDone = false;
    // The first claim reaches PostgreSQL only after the restarted link's consumer has claimed.
    const spy = vi.spyOn(store.replication, 'claimPartitions').mockImplementation(async (p, partitions) => {
      if (p !== peer || ++claims !== 1) return claim(p, partitions);
      await new Promise((res) => setTimeout(res, 6000));
      const claimed = await claim(p, partitions);
      lateClaimDone = true;
      return claimed;
    });
    try {
      replicator.start();
      await waitFor(() => Promise.resolve(claims), (n) => n === 1, { timeoutMs: 30_000, what: 'the first claim under way' });
      await replicator.restartAfterReseed();
      await waitFor(() => Promise.resolve(lateClaimDone), (done) => done, { timeoutMs: 30_000, what: 'the old claim in PostgreSQL' });
      // What the peer writes after the old claim's epochs landed must apply too.
      await produceBacklog(peer, UPDATES + 1);
      await appliedThrough(peer, 2 * UPDATES + 1);
    } finally {
      spy.mockRestore();
      await replicator.stop();
    }
  });
});
