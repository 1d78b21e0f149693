/**
 * Bearer-token verification (JWT, with jose): the signature against static public keys (PEM or
 * a JSON Web Key Set, several at once during a rotation) or a JWKS URL fetched and cached by
 * jose, then issuer, audience and expiry, then the claims Meridian reads (access.ts).
 *
 * Every failure is one `TokenError` whose message names what was wrong and never contains the
 * token or a key: callers may put the message in a 401 body and a log line.
 *
 * A signature check costs far more than the rest of a small write's request handling, and a
 * client sends the same token with every request: a verified token is remembered (the exact
 * string, so the same bytes always meant the same verdict) until its `exp` or CACHE_SECONDS,
 * whichever comes first — a key withdrawn from a JWKS stops its tokens within CACHE_SECONDS.
 * Failures are not remembered (a flood of bad tokens cannot push good ones out).
 */
import { createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ClaimsError, principalFromClaims, type Principal } from './access.ts';

/** Signature algorithms accepted: asymmetric only (a shared HMAC secret would let every region mint tokens). */
export const TOKEN_ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'RS256', 'PS256'] as const;

export interface TokenVerifierOptions {
  /** PEM public key(s) (SPKI, concatenated) or a JWKS document (`{"keys": [...]}`). */
  readonly publicKeys?: string | undefined;
  /** A JWKS URL (an identity provider's), fetched and cached. */
  readonly jwksUrl?: string | undefined;
  readonly issuer: string;
  readonly audience: string;
  /** Seconds of clock skew tolerated on exp/nbf. */
  readonly clockToleranceSeconds?: number;
  /** Injected time (tests); seconds since the epoch. */
  readonly now?: () => number;
  /** Verified tokens remembered (0: none); default 10000. */
  readonly cacheSize?: number;
}

/** How long a verified token is trusted without checking its signature again. */
const CACHE_SECONDS = 60;

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

function algFor(jwk: JWK): string {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  if (jwk.kty === 'RSA') return 'RS256';
  throw new TokenError(`unsupported public key type ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ''} (expected Ed25519, P-256, P-384 or RSA)`);
}

/** The public key(s) as a JWKS; a PEM key gets its RFC 7638 thumbprint as `kid` (the issuer's `kid`). */
export async function publicKeySet(text: string): Promise<{ keys: JWK[] }> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new TokenError('expected the public keys to be PEM or a JSON Web Key Set (got unparsable JSON)');
    }
    const keys = (parsed as { keys?: unknown }).keys;
    if (!Array.isArray(keys) || keys.length === 0) throw new TokenError('expected a JSON Web Key Set with at least one key');
    return { keys: keys as JWK[] };
  }
  const pems = trimmed.match(PEM_BLOCK);
  if (!pems) throw new TokenError('expected the public keys to be PEM (BEGIN PUBLIC KEY) or a JSON Web Key Set');
  const keys: JWK[] = [];
  for (const pem of pems) {
    let jwk: JWK;
    try {
      jwk = createPublicKey(pem).export({ format: 'jwk' });
    } catch {
      throw new TokenError('a PEM public key could not be read');
    }
    keys.push({ ...jwk, alg: algFor(jwk), use: 'sig', kid: await calculateJwkThumbprint(jwk) });
  }
  return { keys };
}

/** Plain words for jose's failures; none quotes the token. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not accepted here`;
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token is not signed by a known key';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token\'s signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token\'s signature algorithm is not accepted';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'the signing keys could not be fetched';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'the token is malformed';
  return 'the token could not be verified';
}

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  let keys: JWTVerifyGetKey;
  if (options.publicKeys !== undefined) keys = createLocalJWKSet(await publicKeySet(options.publicKeys));
  else if (options.jwksUrl !== undefined) keys = createRemoteJWKSet(new URL(options.jwksUrl));
  else throw new TokenError('expected public keys or a JWKS URL');
  const now = options.now;
  const verifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    algorithms: [...TOKEN_ALGORITHMS],
    clockTolerance: options.clockToleranceSeconds ?? 30,
    requiredClaims: ['exp', 'sub'],
  };
  const clock = now ?? ((): number => Date.now() / 1000);
  const cacheSize = options.cacheSize ?? 10_000;
  const verified = new Map<string, { principal: Principal; until: number }>();
  const verifyOnce = async (token: string): Promise<JWTPayload> => {
    const opts = now ? { ...verifyOptions, currentDate: new Date(now() * 1000) } : verifyOptions;
    try {
      return (await jwtVerify(token, keys, opts)).payload;
    } catch (error) {
      // Several keys and a token without `kid` (a rotation): try each in turn.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      let last: unknown = error;
      for await (const key of error) {
        try {
          return (await jwtVerify(token, key, opts)).payload;
        } catch (inner) {
          last = inner;
        }
      }
      throw last;
    }
  };
  return {
    async verify(token) {
      const known = verified.get(token);
      if (known !== undefined) {
        if (clock() < known.until) return known.principal;
        verified.delete(token);
      }
      let payload: JWTPayload;
      try {
        payload = await verifyOnce(token);
      } catch (error) {
        throw new TokenError(describe(error));
      }
      let principal: Principal;
      try {
        principal = principalFromClaims(payload);
      } catch (error) {
        if (error instanceof ClaimsError) throw new TokenError(error.message);
        throw error;
      }
      if (cacheSize > 0) {
        // Oldest first out: a Map iterates in insertion order.
        if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
        verified.set(token, { principal, until: Math.min(payload.exp!, clock() + CACHE_SECONDS) });
      }
      return principal;
    },
  };
}
