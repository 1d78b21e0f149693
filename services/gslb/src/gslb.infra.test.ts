/**
 * The GSLB against real HTTP: three fake regions (node:http) whose /health/ready can answer
 * 200, 503, hang, or alternate on every request; a FaultProxy in front of the nearest one; the
 * GSLB probing every 100 ms. Waits are bounded (waitFor); the only time bound asserted is the
 * one the design promises — a failed region is down within F × interval + timeout.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { FaultProxy, waitFor } from '@meridian/testkit';
import { startGslb, type GslbService } from './gslb.ts';
import { loadConfig } from './config.ts';

const INTERVAL_MS = 100;
const TIMEOUT_MS = 100;
const F = 3;
const R = 2;
/** The design's detection bound. */
const DOWN_BOUND_MS = F * INTERVAL_MS + TIMEOUT_MS;
/** Timers and the event loop are not exact; this is slack for them, not for the algorithm. */
const SCHEDULING_SLACK_MS = 400;
const PARIS = '48.86,2.35';

type Mode = 'ok' | 'unavailable' | 'hang' | 'flip';

/** A region as the GSLB sees it: /health/ready, optionally /v1/replication, and an echo of everything else. */
class FakeRegion {
  readonly id: string;
  mode: Mode = 'ok';
  /** Served at /v1/replication; undefined answers 404 (a region that does not serve it yet). */
  replication: unknown = undefined;
  /** Served at /v1/members (its membership answer); undefined echoes like any other path. */
  members: unknown = undefined;
  /** The authorization header of the last /v1/members request. */
  membersAuth: string | undefined;
  readyRequests = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(id: string) {
    this.id = id;
    this.#server = createServer((req, res) => this.#answer(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(id: string): Promise<FakeRegion> {
    const region = new FakeRegion(id);
    await new Promise<void>((resolve) => region.#server.listen(0, '127.0.0.1', resolve));
    return region;
  }

  get address(): string {
    const a = this.#server.address();
    if (!a || typeof a !== 'object') throw new Error('not listening');
    return `127.0.0.1:${a.port}`;
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/health/ready') {
      this.readyRequests += 1;
      const mode = this.mode === 'flip' ? (this.readyRequests % 2 === 0 ? 'ok' : 'unavailable') : this.mode;
      if (mode === 'hang') return; // never answers: the probe must time out
      if (mode === 'ok') return json(200, { status: 'ok', checks: { postgres: { ok: true, ms: 1 } }, region: this.id });
      return json(503, { status: 'unavailable', checks: { postgres: { ok: false, reason: 'connection refused', ms: 1 } }, region: this.id });
    }
    if (req.url === '/v1/members' && this.members !== undefined) {
      this.membersAuth = req.headers.authorization;
      return json(200, this.members);
    }
    if (req.url === '/v1/replication') return this.replication === undefined ? json(404, { error: { code: 'MERIDIAN_NOT_FOUND', message: 'no route' } }) : json(200, this.replication);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => json(200, { region: this.id, method: req.method, url: req.url, body: Buffer.concat(chunks).toString() }));
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

interface RegionJson {
  id: string;
  state: string;
  healthy: boolean;
  since: string | null;
  probes: { ok: number; failed: number };
  lastProbe: { reason: string | null } | null;
  recentProbes: { at: string; ok: boolean; reason: string | null }[];
  lagSeconds: number | null;
  replication: { reason: string | null } | null;
}

let eu: FakeRegion;
let us: FakeRegion;
let ap: FakeRegion;
let proxy: FaultProxy;
const started: GslbService[] = [];

async function gslb(overrides: Record<string, string> = {}): Promise<GslbService> {
  const config = loadConfig({
    // eu (Frankfurt) is the nearest to Paris, and reached through the fault proxy; then us, then ap.
    MERIDIAN_GSLB_REGIONS: `eu=http://${proxy.address}@50.1,8.7;us=http://${us.address}@39.0,-77.5;ap=http://${ap.address}@1.35,103.8`,
    MERIDIAN_GSLB_PORT: '0',
    MERIDIAN_GSLB_PROBE_INTERVAL_MS: String(INTERVAL_MS),
    MERIDIAN_GSLB_PROBE_TIMEOUT_MS: String(TIMEOUT_MS),
    MERIDIAN_GSLB_FAILURES_TO_DOWN: String(F),
    MERIDIAN_GSLB_SUCCESSES_TO_UP: String(R),
    MERIDIAN_GSLB_LAG_BOUND_SECONDS: '10',
    ...overrides,
  });
  const service = await startGslb(config);
  started.push(service);
  await waitFor(() => fetch(`${service.url}/health/ready`).then((r) => r.status), (s) => s === 200, { what: 'the GSLB to have probed every region', timeoutMs: 5000 });
  // Tests start from every region up. (On a loaded machine a first probe can time out, and the
  // first probe decides: that region then needs R good probes before it is up.)
  await waitFor(() => regions(service), (r) => Object.values(r).every((x) => x.state === 'up'), { what: 'every region up', timeoutMs: 5000 });
  return service;
}

async function regions(g: GslbService): Promise<Record<string, RegionJson>> {
  const body = (await (await fetch(`${g.url}/v1/regions`)).json()) as { regions: RegionJson[] };
  return Object.fromEntries(body.regions.map((r) => [r.id, r]));
}

async function route(g: GslbService, query = `near=${PARIS}`, headers: Record<string, string> = {}): Promise<{ status: number; chosen?: string; order: string[] }> {
  const res = await fetch(`${g.url}/v1/route?${query}`, { headers });
  const body = (await res.json()) as { chosen?: { id: string }; regions: { id: string }[] };
  return { status: res.status, ...(body.chosen ? { chosen: body.chosen.id } : {}), order: body.regions.map((r) => r.id) };
}

const waitForState = (g: GslbService, id: string, state: string, timeoutMs = 5000): Promise<Record<string, RegionJson>> =>
  waitFor(() => regions(g), (r) => r[id]?.state === state, { what: `${id} to be ${state}`, timeoutMs, intervalMs: 20 });

beforeEach(async () => {
  [eu, us, ap] = await Promise.all([FakeRegion.start('eu'), FakeRegion.start('us'), FakeRegion.start('ap')]);
  proxy = await FaultProxy.start({ target: eu.address });
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((g) => g.close()));
  await proxy.close();
  await Promise.all([eu, us, ap].map((r) => r.close()));
});

