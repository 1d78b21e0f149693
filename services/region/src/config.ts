/**
 * The region service's configuration: one typed schema (env name, default, validation, doc),
 * read from the environment at start, validated with messages that say what was expected and
 * what was given, then frozen. Secrets are never echoed back: `describeConfig` masks them.
 */
import { readFileSync } from 'node:fs';
import { formatDuration, parseDuration } from '@meridian/retention';
import { COLLECTION_SPLIT_ROWS } from '@meridian/crdt';
import { ConfigError, configReference as referenceOf, integer, oneOf, readConfig, type Field, type Parser } from '@meridian/service-kit';

export { ConfigError } from '@meridian/service-kit';

export interface RegionConfig {
  readonly region: string;
  /** Incarnation epoch; undefined keeps the database's (1 on a new database). */
  readonly epoch: number | undefined;
  readonly host: string;
  readonly port: number;
  /** With MERIDIAN_DATABASE_CA: sslmode=verify-full and sslrootcert added (unless the URL sets its own sslmode). */
  readonly databaseUrl: string;
  /** The password of DATABASE_URL's user when given apart (already put into `databaseUrl`). */
  readonly databasePassword: string | undefined;
  /** PEM file of the CA that signed PostgreSQL's server certificate; set: TLS with sslmode=verify-full. */
  readonly databaseCa: string | undefined;
  readonly poolSize: number;
  /** Secret that signs causal-context tokens (HMAC-SHA256). */
  readonly contextSecret: string;
  readonly maxValueBytes: number;
  /** Above this many elements or fields a set or map is stored a row per element or field (the same in every region). */
  readonly collectionSplitRows: number;
  readonly bodyLimitBytes: number;
  readonly maxClockDriftMs: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** This region's own Kafka (bootstrap servers); undefined: replication is off (a standalone region). */
  readonly kafkaBrokers: readonly string[] | undefined;
  /** Peer regions: id → bootstrap servers of the peer's own Kafka, whose updates topic this region consumes. */
  readonly peers: ReadonlyMap<string, readonly string[]>;
  /**
   * How this region's Kafka clients connect, to its own Kafka and to every peer's: `sasl_ssl`
   * (TLS, SASL as this region's principal; `plaintext` only by explicit choice, logged).
   */
  readonly kafkaSecurity: 'sasl_ssl' | 'plaintext';
  /** PEM file of the CA that signed the brokers' certificates; undefined: the system's CAs. */
  readonly kafkaTlsCa: string | undefined;
  readonly kafkaSaslMechanism: 'scram-sha-512' | 'scram-sha-256';
  /** This region's Kafka principal (the same on every cluster: its own and its peers'). */
  readonly kafkaSaslUsername: string | undefined;
  readonly kafkaSaslPassword: string | undefined;
  /** Peer regions' public HTTP URLs (for `fallback` redirects). */
  readonly peerUrls: ReadonlyMap<string, string>;
  /** Partitions of this region's updates topic, fixed at creation. */
  readonly topicPartitions: number;
  /** Replicas of each partition of the updates topic when this region creates it. */
  readonly topicReplicationFactor: number;
  /** A peer link whose lag exceeds this is reported as lagging (never unready). */
  readonly lagBoundSeconds: number;
  /** Memory for the write path's snapshot cache, in MiB (0: off). */
  readonly writeCacheMb: number;
  /** The relay's pause after a Kafka send that was not full (batching vs latency). */
  readonly relayLingerMs: number;
  readonly tracesExporter: 'otlp' | 'zipkin' | 'none';
  readonly tracesEndpoint: string | undefined;
  readonly traceSampleRatio: number;
  /** The OpenTelemetry auto-instrumentations to enable. */
  readonly instrumentations: ReadonlySet<Instrumentation>;
  /**
   * TEST ONLY: added to the wall clock this region's HLC reads, so the fault suite can skew one
   * region's clock without changing the machine's. 0 in every real deployment.
   */
  readonly testClockOffsetMs: number;
  /** Port of the anti-entropy gRPC server (on `host`); undefined: no server. */
  readonly grpcPort: number | undefined;
  /** Peer regions' anti-entropy gRPC addresses (host:port). */
  readonly peerGrpc: ReadonlyMap<string, string>;
  /** Continuous anti-entropy: ms between rounds with each peer (0: off). */
  readonly antiEntropyIntervalMs: number;
  /** Deadline of each anti-entropy gRPC call to a peer (ms); one that outlives it is retried with half the work. */
  readonly antiEntropyDeadlineMs: number;
  /** Repair rate limit: keys merged per second (both directions, all peers). */
  readonly antiEntropyKeysPerSecond: number;
  /** `on`: this region joins a running deployment: each peer link that has consumed nothing seeds from the peer over gRPC first. */
  readonly join: 'on' | 'off';
  /** Mutual TLS on anti-entropy gRPC (`off` only by explicit choice: plaintext, every caller trusted). */
  readonly grpcTls: 'on' | 'off';
  /** PEM files for the gRPC channel's mutual TLS (all three; required when grpcTls is on and gRPC is used). */
  readonly grpcTlsCa: string | undefined;
  readonly grpcTlsCert: string | undefined;
  readonly grpcTlsKey: string | undefined;
  // ---- API authentication (docs/security.md) ----
  /** `off` only by explicit choice, for local experiments: every request is then anonymous and allowed. */
  readonly auth: 'on' | 'off';
  /** PEM public key(s) or a JWKS document that sign the bearer tokens. */
  readonly authPublicKeys: string | undefined;
  /** An identity provider's JWKS URL (instead of static keys). */
  readonly authJwksUrl: string | undefined;
  readonly authIssuer: string;
  readonly authAudience: string;
  /** Requests per minute per client (token subject, or address); 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  // ---- retention (decision 0012) ----
  /** A deleted register's tombstone is purged once every region applied it and it is this old (ms). */
  readonly tombstoneMinAgeMs: number;
  /** Idempotency records are kept this long (ms): a retry within it is answered from the first attempt. */
  readonly idempotencyTtlMs: number;
  /** Conflict records are kept this long (ms); their traces keep the history beyond it. */
  readonly conflictRetentionMs: number;
  /** Published outbox rows are deleted once this old (ms). */
  readonly outboxRetentionMs: number;
}

