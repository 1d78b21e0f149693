/**
 * Kafka's SASL_SSL and ACLs for a Meridian deployment (docs/security.md). Every broker presents a
 * certificate signed by the deployment's CA; every client authenticates with SCRAM-SHA-512:
 *
 * - `meridian-admin`, the super user: the launcher (topics' ACLs, readiness) and each broker
 *   itself on its inter-broker listener;
 * - one principal per region, `region-<id>`, the same on every cluster of the deployment (its
 *   own Kafka and each peer's), with exactly what the region's clients need (`regionAcls`).
 *
 * Passwords are random, made at first use and kept in `<dir>/<user>.password` (mode 0600, in a
 * 0700 directory); a region reads its own from that file (MERIDIAN_KAFKA_SASL_PASSWORD_FILE),
 * and nothing logs one. SCRAM users are written into a cluster's metadata when its storage is
 * formatted (kafka.ts): the deployment's regions must be known then.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import kafkajs, { Kafka, logLevel, type AclEntry } from 'kafkajs';
import type { TlsFiles } from '@meridian/anti-entropy-grpc';
import { ensureCertificate, LOCAL_HOST_NAMES, type CertificateAuthority } from './certificates.ts';

export interface ScramCredentials {
  readonly username: string;
  readonly password: string;
}

/** A SCRAM user whose password is kept in a file. */
export interface ScramUser extends ScramCredentials {
  readonly passwordFile: string;
}

/** What a broker needs to run SASL_SSL (kafka.ts). */
export interface KafkaBrokerSecurity {
  /** The broker's certificate and key (PEM), and the CA that signed it. */
  readonly tls: TlsFiles;
  /** The super user: the launcher's admin and the broker's own inter-broker identity. */
  readonly admin: ScramCredentials;
  /** Users created when the storage is formatted (besides the admin). */
  readonly users: readonly ScramCredentials[];
}

/** The TLS and SASL settings of a kafkajs client (spread into its config). */
export interface KafkaClientSecurity {
  readonly ssl: { readonly ca: string[] };
  readonly sasl: { readonly mechanism: 'scram-sha-512'; readonly username: string; readonly password: string };
}

// kafkajs's ACL constants are CommonJS exports that Node's ESM loader cannot name one by one.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;
type AclOperationTypes = kafkajs.AclOperationTypes;
type AclResourceTypes = kafkajs.AclResourceTypes;
type ResourcePatternTypes = kafkajs.ResourcePatternTypes;

export const KAFKA_ADMIN_USER = 'meridian-admin';

/** Region `region`'s Kafka principal name (its SCRAM username). */
export function regionPrincipal(region: string): string {
  return `region-${region}`;
}

/** kafkajs settings that connect as `user`, trusting `caFile`. */
export function kafkaClientSecurity(caFile: string, user: ScramCredentials): KafkaClientSecurity {
  return { ssl: { ca: [readFileSync(caFile, 'utf8')] }, sasl: { mechanism: 'scram-sha-512', username: user.username, password: user.password } };
}

