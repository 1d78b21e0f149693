/**
 * The local cluster is secured like any other (docs/security.md): at first start `meridian up`
 * makes an Ed25519 signing key pair under `<dir>/auth/` (the private key readable by its owner
 * only) and keeps it across restarts; at every start it mints three tokens — admin, writer,
 * reader — valid for TOKEN_DAYS, which cluster.json publishes for the CLI, the walkthrough and
 * scripts. Regions verify them with the public key (MERIDIAN_AUTH_PUBLIC_KEYS_FILE). Deleting
 * `<dir>/auth/` rotates the key: the next start makes a new one and the old tokens stop working.
 *
 * The same helpers give tests a throwaway key and tokens (`ephemeralAuth`).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKeyPair, signToken, type SigningKeyPair } from '@meridian/auth';

/** The issuer and audience of local-cluster tokens (the regions' MERIDIAN_AUTH_ISSUER/AUDIENCE). */
export const LOCAL_ISSUER = 'meridian-local';
export const LOCAL_AUDIENCE = 'meridian';
const TOKEN_DAYS = 30;

/** The three tokens cluster.json carries. */
export interface ClusterTokens {
  /** Scope admin: links, dead letters, metrics, and everything a writer may do. */
  readonly admin: string;
  /** Scope write (and read). */
  readonly writer: string;
  /** Scope read. */
  readonly reader: string;
}

/** What a region (or a test) needs to verify and present tokens. */
export interface LocalAuth {
  readonly keys: SigningKeyPair;
  /** Where the public key is, when it is on disk (regions read it from there). */
  readonly publicKeyFile: string | undefined;
  readonly tokens: ClusterTokens;
}

export function authDir(baseDir: string): string {
  return join(baseDir, 'auth');
}

/** Loads `<baseDir>/auth/`'s key pair, making it on first use. */
export function ensureSigningKeys(baseDir: string): { keys: SigningKeyPair; publicKeyFile: string; created: boolean } {
  const dir = authDir(baseDir);
  const privateFile = join(dir, 'signing-key.pem');
  const publicKeyFile = join(dir, 'public-key.pem');
  if (existsSync(privateFile) && existsSync(publicKeyFile)) {
    return { keys: { privateKeyPem: readFileSync(privateFile, 'utf8'), publicKeyPem: readFileSync(publicKeyFile, 'utf8') }, publicKeyFile, created: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = generateSigningKeyPair();
  writeFileSync(privateFile, keys.privateKeyPem, { mode: 0o600 });
  chmodSync(privateFile, 0o600);
  writeFileSync(publicKeyFile, keys.publicKeyPem);
  return { keys, publicKeyFile, created: true };
}

export async function mintClusterTokens(keys: SigningKeyPair, now = Math.floor(Date.now() / 1000)): Promise<ClusterTokens> {
  const common = { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, expiresInSeconds: TOKEN_DAYS * 86_400, now };
  const [admin, writer, reader] = await Promise.all([
    signToken(keys, { ...common, subject: 'local-admin', scopes: ['admin'] }),
    signToken(keys, { ...common, subject: 'local-writer', scopes: ['write'] }),
    signToken(keys, { ...common, subject: 'local-reader', scopes: ['read'] }),
  ]);
  return { admin, writer, reader };
}

/** The cluster's key pair (made at first start) and fresh tokens. */
export async function localClusterAuth(baseDir: string): Promise<LocalAuth & { created: boolean }> {
  const { keys, publicKeyFile, created } = ensureSigningKeys(baseDir);
  return { keys, publicKeyFile, tokens: await mintClusterTokens(keys), created };
}

/** A throwaway key pair and tokens, for tests and benchmarks. */
export async function ephemeralAuth(): Promise<LocalAuth> {
  const keys = generateSigningKeyPair();
  return { keys, publicKeyFile: undefined, tokens: await mintClusterTokens(keys) };
}

/** The region settings that make it verify this auth's tokens (or run open, when `off`). */
export function regionAuthEnvironment(auth: LocalAuth | 'off'): Record<string, string> {
  if (auth === 'off') return { MERIDIAN_AUTH: 'off' };
  return {
    MERIDIAN_AUTH: 'on',
    ...(auth.publicKeyFile !== undefined ? { MERIDIAN_AUTH_PUBLIC_KEYS_FILE: auth.publicKeyFile } : { MERIDIAN_AUTH_PUBLIC_KEYS: auth.keys.publicKeyPem }),
    MERIDIAN_AUTH_ISSUER: LOCAL_ISSUER,
    MERIDIAN_AUTH_AUDIENCE: LOCAL_AUDIENCE,
  };
}
