/**
 * The fault suite's cluster: three regions as real processes, each on its own PostgreSQL
 * database and its own Kafka. Region 0's Kafka is a private broker started here (so the nemesis
 * may kill it and delete its records without touching the test run's shared brokers); its peers
 * reach it only through a TCP fault proxy (its advertised address), so the nemesis can cut
 * every link that reads region 0's stream. Regions 1 and 2 use the run's shared brokers, which
 * are never killed. One region may run with a skewed clock (MERIDIAN_TEST_CLOCK_OFFSET_MS).
 *
 * The launchers are the ones every scenario uses (infra/local region-process, kafka, the
 * testkit fault proxy); this module only wires them.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyDatabase, createDatabase, dropDatabase, ensureGrpcCertificate, ephemeralAuth, freePort, startKafkaBroker, testCertificateAuthority, startRegionProcess, type KafkaBroker, type RegionProcess, type RegionProcessOptions, type TestInfra } from '@meridian/infra-local';
import { FaultProxy, uniqueName } from '@meridian/testkit';
import { useBearerToken } from './workload.ts';

export interface FaultCluster {
  readonly ids: readonly string[];
  /** The current process of each region (replaced when a region restarts with other settings). */
  readonly regions: RegionProcess[];
  readonly urls: readonly string[];
  /** Region 0's private broker and the proxy its peers reach it through. */
  readonly broker: KafkaBroker;
  readonly proxy: FaultProxy;
  /** The clock offset each region runs with now. */
  readonly clockOffsets: number[];
  /** Restart region `i` with another clock offset (same port, database and Kafka). */
  restartWithClock(i: number, offsetMs: number): Promise<void>;
  /** The Kafka bootstrap address of each region's own topic (region 0's broker directly, not through the proxy). */
  readonly kafka: readonly string[];
  /**
   * Kill region `i`, copy its database aside (a backup); restart it. Returns when the copy was
   * taken and a restore function: kill the region, call `stopped` (the region's database and
   * topic are still as it left them), put the copy back, restart.
   */
  backup(i: number): Promise<{ copiedAt: number; restore(stopped: () => Promise<void>): Promise<void> }>;
  close(): Promise<void>;
}

export interface FaultClusterOptions {
  readonly infra: TestInfra;
  /** The clock offset of region 2 at start. */
  readonly skewMs: number;
  readonly logDir?: string;
}

export async function startFaultCluster(options: FaultClusterOptions): Promise<FaultCluster> {
  const { infra } = options;
  const suffix = randomBytes(3).toString('hex');
  const ids = ['fa', 'fb', 'fc'].map((r) => `${r}${suffix}`);
  const dbs = ids.map((id) => uniqueName(`flt_${id}`));
  const backups = ids.map((id) => uniqueName(`flt_${id}_bak`));
  const logDir = options.logDir ?? tmpdir();
  const proxyPort = await freePort();
  const listenerPort = await freePort();
  const broker = await startKafkaBroker({ name: `faults-${ids[0]}`, heapMb: 256, proxiedListener: { port: listenerPort, advertisedPort: proxyPort } });
  const proxy = await FaultProxy.start({ target: `127.0.0.1:${listenerPort}`, port: proxyPort });
  const kafka = [broker.bootstrap, infra.kafka[1], infra.kafka[2]];
  // What peers dial for each region's Kafka: region 0's through the proxy.
  const peerKafka = [proxy.address, infra.kafka[1], infra.kafka[2]];
  const databaseUrls = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const ports = [await freePort(), await freePort(), await freePort()];
  // Anti-entropy between the regions, as in a deployment: a region restored from a copy gets back
  // what the peers applied of its earlier actor after the copy only through it.
  const grpcPorts = [await freePort(), await freePort(), await freePort()];
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const clockOffsets = [0, 0, options.skewMs];
  // Authentication on, as in a deployment: every call of the workload and the nemesis is an admin's.
  const auth = await ephemeralAuth();
  useBearerToken(auth.tokens.admin);
  const settings = (i: number): RegionProcessOptions => ({
    region: ids[i]!,
    auth,
    databaseUrl: databaseUrls[i]!,
    port: ports[i]!,
    kafkaBrokers: kafka[i]!,
    peers: Object.fromEntries(ids.flatMap((peer, j) => (j === i ? [] : [[peer, peerKafka[j]!]]))),
    peerUrls: Object.fromEntries(ids.flatMap((peer, j) => (j === i ? [] : [[peer, urls[j]!]]))),
    // Mutual TLS between the regions with a test CA, as in a deployment.
    grpcTls: ensureGrpcCertificate(testCertificateAuthority(), { kind: 'region', region: ids[i]! }),
    logLevel: 'warn',
    logFile: join(logDir, `meridian-faults-${ids[i]}.log`),
    readyTimeoutMs: 120_000,
    env: {
      MERIDIAN_PG_POOL_SIZE: '4',
      MERIDIAN_TOPIC_PARTITIONS: '2',
      MERIDIAN_LAG_BOUND_SECONDS: '2',
      MERIDIAN_GRPC_PORT: String(grpcPorts[i]),
      MERIDIAN_PEER_GRPC: ids.flatMap((peer, j) => (j === i ? [] : [`${peer}=127.0.0.1:${grpcPorts[j]}`])).join(';'),
      MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '2000',
      // Sets above 4 elements stored a row per element (decision 0013): the workload's sets cross
      // the threshold both ways, so every fault meets both layouts.
      MERIDIAN_COLLECTION_SPLIT_ROWS: '4',
      ...(clockOffsets[i] !== 0 ? { MERIDIAN_TEST_CLOCK_OFFSET_MS: String(clockOffsets[i]) } : {}),
    },
  });
  const regions = await Promise.all(ids.map((_, i) => startRegionProcess(settings(i))));
  console.log(`[faults] regions ${ids.map((id, i) => `${id}=${urls[i]}`).join(' ')}; ${ids[0]}'s Kafka ${broker.bootstrap} behind the proxy ${proxy.address}; logs in ${logDir}`);

  return {
    ids,
    regions,
    urls,
    broker,
    proxy,
    clockOffsets,
    restartWithClock: async (i, offsetMs) => {
      await regions[i]!.stop();
      clockOffsets[i] = offsetMs;
      regions[i] = await startRegionProcess(settings(i));
    },
    kafka,
    backup: async (i) => {
      await regions[i]!.kill();
      const copiedAt = Date.now();
      await copyDatabase(dbs[i]!, backups[i]!, infra.postgresUrl);
      await regions[i]!.restart();
      return {
        copiedAt,
        restore: async (stopped) => {
          await regions[i]!.kill();
          await stopped();
          await copyDatabase(backups[i]!, dbs[i]!, infra.postgresUrl);
          await regions[i]!.restart();
        },
      };
    },
    close: async () => {
      await Promise.all(regions.map((r) => r.stop()));
      await proxy.close();
      await broker.destroy();
      await Promise.all([...dbs, ...backups].map((d) => dropDatabase(d, infra.postgresUrl)));
    },
  };
}
