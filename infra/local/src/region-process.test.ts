/** The region's settings as its config schema reads them, and the wiring of a set of regions to each other. */
import { describe, expect, it } from 'vitest';
import { LOCAL_CONTEXT_SECRET, localClusterRegionSettings, operatorRegionSettings, peerSettings, regionEnvironment } from './region-process.ts';
import { childEnvironment } from './service-process.ts';
import { gslbEnvironment } from './gslb-process.ts';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, ephemeralAuth } from './local-auth.ts';

describe('regionEnvironment', () => {
  it('writes a standalone region with the defaults', () => {
    expect(regionEnvironment({ region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth: 'off' })).toEqual({
      MERIDIAN_REGION: 'eu',
      DATABASE_URL: 'postgres://db/eu',
      MERIDIAN_PORT: '8081',
      MERIDIAN_HOST: '127.0.0.1',
      MERIDIAN_CONTEXT_SECRET: LOCAL_CONTEXT_SECRET,
      MERIDIAN_LOG_LEVEL: 'info',
      MERIDIAN_AUTH: 'off',
    });
  });

  it('hands the region the public key of the cluster\'s tokens: from its file when on disk', async () => {
    const auth = await ephemeralAuth();
    expect(regionEnvironment({ region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth })).toMatchObject({
      MERIDIAN_AUTH: 'on', MERIDIAN_AUTH_PUBLIC_KEYS: auth.keys.publicKeyPem, MERIDIAN_AUTH_ISSUER: LOCAL_ISSUER, MERIDIAN_AUTH_AUDIENCE: LOCAL_AUDIENCE,
    });
    const onDisk = regionEnvironment({ region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth: { ...auth, publicKeyFile: '/keys/public-key.pem' } });
    expect(onDisk['MERIDIAN_AUTH_PUBLIC_KEYS_FILE']).toBe('/keys/public-key.pem');
    expect(onDisk['MERIDIAN_AUTH_PUBLIC_KEYS']).toBeUndefined();
  });

  it('writes own Kafka, peers, peer URLs and the Zipkin exporter in the schema\'s formats; env wins', () => {
    const env = regionEnvironment({
      region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth: 'off',
      kafkaBrokers: ['127.0.0.1:19092', '127.0.0.1:19094'],
      peers: { us: '127.0.0.1:29092', ap: ['127.0.0.1:39092', '127.0.0.1:39094'] },
      peerUrls: { us: 'http://127.0.0.1:8082', ap: 'http://127.0.0.1:8083' },
      zipkinSpansUrl: 'http://127.0.0.1:9411/api/v2/spans',
      env: { MERIDIAN_LOG_LEVEL: 'warn', MERIDIAN_PG_POOL_SIZE: '2' },
    });
    expect(env).toMatchObject({
      MERIDIAN_KAFKA_BROKERS: '127.0.0.1:19092,127.0.0.1:19094',
      MERIDIAN_PEERS: 'us=127.0.0.1:29092;ap=127.0.0.1:39092,127.0.0.1:39094',
      MERIDIAN_PEER_URLS: 'us=http://127.0.0.1:8082;ap=http://127.0.0.1:8083',
      MERIDIAN_TRACES_EXPORTER: 'zipkin',
      MERIDIAN_TRACES_ENDPOINT: 'http://127.0.0.1:9411/api/v2/spans',
      MERIDIAN_LOG_LEVEL: 'warn',
      MERIDIAN_PG_POOL_SIZE: '2',
      MERIDIAN_KAFKA_SECURITY: 'plaintext',
    });
  });

  it('connects a region to Kafka as its principal, its password read from the file, never written into the environment', () => {
    const user = { username: 'region-eu', password: 's3cret-password', passwordFile: '/keys/region-eu.password' };
    const env = regionEnvironment({ region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth: 'off', kafkaBrokers: '127.0.0.1:19092', kafkaSecurity: { caFile: '/tls/ca.pem', user } });
    expect(env).toMatchObject({
      MERIDIAN_KAFKA_SECURITY: 'sasl_ssl', MERIDIAN_KAFKA_TLS_CA: '/tls/ca.pem', MERIDIAN_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      MERIDIAN_KAFKA_SASL_USERNAME: 'region-eu', MERIDIAN_KAFKA_SASL_PASSWORD_FILE: '/keys/region-eu.password',
    });
    expect(JSON.stringify(env)).not.toContain(user.password);
  });
});

