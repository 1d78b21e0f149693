/**
 * A region service (services/region/src/main.ts) as a real child process, for the local
 * cluster and for the scenario tests that crash, pause and restart regions. The options are the
 * region's settings in typed form; `regionEnvironment` turns them into the environment the
 * region's config schema reads (services/region/src/config.ts), so the two stay one mapping.
 */
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { REPOSITORY_ROOT, startServiceProcess, type ServiceProcess } from './service-process.ts';
import { regionAuthEnvironment, type LocalAuth } from './local-auth.ts';
import { regionGrpcTlsEnvironment } from './certificates.ts';
import { regionKafkaEnvironment, type RegionKafkaSecurity } from './kafka-security.ts';
import type { TlsFiles } from '@meridian/anti-entropy-grpc';

/** Signs causal-context tokens; every region of one cluster must share it. Local use only. */
export const LOCAL_CONTEXT_SECRET = 'meridian-local-context-secret';

export const REGION_ENTRY = join(REPOSITORY_ROOT, 'services', 'region', 'src', 'main.ts');

export interface RegionProcessOptions {
  /** The region id (MERIDIAN_REGION), e.g. "eu". */
  readonly region: string;
  readonly databaseUrl: string;
  /**
   * The key whose tokens the region accepts, or `off` (an open API: say so explicitly). Required:
   * a region without either refuses to start, as the service does.
   */
  readonly auth: LocalAuth | 'off';
  /** A free port when absent; kept across restarts. */
  readonly port?: number | undefined;
  readonly host?: string | undefined;
  /** This region's own Kafka (bootstrap servers); absent: a standalone region without replication. */
  readonly kafkaBrokers?: string | readonly string[] | undefined;
  /**
   * How the region connects to every Kafka (its own and its peers'): SASL_SSL as its principal,
   * or `off` (plaintext). Absent: plaintext (MERIDIAN_KAFKA_SECURITY=plaintext) when it has Kafka.
   */
  readonly kafkaSecurity?: RegionKafkaSecurity | 'off' | undefined;
  /** Peer id → the bootstrap servers of that peer's own Kafka. */
  readonly peers?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** Peer id → that peer's HTTP URL. */
  readonly peerUrls?: Readonly<Record<string, string>> | undefined;
  /** The anti-entropy gRPC server's port (MERIDIAN_GRPC_PORT); absent: no server. */
  readonly grpcPort?: number | undefined;
  /** Peer id → that peer's anti-entropy gRPC address (host:port). */
  readonly peerGrpc?: Readonly<Record<string, string>> | undefined;
  /**
   * The region's anti-entropy certificate (mutual TLS), or `off` (plaintext: say so explicitly).
   * Needed with `grpcPort` or `peerGrpc`: a region using gRPC without either refuses to start.
   */
  readonly grpcTls?: TlsFiles | 'off' | undefined;
  /** Zipkin's `/api/v2/spans` URL: traces go there (otherwise none are exported). */
  readonly zipkinSpansUrl?: string | undefined;
  /** Default: LOCAL_CONTEXT_SECRET. */
  readonly contextSecret?: string | undefined;
  /** Default: info. */
  readonly logLevel?: string | undefined;
  /** Any other setting (MERIDIAN_PG_POOL_SIZE, …); wins over the ones above. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** stdout and stderr, appended across restarts; a temporary file when absent. */
  readonly logFile?: string | undefined;
  readonly readyTimeoutMs?: number | undefined;
}

export interface RegionProcess extends ServiceProcess {
  readonly region: string;
}

const list = (value: string | readonly string[]): string => (typeof value === 'string' ? value : value.join(','));

/** The environment for the region program, as its config schema names the settings. */
export function regionEnvironment(options: RegionProcessOptions & { readonly port: number }): Record<string, string> {
  const env: Record<string, string> = {
    MERIDIAN_REGION: options.region,
    DATABASE_URL: options.databaseUrl,
    MERIDIAN_PORT: String(options.port),
    MERIDIAN_HOST: options.host ?? '127.0.0.1',
    MERIDIAN_CONTEXT_SECRET: options.contextSecret ?? LOCAL_CONTEXT_SECRET,
    MERIDIAN_LOG_LEVEL: options.logLevel ?? 'info',
    ...regionAuthEnvironment(options.auth),
  };
  if (options.kafkaBrokers !== undefined) {
    env['MERIDIAN_KAFKA_BROKERS'] = list(options.kafkaBrokers);
    Object.assign(env, regionKafkaEnvironment(options.kafkaSecurity ?? 'off'));
  }
  const peers = Object.entries(options.peers ?? {});
  if (peers.length > 0) env['MERIDIAN_PEERS'] = peers.map(([id, brokers]) => `${id}=${list(brokers)}`).join(';');
  const peerUrls = Object.entries(options.peerUrls ?? {});
  if (peerUrls.length > 0) env['MERIDIAN_PEER_URLS'] = peerUrls.map(([id, url]) => `${id}=${url}`).join(';');
  if (options.grpcPort !== undefined) env['MERIDIAN_GRPC_PORT'] = String(options.grpcPort);
  const peerGrpc = Object.entries(options.peerGrpc ?? {});
  if (peerGrpc.length > 0) env['MERIDIAN_PEER_GRPC'] = peerGrpc.map(([id, address]) => `${id}=${address}`).join(';');
  if (options.grpcTls !== undefined) Object.assign(env, regionGrpcTlsEnvironment(options.grpcTls));
  if (options.zipkinSpansUrl !== undefined) {
    env['MERIDIAN_TRACES_EXPORTER'] = 'zipkin';
    env['MERIDIAN_TRACES_ENDPOINT'] = options.zipkinSpansUrl;
  }
  return { ...env, ...options.env };
}

