/**
 * The whole of Meridian on one machine: per region an independent single-node Kafka cluster, a
 * database on the shared PostgreSQL and a region service wired to every peer (own Kafka,
 * MERIDIAN_PEERS, MERIDIAN_PEER_URLS, traces to Zipkin); one Zipkin; the GSLB over the regions.
 *
 * What persists under `baseDir` (default `.meridian/` in the repository): the Kafka data
 * (`kafka/<region>/`) and the logs (`logs/`); the databases (`meridian_local_<region>`) persist
 * on the server. A region's database and its Kafka log belong together — the database's outbox
 * sequences are the topic's contents — so `fresh` wipes both, and nothing else ever wipes
 * either. Zipkin keeps traces in memory only.
 *
 * Ports are fixed and documented (DEFAULT_PORTS, REGION_PRESETS) so URLs in the README and in
 * shell history stay true; every one can be overridden by name, and all are checked before
 * anything starts. `cluster.json` is written once everything is ready and removed on stop.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertPortsFree, type WantedPort } from './port-check.ts';
import { ensurePostgres, adminUrl, dropDatabase } from './postgres.ts';
import { ensureDatabase } from './kept-database.ts';
import { startKafkaBroker, type KafkaBroker } from './kafka.ts';
import { startZipkin, type ZipkinServer } from './zipkin.ts';
import { ensureKafkaJars, ensureZipkinJar, KAFKA_VERSION, ZIPKIN_VERSION } from './jars.ts';
import { cacheDir } from './paths.ts';
import { localClusterRegionSettings, peerSettings, startRegionProcess, type RegionProcess } from './region-process.ts';
import { gslbAvailable, startGslbProcess, type GeoLocation, type GslbProcess } from './gslb-process.ts';
import { childrenOf, isAlive } from './process-table.ts';
import { readClusterFile, removeClusterFile, writeClusterFile, type ClusterFile } from './cluster-file.ts';
import { authDir, localClusterAuth } from './local-auth.ts';
import { ensureCertificateAuthority, ensureGrpcCertificate } from './certificates.ts';
import { brokerSecurity, createAcls, ensureKafkaSecurity, kafkaUsersDir, regionAcls } from './kafka-security.ts';

export interface RegionPreset {
  readonly place: string;
  readonly location: GeoLocation;
  readonly port: number;
  readonly kafkaPort: number;
  readonly kafkaControllerPort: number;
  /** The region's anti-entropy gRPC server. */
  readonly grpcPort: number;
}

/** The three regions of the local cluster, where they pretend to be, and their ports. */
export const REGION_PRESETS: Readonly<Record<string, RegionPreset>> = Object.freeze({
  eu: { place: 'Frankfurt', location: { lat: 50.11, lon: 8.68 }, port: 8081, kafkaPort: 19092, kafkaControllerPort: 19093, grpcPort: 18081 },
  us: { place: 'Virginia', location: { lat: 38.9, lon: -77.0 }, port: 8082, kafkaPort: 29092, kafkaControllerPort: 29093, grpcPort: 18082 },
  ap: { place: 'Singapore', location: { lat: 1.35, lon: 103.8 }, port: 8083, kafkaPort: 39092, kafkaControllerPort: 39093, grpcPort: 18083 },
});

export const DEFAULT_REGIONS: readonly string[] = ['eu', 'us', 'ap'];
export const DEFAULT_PORTS = Object.freeze({ gslb: 8080, zipkin: 9411 });
export const DEFAULT_DATABASE_PREFIX = 'meridian_local';
/** Spans the local Zipkin keeps (the newest); see startLocalCluster. */
export const ZIPKIN_MAX_SPANS = 50_000;

