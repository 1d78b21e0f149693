/**
 * What the test global setup provides to every integration and scenario test through
 * `inject('infra')`. Importing @meridian/infra-local brings this augmentation of vitest's
 * ProvidedContext into a test's program, so `inject('infra')` is typed.
 */
import type {} from 'vitest';

export interface TestInfra {
  /** Bootstrap address of each of the three independent Kafka clusters. */
  readonly kafka: readonly [string, string, string];
  readonly zipkinUrl: string;
  /** URL of the shared server's maintenance database; tests create their own databases on it. */
  readonly postgresUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: TestInfra;
  }
}
