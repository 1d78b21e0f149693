/**
 * @meridian/infra-local: real Kafka, Zipkin and PostgreSQL for Meridian's tests and its local
 * cluster, on machines without Docker.
 */
export { addScramUsers, startKafkaBroker, type KafkaBroker, type KafkaBrokerOptions, type ScramTarget } from './kafka.ts';
export { startZipkin, type ZipkinServer } from './zipkin.ts';
export {
  adminUrl,
  createDatabase,
  copyDatabase,
  databaseUrl,
  dropDatabase,
  ensurePostgres,
  startPrivatePostgres,
  type PrivatePostgres,
} from './postgres.ts';
export { ensureKafkaJars, ensureZipkinJar, requireTool, KAFKA_VERSION, ZIPKIN_VERSION } from './jars.ts';
export { ManagedProcess, type ManagedProcessOptions } from './managed-process.ts';
export { freePort } from './ports.ts';
export type { TestInfra, TestKafkaSecurity } from './test-infra.ts';
export { testKafkaAccess, testKafkaAdmin, testKafkaEnvironment, type KafkaPlacement, type TestKafka } from './test-kafka.ts';
export {
  startServiceProcess,
  childEnvironment,
  NODE_FLAGS,
  REPOSITORY_ROOT,
  type ServiceProcess,
  type ServiceProcessOptions,
} from './service-process.ts';
export {
  startRegionProcess,
  regionEnvironment,
  operatorRegionSettings,
  peerSettings,
  LOCAL_CONTEXT_SECRET,
  REGION_ENTRY,
  type RegionProcess,
  type RegionProcessOptions,
  type RegionAddress,
} from './region-process.ts';
export {
  authDir,
  ensureSigningKeys,
  ephemeralAuth,
  localClusterAuth,
  mintClusterTokens,
  regionAuthEnvironment,
  LOCAL_AUDIENCE,
  LOCAL_ISSUER,
  type ClusterTokens,
  type LocalAuth,
} from './local-auth.ts';
export {
  startGslbProcess,
  gslbEnvironment,
  gslbAvailable,
  GSLB_ENTRY,
  type GslbProcess,
  type GslbProcessOptions,
  type GslbRegion,
  type GeoLocation,
} from './gslb-process.ts';
export {
  startLocalCluster,
  planLocalCluster,
  REGION_PRESETS,
  DEFAULT_REGIONS,
  DEFAULT_PORTS,
  DEFAULT_DATABASE_PREFIX,
  ZIPKIN_MAX_SPANS,
  type LocalCluster,
  type LocalClusterOptions,
  type ClusterPlan,
  type RegionPlan,
  type RegionPreset,
} from './local-cluster.ts';
export {
  parseClusterFile,
  readClusterFile,
  writeClusterFile,
  removeClusterFile,
  clusterFilePath,
  CLUSTER_FILE,
  type ClusterFile,
  type ClusterRegion,
  type ClusterTls,
  type ClusterKafkaSasl,
} from './cluster-file.ts';
export {
  brokerSecurity,
  createAcls,
  ensureKafkaSecurity,
  ensureScramUser,
  kafkaClientSecurity,
  kafkaUsersDir,
  regionAcls,
  regionKafkaEnvironment,
  regionPrincipal,
  KAFKA_ADMIN_USER,
  type KafkaBrokerSecurity,
  type KafkaClientSecurity,
  type KafkaDeploymentSecurity,
  type RegionKafkaSecurity,
  type ScramCredentials,
  type ScramUser,
} from './kafka-security.ts';
export {
  ensureCertificateAuthority,
  ensureCertificate,
  ensureGrpcCertificate,
  regionGrpcTlsEnvironment,
  testCertificateAuthority,
  LOCAL_HOST_NAMES,
  type CertificateAuthority,
  type CertificateSubject,
} from './certificates.ts';
export { ensureDatabase } from './kept-database.ts';
export { assertPortsFree, type WantedPort } from './port-check.ts';
export { isAlive, listProcesses, readProcess, childrenOf, parseProcStat, type ProcessEntry } from './process-table.ts';