export const INSTRUMENTATIONS = ['http', 'fastify', 'pg', 'kafkajs'] as const;
export type Instrumentation = (typeof INSTRUMENTATIONS)[number];

const REGION_ID = /^[a-z][a-z0-9-]{0,31}$/;

const url = (protocols: readonly string[]): Parser<string> => (raw) => {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`a URL (${protocols.join(' or ')})`);
  }
  if (!protocols.includes(u.protocol)) throw new Error(`a URL (${protocols.join(' or ')})`);
  return raw;
};

/** A duration (`5s`, `10m`, `24h`) of at least `minMs`. */
/**
 * A PEM file's path. PEM contents pasted in its place (a private key, say) are refused without
 * being echoed: the message carries its own "(got …)", and the runtime's file-not-found error,
 * which quotes the path it was given, is never reached.
 */
const pemPath: Parser<string> = (raw) => {
  if (raw.includes('-----BEGIN') || raw.includes('\n')) throw new Error('the path of a PEM file, not its contents (got PEM contents, not shown)');
  return raw;
};

const duration = (minMs: number): Parser<number> => (raw) => {
  const ms = parseDuration(raw);
  if (ms < minMs) throw new Error(`a duration of at least ${formatDuration(minMs)}`);
  return ms;
};

const instrumentationList = (raw: string): ReadonlySet<Instrumentation> => {
  const names = raw.split(',').map((n) => n.trim()).filter(Boolean);
  if (raw.trim() === 'none') return new Set();
  if (!names.every((n): n is Instrumentation => (INSTRUMENTATIONS as readonly string[]).includes(n))) throw new Error(`"none" or a comma-separated list of ${INSTRUMENTATIONS.join(', ')}`);
  return new Set(names);
};

const brokerList = (raw: string): string[] => {
  const list = raw.split(',').map((b) => b.trim());
  if (list.some((b) => !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b))) throw new Error('host:port[,host:port…]');
  return list;
};
/** `us=host:port,host:port;ap=host:port` */
const peerMap = <T>(what: string, parseValue: (raw: string) => T): Parser<ReadonlyMap<string, T>> => (raw) => {
  const out = new Map<string, T>();
  for (const entry of raw.split(';').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const id = entry.slice(0, eq);
    if (eq <= 0 || !REGION_ID.test(id)) throw new Error(`region=${what}[;region=${what}…]`);
    try {
      out.set(id, parseValue(entry.slice(eq + 1)));
    } catch {
      throw new Error(`region=${what}[;region=${what}…]`);
    }
  }
  return out;
};

