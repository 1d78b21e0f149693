/**
 * Outages with real processes: region eu has a Kafka broker of its own (started here, so the
 * test may stop it), which region us reaches only through a TCP fault proxy.
 *
 * - the link is cut (blackhole) while eu keeps writing → us falls behind, then catches up
 *   exactly after the link heals;
 * - eu's own broker is stopped and restarted → eu keeps accepting writes (outbox), is unready
 *   while its Kafka is down, and us catches up once it returns;
 * - a second eu replica shares eu's database: pausing the active relay (SIGSTOP) lets the
 *   standby take over; when the old one resumes it is fenced, and no outbox row is ever
 *   published under two sequences (nor a sequence for two rows).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { createDatabase, dropDatabase, ephemeralAuth, freePort, startKafkaBroker, startRegionProcess, type KafkaBroker, type LocalAuth, type RegionProcess } from '@meridian/infra-local';
import { FaultProxy, uniqueName, waitFor } from '@meridian/testkit';
import { decodeRecord } from '@meridian/protocol';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [EU, US] = [`eu${suffix}`, `us${suffix}`];
const dbs = [uniqueName(`out_${EU}`), uniqueName(`out_${US}`)];
let broker: KafkaBroker;
let proxy: FaultProxy;
let eu: RegionProcess;
let eu2: RegionProcess | undefined;
let us: RegionProcess;
let euUrl = '';
/** Secured regions, as the local cluster runs them; the scenario acts as an operator (admin). */
let auth: LocalAuth;

