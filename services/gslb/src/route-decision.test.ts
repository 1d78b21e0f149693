import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareRanked, decideRoute, type RegionView, type RouteQuery, type RoutingConfig } from './route-decision.ts';
import { GslbError } from './errors.ts';
import { loadConfig } from './config.ts';
import { HealthStatus, type HealthStatus as Status } from './region-health.ts';

// Frankfurt, Ashburn, Singapore.
const config: RoutingConfig = loadConfig({
  MERIDIAN_GSLB_REGIONS: 'eu=http://eu.test:8081@50.1,8.7;us=http://us.test:8082@39.0,-77.5;ap=http://ap.test:8083@1.35,103.8',
  MERIDIAN_GSLB_LOCATIONS: '10.1.0.0/16=eu;10.2.0.0/16=us;10.3.0.0/16=1.35,103.8;2001:db8:3::/48=ap',
  MERIDIAN_GSLB_LAG_BOUND_SECONDS: '10',
});
const PARIS = '48.86,2.35';

const view = (status: Status, maxLagSeconds?: number, applied?: Record<string, number>): RegionView => ({
  status,
  maxLagSeconds,
  applied: applied === undefined ? undefined : new Map(Object.entries(applied).map(([a, s]) => [a, BigInt(s)])),
});
const allUp = new Map([
  ['eu', view('up')],
  ['us', view('up')],
  ['ap', view('up')],
]);
const ids = (config: RoutingConfig, views: ReadonlyMap<string, RegionView>, query: RouteQuery) => decideRoute(config, views, query).regions.map((r) => r.id);
const refused = (f: () => unknown): GslbError => {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(GslbError);
    return error as GslbError;
  }
  throw new Error('expected a GslbError');
};

describe('where the client is', () => {
  // Expected distances computed independently (haversine, R = 6371.0088 km, in Python).
  it('near=lat,lon ranks by great-circle distance, nearest first', () => {
    const d = decideRoute(config, allUp, { near: PARIS });
    expect(d.regions.map((r) => [r.id, r.distanceKm])).toEqual([
      ['eu', 479],
      ['us', 6190],
      ['ap', 10728],
    ]);
    expect(d.client).toEqual({ source: 'near', location: { lat: 48.86, lon: 2.35 }, address: undefined, cidr: undefined });
    expect(d.chosen?.id).toBe('eu');
  });

  it('from=<region> uses that region\'s coordinates', () => {
    const d = decideRoute(config, allUp, { from: 'ap' });
    expect(d.regions.map((r) => [r.id, r.distanceKm])).toEqual([
      ['ap', 0],
      ['eu', 10256],
      ['us', 15526],
    ]);
    expect(d.client.source).toBe('from');
  });

  it('an explicit hint beats the address', () => {
    expect(decideRoute(config, allUp, { near: PARIS, remoteAddress: '10.3.0.1' }).chosen?.id).toBe('eu');
    expect(decideRoute(config, allUp, { from: 'us', remoteAddress: '10.3.0.1' }).chosen?.id).toBe('us');
  });

  it('otherwise matches the socket address against the CIDR table (IPv4, mapped IPv4, IPv6)', () => {
    expect(decideRoute(config, allUp, { remoteAddress: '10.2.7.7' })).toMatchObject({ chosen: { id: 'us' }, client: { source: 'cidr', address: '10.2.7.7', cidr: '10.2.0.0/16' } });
    expect(decideRoute(config, allUp, { remoteAddress: '::ffff:10.3.0.9' }).chosen?.id).toBe('ap');
    expect(decideRoute(config, allUp, { remoteAddress: '2001:db8:3::7' }).chosen?.id).toBe('ap');
  });

  it('with no location, all distances are unknown and weight then id decide', () => {
    const d = decideRoute(config, allUp, { remoteAddress: '192.0.2.1' });
    expect(d.client).toEqual({ source: 'none', location: undefined, address: '192.0.2.1', cidr: undefined });
    expect(d.regions.map((r) => [r.id, r.distanceKm])).toEqual([
      ['ap', null],
      ['eu', null],
      ['us', null],
    ]);
    expect(decideRoute(config, allUp, {}).client.source).toBe('none');
    expect(decideRoute(config, allUp, { remoteAddress: 'not-an-ip' }).client.source).toBe('none');
  });

  it('ignores X-Forwarded-For unless proxies are trusted, then takes the n-th address from the right', () => {
    // The client wrote "10.3.0.1" itself; our proxy (10.9.9.9) appended the address it saw.
    const spoofed = { remoteAddress: '10.9.9.9', forwardedFor: '10.3.0.1, 10.2.0.1' };
    expect(decideRoute(config, allUp, spoofed).client).toMatchObject({ source: 'none', address: '10.9.9.9' });
    expect(decideRoute({ ...config, trustedProxyHops: 1 }, allUp, spoofed).client).toMatchObject({ source: 'cidr', address: '10.2.0.1' });
    // Two proxies of ours: the second appended the first's address.
    expect(decideRoute({ ...config, trustedProxyHops: 2 }, allUp, { remoteAddress: '10.9.9.9', forwardedFor: '10.1.0.1, 10.8.8.8' }).client.address).toBe('10.1.0.1');
    // More trusted hops than addresses: the leftmost.
    expect(decideRoute({ ...config, trustedProxyHops: 3 }, allUp, { remoteAddress: '10.9.9.9', forwardedFor: '10.1.0.1' }).client.address).toBe('10.1.0.1');
    // No header: the socket.
    expect(decideRoute({ ...config, trustedProxyHops: 1 }, allUp, { remoteAddress: '10.2.0.1' }).client.address).toBe('10.2.0.1');
  });

  it('refuses bad hints with MERIDIAN_GSLB_INVALID_HINT, saying what was expected', () => {
    expect(refused(() => decideRoute(config, allUp, { near: '48.8' }))).toMatchObject({ code: 'MERIDIAN_GSLB_INVALID_HINT', status: 400, message: 'expected near=lat,lon in decimal degrees (latitude -90..90, longitude -180..180) (got "48.8")' });
    expect(refused(() => decideRoute(config, allUp, { from: 'mars' }))).toMatchObject({ code: 'MERIDIAN_GSLB_INVALID_HINT', message: 'expected from=<region> among eu, us, ap (got "mars")' });
    expect(refused(() => decideRoute(config, allUp, { near: PARIS, from: 'eu' }))).toMatchObject({ code: 'MERIDIAN_GSLB_INVALID_HINT', message: 'expected one of near and from (got both)' });
  });
});

