/**
 * A deployment's own certificate authority and the certificates it signs, made with openssl at
 * first use and kept: the local cluster's (`<dir>/tls/`) and the tests' (a temporary directory).
 * One CA per deployment is the trust root of every encrypted link (docs/security.md): the
 * regions' anti-entropy gRPC (mutual TLS, identity in a `meridian:…` URI), the Kafka brokers and
 * PostgreSQL. Private keys are PKCS#8 PEM, unencrypted, readable by their owner only (mode
 * 0600, in a 0700 directory): a key password stored beside its key would protect nothing.
 *
 * Rotation (docs/security.md): delete the directory and restart; everything is made anew.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identityUri, type PeerIdentity, type TlsFiles } from '@meridian/anti-entropy-grpc';

export interface CertificateAuthority {
  readonly dir: string;
  /** The CA's certificate: the trust root every party is given. */
  readonly caFile: string;
  readonly caKeyFile: string;
}

export interface CertificateSubject {
  readonly commonName: string;
  /** subjectAltName URIs (an identity: `identityUri`). */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
}

const CA_DAYS = 3650;
const LEAF_DAYS = 825;
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc'];

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('openssl is not on PATH: it makes the deployment\'s CA and certificates (Debian: apt-get install openssl)');
    throw error;
  }
}

/** Loads `<dir>`'s CA, making it on first use. */
export function ensureCertificateAuthority(dir: string, name = 'Meridian deployment CA'): CertificateAuthority & { created: boolean } {
  const ca = { dir, caFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca-key.pem') };
  if (existsSync(ca.caFile) && existsSync(ca.caKeyFile)) return { ...ca, created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(['req', '-x509', '-new', ...EC_KEY, '-keyout', ca.caKeyFile, '-out', ca.caFile, '-days', String(CA_DAYS), '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  chmodSync(ca.caKeyFile, 0o600);
  return { ...ca, created: true };
}

/** `<dir>/<name>.pem` and `<name>-key.pem` signed by `ca` (server and client use), made on first use. */
export function ensureCertificate(ca: CertificateAuthority, name: string, subject: CertificateSubject): TlsFiles {
  const files = { caFile: ca.caFile, certFile: join(ca.dir, `${name}.pem`), keyFile: join(ca.dir, `${name}-key.pem`) };
  if (existsSync(files.certFile) && existsSync(files.keyFile)) return files;
  const altNames = [...(subject.uris ?? []).map((u) => `URI:${u}`), ...(subject.dnsNames ?? []).map((d) => `DNS:${d}`), ...(subject.ips ?? []).map((ip) => `IP:${ip}`)];
  openssl(['req', '-x509', '-new', ...EC_KEY, '-keyout', files.keyFile, '-out', files.certFile, '-days', String(LEAF_DAYS), '-subj', `/CN=${subject.commonName}`,
    '-CA', ca.caFile, '-CAkey', ca.caKeyFile,
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment', '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
    ...(altNames.length > 0 ? ['-addext', `subjectAltName=${altNames.join(',')}`] : [])]);
  chmodSync(files.keyFile, 0o600);
  return files;
}

/** Where the local machine reaches its services: every local certificate names these. */
export const LOCAL_HOST_NAMES: Pick<CertificateSubject, 'dnsNames' | 'ips'> = { dnsNames: ['localhost'], ips: ['127.0.0.1'] };

/** The anti-entropy certificate of `identity` (a region, or the operator's CLI). */
export function ensureGrpcCertificate(ca: CertificateAuthority, identity: PeerIdentity): TlsFiles {
  const name = identity.kind === 'operator' ? 'grpc-operator' : `grpc-region-${identity.region}`;
  return ensureCertificate(ca, name, { commonName: identity.kind === 'operator' ? 'meridian operator' : `meridian region ${identity.region}`, uris: [identityUri(identity)], ...LOCAL_HOST_NAMES });
}

let testCa: CertificateAuthority | undefined;
/** A throwaway CA for this test process (one per process, made at first use). */
export function testCertificateAuthority(): CertificateAuthority {
  testCa ??= ensureCertificateAuthority(mkdtempSync(join(tmpdir(), 'meridian-test-ca-')), 'Meridian test CA');
  return testCa;
}

/** The region settings that give it mutual TLS on anti-entropy with `tls` (or plaintext, when `off`). */
export function regionGrpcTlsEnvironment(tls: TlsFiles | 'off'): Record<string, string> {
  if (tls === 'off') return { MERIDIAN_GRPC_TLS: 'off' };
  return { MERIDIAN_GRPC_TLS: 'on', MERIDIAN_GRPC_TLS_CA: tls.caFile, MERIDIAN_GRPC_TLS_CERT: tls.certFile, MERIDIAN_GRPC_TLS_KEY: tls.keyFile };
}
