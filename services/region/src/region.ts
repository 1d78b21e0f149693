/**
 * Wires one region-service process: the store (migrations applied, bound to the region and its
 * epoch), the key service, and the HTTP app. `main.ts` starts it from the environment; tests
 * start it from a config object. Every long-running part is stopped by `close()`, in reverse
 * order of start (HTTP first, so no request meets a closed pool).
 */
import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import { PgStore, type MemberAddress } from '@meridian/store';
import type { RegionConfig } from './config.ts';
import { ContextTokens } from './context-token.ts';
import { WritePath } from './write-path.ts';
import { WriteCache } from './write-cache.ts';
import { buildApp } from './app.ts';
import type { HealthCheck } from './health.ts';
import type { Policy } from '@meridian/protocol';
import { Replication } from './replication/replication.ts';
import type { ReplicatorHooks } from './replication/peer-replicator.ts';
import { silentLogger, type Logger } from './replication/logger.ts';
import { incarnationVerdict } from './replication/incarnation.ts';
import { streamEvidence } from './replication/stream-tail.ts';
import { kafkaClientSecurity, type KafkaClientSecurity } from './replication/kafka-client.ts';
import { GrpcReplica, channelCredentials, startAntiEntropyServer, tlsFiles, type AntiEntropyServer } from '@meridian/anti-entropy-grpc';
import { TokenBucket, type ExchangeReport, type TreeReplica } from '@meridian/anti-entropy';
import { LocalReplica } from './anti-entropy/local-replica.ts';
import { AntiEntropyLoop } from './anti-entropy/anti-entropy-loop.ts';
import { reseedLink, seedLink } from './anti-entropy/reseed.ts';
import { Membership } from './membership.ts';
import type { RepairHooks } from './anti-entropy/repair-merge.ts';
import { createTokenVerifier } from '@meridian/auth';
import { RetentionLoop } from './retention/retention-loop.ts';
import type { ApiAuth } from './api-auth.ts';

/**
 * Writes that must wait before a second group-committed statement runs beside one in flight
 * (group-commit.ts `overlapAt`). With 1, a light load sent nearly every write as its own
 * statement and commit; with 4, more writes share a WAL flush at the same rate, for less CPU per
 * write and no lower maximum (docs/decisions/0005). A write waits at most for the statement in
 * flight.
 */
const WRITE_OVERLAP_AT = 4;

type PeerReplica = TreeReplica & { close(): void };

/**
 * A peer learnt from the stored membership while gRPC TLS is on but this region has no TLS files
 * (config.ts requires them only when gRPC is configured): fail closed, every call refused with
 * what to set, rather than talk plaintext.
 */
function refusedReplica(peer: string): PeerReplica {
  const refuse = (): Promise<never> => Promise.reject(new Error(`anti-entropy with ${peer}: this region has no gRPC TLS files (MERIDIAN_GRPC_TLS_CA, _CERT, _KEY); MERIDIAN_GRPC_TLS=off runs it plaintext`));
  return { summary: refuse, branches: refuse, segments: refuse, keyHashes: refuse, fetchStates: refuse, mergeStates: refuse, close: () => undefined };
}

export interface RegionHooks {
  readonly logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  readonly metricsText?: () => Promise<string>;
  readonly onWrite?: (namespace: string, policy: Policy, seconds: number) => void;
  readonly now?: () => number;
  readonly replication?: ReplicatorHooks;
  /** Where replication logs (the app's logger when absent and the app logs). */
  readonly log?: Logger;
  readonly relayPollMs?: number;
  readonly antiEntropy?: RepairHooks & { readonly onReport?: (peer: string, report: ExchangeReport) => void };
  /** Called with the number of tombstones each purge statement removed. */
  readonly onPurged?: (keys: number) => void;
  /** The retention loop's period (default: a fifth of MERIDIAN_TOMBSTONE_MIN_AGE, from 1 s to 10 s). */
  readonly retentionIntervalMs?: number;
}

export interface RegionService {
  readonly app: FastifyInstance;
  readonly store: PgStore;
  readonly keys: WritePath;
  /** The write path's snapshot cache (its `stats()` feed /metrics). */
  readonly cache: WriteCache;
  readonly epoch: number;
  readonly replication: Replication | undefined;
  /** This region as anti-entropy sees it; its gRPC server (with MERIDIAN_GRPC_PORT) and continuous loop (with peers' gRPC addresses). */
  readonly antiEntropy: { readonly local: LocalReplica; readonly server: AntiEntropyServer | undefined; readonly loop: AntiEntropyLoop | undefined };
  /** The tombstone GC and record expiry (decision 0012). */
  readonly retention: RetentionLoop;
  /** The stored membership (with replication on). */
  readonly membership: Membership | undefined;
  close(): Promise<void>;
}

