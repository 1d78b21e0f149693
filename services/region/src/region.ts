/**
 * Wires one region-service process: the store (migrations applied, bound to the region and its
 * epoch), the key service, and the HTTP app. `main.ts` starts it from the environment; tests
 * start it from a config object. Every long-running part is stopped by `close()`, in reverse
 * order of start (HTTP first, so no request meets a closed pool).
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import { PgStore } from '@meridian/store';
import type { RegionConfig } from './config.ts';
import { ContextTokens } from './context-token.ts';
import { KeyService } from './key-service.ts';
import { WriteCache } from './write-cache.ts';
import { buildApp } from './app.ts';
import type { HealthCheck } from './health.ts';
import type { Policy } from '@meridian/protocol';
import { Replication } from './replication/replication.ts';
import type { ReplicatorHooks } from './replication/peer-replicator.ts';
import { silentLogger, type Logger } from './replication/logger.ts';
import { createTokenVerifier } from '@meridian/auth';
import type { ApiAuth } from './api-auth.ts';

/**
 * Writes that must wait before a second group-committed statement runs beside one in flight
 * (group-commit.ts `overlapAt`). With 1, a light load sent nearly every write as its own
 * statement and commit; with 4, more writes share a WAL flush at the same rate, for less CPU per
 * write and no lower maximum (docs/decisions/0005). A write waits at most for the statement in
 * flight.
 */
const WRITE_OVERLAP_AT = 4;

export interface RegionHooks {
  readonly logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  readonly metricsText?: () => Promise<string>;
  readonly onWrite?: (namespace: string, policy: Policy, seconds: number) => void;
  readonly now?: () => number;
  readonly replication?: ReplicatorHooks;
  /** Where replication logs (the app's logger when absent and the app logs). */
  readonly log?: Logger;
  readonly relayPollMs?: number;
}

export interface RegionService {
  readonly app: FastifyInstance;
  readonly store: PgStore;
  readonly keys: KeyService;
  /** The write path's snapshot cache (its `stats()` feed /metrics). */
  readonly cache: WriteCache;
  readonly epoch: number;
  readonly replication: Replication | undefined;
  close(): Promise<void>;
}

export async function startRegion(config: RegionConfig, hooks: RegionHooks = {}): Promise<RegionService> {
  const store = await PgStore.open({
    connectionString: config.databaseUrl,
    poolSize: config.poolSize,
    applicationName: `meridian-region-${config.region}`,
  });
  try {
    const identity = await store.bindRegion(config.region, config.epoch);
    const cache = new WriteCache(config.writeCacheMb * 1024 * 1024);
    const keys = new KeyService({
      store,
      region: config.region,
      epoch: identity.epoch,
      tokens: new ContextTokens(config.contextSecret),
      maxValueBytes: config.maxValueBytes,
      maxClockDriftMs: config.maxClockDriftMs,
      cache,
      // Half the pool for group-committed writes; the rest serves reads, first writes, the relay and replicators.
      writeConcurrency: Math.max(1, Math.floor(config.poolSize / 2)),
      // A second write statement only once WRITE_OVERLAP_AT writes wait: a light load shares statements and commits.
      writeOverlapAt: WRITE_OVERLAP_AT,
      ...(hooks.now ? { now: hooks.now } : {}),
      ...(hooks.onWrite ? { onWrite: hooks.onWrite } : {}),
    });
    const replication = config.kafkaBrokers
      ? new Replication({
          store,
          region: config.region,
          epoch: identity.epoch,
          brokers: config.kafkaBrokers,
          peers: config.peers,
          partitions: config.topicPartitions,
          topicReplicationFactor: config.topicReplicationFactor,
          clock: keys.clock,
          log: hooks.log ?? silentLogger,
          lagBoundSeconds: config.lagBoundSeconds,
          relayLingerMs: config.relayLingerMs,
          // The write path's cached snapshots follow the rows the replicators write.
          hooks: { ...hooks.replication, onKeysSaved: (rows) => {
            for (const r of rows) cache.set(r.namespace, r.key);
            hooks.replication?.onKeysSaved?.(rows);
          } },
          ...(hooks.relayPollMs ? { relayPollMs: hooks.relayPollMs } : {}),
        })
      : undefined;
    const auth: ApiAuth = config.auth === 'off'
      ? { mode: 'off' }
      : { mode: 'on', verifier: await createTokenVerifier({ publicKeys: config.authPublicKeys, jwksUrl: config.authJwksUrl, issuer: config.authIssuer, audience: config.authAudience }) };
    const readiness: HealthCheck[] = [{ name: 'postgres', check: () => store.ping() }, ...(replication?.checks() ?? [])];
    const app = await buildApp({
      replication,
      peerUrls: config.peerUrls,
      region: config.region,
      store,
      keys,
      bodyLimitBytes: config.bodyLimitBytes,
      readiness,
      metricsText: hooks.metricsText ?? (() => Promise.resolve('')),
      logger: hooks.logger,
      auth: { auth, rateLimitPerMinute: config.rateLimitPerMinute },
    });
    await replication?.start();
    return {
      app,
      store,
      keys,
      cache,
      epoch: identity.epoch,
      replication,
      close: async () => {
        await app.close();
        await replication?.stop();
        await store.close();
      },
    };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