describe('health', () => {
  it('routes to the nearest routable region; failing (< F failures) is still routable', () => {
    const views = new Map([
      ['eu', view('down')],
      ['us', view('failing')],
      ['ap', view('up')],
    ]);
    const d = decideRoute(config, views, { near: PARIS });
    expect(d.regions.map((r) => [r.id, r.healthy, r.status])).toEqual([
      ['us', true, 'failing'],
      ['ap', true, 'up'],
      ['eu', false, 'down'],
    ]);
    expect(d.chosen?.id).toBe('us');
  });

  it.each([HealthStatus.unknown, HealthStatus.down, HealthStatus.recovering])('%s is not routable', (status) => {
    expect(decideRoute(config, new Map([...allUp, ['eu', view(status)]]), { near: PARIS }).chosen?.id).toBe('us');
  });

  it('a region the board does not know is unknown; with nothing routable there is no choice but every region is listed', () => {
    expect(decideRoute(config, new Map([['us', view('up')]]), { near: PARIS }).regions.map((r) => [r.id, r.status])).toEqual([
      ['us', 'up'],
      ['eu', 'unknown'],
      ['ap', 'unknown'],
    ]);
    const none = decideRoute(config, new Map(), { near: PARIS });
    expect(none.chosen).toBeUndefined();
    expect(none.regions.map((r) => r.id)).toEqual(['eu', 'us', 'ap']);
  });
});

describe('ties', () => {
  const twins = loadConfig({
    MERIDIAN_GSLB_REGIONS: 'b=http://b.test@50.1,8.7;a=http://a.test@50.1,8.7;heavy=http://h.test@50.1,8.701#3;far=http://f.test@1,1#100',
  });
  const up = new Map(twins.regions.map((r) => [r.id, view('up')]));

  it('equal distance (in whole km): higher weight first, then id; weight never beats distance', () => {
    // heavy is 70 m from the others: the same whole kilometre, so its weight decides.
    expect(ids(twins, up, { near: PARIS })).toEqual(['heavy', 'a', 'b', 'far']);
  });

  it('no location: weight then id', () => {
    expect(ids(twins, up, {})).toEqual(['far', 'heavy', 'a', 'b']);
  });
});

