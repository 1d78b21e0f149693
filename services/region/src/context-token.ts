/**
 * Causal-context tokens: what a client read, handed back on its next write so that the write
 * supersedes exactly the versions the client saw.
 *
 * A token is `<payload>.<mac>` (base64url): the payload is an encoded version vector or causal
 * context, the mac an HMAC-SHA256 (truncated to 128 bits) over the namespace, the key and the
 * payload under the deployment's secret, shared by every region. Dots are minted per key, so a
 * token is bound to its key: replaying one key's context on another would silently supersede
 * versions the client never saw. A forged or altered token is refused; an unknown dot inside a
 * genuine token is legitimate (it was minted in a region whose update has not arrived yet).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { CausalContext, VersionVector } from '@meridian/causality';
import { MeridianError } from './errors.ts';

const KIND_VECTOR = 0x76; // 'v'
const KIND_CONTEXT = 0x63; // 'c'

function mac(secret: string, namespace: string, key: string, payload: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(namespace).update('\0').update(key).update('\0').update(payload).digest().subarray(0, 16);
}

function seal(secret: string, namespace: string, key: string, kind: number, body: Uint8Array): string {
  const payload = new Uint8Array(body.length + 1);
  payload[0] = kind;
  payload.set(body, 1);
  return `${Buffer.from(payload).toString('base64url')}.${mac(secret, namespace, key, payload).toString('base64url')}`;
}

function open(secret: string, namespace: string, key: string, token: string): { kind: number; body: Uint8Array } {
  const invalid = (why: string): MeridianError => new MeridianError('MERIDIAN_INVALID_CONTEXT', `invalid context token: ${why}`);
  if (typeof token !== 'string' || token.length > 1_000_000) throw invalid('not a token');
  const dot = token.indexOf('.');
  if (dot <= 0 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) throw invalid('expected <payload>.<signature>');
  const payload = Buffer.from(token.slice(0, dot), 'base64url');
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(secret, namespace, key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('signature does not match (forged, altered, or from another key)');
  if (payload.length < 1) throw invalid('empty payload');
  return { kind: payload[0]!, body: new Uint8Array(payload.buffer, payload.byteOffset + 1, payload.length - 1) };
}

export class ContextTokens {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  signVector(namespace: string, key: string, vector: VersionVector): string {
    return seal(this.#secret, namespace, key, KIND_VECTOR, vector.encode());
  }

  signContext(namespace: string, key: string, context: CausalContext): string {
    return seal(this.#secret, namespace, key, KIND_CONTEXT, context.encode());
  }

  /** The version vector a register's token carries. */
  verifyVector(namespace: string, key: string, token: string): VersionVector {
    const { kind, body } = open(this.#secret, namespace, key, token);
    try {
      if (kind === KIND_VECTOR) return VersionVector.decode(body);
    } catch {
      // fall through: a genuine signature over an undecodable payload is still refused
    }
    throw new MeridianError('MERIDIAN_INVALID_CONTEXT', 'invalid context token: undecodable payload');
  }

  verifyContext(namespace: string, key: string, token: string): CausalContext {
    const { kind, body } = open(this.#secret, namespace, key, token);
    try {
      if (kind === KIND_CONTEXT) return CausalContext.decode(body);
      if (kind === KIND_VECTOR) return CausalContext.fromVector(VersionVector.decode(body));
    } catch {
      // fall through
    }
    throw new MeridianError('MERIDIAN_INVALID_CONTEXT', 'invalid context token: undecodable payload');
  }
}