const FIELDS: readonly Field<RegionConfig>[] = [
  { key: 'region', env: 'MERIDIAN_REGION', doc: 'this region\'s id (lower-case letters, digits, dashes), e.g. "eu"', parse: (raw) => {
    if (!REGION_ID.test(raw)) throw new Error(`a region id matching ${String(REGION_ID)}`);
    return raw;
  } },
  { key: 'epoch', env: 'MERIDIAN_EPOCH', doc: 'incarnation epoch; raise it after restoring the database from a backup', default: undefined, parse: integer(1, 2 ** 31 - 1) },
  { key: 'host', env: 'MERIDIAN_HOST', doc: 'address to listen on', default: '127.0.0.1', parse: (raw) => raw },
  { key: 'port', env: 'MERIDIAN_PORT', doc: 'HTTP port', default: 8080, parse: integer(0, 65535) },
  { key: 'databaseUrl', env: 'DATABASE_URL', doc: 'the region\'s PostgreSQL database', secret: true, parse: url(['postgres:', 'postgresql:']) },
  { key: 'databasePassword', env: 'MERIDIAN_DATABASE_PASSWORD', doc: 'the password of DATABASE_URL\'s user, when the URL carries none: the URL then holds no secret (MERIDIAN_DATABASE_PASSWORD_FILE: a mounted secret)', secret: true, default: undefined, parse: (raw) => raw },
  { key: 'databaseCa', env: 'MERIDIAN_DATABASE_CA', doc: 'PEM file of the CA that signed PostgreSQL\'s server certificate: connect with TLS, sslmode=verify-full (the certificate must name the host of DATABASE_URL); or put sslmode=verify-full&sslrootcert=<file> in DATABASE_URL itself', default: undefined, parse: pemPath },
  { key: 'poolSize', env: 'MERIDIAN_PG_POOL_SIZE', doc: 'PostgreSQL connections per process', default: 8, parse: integer(1, 200) },
  { key: 'contextSecret', env: 'MERIDIAN_CONTEXT_SECRET', doc: 'secret (at least 16 characters) that signs causal-context tokens; the same in every region', secret: true, parse: (raw) => {
    if (raw.length < 16) throw new Error('at least 16 characters');
    return raw;
  } },
  { key: 'maxValueBytes', env: 'MERIDIAN_MAX_VALUE_BYTES', doc: 'largest JSON value, in bytes', default: 256 * 1024, parse: integer(1, 64 * 1024 * 1024) },
  { key: 'collectionSplitRows', env: 'MERIDIAN_COLLECTION_SPLIT_ROWS', doc: 'a set or map with more elements or fields is stored a row per element or field and its writes answer without its value; the same in every region', default: COLLECTION_SPLIT_ROWS, parse: integer(1, 1_000_000) },
  { key: 'bodyLimitBytes', env: 'MERIDIAN_BODY_LIMIT_BYTES', doc: 'largest request body, in bytes', default: 1024 * 1024, parse: integer(1024, 128 * 1024 * 1024) },
  { key: 'maxClockDriftMs', env: 'MERIDIAN_MAX_CLOCK_DRIFT_MS', doc: 'how far ahead a peer\'s clock may pull this region\'s HLC', default: 60_000, parse: integer(0, 24 * 3600 * 1000) },
  { key: 'logLevel', env: 'MERIDIAN_LOG_LEVEL', doc: 'log level', default: 'info', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) },
  { key: 'kafkaBrokers', env: 'MERIDIAN_KAFKA_BROKERS', doc: 'this region\'s own Kafka bootstrap servers (host:port,…); unset: a standalone region without replication', default: undefined, parse: brokerList },
  { key: 'peers', env: 'MERIDIAN_PEERS', doc: 'peer regions and their Kafka: us=host:port,host:port;ap=host:port', default: new Map(), parse: peerMap('host:port[,host:port]', brokerList) },
  { key: 'kafkaSecurity', env: 'MERIDIAN_KAFKA_SECURITY', doc: 'how this region connects to its own and its peers\' Kafka: sasl_ssl (TLS and SASL as this region\'s principal; the username and password below are required with MERIDIAN_KAFKA_BROKERS) or plaintext (anonymous and unencrypted: a baseline benchmark or a private test network only; a warning is logged)', default: 'sasl_ssl', parse: oneOf(['sasl_ssl', 'plaintext'] as const) },
  { key: 'kafkaTlsCa', env: 'MERIDIAN_KAFKA_TLS_CA', doc: 'PEM file of the CA that signed the Kafka brokers\' certificates (the deployment\'s CA); unset: the system\'s CAs', default: undefined, parse: pemPath },
  { key: 'kafkaSaslMechanism', env: 'MERIDIAN_KAFKA_SASL_MECHANISM', doc: 'SASL mechanism: scram-sha-512 or scram-sha-256', default: 'scram-sha-512', parse: oneOf(['scram-sha-512', 'scram-sha-256'] as const) },
  { key: 'kafkaSaslUsername', env: 'MERIDIAN_KAFKA_SASL_USERNAME', doc: 'this region\'s Kafka principal (region-<MERIDIAN_REGION> in the local cluster), the same on its own and its peers\' Kafka: the brokers\' ACLs let it write its own updates topic and read its peers\'', default: undefined, parse: (raw) => raw },
  { key: 'kafkaSaslPassword', env: 'MERIDIAN_KAFKA_SASL_PASSWORD', doc: 'the principal\'s SCRAM password (better: MERIDIAN_KAFKA_SASL_PASSWORD_FILE, a mounted secret)', secret: true, default: undefined, parse: (raw) => raw },
  { key: 'peerUrls', env: 'MERIDIAN_PEER_URLS', doc: 'peer regions\' public HTTP URLs, for fallback redirects: us=http://…;ap=http://…', default: new Map(), parse: peerMap('url', url(['http:', 'https:'])) },
  { key: 'topicPartitions', env: 'MERIDIAN_TOPIC_PARTITIONS', doc: 'partitions of this region\'s updates topic, fixed at creation', default: 12, parse: integer(1, 1024) },
  { key: 'topicReplicationFactor', env: 'MERIDIAN_TOPIC_REPLICATION_FACTOR', doc: 'replicas of each partition of this region\'s updates topic when it is created (at most the brokers of its Kafka; 3 in production)', default: 1, parse: integer(1, 16) },
  { key: 'lagBoundSeconds', env: 'MERIDIAN_LAG_BOUND_SECONDS', doc: 'a peer link further behind than this is reported as lagging', default: 10, parse: (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error('a positive number of seconds');
    return n;
  } },
  { key: 'writeCacheMb', env: 'MERIDIAN_WRITE_CACHE_MB', doc: 'memory for the snapshots of recently written keys, which save a write its read of the key (a stale one costs a retry, never a wrong write); 0 turns it off', default: 64, parse: integer(0, 1024 * 1024) },
  { key: 'relayLingerMs', env: 'MERIDIAN_RELAY_LINGER_MS', doc: 'the relay\'s pause after publishing a batch that was not full: fewer, larger Kafka requests (less CPU for Kafka and the relay) for at most this much more latency', default: 20, parse: integer(0, 10_000) },
  { key: 'tracesExporter', env: 'MERIDIAN_TRACES_EXPORTER', doc: 'where traces go: otlp (Jaeger, Tempo…), zipkin, or none', default: 'none', parse: oneOf(['otlp', 'zipkin', 'none'] as const) },
  { key: 'tracesEndpoint', env: 'MERIDIAN_TRACES_ENDPOINT', doc: 'exporter endpoint (OTLP traces URL, or Zipkin\'s /api/v2/spans URL)', default: undefined, parse: url(['http:', 'https:']) },
  { key: 'traceSampleRatio', env: 'MERIDIAN_TRACE_SAMPLE_RATIO', doc: 'fraction of traces sampled (conflict spans always are)', default: 1, parse: (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new Error('a number from 0 to 1');
    return n;
  } },
  { key: 'testClockOffsetMs', env: 'MERIDIAN_TEST_CLOCK_OFFSET_MS', doc: 'TEST ONLY: milliseconds added to the clock this region stamps writes with (the fault suite skews a region with it); never set it in a deployment; a warning is logged at start when set', default: 0, parse: integer(-(10 * 365 * 24 * 3600 * 1000), 10 * 365 * 24 * 3600 * 1000) },
  { key: 'grpcPort', env: 'MERIDIAN_GRPC_PORT', doc: 'port of the anti-entropy gRPC server that peers and `meridian verify`/`repair` call; unset: no server', default: undefined, parse: integer(0, 65535) },
  { key: 'peerGrpc', env: 'MERIDIAN_PEER_GRPC', doc: 'peer regions\' anti-entropy gRPC addresses: us=host:port;ap=host:port', default: new Map(), parse: peerMap('host:port', (raw) => {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(raw.trim())) throw new Error('host:port');
    return raw.trim();
  }) },
  { key: 'antiEntropyIntervalMs', env: 'MERIDIAN_ANTI_ENTROPY_INTERVAL_MS', doc: 'continuous anti-entropy: ms between rounds with each peer of MERIDIAN_PEER_GRPC (0 turns it off)', default: 30_000, parse: integer(0, 24 * 3600 * 1000) },
  { key: 'antiEntropyDeadlineMs', env: 'MERIDIAN_ANTI_ENTROPY_DEADLINE_MS', doc: 'deadline of each anti-entropy gRPC call to a peer, in ms; a call that outlives it is retried as two of half the work (down to one branch, segment or key), so a round under load goes on in smaller chunks', default: 30_000, parse: integer(100, 600_000) },
  { key: 'antiEntropyKeysPerSecond', env: 'MERIDIAN_ANTI_ENTROPY_RATE', doc: 'repair rate limit, in keys merged per second', default: 1000, parse: integer(1, 10_000_000) },
  { key: 'join', env: 'MERIDIAN_JOIN', doc: 'on: this region joins a running deployment — each peer link that has consumed nothing first copies every namespace from that peer over gRPC (MERIDIAN_PEER_GRPC) and starts from the positions that copy reflects, then streams; off: links consume peers\' topics from the beginning (a deployment started together)', default: 'off', parse: oneOf(['on', 'off'] as const) },
  { key: 'grpcTls', env: 'MERIDIAN_GRPC_TLS', doc: 'mutual TLS on anti-entropy gRPC: on (the CA, certificate and key below are required when gRPC is used), or off (plaintext, every caller trusted: a baseline benchmark or a private test network only; a warning is logged)', default: 'on', parse: oneOf(['on', 'off'] as const) },
  { key: 'grpcTlsCa', env: 'MERIDIAN_GRPC_TLS_CA', doc: 'PEM file of the deployment\'s CA, which signs every region\'s gRPC certificate', default: undefined, parse: pemPath },
  { key: 'grpcTlsCert', env: 'MERIDIAN_GRPC_TLS_CERT', doc: 'PEM file of this region\'s gRPC certificate; its subjectAltName URI meridian:region:<MERIDIAN_REGION> is the region\'s identity to its peers', default: undefined, parse: pemPath },
  { key: 'grpcTlsKey', env: 'MERIDIAN_GRPC_TLS_KEY', doc: 'PEM file of this region\'s gRPC private key', secret: true, default: undefined, parse: pemPath },
  // ---- API authentication (docs/security.md); every setting also reads from <NAME>_FILE ----
  { key: 'auth', env: 'MERIDIAN_AUTH', doc: 'bearer-token authentication of the API: on, or off (every request allowed: local experiments only; a warning is logged)', default: 'on', parse: oneOf(['on', 'off'] as const) },
  { key: 'authPublicKeys', env: 'MERIDIAN_AUTH_PUBLIC_KEYS', doc: 'public key(s) that verify bearer tokens: PEM (several for a rotation) or a JSON Web Key Set; or set MERIDIAN_AUTH_JWKS_URL', default: undefined, parse: (raw) => {
    if (!raw.includes('-----BEGIN PUBLIC KEY-----') && !raw.trim().startsWith('{')) throw new Error('PEM public key(s) (BEGIN PUBLIC KEY) or a JSON Web Key Set');
    return raw;
  } },
  { key: 'authJwksUrl', env: 'MERIDIAN_AUTH_JWKS_URL', doc: 'an identity provider\'s JWKS URL whose keys verify bearer tokens (instead of MERIDIAN_AUTH_PUBLIC_KEYS)', default: undefined, parse: url(['https:', 'http:']) },
  { key: 'authIssuer', env: 'MERIDIAN_AUTH_ISSUER', doc: 'the iss every bearer token must carry', default: 'meridian', parse: (raw) => raw },
  { key: 'authAudience', env: 'MERIDIAN_AUTH_AUDIENCE', doc: 'the aud every bearer token must carry', default: 'meridian', parse: (raw) => raw },
  { key: 'rateLimitPerMinute', env: 'MERIDIAN_RATE_LIMIT_PER_MINUTE', doc: 'API requests per minute per client (token subject, else address) before 429 with Retry-After; 0 turns the limit off', default: 60_000, parse: integer(0, 100_000_000) },
  { key: 'tombstoneMinAgeMs', env: 'MERIDIAN_TOMBSTONE_MIN_AGE', doc: 'a deleted register\'s tombstone is purged once every region of the deployment has applied it and it is this old (5s, 10m, 24h; at least 1s and 10 × MERIDIAN_MAX_CLOCK_DRIFT_MS); it also bounds how long a write may take to be published', default: 24 * 3_600_000, shownDefault: '24h', parse: duration(1000) },
  { key: 'idempotencyTtlMs', env: 'MERIDIAN_IDEMPOTENCY_TTL', doc: 'how long an Idempotency-Key\'s answer is kept: a retry within it is answered from the first attempt (or applied once); a retry after it is applied again', default: 24 * 3_600_000, shownDefault: '24h', parse: duration(1000) },
  { key: 'conflictRetentionMs', env: 'MERIDIAN_CONFLICT_RETENTION', doc: 'how long conflict records are kept (GET /v1/conflicts); their traces keep the history', default: 30 * 24 * 3_600_000, shownDefault: '30d', parse: duration(1000) },
  { key: 'outboxRetentionMs', env: 'MERIDIAN_OUTBOX_RETENTION', doc: 'how long an outbox row is kept once published to Kafka (nothing reads it after; it helps an operator trace a write)', default: 3_600_000, shownDefault: '1h', parse: duration(1000) },
  { key: 'instrumentations', env: 'MERIDIAN_OTEL_INSTRUMENTATIONS', doc: 'OpenTelemetry auto-instrumentations (http, fastify, pg, kafkajs; or none); by default fastify (the server span, W3C context from the request) and pg; http would add a second span per request, kafkajs one per replicated message', default: new Set<Instrumentation>(['fastify', 'pg']), parse: instrumentationList },
];