export interface LocalClusterOptions {
  /** Region ids; default eu, us, ap. Other ids need their ports (and, with a GSLB, a location). */
  readonly regions?: readonly string[] | undefined;
  /** Where the cluster keeps its Kafka data, logs and cluster.json. */
  readonly baseDir: string;
  /** Port overrides by name: `<region>`, `grpc-<region>`, `kafka-<region>`, `kafka-<region>-controller`, `gslb`, `zipkin`. */
  readonly ports?: Readonly<Record<string, number>> | undefined;
  /** Region → bootstrap servers of an already-running Kafka to use instead of starting one. */
  readonly kafka?: Readonly<Record<string, string>> | undefined;
  /** An already-running Zipkin (base URL) to use instead of starting one. */
  readonly zipkinUrl?: string | undefined;
  /** Locations of regions that have no preset. */
  readonly locations?: Readonly<Record<string, GeoLocation>> | undefined;
  /** The shared PostgreSQL's maintenance database (default: DATABASE_URL or the local server). */
  readonly postgresUrl?: string | undefined;
  /** Databases are `<prefix>_<region>`; default meridian_local. */
  readonly databasePrefix?: string | undefined;
  /** Drop the databases and wipe the Kafka data first. */
  readonly fresh?: boolean | undefined;
  /** Start the GSLB; default: when this checkout has it. */
  readonly gslb?: boolean | undefined;
  /** Recorded in cluster.json: the supervisor leads its own process group. */
  readonly detached?: boolean | undefined;
  readonly kafkaHeapMb?: number | undefined;
  /**
   * `off` runs every region's API open (MERIDIAN_AUTH=off, each region logs a warning): local
   * experiments only. Default on: a signing key under `<baseDir>/auth/`, tokens in cluster.json.
   */
  readonly auth?: 'on' | 'off' | undefined;
  /**
   * `off` runs the links between regions plaintext (MERIDIAN_GRPC_TLS=off) and Kafka plaintext and
   * anonymous (MERIDIAN_KAFKA_SECURITY=plaintext): a baseline for benchmarks. Default on: a CA under
   * `<baseDir>/tls/` signs a certificate per region, one per broker and one for the operator's CLI
   * (cluster.json's `tls`), made at first start and kept; the brokers run SASL_SSL with a SCRAM
   * principal per region (passwords under `<baseDir>/kafka-users/`) and ACLs (kafka-security.ts).
   * A given Kafka (`kafka`) is used plaintext.
   */
  readonly tls?: 'on' | 'off' | undefined;
  /** Extra settings for every region service. */
  readonly regionEnv?: Readonly<Record<string, string>> | undefined;
  readonly onProgress?: ((message: string) => void) | undefined;
}

export interface RegionPlan {
  /** The anti-entropy gRPC server's port. */
  readonly grpcPort: number;
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly database: string;
  readonly location: GeoLocation | undefined;
  /** Start a broker on these ports, or use `bootstrap`. */
  readonly kafka: { readonly start: true; readonly port: number; readonly controllerPort: number } | { readonly start: false; readonly bootstrap: string };
}

export interface ClusterPlan {
  readonly regions: readonly RegionPlan[];
  readonly gslb: { readonly port: number; readonly url: string } | undefined;
  readonly zipkin: { readonly start: true; readonly port: number } | { readonly start: false; readonly url: string };
  /** Every port this cluster will listen on, for the check before the start. */
  readonly wanted: readonly WantedPort[];
}

const REGION_ID = /^[a-z][a-z0-9-]{0,31}$/;
const local = (port: number): string => `http://127.0.0.1:${port}`;

