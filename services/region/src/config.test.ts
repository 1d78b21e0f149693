import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from './config.ts';

const base = { MERIDIAN_REGION: 'eu', DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:5432/eu', MERIDIAN_CONTEXT_SECRET: 'a-long-enough-secret', MERIDIAN_AUTH: 'off' };
const PEM = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n';

describe('configuration', () => {
  it('applies defaults and freezes', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({ region: 'eu', port: 8080, maxValueBytes: 262144, kafkaBrokers: undefined, topicPartitions: 12, topicReplicationFactor: 1 });
    expect(c.peers.size).toBe(0);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lists every problem, saying what was expected and what was given, hiding secrets', () => {
    const error = (() => {
      try {
        loadConfig({ MERIDIAN_REGION: 'EU!', MERIDIAN_PORT: '99999', MERIDIAN_CONTEXT_SECRET: 'short', MERIDIAN_TRACE_SAMPLE_RATIO: '2' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('MERIDIAN_REGION: expected a region id');
    expect(problems).toContain('(got "EU!")');
    expect(problems).toContain('MERIDIAN_PORT: expected an integer from 0 to 65535 (got "99999")');
    expect(problems).toContain('DATABASE_URL: required');
    expect(problems).toContain('MERIDIAN_CONTEXT_SECRET: expected at least 16 characters (got (hidden))');
    expect(problems).not.toContain('short');
    expect(problems).toContain('MERIDIAN_TRACE_SAMPLE_RATIO: expected a number from 0 to 1 (got "2")');
  });

  it('takes the updates topic\'s replication factor (1 by default), refusing one below 1', () => {
    expect(loadConfig({ ...base, MERIDIAN_TOPIC_REPLICATION_FACTOR: '3' }).topicReplicationFactor).toBe(3);
    expect(() => loadConfig({ ...base, MERIDIAN_TOPIC_REPLICATION_FACTOR: '0' })).toThrow(/MERIDIAN_TOPIC_REPLICATION_FACTOR: expected an integer from 1 to 16 \(got "0"\)/);
  });

  it('refuses a tombstone min age below 10 × the clock drift bound, naming both settings', () => {
    expect(loadConfig({ ...base, MERIDIAN_TOMBSTONE_MIN_AGE: '10m' }).tombstoneMinAgeMs).toBe(600_000); // 10 × the default 60 s
    expect(() => loadConfig({ ...base, MERIDIAN_TOMBSTONE_MIN_AGE: '5m' })).toThrow('MERIDIAN_TOMBSTONE_MIN_AGE: expected at least 10 × MERIDIAN_MAX_CLOCK_DRIFT_MS = 10m (got 5m;');
    expect(loadConfig({ ...base, MERIDIAN_TOMBSTONE_MIN_AGE: '2s', MERIDIAN_MAX_CLOCK_DRIFT_MS: '200' }).tombstoneMinAgeMs).toBe(2000);
    expect(() => loadConfig({ ...base, MERIDIAN_TOMBSTONE_MIN_AGE: '2s', MERIDIAN_MAX_CLOCK_DRIFT_MS: '201' })).toThrow(/MIN_AGE: expected at least/);
  });

  it('parses peers, refuses itself as a peer and peers without its own Kafka', () => {
    const c = loadConfig({ ...base, MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_KAFKA_BROKERS: '127.0.0.1:9092', MERIDIAN_PEERS: 'us=127.0.0.1:9093,127.0.0.1:9094;ap=127.0.0.1:9095', MERIDIAN_PEER_URLS: 'us=http://127.0.0.1:8081' });
    expect([...c.peers.entries()]).toEqual([
      ['us', ['127.0.0.1:9093', '127.0.0.1:9094']],
      ['ap', ['127.0.0.1:9095']],
    ]);
    expect(c.peerUrls.get('us')).toBe('http://127.0.0.1:8081');
    expect(() => loadConfig({ ...base, MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_KAFKA_BROKERS: '127.0.0.1:9092', MERIDIAN_PEERS: 'eu=127.0.0.1:9093' })).toThrow(/other than this region/);
    expect(() => loadConfig({ ...base, MERIDIAN_PEERS: 'us=127.0.0.1:9093' })).toThrow(/MERIDIAN_KAFKA_BROKERS: required/);
    expect(() => loadConfig({ ...base, MERIDIAN_KAFKA_BROKERS: 'nope' })).toThrow(/host:port/);
  });

  it('connects to Kafka with SASL_SSL by default: a region with Kafka and no credentials refuses to start unless told plaintext', () => {
    const kafka = { ...base, MERIDIAN_KAFKA_BROKERS: '127.0.0.1:9092' };
    expect(() => loadConfig(kafka)).toThrow(/MERIDIAN_KAFKA_SASL_USERNAME, MERIDIAN_KAFKA_SASL_PASSWORD: required with MERIDIAN_KAFKA_BROKERS/);
    expect(() => loadConfig({ ...kafka, MERIDIAN_KAFKA_SASL_USERNAME: 'region-eu' })).toThrow(/MERIDIAN_KAFKA_SASL_PASSWORD: required/);
    expect(loadConfig({ ...kafka, MERIDIAN_KAFKA_SECURITY: 'plaintext' }).kafkaSecurity).toBe('plaintext');
    // A standalone region (no Kafka) needs no credentials.
    expect(loadConfig(base).kafkaSecurity).toBe('sasl_ssl');
    const files: Record<string, string> = { '/run/secrets/kafka': 'the-kafka-password\n' };
    const c = loadConfig({ ...kafka, MERIDIAN_KAFKA_TLS_CA: '/tls/ca.pem', MERIDIAN_KAFKA_SASL_USERNAME: 'region-eu', MERIDIAN_KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka' }, (path) => files[path]!);
    expect(c).toMatchObject({ kafkaSecurity: 'sasl_ssl', kafkaTlsCa: '/tls/ca.pem', kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'region-eu', kafkaSaslPassword: 'the-kafka-password' });
    expect(JSON.stringify(describeConfig(c))).not.toContain('the-kafka-password');
    expect(() => loadConfig({ ...kafka, MERIDIAN_KAFKA_SECURITY: 'ssl' })).toThrow(/MERIDIAN_KAFKA_SECURITY: expected one of/);
  });

  it('enables the fastify and pg instrumentations by default; a list or "none" chooses; unknown names are refused', () => {
    expect([...loadConfig(base).instrumentations].sort()).toEqual(['fastify', 'pg']);
    expect([...loadConfig({ ...base, MERIDIAN_OTEL_INSTRUMENTATIONS: 'pg, kafkajs' }).instrumentations].sort()).toEqual(['kafkajs', 'pg']);
    expect(loadConfig({ ...base, MERIDIAN_OTEL_INSTRUMENTATIONS: 'none' }).instrumentations.size).toBe(0);
    expect(() => loadConfig({ ...base, MERIDIAN_OTEL_INSTRUMENTATIONS: 'pg,mysql' })).toThrow(/MERIDIAN_OTEL_INSTRUMENTATIONS: expected "none" or a comma-separated list of http, fastify, pg, kafkajs \(got "pg,mysql"\)/);
    expect(describeConfig(loadConfig(base))['instrumentations']).toBe('fastify,pg');
  });

  it('reads the test-only clock offset (0 by default), refusing what is not a whole number of milliseconds', () => {
    expect(loadConfig(base).testClockOffsetMs).toBe(0);
    expect(loadConfig({ ...base, MERIDIAN_TEST_CLOCK_OFFSET_MS: '-2500' }).testClockOffsetMs).toBe(-2500);
    expect(() => loadConfig({ ...base, MERIDIAN_TEST_CLOCK_OFFSET_MS: '1.5' })).toThrow(/MERIDIAN_TEST_CLOCK_OFFSET_MS: expected an integer/);
  });

  it('masks secrets and URL passwords when described', () => {
    const shown = JSON.stringify(describeConfig(loadConfig(base)));
    expect(shown).not.toContain('secret-pw');
    expect(shown).not.toContain('a-long-enough-secret');
  });

  it('refuses to start without a way to verify tokens unless authentication is explicitly off (secure by default)', () => {
    const { MERIDIAN_AUTH: _off, ...secured } = base;
    expect(() => loadConfig(secured)).toThrow(/MERIDIAN_AUTH_PUBLIC_KEYS: required \(or MERIDIAN_AUTH_JWKS_URL\)/);
    expect(loadConfig({ ...secured, MERIDIAN_AUTH_PUBLIC_KEYS: PEM })).toMatchObject({ auth: 'on', authPublicKeys: PEM, authIssuer: 'meridian', authAudience: 'meridian', rateLimitPerMinute: 60_000 });
    expect(loadConfig({ ...secured, MERIDIAN_AUTH_JWKS_URL: 'https://idp.example.test/jwks.json' }).authJwksUrl).toBe('https://idp.example.test/jwks.json');
    expect(() => loadConfig({ ...secured, MERIDIAN_AUTH_PUBLIC_KEYS: 'not a key' })).toThrow(/MERIDIAN_AUTH_PUBLIC_KEYS: expected PEM public key/);
    expect(loadConfig(base).auth).toBe('off');
    expect(() => loadConfig({ ...base, MERIDIAN_AUTH: 'no' })).toThrow(/MERIDIAN_AUTH: expected one of on, off/);
  });


  it('requires mutual TLS files when anti-entropy gRPC is used unless gRPC TLS is explicitly off (secure by default)', () => {
    const files = { MERIDIAN_GRPC_TLS_CA: 'ca.pem', MERIDIAN_GRPC_TLS_CERT: 'eu.pem', MERIDIAN_GRPC_TLS_KEY: 'eu-key.pem' };
    expect(loadConfig(base).grpcTls).toBe('on');
    expect(() => loadConfig({ ...base, MERIDIAN_GRPC_PORT: '0' })).toThrow(/MERIDIAN_GRPC_TLS_CA, MERIDIAN_GRPC_TLS_CERT, MERIDIAN_GRPC_TLS_KEY: required when anti-entropy gRPC is used/);
    expect(() => loadConfig({ ...base, MERIDIAN_PEER_GRPC: 'us=127.0.0.1:1' })).toThrow(/required when anti-entropy gRPC is used/);
    expect(() => loadConfig({ ...base, MERIDIAN_GRPC_PORT: '0', MERIDIAN_GRPC_TLS_CA: 'ca.pem' })).toThrow(/expected all three or none/);
    expect(loadConfig({ ...base, MERIDIAN_GRPC_PORT: '0', ...files })).toMatchObject({ grpcTls: 'on', grpcTlsCa: 'ca.pem', grpcTlsCert: 'eu.pem', grpcTlsKey: 'eu-key.pem' });
    expect(loadConfig({ ...base, MERIDIAN_GRPC_PORT: '0', MERIDIAN_GRPC_TLS: 'off' }).grpcTls).toBe('off');
    expect(describeConfig(loadConfig({ ...base, MERIDIAN_GRPC_PORT: '0', ...files }))['grpcTlsKey']).toBe('***');
  });
  it('puts MERIDIAN_DATABASE_PASSWORD into a DATABASE_URL without one, refusing two passwords without echoing either', () => {
    const url = 'postgres://meridian@db:5432/eu';
    const config = loadConfig({ ...base, DATABASE_URL: url, MERIDIAN_DATABASE_PASSWORD_FILE: '/run/secrets/pg' }, () => 'p@ss:w/rd\n');
    expect(new URL(config.databaseUrl).password).toBe(encodeURIComponent('p@ss:w/rd'));
    expect(decodeURIComponent(new URL(config.databaseUrl).password)).toBe('p@ss:w/rd');
    expect(describeConfig(config)['databaseUrl']).not.toContain('p%40ss');
    expect(() => loadConfig({ ...base, MERIDIAN_DATABASE_PASSWORD: 'other-pw' })).toThrow(/MERIDIAN_DATABASE_PASSWORD: expected DATABASE_URL without a password of its own/);
    try {
      loadConfig({ ...base, MERIDIAN_DATABASE_PASSWORD: 'other-pw' });
    } catch (error) {
      expect((error as Error).message).not.toMatch(/other-pw|secret-pw/);
    }
  });

  it('refuses PEM contents where the path of a PEM file belongs, never echoing them (a pasted private key)', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfpMurzd4fAIHch3E\n-----END PRIVATE KEY-----\n';
    for (const name of ['MERIDIAN_GRPC_TLS_CA', 'MERIDIAN_GRPC_TLS_CERT', 'MERIDIAN_GRPC_TLS_KEY', 'MERIDIAN_DATABASE_CA']) {
      const files = { MERIDIAN_GRPC_TLS_CA: 'ca.pem', MERIDIAN_GRPC_TLS_CERT: 'eu.pem', MERIDIAN_GRPC_TLS_KEY: 'eu-key.pem', [name]: pem };
      let message = '';
      try {
        loadConfig({ ...base, MERIDIAN_GRPC_PORT: '0', ...files });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, name).toMatch(new RegExp(`${name}: expected the path of a PEM file, not its contents`));
      expect(message, name).not.toContain('MIGHAgEAMBMG');
    }
  });

  it('reads any setting from <NAME>_FILE (mounted secrets), never echoing the file\'s content', () => {
    const files: Record<string, string> = { '/run/secrets/ctx': 'from-a-file-0123456789\n', '/run/secrets/db': 'postgres://u:file-pw@db:5432/eu\n', '/run/secrets/short': 'tiny-secret\n' };
    const read = (path: string): string => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return text;
    };
    const { MERIDIAN_CONTEXT_SECRET: _s, DATABASE_URL: _d, ...rest } = base;
    const c = loadConfig({ ...rest, MERIDIAN_CONTEXT_SECRET_FILE: '/run/secrets/ctx', DATABASE_URL_FILE: '/run/secrets/db' }, read);
    expect(c.contextSecret).toBe('from-a-file-0123456789');
    expect(c.databaseUrl).toBe('postgres://u:file-pw@db:5432/eu');
    expect(JSON.stringify(describeConfig(c))).not.toMatch(/from-a-file|file-pw/);
    const problems = (() => {
      try {
        loadConfig({ ...rest, MERIDIAN_CONTEXT_SECRET_FILE: '/run/secrets/short', DATABASE_URL_FILE: '/run/secrets/missing' }, read);
      } catch (e) {
        return (e as ConfigError).problems.join('\n');
      }
      return '';
    })();
    expect(problems).toContain('DATABASE_URL_FILE: expected a readable file (got "/run/secrets/missing": ENOENT)');
    expect(problems).toContain('MERIDIAN_CONTEXT_SECRET: expected at least 16 characters (got (hidden))');
    expect(problems).not.toContain('tiny-secret');
  });
});
