/**
 * Failover with real processes: three regions (each its own database and Kafka cluster) and the
 * GSLB probing them.
 *
 * - a client near eu is routed to eu; eu stops → within F × interval + timeout (plus the time a
 *   loaded machine needs) the GSLB routes it to the next nearest region;
 * - eu's readiness failing every other probe (a proxy that is up, down, up, …) never flips it;
 * - eu comes back, catches up on what was written meanwhile, becomes ready and is routed to again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createDatabase, dropDatabase, ephemeralAuth, freePort, startGslbProcess, startRegionProcess, testKafkaAccess, type GslbProcess, type LocalAuth, type RegionProcess } from '@meridian/infra-local';
import { FaultProxy, sleep, uniqueName, waitFor } from '@meridian/testkit';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us', 'ap'].map((r) => `${r}${suffix}`);
const coords = [
  { lat: 50.11, lon: 8.68 },
  { lat: 38.9, lon: -77.0 },
  { lat: 1.35, lon: 103.8 },
];
const dbs = ids.map((id) => uniqueName(`fo_${id}`));
const regions: RegionProcess[] = [];
let gslb: GslbProcess;
/** Secured regions, as the local cluster runs them; the GSLB probes /v1/replication with the reader token. */
let auth: LocalAuth;
let euProxy: FaultProxy;
let gate: Server;
/** When on, every other `/health/ready` probe through the gate fails (503); others pass through. */
let flapping = false;
let probes = 0;
// A timeout well above a loaded 2-core machine's probe latency: only the gate's 503s fail.
const INTERVAL = 400;
const TIMEOUT = 350;
const F = 3;

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, any> }> {
  // The regions want a token; the GSLB's routing endpoints are public and ignore it.
  const r = await fetch(url, { ...init, headers: { authorization: `Bearer ${auth.tokens.writer}`, ...(init?.headers as Record<string, string> | undefined) } });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
}
const routeNearEu = async (): Promise<string | undefined> => (await json(`${gslb.url}/v1/route?near=${coords[0]!.lat},${coords[0]!.lon}`)).body['chosen']?.id as string | undefined;

beforeAll(async () => {
  auth = await ephemeralAuth();
  const urls = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const ports = await Promise.all(ids.map(() => freePort()));
  const kafkaAccess = await testKafkaAccess(infra, Object.fromEntries(ids.map((id, i) => [id, i])));
  const started = await Promise.all(
    ids.map((id, i) =>
      startRegionProcess({
        region: id,
        databaseUrl: urls[i]!,
        auth,
        port: ports[i]!,
        kafkaBrokers: infra.kafka[i]!,
        kafkaSecurity: kafkaAccess[id],
        peers: Object.fromEntries(ids.flatMap((peer, j) => (j === i ? [] : [[peer, infra.kafka[j]!]]))),
        logLevel: 'warn',
        env: { MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOPIC_PARTITIONS: '2' },
      }),
    ),
  );
  regions.push(...started);
  // The GSLB reaches eu through a gate (can fail every other readiness probe) and a TCP proxy.
  euProxy = await FaultProxy.start({ target: `127.0.0.1:${ports[0]!}` });
  gate = createServer((req, res) => {
    if (req.url === '/health/ready' && flapping && probes++ % 2 === 0) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"unavailable","checks":{"gate":{"ok":false,"reason":"every other probe fails"}}}');
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: euProxy.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  const gatePort = await freePort();
  await new Promise<void>((resolve) => gate.listen(gatePort, '127.0.0.1', resolve));
  gslb = await startGslbProcess({
    regions: ids.map((id, i) => ({ id, url: i === 0 ? `http://127.0.0.1:${gatePort}` : regions[i]!.url, location: coords[i]! })),
    probeIntervalMs: INTERVAL,
    probeTimeoutMs: TIMEOUT,
    regionToken: auth.tokens.reader,
    logLevel: 'warn',
    env: { MERIDIAN_GSLB_FAILURES_TO_DOWN: String(F), MERIDIAN_GSLB_SUCCESSES_TO_UP: '2' },
  });
  await waitFor(routeNearEu, (id) => id === ids[0], { timeoutMs: 60_000, what: 'eu routed for a client near eu' });
}, 180_000);

afterAll(async () => {
  await gslb?.stop();
  await new Promise((resolve) => gate?.close(resolve));
  await euProxy?.close();
  await Promise.all(regions.map((r) => r.stop()));
  await Promise.all(dbs.map((d) => dropDatabase(d, infra.postgresUrl)));
});

describe('failover through the GSLB', () => {
  it('probes that fail every other time do not flip eu', async () => {
    flapping = true;
    probes = 0;
    let flips = 0;
    while (probes < 12) {
      if ((await routeNearEu()) !== ids[0]) flips++;
      await sleep(25);
    }
    flapping = false;
    expect(probes).toBeGreaterThanOrEqual(12);
    expect(flips).toBe(0);
  });

  it('eu stops: clients near eu go to the next nearest region within F × interval + timeout; eu returns, catches up, and is routed to again', async () => {
    const stoppedAt = Date.now();
    await regions[0]!.stop();
    const moved = await waitFor(routeNearEu, (id) => id === ids[1], { timeoutMs: 30_000, intervalMs: 20, what: 'clients near eu routed to us' });
    const tookMs = Date.now() - stoppedAt;
    expect(moved).toBe(ids[1]);
    // The bound the GSLB promises, with slack for a loaded 2-core machine (reported, not timed).
    console.log(`[failover] rerouted after ${tookMs} ms (bound F × interval + timeout = ${F * INTERVAL + TIMEOUT} ms)`);

    // While eu is down, us takes writes; eu must have them before it is routed to again.
    expect((await json(`${regions[1]!.url}/v1/namespaces/failover`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'counter' }) })).status).toBe(201);
    for (let i = 0; i < 10; i++) {
      await json(`${regions[1]!.url}/v1/ns/failover/keys/k/ops`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ increment: 1 }) });
    }
    // us is the next nearest to eu (Virginia before Singapore). eu restarts; it becomes ready only
    // once it has caught up, so the moment the GSLB routes to it again, it already has us's writes.
    await regions[0]!.restart();
    await waitFor(routeNearEu, (id) => id === ids[0], { timeoutMs: 60_000, intervalMs: 50, what: 'eu routed to again' });
    expect((await json(`${regions[0]!.url}/v1/ns/failover/keys/k`)).body['value']).toBe(10);
  });
});