describe('freshness', () => {
  const lagging = new Map([
    ['eu', view('up', 30)],
    ['us', view('up', 10)],
    ['ap', view('up')],
  ]);

  it('without fresh=1 or a session, lag does not reorder', () => {
    const d = decideRoute(config, lagging, { near: PARIS });
    expect(d.fresh).toBe(false);
    expect(d.regions.map((r) => [r.id, r.lagSeconds, r.lagging, r.tier])).toEqual([
      ['eu', 30, true, 0],
      ['us', 10, false, 0],
      ['ap', null, false, 0],
    ]);
  });

  it('fresh=1 demotes a region whose lag exceeds the bound (exactly the bound is fresh; unknown lag never demotes)', () => {
    const d = decideRoute(config, lagging, { near: PARIS, fresh: true });
    expect(d.fresh).toBe(true);
    expect(d.regions.map((r) => [r.id, r.tier])).toEqual([
      ['us', 0],
      ['ap', 0],
      ['eu', 1],
    ]);
    expect(decideRoute(config, new Map([...lagging, ['us', view('up', 11)]]), { near: PARIS, fresh: true }).chosen?.id).toBe('ap');
  });

  it('a session token prefers regions whose applied vector covers it (unknown coverage is not demoted)', () => {
    const views = new Map([
      ['eu', view('up', 0, { 'eu.1': 100, 'us.1': 87 })],
      ['us', view('up', 0, { 'eu.1': 120, 'us.1': 90 })],
      ['ap', view('up')],
    ]);
    const d = decideRoute(config, views, { near: PARIS, session: 'eu.1:120;us.1:87' });
    expect(d.fresh).toBe(true);
    expect(d.regions.map((r) => [r.id, r.coversSession, r.tier])).toEqual([
      ['us', true, 0],
      ['ap', null, 0],
      ['eu', false, 2],
    ]);
  });

  it('tiers: covering but lagging (1) before behind the session (2) before both (3); health still comes first', () => {
    const views = new Map([
      ['eu', view('up', 99, { 'eu.1': 1 })], // behind and lagging
      ['us', view('up', 0, { 'eu.1': 1 })], // behind
      ['ap', view('up', 99, { 'eu.1': 5 })], // covers, lagging
    ]);
    expect(decideRoute(config, views, { near: PARIS, session: 'eu.1:5' }).regions.map((r) => [r.id, r.tier])).toEqual([
      ['ap', 1],
      ['us', 2],
      ['eu', 3],
    ]);
    const apDown = new Map([...views, ['ap', view('down', 0, { 'eu.1': 5 })]]);
    expect(decideRoute(config, apDown, { near: PARIS, session: 'eu.1:5' }).regions.map((r) => r.id)).toEqual(['us', 'eu', 'ap']);
  });

  it('a stale region is still chosen when nothing fresher is routable', () => {
    const views = new Map([
      ['eu', view('up', 99)],
      ['us', view('down')],
      ['ap', view('recovering')],
    ]);
    expect(decideRoute(config, views, { near: PARIS, fresh: true }).chosen).toMatchObject({ id: 'eu', lagging: true, tier: 1 });
  });

  it('an empty session header is no session; a malformed one is refused', () => {
    expect(decideRoute(config, allUp, { session: '  ' }).fresh).toBe(false);
    expect(refused(() => decideRoute(config, allUp, { session: 'eu:1' }))).toMatchObject({
      code: 'MERIDIAN_GSLB_INVALID_SESSION',
      message: 'X-Meridian-Session: expected a session token such as "eu.1:120;us.1:87" (got "eu:1")',
    });
  });
});

describe('determinism: the answer is a function of (config, views, request) only', () => {
  const status = fc.constantFrom(...Object.values(HealthStatus));
  const regionView = fc.record({
    status,
    lag: fc.option(fc.constantFrom(0, 5, 10, 10.5, 60), { nil: undefined }),
    applied: fc.option(fc.dictionary(fc.constantFrom('eu.1', 'us.1', 'ap.1'), fc.integer({ min: 0, max: 5 })), { nil: undefined }),
  });
  const views = fc.record({ eu: regionView, us: regionView, ap: regionView });
  const query = fc.record(
    {
      near: fc.tuple(fc.integer({ min: -90, max: 90 }), fc.integer({ min: -180, max: 180 })).map(([a, b]) => `${a},${b}`),
      fresh: fc.boolean(),
      session: fc.dictionary(fc.constantFrom('eu.1', 'us.1', 'ap.1'), fc.integer({ min: 1, max: 5 }), { minKeys: 1 }).map((d) => Object.entries(d).map(([a, p]) => `${a}:${p}`).join(';')),
      remoteAddress: fc.constantFrom('10.1.0.1', '10.2.0.1', '10.3.0.1', '192.0.2.1'),
    },
    { requiredKeys: [] },
  );
  const toViews = (v: Record<string, { status: Status; lag: number | undefined; applied: Record<string, number> | undefined }>, order: readonly string[]) =>
    new Map(order.map((id) => [id, view(v[id]!.status, v[id]!.lag, v[id]!.applied)]));

  it('does not depend on the order of the configured regions or of the views', () => {
    fc.assert(
      fc.property(views, query, fc.shuffledSubarray(['eu', 'us', 'ap'], { minLength: 3 }), (v, q, order) => {
        const shuffled: RoutingConfig = { ...config, regions: order.map((id) => config.regions.find((r) => r.id === id)!) };
        expect(decideRoute(shuffled, toViews(v, [...order].reverse()), q)).toEqual(decideRoute(config, toViews(v, ['eu', 'us', 'ap']), q));
      }),
    );
  });

  it('lists every region once, in the documented total order, and chooses the first iff it is routable', () => {
    fc.assert(
      fc.property(views, query, (v, q) => {
        const d = decideRoute(config, toViews(v, ['eu', 'us', 'ap']), q);
        expect([...d.regions.map((r) => r.id)].sort()).toEqual(['ap', 'eu', 'us']);
        for (let i = 1; i < d.regions.length; i++) expect(compareRanked(d.regions[i - 1]!, d.regions[i]!)).toBeLessThan(0);
        expect(d.chosen).toBe(d.regions[0]!.healthy ? d.regions[0] : undefined);
        expect(d.chosen === undefined).toBe(d.regions.every((r) => !r.healthy));
        if (!d.fresh) expect(d.regions.every((r) => r.tier === 0)).toBe(true);
      }),
    );
  });
});
