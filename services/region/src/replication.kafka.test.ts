/**
 * Three regions, each with its own database and its own Kafka cluster (the three brokers of the
 * test run), replicating to each other: writes reach every region, concurrent writes converge to
 * identical state for every policy, conflicts are recorded with one id in every region that
 * observes them, sessions give read-your-writes across regions, and poison input is
 * dead-lettered without stopping the stream. Region ids are unique per run (topics persist on
 * the shared brokers).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DvvSet } from '@meridian/causality';
import { crdtKind } from '@meridian/crdt';
import { encodeRecord, type Policy, type UpdateRecord } from '@meridian/protocol';
import { waitFor } from '@meridian/testkit';
import { encodeRegisterSet, type RegisterVersion } from '@meridian/crdt';
import type { RegionService } from './region.ts';
import { regionCaller, startRegions, type Regions } from './regions.fixture.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us', 'ap'].map((r) => `${r}${suffix}`);
let cluster: Regions | undefined;
const regions: RegionService[] = [];

beforeAll(async () => {
  cluster = await startRegions(ids, { postgresUrl: infra.postgresUrl, kafka: infra.kafka, kafkaSecurity: infra.kafkaSecurity, dbPrefix: 'repl', partitions: 4, peerUrlBase: 9100 });
  regions.push(...cluster.regions);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

const call = regionCaller(() => regions);

const digests = async (ns: string): Promise<string[]> => Promise.all([0, 1, 2].map(async (i) => (await call(i, 'GET', `/v1/digest?ns=${ns}`)).json['digest'] as string));
const converged = async (ns: string, what: string): Promise<void> => {
  await waitFor(() => digests(ns), (d) => new Set(d).size === 1 && d[0] !== undefined, { timeoutMs: 60_000, intervalMs: 200, what });
};

describe('three regions through three Kafka clusters', () => {
  it('a namespace created in one region exists in all; a write reaches every region', async () => {
    expect((await call(0, 'PUT', '/v1/namespaces/people', { policy: 'mv' })).status).toBe(201);
    await call(0, 'PUT', '/v1/ns/people/keys/ada', { value: 'Ada' });
    for (const i of [1, 2]) {
      const r = await waitFor(() => call(i, 'GET', '/v1/ns/people/keys/ada'), (x) => x.status === 200, { timeoutMs: 60_000, intervalMs: 100, what: `ada in ${ids[i]}` });
      expect(r.json['values']).toEqual(['Ada']);
      expect((await call(i, 'GET', '/v1/namespaces/people')).json['policy']).toBe('mv');
    }
  });

  it('concurrent writes converge for every policy; mv keeps both siblings, lww one winner, counters the sum, sets every add', async () => {
    for (const [ns, policy] of [['reg-mv', 'mv'], ['reg-lww', 'lww'], ['cnt', 'counter'], ['tags', 'set']] as const) {
      await call(0, 'PUT', `/v1/namespaces/${ns}`, { policy });
    }
    await waitFor(() => Promise.all([1, 2].map((i) => call(i, 'GET', '/v1/namespaces/tags'))), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: 'namespaces everywhere' });
    await Promise.all(
      [0, 1, 2].map(async (i) => {
        await call(i, 'PUT', '/v1/ns/reg-mv/keys/k', { value: `from-${ids[i]}` });
        await call(i, 'PUT', '/v1/ns/reg-lww/keys/k', { value: `from-${ids[i]}` });
        for (let n = 1; n <= 5; n++) await call(i, 'POST', '/v1/ns/cnt/keys/k/ops', { increment: n * (i + 1) });
        await call(i, 'POST', '/v1/ns/tags/keys/k/ops', { add: [`t-${ids[i]}`] });
      }),
    );
    for (const ns of ['reg-mv', 'reg-lww', 'cnt', 'tags']) await converged(ns, `${ns} converged`);
    const mv = await call(2, 'GET', '/v1/ns/reg-mv/keys/k');
    expect([...(mv.json['values'] as string[])].sort()).toEqual(ids.map((id) => `from-${id}`).sort());
    const lww = await Promise.all([0, 1, 2].map((i) => call(i, 'GET', '/v1/ns/reg-lww/keys/k')));
    expect(new Set(lww.map((r) => r.json['value'])).size).toBe(1);
    expect((await call(1, 'GET', '/v1/ns/cnt/keys/k')).json['value']).toBe(15 * (1 + 2 + 3));
    expect([...((await call(0, 'GET', '/v1/ns/tags/keys/k')).json['value'] as string[])].sort()).toEqual(ids.map((id) => `t-${id}`).sort());
  });

  it('records a conflict with the same id in every region that observes it', async () => {
    await call(0, 'PUT', '/v1/namespaces/clash', { policy: 'mv' });
    await waitFor(() => call(1, 'GET', '/v1/namespaces/clash'), (r) => r.status === 200, { timeoutMs: 60_000, what: 'clash namespace in us' });
    // A partition between eu and us while both write: the writes are concurrent for certain.
    const link = (at: number, from: number) => regions[at]!.replication!.replicators.find((r) => r.peer === ids[from])!;
    link(0, 1).pause('test partition');
    link(1, 0).pause('test partition');
    expect((await call(0, 'GET', '/v1/replication')).json['peers'][ids[1]!].state).toBe('paused');
    await call(0, 'PUT', '/v1/ns/clash/keys/x', { value: 'eu-side' });
    await call(1, 'PUT', '/v1/ns/clash/keys/x', { value: 'us-side' });
    link(0, 1).resume();
    link(1, 0).resume();
    const found = await Promise.all(
      [0, 1].map((i) => waitFor(() => call(i, 'GET', '/v1/conflicts?ns=clash&key=x'), (r) => (r.json['conflicts'] as unknown[]).length > 0, { timeoutMs: 60_000, what: `conflict in ${ids[i]}` })),
    );
    const ap = await waitFor(() => call(2, 'GET', '/v1/conflicts?ns=clash&key=x'), (r) => (r.json['conflicts'] as unknown[]).length > 0, { timeoutMs: 60_000, what: 'conflict in ap' });
    const [a, b, c] = [...found, ap].map((r) => (r.json['conflicts'] as { id: string; regions: string[]; versions: unknown[] }[])[0]!);
    expect(a!.id).toBe(b!.id);
    expect(c!.id).toBe(a!.id);
    await converged('clash', 'clash converged');
    expect([...((await call(2, 'GET', '/v1/ns/clash/keys/x')).json['values'] as string[])].sort()).toEqual(['eu-side', 'us-side']);
    expect([...a!.regions].sort()).toEqual([ids[0], ids[1]].sort());
    expect(a!.versions).toHaveLength(2);
  });

  it('one namespace created with two policies at once resolves to the same policy everywhere, recorded as a conflict', async () => {
    const link = (at: number, from: number) => regions[at]!.replication!.replicators.find((r) => r.peer === ids[from])!;
    for (const [a, b] of [[0, 1], [1, 0], [2, 0], [2, 1]] as const) link(a, b).pause('test partition');
    expect((await call(0, 'PUT', '/v1/namespaces/dual', { policy: 'lww' })).status).toBe(201);
    expect((await call(1, 'PUT', '/v1/namespaces/dual', { policy: 'counter' })).status).toBe(201);
    await call(0, 'PUT', '/v1/ns/dual/keys/k', { value: 'written under lww' });
    await call(1, 'POST', '/v1/ns/dual/keys/k/ops', { increment: 2 });
    for (const [a, b] of [[0, 1], [1, 0], [2, 0], [2, 1]] as const) link(a, b).resume();
    const policies = await waitFor(() => Promise.all([0, 1, 2].map(async (i) => (await call(i, 'GET', '/v1/namespaces/dual')).json['policy'] as string)), (p) => new Set(p).size === 1 && p[0] !== undefined, {
      timeoutMs: 60_000,
      what: 'one policy everywhere',
    });
    expect(['lww', 'counter']).toContain(policies[0]);
    const recorded = await waitFor(() => call(2, 'GET', '/v1/conflicts?ns=dual'), (r) => (r.json['conflicts'] as { kind: string }[]).some((c) => c.kind === 'namespace-policy'), { timeoutMs: 60_000, what: 'a namespace-policy conflict in ap' });
    expect(recorded.json['conflicts'].length).toBeGreaterThan(0);
    await converged('dual', 'dual converged');
  });

  it('read-your-writes across regions with a session token', async () => {
    const w = await call(0, 'PUT', '/v1/ns/people/keys/grace', { value: 'Grace' });
    const token = w.json['session'] as string;
    const r = await call(2, 'GET', '/v1/ns/people/keys/grace', undefined, { 'x-meridian-session': token, 'x-meridian-consistency': 'wait', 'x-meridian-wait-ms': '30000' });
    expect(r.status).toBe(200);
    expect(r.json['values']).toEqual(['Grace']);
  });

  it('a session this region has not applied: `stale` answers now and says what is missing, `fallback` redirects to the origin', async () => {
    const link = regions[1]!.replication!.replicators.find((r) => r.peer === ids[0])!;
    link.pause('test: hold eu back from us');
    try {
      const w = await call(0, 'PUT', '/v1/ns/people/keys/held', { value: 'only in eu so far' });
      const token = w.json['session'] as string;
      const stale = await call(1, 'GET', '/v1/ns/people/keys/held', undefined, { 'x-meridian-session': token, 'x-meridian-consistency': 'stale' });
      expect(stale.status).toBe(404);
      expect(String(stale.headers['x-meridian-behind'])).toMatch(new RegExp(`^${ids[0]}\\.1:\\d+$`));
      const fallback = await call(1, 'GET', '/v1/ns/people/keys/held', undefined, { 'x-meridian-session': token, 'x-meridian-consistency': 'fallback' });
      expect(fallback.status).toBe(307);
      expect(fallback.headers['location']).toBe('http://127.0.0.1:9100/v1/ns/people/keys/held');
      const wait = await call(1, 'GET', '/v1/ns/people/keys/held', undefined, { 'x-meridian-session': token, 'x-meridian-wait-ms': '300' });
      expect(wait.status).toBe(503);
      expect(wait.json['error'].code).toBe('MERIDIAN_SESSION_NOT_COVERED');
    } finally {
      link.resume();
    }
    const after = await call(1, 'GET', '/v1/ns/people/keys/held', undefined, { 'x-meridian-session': (await call(0, 'GET', '/v1/ns/people/keys/held')).json['session'] as string, 'x-meridian-wait-ms': '30000' });
    expect(after.json['values']).toEqual(['only in eu so far']);
  });

  it('reports applied vectors and peer links', async () => {
    await waitFor(() => call(1, 'GET', '/v1/replication'), (r) => Object.values(r.json['peers'] as Record<string, { lagSequence: number | null }>).every((p) => p.lagSequence === 0), { timeoutMs: 60_000, what: 'us caught up' });
    const rep = (await call(1, 'GET', '/v1/replication')).json;
    expect(Object.keys(rep['applied'] as object).sort()).toEqual([...ids].sort());
    expect(rep['peers'][ids[0]!].state).toMatch(/streaming|catching-up/);
  });

  it('dead-letters a poison message and keeps replicating', async () => {
    const kafka = new Kafka({ clientId: 'poisoner', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: `meridian.${ids[0]}.updates`, messages: [{ key: 'people/poisoned', value: Buffer.from('not a protobuf at all \u0000\u00ff') }] });
    await producer.disconnect();
    await waitFor(() => call(1, 'GET', '/v1/dead-letters'), (r) => (r.json['deadLetters'] as { key: string }[]).some((d) => d.key === 'poisoned'), { timeoutMs: 60_000, what: 'a dead letter in us' });
    await call(0, 'PUT', '/v1/ns/people/keys/after-poison', { value: 'still flowing' });
    const r = await waitFor(() => call(1, 'GET', '/v1/ns/people/keys/after-poison'), (x) => x.status === 200, { timeoutMs: 60_000, what: 'replication after the poison' });
    expect(r.json['values']).toEqual(['still flowing']);

    // The poisoned key is quarantined in us: a later real update of it is held, not applied.
    await call(0, 'PUT', '/v1/ns/people/keys/poisoned', { value: 'real value' });
    const held = await waitFor(() => call(1, 'GET', '/v1/dead-letters'), (x) => (x.json['deadLetters'] as { code: string }[]).some((d) => d.code === 'MERIDIAN_KEY_QUARANTINED'), { timeoutMs: 60_000, what: 'the held update' });
    expect((await call(1, 'GET', '/v1/ns/people/keys/poisoned')).status).toBe(404);
    const poison = (held.json['deadLetters'] as { id: string; code: string; key: string }[]).find((d) => d.key === 'poisoned' && d.code !== 'MERIDIAN_KEY_QUARANTINED')!;
    // Garbage stays garbage: a redrive refuses and changes nothing.
    const retry = await call(1, 'POST', `/v1/dead-letters/${poison.id}/redrive`);
    expect(retry.status).toBe(409);
    expect(retry.json['error'].code).toBe('MERIDIAN_REDRIVE_FAILED');
    expect((await call(1, 'GET', '/v1/ns/people/keys/poisoned')).status).toBe(404);
    // Discarding it lifts the quarantine and applies what was held behind it.
    const discard = await call(1, 'POST', `/v1/dead-letters/${poison.id}/discard`);
    expect(discard.json).toEqual({ applied: 1, released: true });
    expect((await call(1, 'GET', '/v1/ns/people/keys/poisoned')).json['values']).toEqual(['real value']);
    expect((await call(1, 'POST', `/v1/dead-letters/${poison.id}/discard`)).json['error'].code).toBe('MERIDIAN_REDRIVE_FAILED');
  });

  it('dead-letters an update whose envelope decodes but whose payload is invalid, quarantines its key and keeps replicating', async () => {
    // Updates of a new actor of eu's (its own sequences), written straight onto eu's topic: envelopes
    // every region decodes, two with a payload that cannot be, among valid ones.
    const actor = `${ids[0]}.99`;
    const counter = crdtKind('counter')!;
    const baseHlc = BigInt(Date.now()) << 16n;
    let sequence = 0;
    const update = (namespace: string, key: string, policy: Policy, payload: UpdateRecord['payload']): { key: string; value: Buffer } => {
      sequence++;
      const record: UpdateRecord = { kind: 'update', schemaVersion: 1, origin: { region: ids[0]!, epoch: 99 }, originSequence: BigInt(sequence), outboxId: BigInt(sequence), namespace, key, policy, hlc: baseHlc + BigInt(sequence), traceparent: '', payload };
      return { key: `${namespace}/${key}`, value: Buffer.from(encodeRecord(record)) };
    };
    const register = (value: string): Uint8Array => encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, actor, { value, hlc: baseHlc + BigInt(sequence + 1), traceparent: undefined }).set);
    const messages = [
      update('people', 'corrupt-register', 'mv', { kind: 'register', state: Buffer.from('not a version set \u00ff') }),
      update('cnt', 'corrupt-delta', 'counter', { kind: 'crdt', delta: Buffer.from('not a counter \u00ff') }),
      update('people', 'alongside', 'mv', { kind: 'register', state: register('next to the corrupt ones') }),
      update('people', 'corrupt-register', 'mv', { kind: 'register', state: register('after the corrupt one') }),
      update('cnt', 'corrupt-delta', 'counter', { kind: 'crdt', delta: counter.encode(counter.apply(counter.empty(), counter.validateOp({ increment: 4 }), { actor }).delta) }),
    ];
    const kafka = new Kafka({ clientId: 'payload-poisoner', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: `meridian.${ids[0]}.updates`, messages });
    await producer.disconnect();

    type Letter = { id: string; code: string; reason: string; namespace: string; key: string; origin: string; sequence: string; raw: string };
    const letters = async (): Promise<Letter[]> => (await call(1, 'GET', '/v1/dead-letters')).json['deadLetters'] as Letter[];
    const invalid = await waitFor(letters, (ls) => ls.filter((d) => d.code === 'MERIDIAN_PAYLOAD_INVALID').length === 2 && ls.filter((d) => d.origin === actor && d.code === 'MERIDIAN_KEY_QUARANTINED').length === 2, { timeoutMs: 60_000, what: 'the invalid payloads dead-lettered in us, their keys\' later updates held' });
    const letterOf = (key: string): Letter => invalid.find((d) => d.key === key && d.code === 'MERIDIAN_PAYLOAD_INVALID')!;
    expect(letterOf('corrupt-register')).toMatchObject({ namespace: 'people', origin: actor, sequence: '1', raw: messages[0]!.value.toString('base64') });
    expect(letterOf('corrupt-register').reason).toMatch(/^its register_state cannot be decoded: ./);
    expect(letterOf('corrupt-delta')).toMatchObject({ namespace: 'cnt', origin: actor, sequence: '2', raw: messages[1]!.value.toString('base64') });
    expect(letterOf('corrupt-delta').reason).toMatch(/^its crdt_delta cannot be decoded as a counter: ./);
    // The valid update beside them applied; the later ones of their keys are held, not applied.
    expect((await waitFor(() => call(1, 'GET', '/v1/ns/people/keys/alongside'), (x) => x.status === 200, { timeoutMs: 60_000, what: 'the valid update beside them' })).json['values']).toEqual(['next to the corrupt ones']);
    expect((await call(1, 'GET', '/v1/ns/people/keys/corrupt-register')).status).toBe(404);
    expect((await call(1, 'GET', '/v1/ns/cnt/keys/corrupt-delta')).status).toBe(404);
    // Handled: the applied vector of that actor passed every sequence; the link streams on.
    await waitFor(() => call(1, 'GET', '/v1/replication'), (r) => r.json['positions'][actor] === sequence && r.json['peers'][ids[0]!].state === 'streaming', { timeoutMs: 60_000, what: 'us applied every sequence of the actor and streams from eu' });
    await call(0, 'PUT', '/v1/ns/people/keys/after-invalid-payload', { value: 'still flowing' });
    expect((await waitFor(() => call(1, 'GET', '/v1/ns/people/keys/after-invalid-payload'), (x) => x.status === 200, { timeoutMs: 60_000, what: 'replication after the invalid payloads' })).json['values']).toEqual(['still flowing']);

    // A redrive refuses while the payload is still invalid, and changes nothing.
    for (const [key, reason] of [['corrupt-register', /still cannot be applied: its register_state cannot be decoded/], ['corrupt-delta', /still cannot be applied: its crdt_delta cannot be decoded as a counter/]] as const) {
      const retry = await call(1, 'POST', `/v1/dead-letters/${letterOf(key).id}/redrive`);
      expect(retry.status).toBe(409);
      expect(retry.json['error']).toMatchObject({ code: 'MERIDIAN_REDRIVE_FAILED', message: expect.stringMatching(reason) });
    }
    expect((await call(1, 'GET', '/v1/ns/people/keys/corrupt-register')).status).toBe(404);
    // Discarding lifts the quarantine and applies what was held behind it.
    expect((await call(1, 'POST', `/v1/dead-letters/${letterOf('corrupt-register').id}/discard`)).json).toEqual({ applied: 1, released: true });
    expect((await call(1, 'GET', '/v1/ns/people/keys/corrupt-register')).json['values']).toEqual(['after the corrupt one']);
    expect((await call(1, 'POST', `/v1/dead-letters/${letterOf('corrupt-delta').id}/discard`)).json).toEqual({ applied: 1, released: true });
    expect((await call(1, 'GET', '/v1/ns/cnt/keys/corrupt-delta')).json['value']).toBe(4);
  });

  // Last: it leaves the ap ← eu link paused, as an upgrade in progress would.
  it('a record of a newer schema version pauses the link (upgrade in progress) instead of dead-lettering it', async () => {
    const future = readFileSync(fileURLToPath(new URL('../../../packages/protocol/fixtures/future/schema-v2-update.bin', import.meta.url)));
    const kafka = new Kafka({ clientId: 'future-writer', brokers: [infra.kafka[0]], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const before = ((await call(2, 'GET', '/v1/dead-letters')).json['deadLetters'] as unknown[]).length;
    await producer.send({ topic: `meridian.${ids[0]}.updates`, messages: [{ key: 'people/from-the-future', value: future }] });
    await producer.disconnect();
    const rep = await waitFor(() => call(2, 'GET', '/v1/replication'), (r) => r.json['peers'][ids[0]!].state === 'paused', { timeoutMs: 60_000, what: 'ap ← eu paused' });
    expect(rep.json['peers'][ids[0]!].reason).toMatch(/schema/i);
    expect(((await call(2, 'GET', '/v1/dead-letters')).json['deadLetters'] as unknown[]).length).toBe(before);
  });
});
