import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { HealthBoard, type ProbeResult } from './health-board.ts';
import { GslbMetrics } from './gslb-metrics.ts';
import { decodeReplicationStatus } from './replication-status.ts';
import { loadConfig, type GslbConfig } from './config.ts';

const ENV = {
  MERIDIAN_GSLB_REGIONS: 'eu=http://eu.test:8081@50.1,8.7;us=http://us.test:8082/base@39.0,-77.5;ap=http://ap.test:8083@1.35,103.8',
  MERIDIAN_GSLB_LOCATIONS: '10.2.0.0/16=us',
  MERIDIAN_GSLB_FAILURES_TO_DOWN: '2',
  MERIDIAN_GSLB_SUCCESSES_TO_UP: '2',
};
const PARIS = '48.86,2.35';
const ok = (at: number): ProbeResult => ({ at, ok: true, httpStatus: 200, latencyMs: 2.5, reason: undefined });
const failed = (at: number, reason = 'HTTP 503 — postgres: connection refused'): ProbeResult => ({ at, ok: false, httpStatus: 503, latencyMs: 1, reason });

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function gslb(env: Record<string, string> = ENV): Promise<{ app: FastifyInstance; board: HealthBoard; config: GslbConfig }> {
  const config = loadConfig(env);
  const board = new HealthBoard(config.regions, config);
  const app = await buildApp({ config, board, metrics: new GslbMetrics(config.regions.map((r) => r.id)) });
  apps.push(app);
  return { app, board, config };
}

function allUp(board: HealthBoard, config: GslbConfig): void {
  for (const r of config.regions) board.recordProbe(r.id, ok(1));
}

