/**
 * Test fixture: several regions in one process, each with its own database and its own Kafka
 * cluster (the test run's brokers, one per region), peering with each other, plus a way to call
 * their APIs through `app.inject()`. Replication tests share it so that each says only what it
 * tests. Region ids should be unique per run (topics persist on the shared brokers).
 */
import { createDatabase, dropDatabase, testKafkaEnvironment, type TestKafkaSecurity } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { injectJson, type Answer, type Method } from './inject.fixture.ts';
import { startRegion, type RegionHooks, type RegionService } from './region.ts';

export interface Regions {
  readonly regions: RegionService[];
  close(): Promise<void>;
}

export interface RegionsOptions {
  readonly postgresUrl: string;
  /** One broker list per region (its own Kafka cluster). */
  readonly kafka: readonly string[];
  /** The run's brokers' SASL_SSL (inject('infra').kafkaSecurity): each region connects as its cluster's principal; absent: plaintext. */
  readonly kafkaSecurity?: TestKafkaSecurity | undefined;
  /** Database name prefix. */
  readonly dbPrefix: string;
  readonly partitions: number;
  /** Peers' public URLs for `fallback` redirects are http://127.0.0.1:<base + index> (tests read the Location only). */
  readonly peerUrlBase: number;
  readonly hooks?: (index: number) => RegionHooks;
  /** More settings for every region (MERIDIAN_TOMBSTONE_MIN_AGE, …). */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startRegions(ids: readonly string[], o: RegionsOptions): Promise<Regions> {
  const dbs = ids.map((id) => uniqueName(`${o.dbPrefix}_${id}`));
  const urls = await Promise.all(dbs.map((db) => createDatabase(db, o.postgresUrl)));
  const kafkaEnv = await testKafkaEnvironment({ kafka: o.kafka, kafkaSecurity: o.kafkaSecurity }, Object.fromEntries(ids.map((id, i) => [id, i])));
  const regions = await Promise.all(
    ids.map((id, i) =>
      startRegion(
        loadConfig({
          MERIDIAN_REGION: id,
          DATABASE_URL: urls[i],
          MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off',
          MERIDIAN_PG_POOL_SIZE: '4',
          MERIDIAN_KAFKA_BROKERS: o.kafka[i],
          ...kafkaEnv[id],
          MERIDIAN_PEERS: ids.flatMap((peer, j) => (j === i ? [] : [`${peer}=${o.kafka[j]}`])).join(';'),
          MERIDIAN_PEER_URLS: ids.flatMap((peer, j) => (j === i ? [] : [`${peer}=http://127.0.0.1:${o.peerUrlBase + j}`])).join(';'),
          MERIDIAN_TOPIC_PARTITIONS: String(o.partitions),
          ...o.env,
        }),
        o.hooks?.(i) ?? {},
      ),
    ),
  );
  return {
    regions,
    close: async () => {
      await Promise.all(regions.map((r) => r.close()));
      await Promise.all(dbs.map((db) => dropDatabase(db, o.postgresUrl)));
    },
  };
}

export type RegionCall = (i: number, method: Method, url: string, body?: unknown, headers?: Record<string, string>) => Promise<Answer>;

/** Calls region `i`'s API (`regions()` is read at each call: the fixture may start after this is made). */
export function regionCaller(regions: () => readonly RegionService[]): RegionCall {
  return (i, method, url, body, headers = {}) => injectJson(regions()[i]!.app, method, url, body, headers);
}