/** Decides ids, ports, databases and locations, and rejects what cannot work — before anything starts. */
export function planLocalCluster(options: Omit<LocalClusterOptions, 'baseDir' | 'onProgress'> & { readonly gslb: boolean }): ClusterPlan {
  const ids = options.regions ?? DEFAULT_REGIONS;
  const ports = options.ports ?? {};
  const problems: string[] = [];
  if (ids.length === 0) problems.push('expected at least one region (got none)');
  for (const id of ids) if (!REGION_ID.test(id)) problems.push(`expected a region id matching ${String(REGION_ID)} (got ${JSON.stringify(id)})`);
  if (new Set(ids).size !== ids.length) problems.push(`expected each region once (got ${ids.join(',')})`);
  const known = new Set(['gslb', 'zipkin', ...ids.flatMap((id) => [id, `grpc-${id}`, `kafka-${id}`, `kafka-${id}-controller`])]);
  for (const [name, port] of Object.entries(ports)) {
    if (!known.has(name)) problems.push(`unknown port name ${JSON.stringify(name)} (expected one of ${[...known].join(', ')})`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`expected port ${name} to be from 1 to 65535 (got ${port})`);
  }
  for (const id of Object.keys(options.kafka ?? {})) if (!ids.includes(id)) problems.push(`Kafka given for ${id}, which is not one of the regions (${ids.join(',')})`);

  const portOf = (name: string, preset: number | undefined): number => {
    const port = ports[name] ?? preset;
    if (port === undefined) {
      problems.push(`region ${name.replace(/^kafka-|^grpc-|-controller$/g, '')} has no default ports: choose ${name}'s with --port ${name}=<n>`);
      return 0;
    }
    return port;
  };
  const prefix = options.databasePrefix ?? DEFAULT_DATABASE_PREFIX;
  const regions = ids.map((id): RegionPlan => {
    const preset = REGION_PRESETS[id];
    const port = portOf(id, preset?.port);
    const external = options.kafka?.[id];
    const location = options.locations?.[id] ?? preset?.location;
    if (options.gslb && location === undefined) problems.push(`region ${id} has no location for the GSLB: give it one (--location ${id}=<lat>,<lon>) or run without the GSLB`);
    return {
      id,
      port,
      grpcPort: portOf(`grpc-${id}`, preset?.grpcPort),
      url: local(port),
      database: `${prefix}_${id.replace(/-/g, '_')}`,
      location,
      kafka: external !== undefined
        ? { start: false, bootstrap: external }
        : { start: true, port: portOf(`kafka-${id}`, preset?.kafkaPort), controllerPort: portOf(`kafka-${id}-controller`, preset?.kafkaControllerPort) },
    };
  });
  if (problems.length > 0) throw new Error(problems.join('\n'));

  const gslbPort = ports['gslb'] ?? DEFAULT_PORTS.gslb;
  const zipkinPort = ports['zipkin'] ?? DEFAULT_PORTS.zipkin;
  const wanted: WantedPort[] = regions.flatMap((r) => [
    { port: r.port, what: `region ${r.id}`, override: `--port ${r.id}=<n>` },
    { port: r.grpcPort, what: `gRPC of region ${r.id}`, override: `--port grpc-${r.id}=<n>` },
    ...(r.kafka.start
      ? [
          { port: r.kafka.port, what: `Kafka of ${r.id}`, override: `--port kafka-${r.id}=<n>` },
          { port: r.kafka.controllerPort, what: `Kafka controller of ${r.id}`, override: `--port kafka-${r.id}-controller=<n>` },
        ]
      : []),
  ]);
  if (options.gslb) wanted.push({ port: gslbPort, what: 'GSLB', override: '--port gslb=<n>' });
  if (options.zipkinUrl === undefined) wanted.push({ port: zipkinPort, what: 'Zipkin', override: '--port zipkin=<n>' });
  return {
    regions,
    gslb: options.gslb ? { port: gslbPort, url: local(gslbPort) } : undefined,
    zipkin: options.zipkinUrl === undefined ? { start: true, port: zipkinPort } : { start: false, url: options.zipkinUrl.replace(/\/+$/, '') },
    wanted,
  };
}

export interface LocalCluster {
  /** What cluster.json says. */
  readonly file: ClusterFile;
  readonly regions: readonly RegionProcess[];
  readonly gslb: GslbProcess | undefined;
  readonly zipkinUrl: string;
  /** The brokers this cluster started (not the given ones). */
  readonly brokers: readonly KafkaBroker[];
  /** Stops the GSLB, the regions, then Kafka and Zipkin; removes cluster.json. Data stays. */
  stop(): Promise<void>;
}