describe('operatorRegionSettings', () => {
  it('passes the launcher\'s MERIDIAN_* settings on, except the wiring, authentication and GSLB ones the launcher owns', () => {
    const parent = {
      PATH: '/bin', DATABASE_URL: 'postgres://mine', MERIDIAN_TOMBSTONE_MIN_AGE: '5s', MERIDIAN_PG_POOL_SIZE: '3',
      MERIDIAN_REGION: 'zz', MERIDIAN_PORT: '1', MERIDIAN_HOST: '0.0.0.0', MERIDIAN_KAFKA_BROKERS: 'k:1', MERIDIAN_PEERS: 'x=k:1',
      MERIDIAN_PEER_URLS: 'x=http://x', MERIDIAN_GRPC_PORT: '2', MERIDIAN_PEER_GRPC: 'x=g:1', MERIDIAN_AUTH: 'off', MERIDIAN_AUTH_PUBLIC_KEYS: 'k', MERIDIAN_GRPC_TLS: 'off', MERIDIAN_GRPC_TLS_KEY: 'x.pem',
      MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_KAFKA_TLS_CA: 'ca.pem', MERIDIAN_KAFKA_SASL_USERNAME: 'u', MERIDIAN_KAFKA_SASL_PASSWORD_FILE: 'p',
      MERIDIAN_GSLB_PORT: '3', UNSET: undefined,
    };
    expect(operatorRegionSettings(parent)).toEqual({ MERIDIAN_TOMBSTONE_MIN_AGE: '5s', MERIDIAN_PG_POOL_SIZE: '3' });
  });

  it('reaches the region\'s environment through the launcher (env), over the cleaned parent environment', () => {
    const settings = operatorRegionSettings({ MERIDIAN_TOMBSTONE_MIN_AGE: '5s' });
    const env = childEnvironment({ PATH: '/bin', MERIDIAN_TOMBSTONE_MIN_AGE: '5s' }, regionEnvironment({ region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth: 'off', env: settings }));
    expect(env['MERIDIAN_TOMBSTONE_MIN_AGE']).toBe('5s');
    expect(env['MERIDIAN_REGION']).toBe('eu');
  });
});

describe('localClusterRegionSettings', () => {
  it("gives a local cluster's regions a half-second drift bound, so a 5 s tombstone min age starts; the operator's own bound wins", () => {
    const env = regionEnvironment({ region: 'eu', databaseUrl: 'postgres://db/eu', port: 8081, auth: 'off', env: localClusterRegionSettings({ MERIDIAN_TOMBSTONE_MIN_AGE: '5s' }) });
    expect(env).toMatchObject({ MERIDIAN_MAX_CLOCK_DRIFT_MS: '500', MERIDIAN_TOMBSTONE_MIN_AGE: '5s' });
    expect(localClusterRegionSettings({ MERIDIAN_MAX_CLOCK_DRIFT_MS: '60000' })).toEqual({ MERIDIAN_MAX_CLOCK_DRIFT_MS: '60000' });
    expect(localClusterRegionSettings(undefined)).toEqual({ MERIDIAN_MAX_CLOCK_DRIFT_MS: '500' });
  });
});

describe('peerSettings', () => {
  it('wires each region to every other one, never to itself', () => {
    const all = [
      { id: 'eu', kafka: 'k-eu', url: 'u-eu', grpc: 'g-eu:1' },
      { id: 'us', kafka: 'k-us', url: 'u-us', grpc: 'g-us:2' },
      { id: 'ap', kafka: 'k-ap', url: 'u-ap' },
    ];
    expect(peerSettings(all, 'us')).toEqual({ peers: { eu: 'k-eu', ap: 'k-ap' }, peerUrls: { eu: 'u-eu', ap: 'u-ap' }, peerGrpc: { eu: 'g-eu:1' } });
    expect(peerSettings([all[0]!], 'eu')).toEqual({ peers: {}, peerUrls: {}, peerGrpc: {} });
  });
});

describe('childEnvironment', () => {
  it('drops the parent\'s Meridian settings and DATABASE_URL, keeps the rest, adds the given ones', () => {
    const env = childEnvironment({ PATH: '/bin', MERIDIAN_PEERS: 'x=y:1', DATABASE_URL: 'postgres://mine', MERIDIAN_REGION: 'zz' }, { MERIDIAN_REGION: 'eu' });
    expect(env).toEqual({ PATH: '/bin', MERIDIAN_REGION: 'eu' });
  });
});

describe('gslbEnvironment', () => {
  it('writes regions as <id>=<url>@<lat>,<lon>[#<weight>] joined by ;, and the client locations', () => {
    const env = gslbEnvironment({
      port: 8080,
      regions: [
        { id: 'eu', url: 'http://127.0.0.1:8081', location: { lat: 50.11, lon: 8.68 } },
        { id: 'us', url: 'http://127.0.0.1:8082', location: { lat: 38.9, lon: -77 }, weight: 2 },
      ],
      locations: { '10.0.0.0/8': 'eu', '192.168.0.0/16': '1.35,103.8' },
      probeIntervalMs: 500,
    });
    expect(env).toEqual({
      MERIDIAN_GSLB_REGIONS: 'eu=http://127.0.0.1:8081@50.11,8.68;us=http://127.0.0.1:8082@38.9,-77#2',
      MERIDIAN_GSLB_PORT: '8080',
      MERIDIAN_GSLB_HOST: '127.0.0.1',
      MERIDIAN_GSLB_LOG_LEVEL: 'info',
      MERIDIAN_GSLB_LOCATIONS: '10.0.0.0/8=eu;192.168.0.0/16=1.35,103.8',
      MERIDIAN_GSLB_PROBE_INTERVAL_MS: '500',
    });
    expect(() => gslbEnvironment({ port: 1, regions: [] })).toThrow('expected at least one region for the GSLB (got none)');
  });
});
