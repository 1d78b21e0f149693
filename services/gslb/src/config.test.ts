import { describe, expect, it } from 'vitest';
import { ConfigError, configReference, describeConfig, loadConfig } from './config.ts';

const REGIONS = 'eu=http://127.0.0.1:8081@50.1,8.7;us=http://127.0.0.1:8082@39.0,-77.5#2';

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.join('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('reads regions with coordinates and optional weights, applies defaults and freezes', () => {
    const c = loadConfig({ MERIDIAN_GSLB_REGIONS: REGIONS });
    expect(c.regions).toEqual([
      { id: 'eu', url: 'http://127.0.0.1:8081', location: { lat: 50.1, lon: 8.7 }, weight: 1 },
      { id: 'us', url: 'http://127.0.0.1:8082', location: { lat: 39, lon: -77.5 }, weight: 2 },
    ]);
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8070, probeIntervalMs: 1000, probeTimeoutMs: 500, failuresToDown: 3, successesToUp: 2, trustedProxyHops: 0, lagBoundSeconds: 10, logLevel: 'info' });
    expect(c.locations).toEqual([]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.regions)).toBe(true);
    expect(Object.isFrozen(c.regions[0])).toBe(true);
  });

  it('keeps a URL path prefix without its trailing slash, and URLs with user info (split at the last @)', () => {
    const c = loadConfig({ MERIDIAN_GSLB_REGIONS: 'eu=https://user:pw@eu.example.test/meridian/@50.1,8.7#0.5; ;' });
    expect(c.regions).toEqual([{ id: 'eu', url: 'https://user:pw@eu.example.test/meridian', location: { lat: 50.1, lon: 8.7 }, weight: 0.5 }]);
  });

  it('reads the CIDR table with coordinates or region ids, most specific first', () => {
    const c = loadConfig({ MERIDIAN_GSLB_REGIONS: REGIONS, MERIDIAN_GSLB_LOCATIONS: '10.0.0.0/8=1,2;10.2.0.0/16=us;2001:db8::/32=eu' });
    expect(c.locations.map((b) => [b.cidr, b.value])).toEqual([
      ['2001:db8::/32', { point: { lat: 50.1, lon: 8.7 }, label: 'eu', region: 'eu' }],
      ['10.2.0.0/16', { point: { lat: 39, lon: -77.5 }, label: 'us', region: 'us' }],
      ['10.0.0.0/8', { point: { lat: 1, lon: 2 }, label: '1,2' }],
    ]);
    expect(describeConfig(c)['locations']).toEqual([
      { cidr: '2001:db8::/32', location: 'eu' },
      { cidr: '10.2.0.0/16', location: 'us' },
      { cidr: '10.0.0.0/8', location: '1,2' },
    ]);
  });

  it('lists every problem at once, saying what was expected and what was given', () => {
    const all = problems({
      MERIDIAN_GSLB_PORT: '99999',
      MERIDIAN_GSLB_PROBE_INTERVAL_MS: 'soon',
      MERIDIAN_GSLB_FAILURES_TO_DOWN: '0',
      MERIDIAN_GSLB_LAG_BOUND_SECONDS: '-1',
      MERIDIAN_GSLB_LOG_LEVEL: 'loud',
      MERIDIAN_GSLB_TRUSTED_PROXY_HOPS: '1.5',
    });
    expect(all).toContain('MERIDIAN_GSLB_REGIONS: required — the regions');
    expect(all).toContain('MERIDIAN_GSLB_PORT: expected an integer from 0 to 65535 (got "99999")');
    expect(all).toContain('MERIDIAN_GSLB_PROBE_INTERVAL_MS: expected an integer from 10 to 3600000 (got "soon")');
    expect(all).toContain('MERIDIAN_GSLB_FAILURES_TO_DOWN: expected an integer from 1 to 100 (got "0")');
    expect(all).toContain('MERIDIAN_GSLB_LAG_BOUND_SECONDS: expected a positive number of seconds (got "-1")');
    expect(all).toContain('MERIDIAN_GSLB_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")');
    expect(all).toContain('MERIDIAN_GSLB_TRUSTED_PROXY_HOPS: expected an integer from 0 to 10 (got "1.5")');
    expect(all.split('\n')).toHaveLength(7);
  });

  it.each([
    ['eu', 'MERIDIAN_GSLB_REGIONS: expected <id>=<url>@<lat>,<lon>[#<weight>] (got "eu")'],
    ['eu=http://h:1', 'MERIDIAN_GSLB_REGIONS: expected <id>=<url>@<lat>,<lon>[#<weight>] (got "eu=http://h:1")'],
    ['EU=http://h:1@1,2', 'MERIDIAN_GSLB_REGIONS: expected a region id matching /^[a-z][a-z0-9-]{0,31}$/ (got "EU")'],
    ['eu=ftp://h:1@1,2', 'MERIDIAN_GSLB_REGIONS: expected an http(s) URL without query or fragment for region eu (got "ftp://h:1")'],
    ['eu=http://h:1/?x=1@1,2', 'MERIDIAN_GSLB_REGIONS: expected an http(s) URL without query or fragment for region eu (got "http://h:1/?x=1")'],
    ['eu=not a url@1,2', 'MERIDIAN_GSLB_REGIONS: expected an http(s) URL for region eu (got "not a url")'],
    ['eu=http://h:1@91,2', 'MERIDIAN_GSLB_REGIONS: expected lat,lon in decimal degrees (latitude -90..90, longitude -180..180) for region eu (got "91,2")'],
    ['eu=http://h:1@1,2#0', 'MERIDIAN_GSLB_REGIONS: expected a positive weight for region eu (got "0")'],
    ['eu=http://h:1@1,2#', 'MERIDIAN_GSLB_REGIONS: expected a positive weight for region eu (got "")'],
    ['eu=http://h:1@1,2;eu=http://h:2@1,2', 'MERIDIAN_GSLB_REGIONS: expected each region once (got eu twice)'],
    [';;', 'MERIDIAN_GSLB_REGIONS: expected at least one region: <id>=<url>@<lat>,<lon>[#<weight>][;…] (got ";;")'],
  ])('refuses regions %j', (value, message) => {
    expect(problems({ MERIDIAN_GSLB_REGIONS: value })).toBe(message);
  });

  it.each([
    ['10.0.0.0/8', 'MERIDIAN_GSLB_LOCATIONS: expected <cidr>=<lat>,<lon> or <cidr>=<region id> (got "10.0.0.0/8")'],
    ['10.1.5.0/16=eu', 'MERIDIAN_GSLB_LOCATIONS: expected the network address of the block (host bits zero) (got "10.1.5.0/16")'],
    ['10.0.0.0/8=1,2;10.0.0.0/8=eu', 'MERIDIAN_GSLB_LOCATIONS: expected each block once (got 10.0.0.0/8 twice)'],
    ['10.0.0.0/8=200,1', 'MERIDIAN_GSLB_LOCATIONS: expected lat,lon in decimal degrees (latitude -90..90, longitude -180..180) or a region id after 10.0.0.0/8= (got "200,1")'],
    ['10.0.0.0/8=ap', 'MERIDIAN_GSLB_LOCATIONS: expected a configured region (eu, us) after 10.0.0.0/8= (got "ap")'],
  ])('refuses locations %j', (value, message) => {
    expect(problems({ MERIDIAN_GSLB_REGIONS: REGIONS, MERIDIAN_GSLB_LOCATIONS: value })).toBe(message);
  });

  it('refuses a probe timeout longer than the interval (probes of one region would overlap)', () => {
    expect(problems({ MERIDIAN_GSLB_REGIONS: REGIONS, MERIDIAN_GSLB_PROBE_INTERVAL_MS: '100', MERIDIAN_GSLB_PROBE_TIMEOUT_MS: '150' })).toBe(
      'MERIDIAN_GSLB_PROBE_TIMEOUT_MS: expected at most MERIDIAN_GSLB_PROBE_INTERVAL_MS (100) (got 150)',
    );
    expect(loadConfig({ MERIDIAN_GSLB_REGIONS: REGIONS, MERIDIAN_GSLB_PROBE_INTERVAL_MS: '100', MERIDIAN_GSLB_PROBE_TIMEOUT_MS: '100' }).probeTimeoutMs).toBe(100);
  });

  it('documents every setting with its default', () => {
    const reference = configReference();
    expect(reference.find((f) => f.env === 'MERIDIAN_GSLB_REGIONS')?.default).toBe('(required)');
    expect(reference.find((f) => f.env === 'MERIDIAN_GSLB_LOCATIONS')?.default).toBe('(none)');
    expect(reference.find((f) => f.env === 'MERIDIAN_GSLB_FAILURES_TO_DOWN')?.default).toBe('3');
    expect(reference.map((f) => f.env)).toEqual([
      'MERIDIAN_GSLB_REGIONS',
      'MERIDIAN_GSLB_HOST',
      'MERIDIAN_GSLB_PORT',
      'MERIDIAN_GSLB_PROBE_INTERVAL_MS',
      'MERIDIAN_GSLB_PROBE_TIMEOUT_MS',
      'MERIDIAN_GSLB_FAILURES_TO_DOWN',
      'MERIDIAN_GSLB_SUCCESSES_TO_UP',
      'MERIDIAN_GSLB_LOCATIONS',
      'MERIDIAN_GSLB_TRUSTED_PROXY_HOPS',
      'MERIDIAN_GSLB_LAG_BOUND_SECONDS',
      'MERIDIAN_GSLB_REGION_TOKEN',
      'MERIDIAN_GSLB_LOG_LEVEL',
    ]);
  });

  it('reads the region token from MERIDIAN_GSLB_REGION_TOKEN_FILE and never shows it', () => {
    const c = loadConfig({ MERIDIAN_GSLB_REGIONS: REGIONS, MERIDIAN_GSLB_REGION_TOKEN_FILE: '/run/secrets/token' }, () => 'eyJ.secret-token.sig\n');
    expect(c.regionToken).toBe('eyJ.secret-token.sig');
    expect(JSON.stringify(describeConfig(c))).not.toContain('secret-token');
    expect(describeConfig(c)['regionToken']).toBe('***');
  });
});