/**
 * Binds the database to the region and settles its incarnation (DESIGN §6): with replication on,
 * what the database can still publish of its own stream is compared with what its topic and its
 * peers hold of it (stream-tail.ts, incarnation.ts); a database behind its own past (restored from
 * a backup, an asynchronous standby promoted) starts a new incarnation before anything is written.
 */
/** How the link from `peer` recovers when Kafka lost updates it needs: by itself through anti-entropy, or not (and why). */
function reseedNote(config: RegionConfig, peer: string, grpc: string | undefined): string {
  if (config.antiEntropyIntervalMs > 0 && grpc !== undefined) return `anti-entropy with ${peer} reseeds it by itself at its next round`;
  return `no automatic reseed: anti-entropy with ${peer} is off (set ${peer} in MERIDIAN_PEER_GRPC and MERIDIAN_ANTI_ENTROPY_INTERVAL_MS > 0)`;
}

async function bindIncarnation(store: PgStore, config: RegionConfig, peers: ReadonlyMap<string, readonly string[]>, kafkaSecurity: KafkaClientSecurity, log: Logger): Promise<{ epoch: number }> {
  const bound = await store.bindRegion(config.region, config.epoch);
  if (!config.kafkaBrokers) return bound;
  const evidence = await streamEvidence({ region: config.region, brokers: config.kafkaBrokers, kafkaSecurity, peers, log });
  const verdict = incarnationVerdict(config.region, await store.ownStream(), evidence);
  if (!verdict.behind) return bound;
  const reason = `the database is behind its own stream: ${verdict.reasons.join('; ')}`;
  const epoch = await store.startIncarnation(bound.epoch, verdict.epoch, reason);
  log.warn({ from: bound.epoch, to: epoch, reasons: verdict.reasons }, `region ${config.region}: started incarnation ${config.region}.${epoch}; ${reason}`);
  return { epoch };
}

