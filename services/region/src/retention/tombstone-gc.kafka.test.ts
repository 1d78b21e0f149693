/**
 * The tombstone GC across three regions, each with its own database and Kafka cluster, with
 * MERIDIAN_TOMBSTONE_MIN_AGE=2s: a deleted register goes in every region once every region has
 * applied it; replaying a peer's topic from its start brings nothing back, nor does a dead
 * letter redriven after the others purged; a region whose links are paused holds GC back and is
 * named, and resumes after the others purged what it had applied; a key written again after its
 * purge reaches every region.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from '@meridian/testkit';
import type { RegionService } from '../region.ts';
import { regionCaller, startRegions, type Regions } from '../regions.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us', 'ap'].map((r) => `${r}${suffix}`);
const [EU, US, AP] = [0, 1, 2] as const;
let cluster: Regions | undefined;
const regions: RegionService[] = [];

beforeAll(async () => {
  cluster = await startRegions(ids, {
    postgresUrl: infra.postgresUrl, kafka: infra.kafka, kafkaSecurity: infra.kafkaSecurity, dbPrefix: 'gc', partitions: 2, peerUrlBase: 9200,
    env: { MERIDIAN_TOMBSTONE_MIN_AGE: '2s', MERIDIAN_MAX_CLOCK_DRIFT_MS: '200' },
    hooks: () => ({ retentionIntervalMs: 300 }),
  });
  regions.push(...cluster.regions);
  expect((await call(EU, 'PUT', '/v1/namespaces/gc', { policy: 'mv' })).status).toBe(201);
  await waitFor(() => Promise.all([US, AP].map((i) => call(i, 'GET', '/v1/namespaces/gc'))), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: 'the namespace everywhere' });
}, 180_000);

afterAll(async () => {
  await cluster?.close();
});

const call = regionCaller(() => regions);
const del = async (i: number, key: string, context: string): Promise<number> =>
  (await regions[i]!.app.inject({ method: 'DELETE', url: `/v1/ns/gc/keys/${key}?context=${encodeURIComponent(context)}` })).statusCode;
const hasRow = async (i: number, key: string): Promise<boolean> =>
  ((await regions[i]!.store.pool.query(`SELECT 1 FROM meridian_keys WHERE namespace = 'gc' AND key = $1`, [key])).rowCount ?? 0) > 0;
const link = (at: number, from: number) => regions[at]!.replication!.replicators.find((r) => r.peer === ids[from])!;
const everywhere = (check: (i: number) => Promise<boolean>, what: string, within = 60_000): Promise<boolean[]> =>
  waitFor(() => Promise.all([EU, US, AP].map(check)), (all) => all.every(Boolean), { timeoutMs: within, intervalMs: 200, what });

/** Writes `value` to `key` in eu, waits until every region reads it, deletes it there with its context, and waits until every region reads 404. */
async function writeThenDelete(key: string, value: string, regionsToWait: readonly number[] = [EU, US, AP]): Promise<void> {
  const written = await call(EU, 'PUT', `/v1/ns/gc/keys/${key}`, { value });
  await waitFor(() => Promise.all(regionsToWait.map((i) => call(i, 'GET', `/v1/ns/gc/keys/${key}`))), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: `${key} everywhere` });
  expect(await del(EU, key, written.json['context'] as string)).toBe(200);
  await waitFor(() => Promise.all(regionsToWait.map((i) => call(i, 'GET', `/v1/ns/gc/keys/${key}`))), (rs) => rs.every((r) => r.status === 404), { timeoutMs: 60_000, what: `${key} deleted everywhere` });
}