/** MERIDIAN_TOMBSTONE_MIN_AGE is at least this many times MERIDIAN_MAX_CLOCK_DRIFT_MS. */
export const MIN_AGE_PER_DRIFT = 10;

/**
 * Reads and validates the configuration; throws a ConfigError listing every problem. A setting
 * may come from `<NAME>_FILE` instead (a mounted secret: Docker/Kubernetes), trailing newline
 * dropped; the file's content is never echoed back.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): RegionConfig {
  const { values: out, problems } = readConfig(FIELDS, env, readFile);
  const region = out['region'];
  const peers = out['peers'] as ReadonlyMap<string, unknown> | undefined;
  if (typeof region === 'string' && peers?.has(region)) problems.push(`MERIDIAN_PEERS: expected peers other than this region (got ${region} itself)`);
  if (peers && peers.size > 0 && out['kafkaBrokers'] === undefined && !problems.some((p) => p.startsWith('MERIDIAN_KAFKA_BROKERS'))) {
    problems.push('MERIDIAN_KAFKA_BROKERS: required when MERIDIAN_PEERS is set — this region\'s own Kafka');
  }
  // Secure by default: a region with Kafka and no SASL credentials refuses to start unless told to run plaintext.
  if (out['kafkaBrokers'] !== undefined && out['kafkaSecurity'] === 'sasl_ssl' && (out['kafkaSaslUsername'] === undefined || out['kafkaSaslPassword'] === undefined) && !problems.some((p) => p.startsWith('MERIDIAN_KAFKA_SASL'))) {
    problems.push('MERIDIAN_KAFKA_SASL_USERNAME, MERIDIAN_KAFKA_SASL_PASSWORD: required with MERIDIAN_KAFKA_BROKERS — this region\'s Kafka principal (SASL_SSL); MERIDIAN_KAFKA_SECURITY=plaintext connects anonymously and unencrypted');
  }
  // The tombstone GC's argument (decision 0012) needs the min age to dwarf clock error: a purge
  // waits min age by one clock, a fresh dot or a heartbeat is judged by another.
  const minAge = out['tombstoneMinAgeMs'];
  const drift = out['maxClockDriftMs'];
  if (typeof minAge === 'number' && typeof drift === 'number' && minAge < MIN_AGE_PER_DRIFT * drift) {
    problems.push(`MERIDIAN_TOMBSTONE_MIN_AGE: expected at least ${MIN_AGE_PER_DRIFT} × MERIDIAN_MAX_CLOCK_DRIFT_MS = ${formatDuration(MIN_AGE_PER_DRIFT * drift)} (got ${formatDuration(minAge)}; lower MERIDIAN_MAX_CLOCK_DRIFT_MS only if clocks are that close)`);
  }
  const tls = [out['grpcTlsCa'], out['grpcTlsCert'], out['grpcTlsKey']].filter((v) => v !== undefined);
  const grpcUsed = out['grpcPort'] !== undefined || (out['peerGrpc'] as ReadonlyMap<string, string> | undefined)?.size || out['join'] === 'on';
  if (tls.length !== 0 && tls.length !== 3) problems.push('MERIDIAN_GRPC_TLS_CA, MERIDIAN_GRPC_TLS_CERT, MERIDIAN_GRPC_TLS_KEY: expected all three or none');
  // Secure by default: anti-entropy gRPC runs with mutual TLS unless told to run plaintext.
  else if (out['grpcTls'] === 'on' && grpcUsed && tls.length === 0) {
    problems.push('MERIDIAN_GRPC_TLS_CA, MERIDIAN_GRPC_TLS_CERT, MERIDIAN_GRPC_TLS_KEY: required when anti-entropy gRPC is used (MERIDIAN_GRPC_PORT, MERIDIAN_PEER_GRPC or MERIDIAN_JOIN=on) — mutual TLS with the deployment\'s CA; MERIDIAN_GRPC_TLS=off runs it plaintext');
  }
  // Secure by default: a region with no way to verify tokens refuses to start unless told to run open.
  if (out['auth'] === 'on' && out['authPublicKeys'] === undefined && out['authJwksUrl'] === undefined && !problems.some((p) => p.startsWith('MERIDIAN_AUTH'))) {
    problems.push('MERIDIAN_AUTH_PUBLIC_KEYS: required (or MERIDIAN_AUTH_JWKS_URL) — the keys that verify bearer tokens; MERIDIAN_AUTH=off runs the API open, for local experiments only');
  }
  const password = out['databasePassword'];
  if (typeof password === 'string' && typeof out['databaseUrl'] === 'string') {
    const u = new URL(out['databaseUrl']);
    if (u.password !== '') problems.push('MERIDIAN_DATABASE_PASSWORD: expected DATABASE_URL without a password of its own (got both; give it once)');
    else {
      u.password = encodeURIComponent(password);
      out['databaseUrl'] = u.toString();
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (typeof out['databaseCa'] === 'string' && typeof out['databaseUrl'] === 'string') out['databaseUrl'] = withDatabaseCa(out['databaseUrl'], out['databaseCa']);
  return Object.freeze(out) as unknown as RegionConfig;
}

/** DATABASE_URL with TLS verified against `caFile` (sslmode=verify-full), unless it names its own sslmode. */
export function withDatabaseCa(databaseUrl: string, caFile: string): string {
  const u = new URL(databaseUrl);
  if (u.searchParams.has('sslmode')) return databaseUrl;
  u.searchParams.set('sslmode', 'verify-full');
  u.searchParams.set('sslrootcert', caFile);
  return u.toString();
}

/** The configuration for logs: secrets and URL passwords masked. */
export function describeConfig(config: RegionConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const value = config[field.key];
    if (field.key === 'databaseUrl' && typeof value === 'string') {
      const u = new URL(value);
      if (u.password) u.password = '***';
      shown[field.key] = u.toString();
    } else if (value instanceof Map) shown[field.key] = Object.fromEntries(value);
    else if (value instanceof Set) shown[field.key] = [...value].join(',');
    else shown[field.key] = field.secret ? '***' : value;
  }
  return shown;
}

/** The settings that are secrets (masked by `describeConfig`): deploy files give them through mounted secrets only. */
export function secretSettings(): string[] {
  return FIELDS.filter((f) => f.secret === true).map((f) => f.env);
}

/** The documented settings, for the README and `--help`. */
export function configReference(): { env: string; doc: string; default: string }[] {
  return referenceOf(FIELDS);
}
