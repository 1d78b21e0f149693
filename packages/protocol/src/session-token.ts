/**
 * Session tokens (DESIGN §6), the one codec the region service and the GSLB share: a vector of
 * positions, one per origin actor, in that origin's outbox-id space. Every region answer carries
 * the token of what it reflects; a client merges the tokens it receives (element-wise max) and
 * sends the merge with its reads; the GSLB prefers regions whose applied vector covers it.
 *
 * Wire form (the `X-Meridian-Session` header): `actor:position` pairs joined by `;`, e.g.
 * `eu.1:120;us.1:87`, readable in logs and curl. `formatSession` writes no whitespace and sorts
 * actors; `parseSession` accepts whitespace around pairs, actors and positions (a hand-written
 * header), keeps a repeated actor's highest position, and compares positions as bigint (up to 19
 * digits), never as floats. Tokens are not signed: a forged token can only make a read wait
 * (bounded) or change which region is preferred, never change data.
 */
import { isActorId } from '@meridian/causality';

export type SessionVector = ReadonlyMap<string, bigint>;

export const SESSION_FORMAT = 'a session token such as "eu.1:120;us.1:87"';
export const MAX_SESSION_TOKEN_LENGTH = 4096;

/** A token that is not a session token; the message says what was expected and what was given. */
export class SessionTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionTokenError';
  }
}

export function formatSession(vector: SessionVector): string {
  return [...vector.entries()]
    .filter(([, p]) => p > 0n)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([actor, p]) => `${actor}:${p}`)
    .join(';');
}

/** Parses a token (empty or blank: the empty vector); throws a `SessionTokenError`. */
export function parseSession(token: string): SessionVector {
  const out = new Map<string, bigint>();
  if (token.trim() === '') return out;
  if (token.length > MAX_SESSION_TOKEN_LENGTH) throw new SessionTokenError(`expected ${SESSION_FORMAT} of at most ${MAX_SESSION_TOKEN_LENGTH} characters (got ${token.length})`);
  for (const part of token.split(';')) {
    const at = part.lastIndexOf(':');
    const actor = part.slice(0, Math.max(at, 0)).trim();
    const position = part.slice(at + 1).trim();
    if (at <= 0 || !isActorId(actor) || !/^\d{1,19}$/.test(position)) throw new SessionTokenError(`expected ${SESSION_FORMAT} (got ${JSON.stringify(token.slice(0, 200))})`);
    const p = BigInt(position);
    if (p > (out.get(actor) ?? 0n)) out.set(actor, p);
  }
  return out;
}

/** The element-wise maximum. */
export function mergeSessions(...vectors: SessionVector[]): SessionVector {
  const out = new Map<string, bigint>();
  for (const v of vectors) for (const [actor, p] of v) if (p > (out.get(actor) ?? 0n)) out.set(actor, p);
  return out;
}

/** True iff `applied` has reached every position of `session` (an absent actor counts as 0). */
export function coversSession(applied: SessionVector, session: SessionVector): boolean {
  for (const [actor, position] of session) if ((applied.get(actor) ?? 0n) < position) return false;
  return true;
}