describe('the tombstone GC across three regions', () => {
  it('purges a deleted register everywhere; a replay of a peer\'s topic from its start brings nothing back; a new write of the key reaches everyone', async () => {
    await writeThenDelete('k', 'old');
    await everywhere(async (i) => !(await hasRow(i, 'k')), 'k purged in every region');
    expect(regions.every((r) => r.retention.view.blocked.size === 3 && [...r.retention.view.blocked.values()].every((b) => !b))).toBe(true);

    // ap reads eu's whole topic again, from offset 0: every update is a duplicate by ap's applied vector.
    const offsets = async (): Promise<bigint> => BigInt((await regions[AP]!.store.pool.query(`SELECT coalesce(sum(next_offset), 0)::text AS n FROM meridian_offsets WHERE peer = $1`, [ids[EU]])).rows[0].n as string);
    const end = await offsets();
    expect(end).toBeGreaterThan(0n);
    await regions[AP]!.store.pool.query('UPDATE meridian_offsets SET next_offset = 0 WHERE peer = $1', [ids[EU]]);
    await link(AP, EU).restartAfterReseed();
    await waitFor(offsets, (n) => n >= end, { timeoutMs: 60_000, what: 'ap read eu\'s topic again to its end' });
    expect(await hasRow(AP, 'k')).toBe(false);
    expect((await call(AP, 'GET', '/v1/ns/gc/keys/k')).status).toBe(404);

    await call(US, 'PUT', '/v1/ns/gc/keys/k', { value: 'new' });
    await waitFor(() => Promise.all([EU, US, AP].map((i) => call(i, 'GET', '/v1/ns/gc/keys/k'))), (rs) => rs.every((r) => JSON.stringify(r.json['values']) === '["new"]'), { timeoutMs: 60_000, what: 'the new write everywhere' });
  });

  it('a dead letter redriven after the others purged brings nothing back; the quarantined key is not purged while it waits', async () => {
    await writeThenDelete('d', 'v0');
    // A poison message for gc/d on eu's topic: us and ap dead-letter it and quarantine the key.
    const kafka = new Kafka({ clientId: 'gc-poisoner', brokers: [infra.kafka[EU]], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: `meridian.${ids[EU]}.updates`, messages: [{ key: 'gc/d', value: Buffer.from('not a protobuf at all \u0000\u00ff') }] });
    await producer.disconnect();
    type Letter = { id: string; code: string; key: string };
    const letters = async (i: number): Promise<Letter[]> => (await call(i, 'GET', '/v1/dead-letters')).json['deadLetters'] as Letter[];
    await waitFor(() => Promise.all([US, AP].map(letters)), (ls) => ls.every((l) => l.some((d) => d.key === 'd')), { timeoutMs: 60_000, what: 'the poison dead-lettered in us and ap' });
    // Written and deleted again in eu: us and ap hold both updates behind the dead letter.
    const again = await call(EU, 'PUT', '/v1/ns/gc/keys/d', { value: 'v1' });
    expect(await del(EU, 'd', again.json['context'] as string)).toBe(200);
    await waitFor(() => Promise.all([US, AP].map(letters)), (ls) => ls.every((l) => l.filter((d) => d.key === 'd' && d.code === 'MERIDIAN_KEY_QUARANTINED').length === 2), { timeoutMs: 60_000, what: 'both updates held in us and ap' });
    await waitFor(() => hasRow(EU, 'd'), (has) => !has, { timeoutMs: 60_000, intervalMs: 200, what: 'd purged in eu' });
    // us and ap keep their tombstone while the dead letter waits, however old it gets.
    await new Promise((r) => setTimeout(r, 3000));
    expect([await hasRow(US, 'd'), await hasRow(AP, 'd')]).toEqual([true, true]);

    for (const i of [US, AP]) {
      const poison = (await letters(i)).find((d) => d.key === 'd' && d.code !== 'MERIDIAN_KEY_QUARANTINED')!;
      expect((await call(i, 'POST', `/v1/dead-letters/${poison.id}/discard`)).json).toEqual({ applied: 2, released: true });
      expect((await call(i, 'GET', '/v1/ns/gc/keys/d')).status).toBe(404);
    }
    await everywhere(async (i) => !(await hasRow(i, 'd')), 'd purged in every region');
    for (const i of [EU, US, AP]) expect((await call(i, 'GET', '/v1/ns/gc/keys/d')).status).toBe(404);
  });

  it('a paused region holds GC back and is named; it resumes after the others purged what it had applied, and nothing comes back', async () => {
    await writeThenDelete('q', 'before the pause');
    for (const from of [EU, US]) link(AP, from).pause('test: ap applies nothing');
    // Nothing is written for well over two min ages: eu's stream stands where ap applied it, so
    // its samples up to then stay stable once the others write on — among them one taken a min
    // age after q's tombstone (ap had applied it) and one a min age after that (both rounds).
    await new Promise((r) => setTimeout(r, 8000));
    await writeThenDelete('p', 'during the pause', [EU, US]);
    // q, which ap had applied, goes in eu and us; p waits for ap, and ap is named.
    await waitFor(async () => [await hasRow(EU, 'q'), await hasRow(US, 'q')], (has) => has.every((h) => !h), { timeoutMs: 60_000, intervalMs: 200, what: 'q purged in eu and us' });
    await waitFor(() => Promise.resolve(regions[EU]!.retention.view.blocked.get(ids[AP]!)), (b) => b === true, { timeoutMs: 60_000, intervalMs: 200, what: 'eu names ap as holding GC back' });
    expect(regions[EU]!.retention.view.blocked.get(ids[US]!)).toBe(false);
    await new Promise((r) => setTimeout(r, 3000));
    expect([await hasRow(EU, 'p'), await hasRow(US, 'p')]).toEqual([true, true]);

    for (const from of [EU, US]) link(AP, from).resume();
    await everywhere(async (i) => !(await hasRow(i, 'p')) && !(await hasRow(i, 'q')), 'p and q purged in every region');
    for (const i of [EU, US, AP]) for (const key of ['p', 'q']) expect((await call(i, 'GET', `/v1/ns/gc/keys/${key}`)).status).toBe(404);
    await waitFor(() => Promise.resolve(regions[EU]!.retention.view.blocked.get(ids[AP]!)), (b) => b === false, { timeoutMs: 60_000, intervalMs: 200, what: 'ap no longer named' });
  });
});
