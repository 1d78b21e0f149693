/**
 * Session tokens as the GSLB reads them (DESIGN §6): `actor:position` pairs joined by `;`, e.g.
 * `eu.1:120;us.1:87`, the same wire form the region service writes. The GSLB only asks one
 * question of a token: does a region's applied vector cover it (every actor's position at or
 * below what the region has applied from that actor)? A region that covers the client's token
 * can serve its reads without waiting (read-your-writes, monotonic reads).
 *
 * Tokens are not signed: a forged token can only change which region is preferred, never data.
 * Positions are compared as bigint (up to 19 digits), never as floats.
 */
import { isActorId } from '@meridian/causality';

export type SessionVector = ReadonlyMap<string, bigint>;

export const SESSION_FORMAT = 'a session token such as "eu.1:120;us.1:87"';
const MAX_TOKEN_LENGTH = 4096;

/** Parses a token; throws an Error whose message says what was expected. Empty → empty vector. */
export function parseSessionToken(token: string): SessionVector {
  const out = new Map<string, bigint>();
  if (token.trim() === '') return out;
  if (token.length > MAX_TOKEN_LENGTH) throw new Error(`${SESSION_FORMAT} of at most ${MAX_TOKEN_LENGTH} characters`);
  for (const part of token.split(';')) {
    const at = part.lastIndexOf(':');
    const actor = part.slice(0, at).trim();
    const position = part.slice(at + 1).trim();
    if (at <= 0 || !isActorId(actor) || !/^\d{1,19}$/.test(position)) throw new Error(SESSION_FORMAT);
    // A repeated actor keeps its highest position, as the element-wise merge would.
    const p = BigInt(position);
    if (p > (out.get(actor) ?? 0n)) out.set(actor, p);
  }
  return out;
}

/** True iff `applied` has reached every position of `session` (an absent actor counts as 0). */
export function coversSession(applied: SessionVector, session: SessionVector): boolean {
  for (const [actor, position] of session) if ((applied.get(actor) ?? 0n) < position) return false;
  return true;
}
