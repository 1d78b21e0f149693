/**
 * Minting tokens for a cluster that is its own issuer (the local cluster from `meridian up`): an
 * Ed25519 key pair (small, fast to verify) and JWTs signed with it, each with a `kid` equal to
 * the public key's thumbprint so that a verifier holding several keys (a rotation) picks the
 * right one. Production deployments use their identity provider's tokens and JWKS instead.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, importPKCS8, importSPKI } from 'jose';
import type { Scope } from './access.ts';

export interface SigningKeyPair {
  /** PKCS#8 PEM: the secret. */
  readonly privateKeyPem: string;
  /** SPKI PEM: what regions verify with (MERIDIAN_AUTH_PUBLIC_KEYS). */
  readonly publicKeyPem: string;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

export interface TokenClaims {
  readonly subject: string;
  readonly scopes: readonly Scope[];
  /** Namespace names or `prefix*` patterns; absent: every namespace. */
  readonly namespaces?: readonly string[];
  readonly issuer: string;
  readonly audience: string;
  readonly expiresInSeconds: number;
  /** Seconds since the epoch (injected in tests). */
  readonly now?: number;
}

export async function signToken(keys: SigningKeyPair, claims: TokenClaims): Promise<string> {
  const privateKey = await importPKCS8(keys.privateKeyPem, 'EdDSA');
  const kid = await calculateJwkThumbprint(await exportJWK(await importSPKI(keys.publicKeyPem, 'EdDSA')));
  const iat = claims.now ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: claims.scopes.join(' '), ...(claims.namespaces ? { ns: [...claims.namespaces] } : {}) })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid })
    .setSubject(claims.subject)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + claims.expiresInSeconds)
    .sign(privateKey);
}