async function http(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${auth.tokens.admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

const usApplied = async (): Promise<number> => ((await http(us.url, 'GET', '/v1/replication')).json['applied']?.[EU] as number | undefined) ?? 0;
const euHighWater = async (base = eu.url): Promise<number> => ((await http(base, 'GET', '/v1/replication')).json['applied']?.[EU] as number | undefined) ?? 0;

async function caughtUp(what: string): Promise<void> {
  await waitFor(async () => [await euHighWater(), await usApplied()], ([h, a]) => h! > 0 && h === a, { timeoutMs: 90_000, intervalMs: 250, what });
  await waitFor(async () => Promise.all([eu.url, us.url].map(async (u) => (await http(u, 'GET', '/v1/digest?ns=c')).json['digest'] as string)), (d) => d[0] === d[1], { timeoutMs: 30_000, what: `${what}: equal digests` });
}

beforeAll(async () => {
  auth = await ephemeralAuth();
  const proxyPort = await freePort();
  const listenerPort = await freePort();
  broker = await startKafkaBroker({ name: `out-${EU}`, heapMb: 256, proxiedListener: { port: listenerPort, advertisedPort: proxyPort } });
  proxy = await FaultProxy.start({ target: `127.0.0.1:${listenerPort}`, port: proxyPort });
  const [euDb, usDb] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const [euPort, usPort] = [await freePort(), await freePort()];
  euUrl = euDb!;
  const common = { auth, logLevel: 'warn', env: { MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_TOPIC_PARTITIONS: '2', MERIDIAN_LAG_BOUND_SECONDS: '2' } };
  [eu, us] = await Promise.all([
    startRegionProcess({ region: EU, databaseUrl: euDb!, port: euPort, logFile: join(tmpdir(), `meridian-scn-${EU}-1.log`), kafkaBrokers: broker.bootstrap, peers: { [US]: infra.kafka[1] }, ...common }),
    // us reaches eu's Kafka only through the proxy (bootstrap and advertised address).
    startRegionProcess({ region: US, databaseUrl: usDb!, port: usPort, kafkaBrokers: infra.kafka[1], peers: { [EU]: proxy.address }, ...common }),
  ]);
  expect((await http(eu.url, 'PUT', '/v1/namespaces/c', { policy: 'counter' })).status).toBe(201);
}, 180_000);

afterAll(async () => {
  await Promise.all([eu?.stop(), eu2?.stop(), us?.stop()]);
  await proxy?.close();
  await broker?.destroy();
  await Promise.all(dbs.map((d) => dropDatabase(d, infra.postgresUrl)));
});

describe('outages', () => {
  it('a peer link cut by the proxy: the peer falls behind, then catches up after healing', async () => {
    for (let i = 0; i < 20; i++) await http(eu.url, 'POST', '/v1/ns/c/keys/k/ops', { increment: 1 });
    await caughtUp('us caught up before the cut');
    expect(proxy.connections).toBeGreaterThan(0);
    proxy.blackhole(true);
    for (let i = 0; i < 50; i++) expect((await http(eu.url, 'POST', '/v1/ns/c/keys/k/ops', { increment: 1 })).status).toBe(200);
    await waitFor(async () => [await euHighWater(), await usApplied()], ([h, a]) => h! >= a! + 50, { timeoutMs: 30_000, what: 'eu ahead of us while cut' });
    expect((await http(us.url, 'GET', '/v1/ns/c/keys/k')).json['value']).toBeLessThan(70);
    proxy.blackhole(false);
    proxy.reset(); // the cut connections are dead: make the client reconnect now
    await caughtUp('us caught up after healing');
    expect((await http(us.url, 'GET', '/v1/ns/c/keys/k')).json['value']).toBe(70);
  });

  it('eu\'s own Kafka stopped and restarted: writes go on, readiness says why, peers catch up', async () => {
    await broker.stop();
    for (let i = 0; i < 30; i++) expect((await http(eu.url, 'POST', '/v1/ns/c/keys/k/ops', { increment: 1 })).status).toBe(200);
    const ready = await waitFor(() => http(eu.url, 'GET', '/health/ready'), (r) => r.status === 503, { timeoutMs: 30_000, what: 'eu unready without its Kafka' });
    expect(ready.json['checks']['kafka'].ok).toBe(false);
    await broker.restart();
    await waitFor(() => http(eu.url, 'GET', '/health/ready'), (r) => r.status === 200, { timeoutMs: 60_000, what: 'eu ready again' });
    proxy.reset();
    await caughtUp('us caught up after the broker returned');
    expect((await http(us.url, 'GET', '/v1/ns/c/keys/k')).json['value']).toBe(100);
  });

  it('a paused relay is fenced by the standby; no row is published under two sequences', async () => {
    eu2 = await startRegionProcess({ region: EU, databaseUrl: euUrl, logFile: join(tmpdir(), `meridian-scn-${EU}-2.log`), kafkaBrokers: broker.bootstrap, peers: { [US]: infra.kafka[1] }, auth, logLevel: 'warn', env: { MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_TOPIC_PARTITIONS: '2' } });
    const role = async (p: RegionProcess): Promise<string> => (await http(p.url, 'GET', '/v1/replication')).json['relay']?.role as string;
    const [r1, r2] = [await role(eu), await role(eu2)];
    expect([r1, r2].sort()).toEqual(['active', 'standby']);
    const [active, standby] = r1 === 'active' ? [eu, eu2] : [eu2, eu];
    const before = ((await http(eu.url, 'GET', '/v1/ns/c/keys/k')).json['value'] as number | undefined) ?? 0;
    await active.pause(); // SIGSTOP: it keeps its connections and its lease until the lease expires
    for (let i = 0; i < 20; i++) expect((await http(standby.url, 'POST', '/v1/ns/c/keys/k/ops', { increment: 1 })).status).toBe(200);
    await waitFor(() => role(standby), (r) => r === 'active', { timeoutMs: 30_000, what: 'the standby took over' });
    await active.resume();
    for (let i = 0; i < 10; i++) expect((await http(standby.url, 'POST', '/v1/ns/c/keys/k/ops', { increment: 1 })).status).toBe(200);
    await waitFor(() => role(active), (r) => r === 'standby', { timeoutMs: 30_000, what: 'the old relay stood down' });
    proxy.reset();
    await caughtUp('us caught up after the takeover');
    expect((await http(us.url, 'GET', '/v1/ns/c/keys/k')).json['value']).toBe(before + 30);

    // Every record on eu's topic: one outbox id per sequence, one sequence per outbox id, no gaps.
    const kafka = new Kafka({ clientId: 'audit', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('audit'), readUncommitted: false });
    const bySequence = new Map<bigint, Set<bigint>>();
    const byOutbox = new Map<bigint, Set<bigint>>();
    let seen = 0;
    await consumer.connect();
    await consumer.subscribe({ topic: `meridian.${EU}.updates`, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        seen++;
        const record = decodeRecord(message.value!);
        if (record.kind === 'heartbeat') return Promise.resolve();
        bySequence.set(record.originSequence, (bySequence.get(record.originSequence) ?? new Set()).add(record.outboxId));
        byOutbox.set(record.outboxId, (byOutbox.get(record.outboxId) ?? new Set()).add(record.originSequence));
        return Promise.resolve();
      },
    });
    const high = BigInt(await euHighWater(standby.url));
    await waitFor(() => bySequence.size, (n) => BigInt(n) >= high, { timeoutMs: 60_000, what: 'every sequence read back' });
    await consumer.disconnect();
    expect(seen).toBeGreaterThan(0);
    for (const [, ids] of bySequence) expect(ids.size).toBe(1);
    for (const [, seqs] of byOutbox) expect(seqs.size).toBe(1);
    const sequences = [...bySequence.keys()].sort((a, b) => (a < b ? -1 : 1));
    expect(sequences[0]).toBe(1n);
    expect(sequences.at(-1)).toBe(BigInt(sequences.length));
  });
});