/** `<dir>/<username>.password`, made (32 random bytes, base64url) on first use and kept. */
export function ensureScramUser(dir: string, username: string): ScramUser {
  const passwordFile = join(dir, `${username}.password`);
  if (!existsSync(passwordFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(passwordFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
    chmodSync(passwordFile, 0o600);
  }
  return { username, password: readFileSync(passwordFile, 'utf8').trim(), passwordFile };
}

/** Where a local cluster keeps its SCRAM users' passwords. */
export function kafkaUsersDir(baseDir: string): string {
  return join(baseDir, 'kafka-users');
}

/** A deployment's Kafka security: its CA, the admin, and each region's principal. */
export interface KafkaDeploymentSecurity {
  readonly ca: CertificateAuthority;
  readonly admin: ScramUser;
  /** Region id → its principal. */
  readonly regions: ReadonlyMap<string, ScramUser>;
}

/** Loads or makes the passwords under `dir` for the admin and every region of `regions`. */
export function ensureKafkaSecurity(dir: string, ca: CertificateAuthority, regions: readonly string[]): KafkaDeploymentSecurity {
  return {
    ca,
    admin: ensureScramUser(dir, KAFKA_ADMIN_USER),
    regions: new Map(regions.map((r) => [r, ensureScramUser(dir, regionPrincipal(r))])),
  };
}

/** The broker settings of cluster `name` (its certificate made on first use): every principal of the deployment is one of its users. */
export function brokerSecurity(deployment: KafkaDeploymentSecurity, name: string): KafkaBrokerSecurity {
  const tls = ensureCertificate(deployment.ca, `kafka-${name}`, { commonName: `meridian kafka ${name}`, ...LOCAL_HOST_NAMES });
  return { tls, admin: deployment.admin, users: [...deployment.regions.values()] };
}

/** What a region needs to connect to its deployment's Kafka: the CA and its own principal. */
export interface RegionKafkaSecurity {
  readonly caFile: string;
  readonly user: ScramUser;
}

/** The region settings (services/region/src/config.ts) that connect it as `user` (or plaintext, when `off`). */
export function regionKafkaEnvironment(security: RegionKafkaSecurity | 'off'): Record<string, string> {
  if (security === 'off') return { MERIDIAN_KAFKA_SECURITY: 'plaintext' };
  return {
    MERIDIAN_KAFKA_SECURITY: 'sasl_ssl',
    MERIDIAN_KAFKA_TLS_CA: security.caFile,
    MERIDIAN_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    MERIDIAN_KAFKA_SASL_USERNAME: security.user.username,
    MERIDIAN_KAFKA_SASL_PASSWORD_FILE: security.user.passwordFile,
  };
}

const allow = (principal: string, resourceType: AclResourceTypes, resourceName: string, resourcePatternType: ResourcePatternTypes, operation: AclOperationTypes): AclEntry => ({
  principal: `User:${principal}`, host: '*', resourceType, resourceName, resourcePatternType, operation, permissionType: AclPermissionTypes.ALLOW,
});

/**
 * The ACLs on region `owner`'s Kafka, given each region's principal (the owner's and its peers'):
 *
 * - the owner: Create its updates topic (the relay creates it at first start), Write it (the
 *   relay's idempotent producer: since Kafka 3.0 Write on a topic is enough for InitProducerId,
 *   no IdempotentWrite on the cluster) and Read it (the start-up incarnation check reads its tail);
 * - each peer: Read the owner's topic (its link consumes it; Read implies Describe, which offsets
 *   and metadata need);
 * - everyone: Read and Delete consumer groups under its own prefix only (`meridian.<region>.`:
 *   its links' offsets, its throwaway tail-read groups, which it deletes).
 *
 * Nothing else: no region writes another's topic, touches another's groups, or alters anything.
 * The topic and group names are the region service's (@meridian/protocol's `updatesTopic`,
 * `consumerGroupPrefix`); kafka-security.infra.test.ts replicates through exactly these ACLs.
 */
export function regionAcls(owner: string, principals: ReadonlyMap<string, string>): AclEntry[] {
  const topic = `meridian.${owner}.updates`;
  const { TOPIC, GROUP } = AclResourceTypes;
  const { LITERAL, PREFIXED } = ResourcePatternTypes;
  const out: AclEntry[] = [];
  for (const [region, principal] of principals) {
    if (region === owner) for (const op of [AclOperationTypes.CREATE, AclOperationTypes.WRITE]) out.push(allow(principal, TOPIC, topic, LITERAL, op));
    out.push(allow(principal, TOPIC, topic, LITERAL, AclOperationTypes.READ));
    for (const op of [AclOperationTypes.READ, AclOperationTypes.DELETE]) out.push(allow(principal, GROUP, `meridian.${region}.`, PREFIXED, op));
  }
  return out;
}

/** Creates `acls` on the Kafka at `bootstrap` as the super user (creating an existing ACL changes nothing). */
export async function createAcls(bootstrap: string, admin: KafkaClientSecurity, acls: AclEntry[]): Promise<void> {
  const client = new Kafka({ clientId: 'meridian-launcher-acls', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 }, ...admin }).admin();
  await client.connect();
  try {
    await client.createAcls({ acl: acls });
  } finally {
    await client.disconnect();
  }
}