/**
 * Settings the launcher owns for each region — its identity, its wiring to the other regions and
 * the cluster's authentication (`--no-auth`, the cluster's keys) — and the GSLB's own settings:
 * an operator's shell never overrides them, so a stray `MERIDIAN_PORT` cannot wire three regions
 * to one port.
 */
const LAUNCHER_OWNED = new Set(['MERIDIAN_REGION', 'MERIDIAN_PORT', 'MERIDIAN_HOST', 'MERIDIAN_KAFKA_BROKERS', 'MERIDIAN_PEERS', 'MERIDIAN_PEER_URLS', 'MERIDIAN_GRPC_PORT', 'MERIDIAN_PEER_GRPC']);

/**
 * The `MERIDIAN_*` settings of the launcher's own environment that every region of a local
 * cluster receives (`MERIDIAN_TOMBSTONE_MIN_AGE=10m npm run cluster`): all of them but the ones
 * the launcher owns (above), the authentication, gRPC TLS and Kafka security settings and the GSLB's (`MERIDIAN_GSLB_*`).
 */
export function operatorRegionSettings(parent: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (!name.startsWith('MERIDIAN_') || value === undefined) continue;
    if (LAUNCHER_OWNED.has(name) || name.startsWith('MERIDIAN_AUTH') || name.startsWith('MERIDIAN_GRPC_TLS') || name.startsWith('MERIDIAN_KAFKA_SECURITY') || name.startsWith('MERIDIAN_KAFKA_TLS') || name.startsWith('MERIDIAN_KAFKA_SASL') || name.startsWith('MERIDIAN_GSLB_')) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The clock drift bound a local cluster's regions run with: they read one host's clock, so half a
 * second is generous, and the tombstone GC's min age may go down to 5 s (10 × the bound, decision
 * 0012): `MERIDIAN_TOMBSTONE_MIN_AGE=5s npm run cluster` starts as is.
 */
export const LOCAL_MAX_CLOCK_DRIFT_MS = 500;

/** Every region of a local cluster: the local drift bound, then the operator's settings (`operatorRegionSettings`), which win. */
export function localClusterRegionSettings(operator: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return { MERIDIAN_MAX_CLOCK_DRIFT_MS: String(LOCAL_MAX_CLOCK_DRIFT_MS), ...operator };
}

/** Starts the region and resolves once `GET /health/ready` answers 200. */
export async function startRegionProcess(options: RegionProcessOptions): Promise<RegionProcess> {
  const port = options.port ?? (await freePort());
  const service = await startServiceProcess({
    name: `region[${options.region}]`,
    entry: REGION_ENTRY,
    host: options.host ?? '127.0.0.1',
    port,
    env: regionEnvironment({ ...options, port }),
    logFile: options.logFile,
    readyPath: '/health/ready',
    readyTimeoutMs: options.readyTimeoutMs,
  });
  return Object.assign(service, { region: options.region });
}

/** One region of a set, as its peers see it. */
export interface RegionAddress {
  readonly id: string;
  /** Its own Kafka's bootstrap servers. */
  readonly kafka: string;
  readonly url: string;
  /** Its anti-entropy gRPC address (host:port), when it serves one. */
  readonly grpc?: string | undefined;
}

/** Wires region `id` to every other region of `all`: their Kafka clusters to consume, their URLs to redirect to, their gRPC servers to compare with. */
export function peerSettings(all: readonly RegionAddress[], id: string): Pick<RegionProcessOptions, 'peers' | 'peerUrls' | 'peerGrpc'> {
  const others = all.filter((r) => r.id !== id);
  return {
    peers: Object.fromEntries(others.map((r) => [r.id, r.kafka])),
    peerUrls: Object.fromEntries(others.map((r) => [r.id, r.url])),
    peerGrpc: Object.fromEntries(others.flatMap((r) => (r.grpc === undefined ? [] : [[r.id, r.grpc]]))),
  };
}
