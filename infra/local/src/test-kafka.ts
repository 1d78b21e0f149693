/**
 * How a test region reaches the run's Kafka clusters, plaintext or SASL_SSL alike: tests place
 * their regions on clusters and get each region's Kafka settings, so one scenario runs either
 * way (MERIDIAN_TEST_KAFKA_SECURITY=sasl_ssl starts the brokers secured, vitest-global-setup.ts).
 *
 * On secured brokers a region connects as its own cluster's principal, and the ACLs the local
 * cluster makes (`regionAcls`) are made for the placed regions' ids on every cluster: the same
 * topics, groups and operations as a deployment, so a scenario that replicates with them proves
 * those ACLs are enough.
 */
import { createAcls, kafkaClientSecurity, regionAcls, regionKafkaEnvironment, type KafkaClientSecurity, type RegionKafkaSecurity } from './kafka-security.ts';
import type { TestKafkaSecurity } from './test-infra.ts';

/** The run's clusters (bootstrap servers, in order) and their security. */
export interface TestKafka {
  readonly kafka: readonly string[];
  readonly kafkaSecurity?: TestKafkaSecurity | undefined;
}

/** Region id → the index of the run's cluster that is its own Kafka. */
export type KafkaPlacement = Readonly<Record<string, number>>;

/** Each placed region's Kafka security (`off` on plaintext brokers), its ACLs made first. */
export async function testKafkaAccess(infra: TestKafka, placement: KafkaPlacement): Promise<Record<string, RegionKafkaSecurity | 'off'>> {
  const security = infra.kafkaSecurity;
  const ids = Object.keys(placement);
  if (security === undefined) return Object.fromEntries(ids.map((id) => [id, 'off' as const]));
  const principalOf = (id: string): RegionKafkaSecurity['user'] => {
    const user = security.principals[placement[id]!];
    if (user === undefined) throw new Error(`region ${id} is placed on cluster ${placement[id]}, which this run does not have`);
    return user;
  };
  const principals = new Map(ids.map((id) => [id, principalOf(id).username]));
  const admin = testKafkaAdmin(infra)!;
  await Promise.all(infra.kafka.map((bootstrap, cluster) => {
    const owned = ids.filter((id) => placement[id] === cluster);
    return owned.length === 0 ? Promise.resolve() : createAcls(bootstrap, admin, owned.flatMap((id) => regionAcls(id, principals)));
  }));
  return Object.fromEntries(ids.map((id) => [id, { caFile: security.caFile, user: principalOf(id) }]));
}

/** The region settings (MERIDIAN_KAFKA_SECURITY and its companions) of each placed region, for tests that build a config from an environment. */
export async function testKafkaEnvironment(infra: TestKafka, placement: KafkaPlacement): Promise<Record<string, Record<string, string>>> {
  const access = await testKafkaAccess(infra, placement);
  return Object.fromEntries(Object.entries(access).map(([id, a]) => [id, regionKafkaEnvironment(a)]));
}

/** kafkajs settings of the run's super user (undefined on plaintext brokers), for tests that inspect Kafka directly. */
export function testKafkaAdmin(infra: Pick<TestKafka, 'kafkaSecurity'>): KafkaClientSecurity | undefined {
  return infra.kafkaSecurity ? kafkaClientSecurity(infra.kafkaSecurity.caFile, infra.kafkaSecurity.admin) : undefined;
}
