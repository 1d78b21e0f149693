/**
 * @meridian/infra-local: real Kafka, Zipkin and PostgreSQL for Meridian's tests and its local
 * cluster, on machines without Docker.
 */
export { startKafkaBroker, type KafkaBroker, type KafkaBrokerOptions } from './kafka.ts';
export { startZipkin, type ZipkinServer } from './zipkin.ts';
export {
  adminUrl,
  createDatabase,
  databaseUrl,
  dropDatabase,
  ensurePostgres,
  startPrivatePostgres,
  type PrivatePostgres,
} from './postgres.ts';
export { ensureKafkaJars, ensureZipkinJar, requireTool, KAFKA_VERSION, ZIPKIN_VERSION } from './jars.ts';
export { ManagedProcess, type ManagedProcessOptions } from './managed-process.ts';
export { freePort } from './ports.ts';
export type { TestInfra } from './test-infra.ts';