describe('GSLB over real HTTP', () => {
  it('a region that stops answering is down within F × interval + timeout and routing moves to the next nearest; after R good probes it is routed to again', async () => {
    const g = await gslb();
    await waitFor(() => route(g), (r) => r.chosen === 'eu', { what: 'eu chosen' });
    expect(proxy.connections).toBeGreaterThan(0); // the probes really go through the proxy

    proxy.blackhole();
    const cut = Date.now();
    const down = await waitForState(g, 'eu', 'down', DOWN_BOUND_MS + 5000);
    const downAt = Date.parse(down['eu']!.since!);
    expect(downAt - cut).toBeLessThanOrEqual(DOWN_BOUND_MS + SCHEDULING_SLACK_MS);
    expect(down['eu']!.lastProbe?.reason).toBe(`no answer within ${TIMEOUT_MS} ms`); // blackholed: only timeouts
    expect(await route(g)).toEqual({ status: 200, chosen: 'us', order: ['us', 'ap', 'eu'] });

    proxy.blackhole(false);
    const back = await waitForState(g, 'eu', 'up');
    // It came back on the R-th good probe in a row, not on the first.
    const probes = back['eu']!.recentProbes;
    const upIndex = probes.findIndex((p) => p.at === back['eu']!.since);
    expect(upIndex).toBeGreaterThanOrEqual(R);
    expect(probes.slice(upIndex - R + 1, upIndex + 1).every((p) => p.ok)).toBe(true);
    expect(probes[upIndex - R]!.ok).toBe(false);
    expect((await route(g)).chosen).toBe('eu');
  });

  it('503 answers and hanging servers are failures with their reasons; with every region down, routing answers 503', async () => {
    const g = await gslb();
    us.mode = 'unavailable';
    ap.mode = 'hang';
    await proxy.down(); // connection refused
    // Each failure says why. (Among the recent probes, not only the last: on a loaded machine
    // any probe can also time out, which is a failure too, with its own reason.)
    const expected: Record<string, string> = { us: 'HTTP 503 — postgres: connection refused', ap: `no answer within ${TIMEOUT_MS} ms`, eu: 'ECONNREFUSED' };
    await waitFor(
      () => regions(g),
      (r) => Object.values(r).every((x) => x.state === 'down' && x.recentProbes.some((p) => !p.ok && p.reason === expected[x.id])),
      { what: 'every region down, each with the reason of its failure', intervalMs: 20 },
    );
    const none = await fetch(`${g.url}/v1/route?near=${PARIS}`);
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('MERIDIAN_GSLB_NO_HEALTHY_REGION');
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    expect(metrics).toContain('meridian_gslb_region_up{region="us"} 0\n');
    expect(metrics).toMatch(/meridian_gslb_probes_total\{region="ap",result="failed"\} [1-9]/);

    ap.mode = 'ok';
    await waitForState(g, 'ap', 'up');
    expect((await route(g)).chosen).toBe('ap');
  });

  it('probes that fail every other time do not flip the state, on either side', async () => {
    // F = 4 here: alternation alone never makes two failures in a row, whatever F ≥ 2; the margin
    // is for the loaded test machine, where a stalled event loop can time out one extra probe.
    const g = await gslb({ MERIDIAN_GSLB_FAILURES_TO_DOWN: '4' });
    // Routable side: us alternates while up.
    const before = (await regions(g))['us']!;
    us.mode = 'flip';
    // Not routable side: eu is taken down, then alternates.
    eu.mode = 'unavailable';
    const euDown = (await waitForState(g, 'eu', 'down'))['eu']!;
    eu.mode = 'flip';
    const seen = new Set<string>();
    const after = await waitFor(
      async () => {
        const r = await regions(g);
        seen.add(`us:${r['us']!.state}`).add(`eu:${r['eu']!.state}`);
        return r;
      },
      (r) => r['us']!.probes.ok >= before.probes.ok + 8 && r['us']!.probes.failed >= 8 && r['eu']!.probes.ok >= euDown.probes.ok + 8,
      { what: 'many alternating probes', intervalMs: 20, timeoutMs: 10_000 },
    );
    expect(after['us']!.since).toBe(before.since);
    expect(after['us']!.healthy).toBe(true);
    expect(after['eu']!.since).toBe(euDown.since);
    expect(after['eu']!.healthy).toBe(false);
    expect([...seen].filter((s) => s.startsWith('us:')).every((s) => s === 'us:up' || s === 'us:failing')).toBe(true);
    expect([...seen].filter((s) => s.startsWith('eu:')).every((s) => s === 'eu:down' || s === 'eu:recovering')).toBe(true);
    // The alternation really happened (both outcomes were observed on each side).
    expect(seen).toContain('us:failing');
    expect(seen).toContain('eu:recovering');
  });

  it('redirect mode answers 307 with the path and query kept, and the region receives them as sent', async () => {
    const g = await gslb();
    const path = `/v1/ns/a/keys/b%20c?x=1&near=${PARIS}&y=%C3%A9`;
    const res = await fetch(`${g.url}/v1/redirect${path}`, { redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe(`http://${proxy.address}${path}`);
    const echoed = (await (await fetch(res.headers.get('location')!)).json()) as { region: string; url: string };
    expect(echoed).toMatchObject({ region: 'eu', url: path });
    // A client that follows redirects sends its write to the region, method and body kept.
    const put = await fetch(`${g.url}/v1/redirect/v1/ns/a/keys/k?from=us`, { method: 'PUT', body: '{"value":1}', headers: { 'content-type': 'application/json' } });
    expect(await put.json()).toEqual({ region: 'us', method: 'PUT', url: '/v1/ns/a/keys/k?from=us', body: '{"value":1}' });
  });

  it('reads each region\'s /v1/replication: lag demotes for fresh requests, a region that does not serve it is not demoted', async () => {
    us.replication = { applied: { 'eu.1': 10, 'us.1': 4 }, peers: { eu: { state: 'catching-up', lagSeconds: 60, lagSequence: 500 } } };
    ap.replication = { applied: { 'eu.1': 10, 'us.1': 4 }, peers: { eu: { state: 'streaming', lagSeconds: 0.2, lagSequence: 0 } } };
    const g = await gslb();
    const r = await waitFor(() => regions(g), (x) => x['us']!.lagSeconds === 60 && x['ap']!.lagSeconds === 0.2, { what: 'lag read from /v1/replication' });
    expect(r['eu']!.lagSeconds).toBeNull();
    expect(r['eu']!.replication?.reason).toBe('HTTP 404 (not served yet)');
    expect((await route(g, 'from=us')).order).toEqual(['us', 'eu', 'ap']);
    expect((await route(g, 'from=us&fresh=1')).order).toEqual(['eu', 'ap', 'us']);
    // A session token: eu's coverage is unknown (not demoted), ap covers it, us covers it but lags.
    expect((await route(g, 'from=us', { 'x-meridian-session': 'eu.1:10' })).order).toEqual(['eu', 'ap', 'us']);
    // A token ap and us have not applied: they sort after eu; ap (only behind) before us (behind and lagging).
    expect((await route(g, 'from=ap', { 'x-meridian-session': 'us.1:5' })).order).toEqual(['eu', 'ap', 'us']);
  });

  it('a region that joined (a member of a configured region) becomes routable without a restart, after the located ones; removed, it is dropped', async () => {
    const sa = await FakeRegion.start('sa');
    try {
      const g = await gslb({ MERIDIAN_GSLB_REGION_TOKEN: 'read-token' });
      expect(Object.keys(await regions(g))).toEqual(['eu', 'us', 'ap']);
      eu.members = { region: 'eu', members: [{ region: 'us', kafka: 'h:1', url: `http://${us.address}`, grpc: null, state: 'member' }, { region: 'sa', kafka: 'h:4', url: `http://${sa.address}`, grpc: null, state: 'member' }] };
      await waitForState(g, 'sa', 'up');
      expect(eu.membersAuth).toBe('Bearer read-token');
      expect(await route(g)).toEqual({ status: 200, chosen: 'eu', order: ['eu', 'us', 'ap', 'sa'] });
      const listed = (await (await fetch(`${g.url}/v1/regions`)).json()) as { regions: { id: string; url: string; location: unknown }[] };
      expect(listed.regions.find((r) => r.id === 'sa')).toMatchObject({ url: `http://${sa.address}`, location: null });
      for (const r of [eu, us, ap]) r.mode = 'unavailable';
      await waitFor(() => route(g), (r) => r.chosen === 'sa', { what: 'sa chosen with the others down', timeoutMs: 5000 });
      const redirected = await fetch(`${g.url}/v1/redirect/v1/ns/a/keys/k`, { redirect: 'manual' });
      expect(redirected.headers.get('location')).toBe(`http://${sa.address}/v1/ns/a/keys/k`);
      for (const r of [eu, us, ap]) r.mode = 'ok';
      us.members = { region: 'us', members: [{ region: 'sa', kafka: 'h:4', url: `http://${sa.address}`, grpc: null, state: 'removed' }] };
      await waitFor(() => regions(g), (r) => !('sa' in r), { what: 'sa dropped once removed', timeoutMs: 5000, intervalMs: 20 });
      expect((await fetch(`${g.url}/health/ready`)).status).toBe(200);
    } finally {
      await sa.close();
    }
  });

  it('two GSLB instances probing the same regions give the same answers whenever they agree on the regions\' states', async () => {
    const [a, b] = await Promise.all([gslb(), gslb()]);
    us.mode = 'unavailable';
    for (const g of [a, b]) await waitForState(g, 'us', 'down');
    const queries = [`near=${PARIS}`, `near=${PARIS}&fresh=1`, 'from=us', 'from=ap', 'near=-33.9,151.2', 'near=40.7,-74'];
    const states = async (g: GslbService): Promise<string> => JSON.stringify(Object.values(await regions(g)).map((r) => [r.id, r.state, r.lagSeconds]));
    // Each instance probes on its own schedule, so a probe can fail in one and not the other (a
    // slow answer near the timeout): their inputs differ then, and so may their answers. The
    // claim is about equal inputs: compare answers taken while both report the same states.
    const { answers } = await waitFor(
      async () => {
        const before = await Promise.all([states(a), states(b)]);
        const answers = await Promise.all(queries.map(async (q) => Promise.all([a, b].map(async (g) => (await fetch(`${g.url}/v1/route?${q}`)).text()))));
        const after = await Promise.all([states(a), states(b)]);
        return { answers, agreed: new Set([...before, ...after]).size === 1 };
      },
      (x) => x.agreed,
      { what: 'both instances to report the same states throughout', intervalMs: 20 },
    );
    for (const [fromA, fromB] of answers) expect(fromB).toBe(fromA);
    expect(JSON.parse(answers[5]![0]!).chosen.id).toBe('eu');
  });
});