describe('GET /v1/route', () => {
  it('answers the regions nearest first with the chosen one, uncached', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    const res = await app.inject({ url: `/v1/route?near=${PARIS}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body.chosen).toEqual({ id: 'eu', url: 'http://eu.test:8081', healthy: true, state: 'up', distanceKm: 479, weight: 1, lagSeconds: null, coversSession: null, lagging: false, demoted: false });
    expect(body.regions.map((r: { id: string }) => r.id)).toEqual(['eu', 'us', 'ap']);
    expect(body.client).toEqual({ source: 'near', location: { lat: 48.86, lon: 2.35 }, address: null, cidr: null });
    expect(body.fresh).toBe(false);
  });

  it('locates the client by its address when no hint is given', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    const res = await app.inject({ url: '/v1/route', remoteAddress: '10.2.0.9' });
    expect(res.json()).toMatchObject({ chosen: { id: 'us' }, client: { source: 'cidr', address: '10.2.0.9', cidr: '10.2.0.0/16' } });
  });

  it('uses the session header: fresh, and regions behind the token demoted', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    board.recordReplication('eu', { at: 1, status: decodeReplicationStatus({ applied: { 'us.1': 3 } }), reason: undefined });
    board.recordReplication('us', { at: 1, status: decodeReplicationStatus({ applied: { 'us.1': 9 } }), reason: undefined });
    const res = await app.inject({ url: `/v1/route?near=${PARIS}`, headers: { 'x-meridian-session': 'us.1:9' } });
    expect(res.json().regions.map((r: { id: string; coversSession: boolean | null; demoted: boolean }) => [r.id, r.coversSession, r.demoted])).toEqual([
      ['us', true, false],
      ['ap', null, false],
      ['eu', false, true],
    ]);
    expect(res.json().fresh).toBe(true);
  });

  it('answers 503 MERIDIAN_GSLB_NO_HEALTHY_REGION with every region listed when none is routable', async () => {
    const { app, board } = await gslb();
    board.recordProbe('eu', failed(1));
    const res = await app.inject({ url: `/v1/route?near=${PARIS}` });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toEqual({ code: 'MERIDIAN_GSLB_NO_HEALTHY_REGION', message: 'no region is healthy' });
    expect(res.json().regions.map((r: { id: string; state: string }) => [r.id, r.state])).toEqual([
      ['eu', 'down'],
      ['us', 'unknown'],
      ['ap', 'unknown'],
    ]);
  });

  it.each([
    ['/v1/route?near=north', 400, 'MERIDIAN_GSLB_INVALID_HINT'],
    ['/v1/route?from=mars', 400, 'MERIDIAN_GSLB_INVALID_HINT'],
    [`/v1/route?from=eu&near=${PARIS}`, 400, 'MERIDIAN_GSLB_INVALID_HINT'],
    ['/v1/route?fresh=maybe', 400, 'MERIDIAN_GSLB_VALIDATION'],
    ['/v1/route?nearby=1', 400, 'MERIDIAN_GSLB_VALIDATION'],
    ['/v1/nowhere', 404, 'MERIDIAN_GSLB_NOT_FOUND'],
  ])('%s → %i %s', async (url, status, code) => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(status);
    expect(res.json().error.code).toBe(code);
    expect(typeof res.json().error.message).toBe('string');
  });

  it('refuses a malformed session token', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    const res = await app.inject({ url: '/v1/route', headers: { 'x-meridian-session': 'garbage' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('MERIDIAN_GSLB_INVALID_SESSION');
  });
});

describe('redirect mode', () => {
  it('answers 307 to the chosen region with the rest of the path and the query kept byte for byte', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    const res = await app.inject({ url: `/v1/redirect/v1/ns/a/keys/b%20c%2Fd?x=1&near=${PARIS}&x=%C3%A9` });
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe(`http://eu.test:8081/v1/ns/a/keys/b%20c%2Fd?x=1&near=${PARIS}&x=%C3%A9`);
    expect(res.headers['x-meridian-region']).toBe('eu');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('keeps the region URL\'s path prefix, and redirects the bare prefix to the region\'s root', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    expect((await app.inject({ url: '/v1/redirect/v1/namespaces?from=us' })).headers.location).toBe('http://us.test:8082/base/v1/namespaces?from=us');
    expect((await app.inject({ url: '/v1/redirect?from=us' })).headers.location).toBe('http://us.test:8082/base/?from=us');
    expect((await app.inject({ url: '/v1/redirect/' })).headers.location).toBe('http://ap.test:8083/');
  });

  it('redirects writes too (307 keeps method and body), whatever the body\'s type', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    const put = await app.inject({ method: 'PUT', url: '/v1/redirect/v1/ns/a/keys/k?from=eu', payload: { value: 1 } });
    expect(put.statusCode).toBe(307);
    expect(put.headers.location).toBe('http://eu.test:8081/v1/ns/a/keys/k?from=eu');
    const post = await app.inject({ method: 'POST', url: '/v1/redirect/x?from=eu', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(1024) });
    expect(post.statusCode).toBe(307);
  });

  it('follows health: a down region is skipped; none routable → 503', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    board.recordProbe('eu', failed(2));
    board.recordProbe('eu', failed(3));
    expect((await app.inject({ url: `/v1/redirect/x?near=${PARIS}` })).headers.location).toBe(`http://us.test:8082/base/x?near=${PARIS}`);
    for (const id of ['us', 'ap']) for (const at of [2, 3]) board.recordProbe(id, failed(at));
    const res = await app.inject({ url: '/v1/redirect/x' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('MERIDIAN_GSLB_NO_HEALTHY_REGION');
  });
});

describe('GET /v1/regions, health, metrics, docs', () => {
  it('shows each region\'s state, recent probes and replication', async () => {
    const { app, board } = await gslb();
    board.recordProbe('eu', ok(Date.UTC(2026, 0, 1)));
    board.recordProbe('eu', failed(Date.UTC(2026, 0, 1, 0, 0, 1)));
    board.recordReplication('eu', { at: Date.UTC(2026, 0, 1), status: decodeReplicationStatus({ applied: { 'eu.1': 5, 'us.1': '9007199254740993' }, peers: { us: { state: 'streaming', lagSeconds: 1.5, lagSequence: 2 } } }), reason: undefined });
    board.recordReplication('us', { at: Date.UTC(2026, 0, 1), status: undefined, reason: 'HTTP 404 (not served yet)' });
    const body = (await app.inject({ url: '/v1/regions' })).json();
    expect(body.probing).toEqual({ intervalMs: 1000, timeoutMs: 500, failuresToDown: 2, successesToUp: 2, lagBoundSeconds: 10 });
    const [eu, us, ap] = body.regions;
    expect(eu).toMatchObject({
      id: 'eu',
      state: 'failing',
      healthy: true,
      since: '2026-01-01T00:00:00.000Z',
      okStreak: 0,
      failStreak: 1,
      probes: { ok: 1, failed: 1 },
      lastProbe: { at: '2026-01-01T00:00:01.000Z', ok: false, httpStatus: 503, latencyMs: 1, reason: 'HTTP 503 — postgres: connection refused' },
      lagSeconds: 1.5,
      replication: { applied: { 'eu.1': 5, 'us.1': '9007199254740993' }, peers: { us: { state: 'streaming', lagSeconds: 1.5, lagSequence: 2 } }, reason: null },
    });
    expect(eu.recentProbes).toHaveLength(2);
    expect(us).toMatchObject({ state: 'unknown', healthy: false, since: null, lastProbe: null, lagSeconds: null, replication: { applied: null, reason: 'HTTP 404 (not served yet)' } });
    expect(ap.replication).toBeNull();
  });

  it('is ready only once every region has been probed', async () => {
    const { app, board } = await gslb();
    expect((await app.inject({ url: '/health/live' })).json()).toEqual({ status: 'ok', service: 'gslb' });
    board.recordProbe('eu', ok(1));
    board.recordProbe('us', failed(1));
    const early = await app.inject({ url: '/health/ready' });
    expect(early.statusCode).toBe(503);
    expect(early.json()).toEqual({ status: 'unavailable', checks: { eu: { ok: true }, us: { ok: true }, ap: { ok: false, reason: 'not probed yet' } }, service: 'gslb' });
    board.recordProbe('ap', failed(1));
    const ready = await app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ok');
  });

  it('counts routes by the region chosen in /metrics', async () => {
    const { app, board, config } = await gslb();
    allUp(board, config);
    await app.inject({ url: `/v1/route?near=${PARIS}` });
    await app.inject({ url: '/v1/redirect/x?from=us' });
    await app.inject({ url: '/v1/route?near=bad' }); // refused before a decision: not a route
    const res = await app.inject({ url: '/metrics' });
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('meridian_gslb_routes_total{region="eu"} 1\n');
    expect(res.body).toContain('meridian_gslb_routes_total{region="us"} 1\n');
    expect(res.body).toContain('meridian_gslb_routes_total{region="none"} 0\n');
    expect(res.body).toContain('meridian_gslb_region_up{region="ap"} 1\n');
  });

  it('serves the OpenAPI document with the routing API', async () => {
    const { app } = await gslb();
    const doc = (await app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(doc.paths).sort()).toEqual(['/v1/redirect', '/v1/redirect/{*}', '/v1/regions', '/v1/route']);
  });
});

describe('several GSLB instances', () => {
  it('give the same answers when they have seen the same probe outcomes, whatever order the regions were probed in', async () => {
    const a = await gslb();
    const b = await gslb();
    const outcomes: [string, ProbeResult][] = [
      ['eu', ok(1)], ['us', ok(1)], ['ap', ok(1)],
      ['eu', failed(2)], ['eu', failed(3)], ['us', failed(3)],
    ];
    for (const [id, result] of outcomes) a.board.recordProbe(id, result);
    // b's probes of different regions interleave differently (each region's own order is kept).
    for (const id of ['ap', 'us', 'eu']) for (const [rid, result] of outcomes) if (rid === id) b.board.recordProbe(rid, result);
    const replication = decodeReplicationStatus({ applied: { 'eu.1': 4 }, peers: { eu: { lagSeconds: 30 } } });
    for (const g of [a, b]) g.board.recordReplication('us', { at: 1, status: replication, reason: undefined });
    const requests = [
      { url: `/v1/route?near=${PARIS}` },
      { url: `/v1/route?near=${PARIS}&fresh=1` },
      { url: '/v1/route?from=ap' },
      { url: '/v1/route', remoteAddress: '10.2.3.4' },
      { url: '/v1/route', headers: { 'x-meridian-session': 'eu.1:5' } },
      { url: '/v1/redirect/v1/x?y=1', remoteAddress: '10.2.3.4' },
    ];
    for (const request of requests) {
      const [ra, rb] = await Promise.all([a.app.inject(request), b.app.inject(request)]);
      expect(rb.statusCode).toBe(ra.statusCode);
      expect(rb.headers.location).toBe(ra.headers.location);
      expect(rb.body).toBe(ra.body);
    }
    expect((await a.app.inject({ url: `/v1/route?near=${PARIS}` })).json().chosen.id).toBe('us');
  });
});
