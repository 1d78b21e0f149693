/**
 * What the test global setup provides to every integration and scenario test through
 * `inject('infra')`. Importing @meridian/infra-local brings this augmentation of vitest's
 * ProvidedContext into a test's program, so `inject('infra')` is typed.
 */
import type {} from 'vitest';
import type { ScramUser } from './kafka-security.ts';

/**
 * The run's brokers' SASL_SSL (MERIDIAN_TEST_KAFKA_SECURITY=sasl_ssl): the CA, the super user, and
 * one principal per cluster — a test region connects as the principal of the cluster that is its
 * own Kafka (test regions' ids are unique per run, so principals cannot be per region id; the
 * ACLs are made per region id, test-kafka.ts).
 */
export interface TestKafkaSecurity {
  readonly caFile: string;
  readonly admin: ScramUser;
  readonly principals: readonly [ScramUser, ScramUser, ScramUser];
}

export interface TestInfra {
  /** Bootstrap address of each of the three independent Kafka clusters. */
  readonly kafka: readonly [string, string, string];
  readonly zipkinUrl: string;
  /** URL of the shared server's maintenance database; tests create their own databases on it. */
  readonly postgresUrl: string;
  /** Set when the brokers run SASL_SSL with ACLs; absent: plaintext. */
  readonly kafkaSecurity?: TestKafkaSecurity | undefined;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: TestInfra;
  }
}