/** Throws if a live cluster already owns `baseDir`; removes the file of one that died. */
function claimBaseDir(baseDir: string): void {
  let existing: ClusterFile | undefined;
  try {
    existing = readClusterFile(baseDir);
  } catch {
    existing = undefined; // unreadable: written atomically, so not by a live cluster of ours
  }
  if (!existing) {
    removeClusterFile(baseDir);
    return;
  }
  const supervisor = existing.pids['supervisor'];
  if (supervisor !== undefined && supervisor !== process.pid && isAlive(supervisor)) {
    throw new Error(`a Meridian cluster is already running from ${baseDir} (supervisor pid ${supervisor}): \`meridian status\` shows it, \`meridian down\` stops it`);
  }
  removeClusterFile(baseDir);
}

/** Runs `starts` together; if any fails, stops the ones that started and throws the first failure. */
async function startAll<T>(starts: readonly Promise<T>[], stopOne: (started: T) => Promise<void>): Promise<T[]> {
  const results = await Promise.allSettled(starts);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => stopOne(s).catch(() => undefined)));
    throw failed.reason;
  }
  return started;
}

/** The pids of the Java processes this process started, named as cluster.json names them. */
function javaPids(kafkaDirs: ReadonlyMap<string, string>): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const child of childrenOf(process.pid)) {
    if (child.cmdline.includes('zipkin-server')) pids['zipkin'] = child.pid;
    for (const [id, dir] of kafkaDirs) if (child.cmdline.includes('kafka.Kafka') && child.cmdline.includes(join(dir, 'server.properties'))) pids[`kafka-${id}`] = child.pid;
  }
  return pids;
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const progress = options.onProgress ?? ((): void => undefined);
  const gslbWanted = options.gslb ?? gslbAvailable();
  if (gslbWanted && !gslbAvailable()) throw new Error('the GSLB program (services/gslb/src/main.ts) is not in this checkout: run without the GSLB');
  const plan = planLocalCluster({ ...options, gslb: gslbWanted });
  const { baseDir } = options;
  claimBaseDir(baseDir);
  await assertPortsFree(plan.wanted);
  const logs = join(baseDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const auth = options.auth === 'off' ? 'off' : await localClusterAuth(baseDir);
  if (auth === 'off') progress('authentication is OFF (MERIDIAN_AUTH=off): anyone who can reach a region can read and write everything');
  else progress(auth.created ? `signing key made: ${authDir(baseDir)} (tokens in cluster.json)` : `signing key: ${authDir(baseDir)}`);

  const tls = options.tls === 'off' ? undefined : ensureCertificateAuthority(join(baseDir, 'tls'));
  if (tls === undefined) progress('TLS is OFF (MERIDIAN_GRPC_TLS=off): the links between regions are plaintext and trust every caller');
  else progress(tls.created ? `certificate authority made: ${tls.dir} (a certificate per region)` : `certificate authority: ${tls.dir}`);
  const operatorTls = tls === undefined ? undefined : ensureGrpcCertificate(tls, { kind: 'operator' });
  // One security for every Kafka a region uses: a given (external) Kafka is plaintext, so all are.
  const given = plan.regions.filter((r) => !r.kafka.start).map((r) => r.id);
  const kafkaSecurity = tls === undefined || given.length > 0 ? undefined : ensureKafkaSecurity(kafkaUsersDir(baseDir), tls, plan.regions.map((r) => r.id));
  if (kafkaSecurity) progress(`Kafka: SASL_SSL, a SCRAM principal per region (passwords in ${kafkaUsersDir(baseDir)}) and ACLs`);
  else progress(`Kafka security is OFF (MERIDIAN_KAFKA_SECURITY=plaintext): ${tls === undefined ? 'TLS is off' : `the given Kafka of ${given.join(', ')} is plaintext`}; any client that reaches a broker can read and write every topic`);

  const postgresUrl = await ensurePostgres(options.postgresUrl ?? adminUrl());
  const kafkaDirs = new Map(plan.regions.flatMap((r) => (r.kafka.start ? [[r.id, join(baseDir, 'kafka', r.id)] as const] : [])));
  if (options.fresh) {
    for (const r of plan.regions) await dropDatabase(r.database, postgresUrl);
    for (const dir of kafkaDirs.values()) rmSync(dir, { recursive: true, force: true });
    const given = plan.regions.filter((r) => !r.kafka.start).map((r) => r.id);
    progress(`fresh start: databases dropped${kafkaDirs.size > 0 ? ', Kafka data wiped' : ''}${given.length > 0 ? ` (the given Kafka of ${given.join(', ')} is left as it is)` : ''}`);
  }
  const databases = new Map<string, string>();
  for (const r of plan.regions) {
    const { url, created } = await ensureDatabase(r.database, postgresUrl);
    databases.set(r.id, url);
    progress(`database ${r.database}: ${created ? 'created' : 'kept from the last run'}`);
  }

  if (plan.regions.some((r) => r.kafka.start) || plan.zipkin.start) {
    const cached = existsSync(join(cacheDir(), `kafka-${KAFKA_VERSION}-libs`)) && existsSync(join(cacheDir(), `zipkin-${ZIPKIN_VERSION}`));
    if (!cached) progress('fetching the Kafka and Zipkin jars with Maven into the cache (the first run only; it takes minutes)…');
    await Promise.all([ensureKafkaJars(), ensureZipkinJar()]);
  }
  const started = Date.now();
  const seconds = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  type Infra = { kind: 'kafka'; id: string; broker: KafkaBroker } | { kind: 'zipkin'; server: ZipkinServer };
  const infraStarts: Promise<Infra>[] = plan.regions.flatMap((r) => {
    if (!r.kafka.start) return [];
    const { port, controllerPort } = r.kafka;
    return [
      startKafkaBroker({
        name: `local-${r.id}`, dataDir: kafkaDirs.get(r.id)!, brokerPort: port, controllerPort, heapMb: options.kafkaHeapMb ?? 256, readyTimeoutMs: 120_000,
        ...(kafkaSecurity ? { security: brokerSecurity(kafkaSecurity, r.id) } : {}),
      }).then(async (broker): Promise<Infra> => {
        if (kafkaSecurity) {
          try {
            await createAcls(broker.bootstrap, broker.adminSecurity!, regionAcls(r.id, new Map([...kafkaSecurity.regions].map(([id, u]) => [id, u.username]))));
          } catch (error) {
            await broker.stop();
            throw error;
          }
        }
        progress(`kafka ${r.id}: ${broker.bootstrap}${kafkaSecurity ? ' (SASL_SSL)' : ''} (${seconds()})`);
        return { kind: 'kafka', id: r.id, broker };
      }),
    ];
  });
  if (plan.zipkin.start) {
    // Zipkin's in-memory store keeps 500 000 spans by default, far more than the launcher's
    // 256 MiB heap holds (~2.5 KiB a span): three idle regions trace ~90 spans/s (heartbeats,
    // their applies, GSLB probes of /v1/replication), and Zipkin ran out of memory within
    // minutes. A bound keeps the newest ones (about ten minutes of an idle cluster).
    // startZipkin passes this process's environment on to the server.
    process.env['MEM_MAX_SPANS'] ??= String(ZIPKIN_MAX_SPANS);
    infraStarts.push(
      startZipkin({ port: plan.zipkin.port, logDir: logs, readyTimeoutMs: 120_000 }).then((server): Infra => {
        progress(`zipkin: ${server.url} (${seconds()})`);
        return { kind: 'zipkin', server };
      }),
    );
  }
  const infra = await startAll(infraStarts, (i) => (i.kind === 'kafka' ? i.broker.stop() : i.server.stop()));
  const brokers = infra.flatMap((i) => (i.kind === 'kafka' ? [i.broker] : []));
  const zipkin = infra.flatMap((i) => (i.kind === 'zipkin' ? [i.server] : []))[0];
  const zipkinUrl = zipkin?.url ?? (plan.zipkin.start ? '' : plan.zipkin.url);
  const stopInfra = async (): Promise<void> => {
    await Promise.all([...brokers.map((b) => b.stop()), zipkin?.stop()]);
  };

  const addresses = plan.regions.map((r) => ({
    id: r.id,
    url: r.url,
    kafka: r.kafka.start ? brokers.find((b) => b.name === `local-${r.id}`)!.bootstrap : r.kafka.bootstrap,
    grpc: `127.0.0.1:${r.grpcPort}`,
  }));
  let regions: RegionProcess[];
  try {
    regions = await startAll(
      plan.regions.map(async (r) => {
        const region = await startRegionProcess({
          region: r.id,
          databaseUrl: databases.get(r.id)!,
          auth,
          port: r.port,
          grpcPort: r.grpcPort,
          grpcTls: tls === undefined ? 'off' : ensureGrpcCertificate(tls, { kind: 'region', region: r.id }),
          kafkaBrokers: addresses.find((a) => a.id === r.id)!.kafka,
          kafkaSecurity: kafkaSecurity ? { caFile: kafkaSecurity.ca.caFile, user: kafkaSecurity.regions.get(r.id)! } : 'off',
          ...peerSettings(addresses, r.id),
          zipkinSpansUrl: `${zipkinUrl}/api/v2/spans`,
          env: localClusterRegionSettings(options.regionEnv),
          logFile: join(logs, `region-${r.id}.log`),
          readyTimeoutMs: 120_000,
        });
        progress(`region ${r.id}: ${region.url} (${seconds()})`);
        return region;
      }),
      (region) => region.stop(),
    );
  } catch (error) {
    await stopInfra();
    throw error;
  }

  let gslb: GslbProcess | undefined;
  if (plan.gslb) {
    try {
      gslb = await startGslbProcess({
        regions: plan.regions.map((r) => ({ id: r.id, url: r.url, location: r.location! })),
        port: plan.gslb.port,
        ...(auth === 'off' ? {} : { regionToken: auth.tokens.reader }),
        logFile: join(logs, 'gslb.log'),
        readyTimeoutMs: 120_000,
      });
      progress(`gslb: ${gslb.url} (${seconds()})`);
    } catch (error) {
      await Promise.all(regions.map((r) => r.stop()));
      await stopInfra();
      throw error;
    }
  }

  const pids: Record<string, number> = { supervisor: process.pid, ...javaPids(kafkaDirs) };
  for (const r of regions) if (r.process.pid !== undefined) pids[`region-${r.region}`] = r.process.pid;
  if (gslb?.process.pid !== undefined) pids['gslb'] = gslb.process.pid;
  const file: ClusterFile = {
    regions: plan.regions.map((r) => ({ id: r.id, url: r.url, kafka: addresses.find((a) => a.id === r.id)!.kafka, grpc: `127.0.0.1:${r.grpcPort}`, database: r.database })),
    gslb: gslb?.url ?? null,
    zipkin: zipkinUrl,
    pids,
    detached: options.detached ?? false,
    startedAt: new Date().toISOString(),
    logs,
    auth: auth === 'off' ? null : auth.tokens,
    tls: operatorTls === undefined ? null : { ca: operatorTls.caFile, cert: operatorTls.certFile, key: operatorTls.keyFile },
    kafkaSasl: kafkaSecurity ? { ca: kafkaSecurity.ca.caFile, passwords: kafkaUsersDir(baseDir) } : null,
  };
  writeClusterFile(baseDir, file);

  let stopping: Promise<void> | undefined;
  return {
    file,
    regions,
    gslb,
    zipkinUrl,
    brokers,
    stop: () => {
      stopping ??= (async () => {
        await gslb?.stop();
        await Promise.all(regions.map((r) => r.stop()));
        await stopInfra();
        removeClusterFile(baseDir);
      })();
      return stopping;
    },
  };
}