export async function startRegion(config: RegionConfig, hooks: RegionHooks = {}): Promise<RegionService> {
  const store = await PgStore.open({
    connectionString: config.databaseUrl,
    poolSize: config.poolSize,
    applicationName: `meridian-region-${config.region}`,
    splitRows: config.collectionSplitRows,
  });
  try {
    const log = hooks.log ?? silentLogger;
    // The stored membership, seeded from the configuration (membership.ts): the peers at start.
    const configured: MemberAddress[] = [...config.peers].map(([region, brokers]) => ({ region, kafka: brokers.join(','), url: config.peerUrls.get(region), grpc: config.peerGrpc.get(region) }));
    const removedAtStart = config.kafkaBrokers ? await store.members.seedMembers(configured) : [];
    const stored = config.kafkaBrokers ? (await store.members.members()).filter((m) => m.state === 'member') : [];
    const peers = new Map(stored.map((m) => [m.region, m.kafka.split(',')]));
    if (config.kafkaBrokers && config.kafkaSecurity === 'plaintext') log.warn({}, 'MERIDIAN_KAFKA_SECURITY=plaintext: this region\'s Kafka clients are anonymous and unencrypted — a baseline benchmark or a private test network only');
    // A standalone region (no Kafka) has no Kafka clients, so no credentials to check.
    const kafkaSecurity = config.kafkaBrokers ? kafkaClientSecurity(config, (path) => readFileSync(path, 'utf8')) : {};
    const identity = await bindIncarnation(store, config, peers, kafkaSecurity, log);
    const cache = new WriteCache(config.writeCacheMb * 1024 * 1024, config.collectionSplitRows);
    const keys = new WritePath({
      store,
      region: config.region,
      epoch: identity.epoch,
      incarnations: await store.incarnations(),
      tokens: new ContextTokens(config.contextSecret),
      maxValueBytes: config.maxValueBytes,
      splitRows: config.collectionSplitRows,
      maxClockDriftMs: config.maxClockDriftMs,
      cache,
      // Half the pool for group-committed writes; the rest serves reads, first writes, the relay and replicators.
      writeConcurrency: Math.max(1, Math.floor(config.poolSize / 2)),
      // A second write statement only once WRITE_OVERLAP_AT writes wait: a light load shares statements and commits.
      writeOverlapAt: WRITE_OVERLAP_AT,
      ...(hooks.now ? { now: hooks.now } : {}),
      ...(hooks.onWrite ? { onWrite: hooks.onWrite } : {}),
    });
    // Mutual TLS unless turned off (config.ts refuses gRPC with TLS on and no files); a peer's
    // server must present that peer's certificate.
    const tls = config.grpcTls === 'off' ? undefined : tlsFiles({ caFile: config.grpcTlsCa, certFile: config.grpcTlsCert, keyFile: config.grpcTlsKey });
    if (config.grpcTls === 'off' && (config.grpcPort !== undefined || config.peerGrpc.size > 0)) log.warn({}, 'MERIDIAN_GRPC_TLS=off: anti-entropy gRPC is plaintext and trusts every caller — a baseline benchmark or a private test network only');
    const newReplica = (peer: string, address: string): PeerReplica =>
      tls === undefined && config.grpcTls === 'on' ? refusedReplica(peer) : new GrpcReplica({ address, credentials: channelCredentials(tls, { kind: 'region', region: peer }), deadlineMs: config.antiEntropyDeadlineMs });
    // Peer → anti-entropy client, kept by membership: the continuous loop and the seeding of a joining region's links read it.
    const peerReplicas = new Map<string, PeerReplica>();
    const local = new LocalReplica({
      store,
      region: config.region,
      clock: keys.clock,
      // Merges from members only (repair-merge.ts): the stored ones, or a standalone region's configured peers.
      peers: config.kafkaBrokers ? { stored: true } : { fixed: new Set([...config.peers.keys(), ...config.peerGrpc.keys()]) },
      hooks: { ...hooks.antiEntropy, onKeysSaved: (rows) => {
        for (const r of rows) cache.follow(r);
        hooks.antiEntropy?.onKeysSaved?.(rows);
      }, onRefused: (peer, reason) => {
        log.warn({ peer, reason }, `anti-entropy: refused a merge from ${peer}, not a member here`);
        hooks.antiEntropy?.onRefused?.(peer, reason);
      } },
    });
    // One bucket for every repair of this process: continuous rounds, reseeds and a joining region's seeding.
    const limiter = new TokenBucket({ perSecond: config.antiEntropyKeysPerSecond, now: Date.now });
    const peerUrls = new Map(config.peerUrls);
    const seedFor = (peer: string): (() => Promise<void>) | undefined =>
      config.join === 'on'
        ? async () => {
            const remote = peerReplicas.get(peer);
            const link = replication?.replicators.find((r) => r.peer === peer);
            if (!remote || !link) throw new Error(`no anti-entropy gRPC address for ${peer} (MERIDIAN_PEER_GRPC, or the member's grpc): a joining region seeds its links over gRPC`);
            const outcome = await seedLink({ store, local, remote, link, limiter });
            log.warn({ peer, outcome: outcome.outcome, origin: outcome.published?.origin, sequence: outcome.published?.sequence.toString(), repairedHere: outcome.report?.repairedLocal.length }, `join: seeded the link from ${peer}; it consumes from the positions that copy reflects`);
          }
        : undefined;
    const replication: Replication | undefined = config.kafkaBrokers
      ? new Replication({
          store,
          region: config.region,
          epoch: identity.epoch,
          brokers: config.kafkaBrokers,
          kafkaSecurity,
          peers,
          seedFor,
          partitions: config.topicPartitions,
          topicReplicationFactor: config.topicReplicationFactor,
          clock: keys.clock,
          log,
          lagBoundSeconds: config.lagBoundSeconds,
          reseedNotes: new Map(stored.map((m) => [m.region, reseedNote(config, m.region, m.grpc)])),
          relayLingerMs: config.relayLingerMs,
          outboxRetentionMs: config.outboxRetentionMs,
          // The write path's cached snapshots follow the rows the replicators write.
          hooks: { ...hooks.replication, onKeysSaved: (rows) => {
            for (const r of rows) cache.follow(r);
            hooks.replication?.onKeysSaved?.(rows);
          } },
          ...(hooks.relayPollMs ? { relayPollMs: hooks.relayPollMs } : {}),
        })
      : undefined;
    // Without replication there is no stored membership: the configured gRPC peers are the anti-entropy peers.
    if (!config.kafkaBrokers) for (const [peer, address] of config.peerGrpc) peerReplicas.set(peer, newReplica(peer, address));
    const loop = config.antiEntropyIntervalMs > 0 && (config.kafkaBrokers !== undefined || peerReplicas.size > 0)
      ? new AntiEntropyLoop({
          local,
          peers: peerReplicas,
          limiter,
          intervalMs: config.antiEntropyIntervalMs,
          keysPerSecond: config.antiEntropyKeysPerSecond,
          log,
          ...(hooks.antiEntropy?.onReport ? { onReport: hooks.antiEntropy.onReport } : {}),
          ...(replication ? { reseed: { links: { get: (peer) => replication.replicators.find((r) => r.peer === peer) }, run: (link, remote, bucket) => reseedLink({ store, local, remote, link, limiter: bucket }) } } : {}),
        })
      : undefined;
    const auth: ApiAuth = config.auth === 'off'
      ? { mode: 'off' }
      : { mode: 'on', verifier: await createTokenVerifier({ publicKeys: config.authPublicKeys, jwksUrl: config.authJwksUrl, issuer: config.authIssuer, audience: config.authAudience }) };
    const membership = config.kafkaBrokers
      ? new Membership({
          store,
          region: config.region,
          replication,
          replicas: peerReplicas,
          newReplica,
          peerUrls,
          removedRegions: keys.removedRegions,
          ...(loop ? { forget: (peer: string) => loop.forget(peer) } : {}),
          reseedNote: (peer, grpc) => reseedNote(config, peer, grpc),
          log,
        })
      : undefined;
    for (const region of removedAtStart) log.warn({ peer: region }, `membership: ${region} is configured as a peer but was removed (DELETE /v1/members/${region}); it stays removed — add it back with PUT /v1/members/${region}`);
    const readiness: HealthCheck[] = [{ name: 'postgres', check: () => store.ping() }, ...(replication?.checks() ?? [])];
    const app = await buildApp({
      replication,
      peerUrls,
      membership,
      region: config.region,
      store,
      keys,
      bodyLimitBytes: config.bodyLimitBytes,
      readiness,
      metricsText: hooks.metricsText ?? (() => Promise.resolve('')),
      logger: hooks.logger,
      antiEntropy: loop,
      auth: { auth, rateLimitPerMinute: config.rateLimitPerMinute },
    });
    const retention = new RetentionLoop({
      store,
      region: config.region,
      actor: keys.actor,
      // The deployment's other regions as the stored membership has them now (a removed one no longer holds GC back).
      peers: () => membership?.memberIds() ?? [...config.peers.keys()],
      minAgeMs: config.tombstoneMinAgeMs,
      maxClockDriftMs: config.maxClockDriftMs,
      idempotencyTtlMs: config.idempotencyTtlMs,
      conflictRetentionMs: config.conflictRetentionMs,
      intervalMs: hooks.retentionIntervalMs ?? Math.min(10_000, Math.max(1000, Math.floor(config.tombstoneMinAgeMs / 5))),
      // One process decides and purges: the relay's lease holder (any process of a standalone region).
      leader: replication ? () => replication.relay.status.role === 'active' : () => true,
      log,
      ...(hooks.now ? { now: hooks.now } : {}),
      ...(hooks.onPurged ? { onPurged: hooks.onPurged } : {}),
    });
    // Membership first: it makes the clients and URLs of the stored members before the links start (a joining link seeds through them).
    await membership?.start();
    await replication?.start();
    const server = config.grpcPort === undefined ? undefined : await startAntiEntropyServer({ replica: local, host: config.host, port: config.grpcPort, tls, onRefused: (reason) => log.warn({ reason }, 'anti-entropy: a gRPC call was refused') });
    // Last, beside the continuous anti-entropy loop: nothing after it can fail and leave its timer running.
    retention.start();
    loop?.start();
    return {
      app,
      store,
      keys,
      cache,
      epoch: identity.epoch,
      replication,
      antiEntropy: { local, server, loop },
      retention,
      membership,
      close: async () => {
        await app.close();
        await retention.stop();
        await membership?.stop();
        await loop?.stop();
        for (const peer of peerReplicas.values()) peer.close();
        await server?.stop();
        await replication?.stop();
        await store.close();
      },
    };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
