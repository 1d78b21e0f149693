/**
 * Session tokens (DESIGN §6): a vector of positions, one per origin actor, in that origin's
 * outbox-id space. Every response carries the token of what it reflects; a client merges the
 * tokens it receives (element-wise max) and sends the merge with its reads.
 *
 * Wire form: `actor:position` pairs joined by `;`, e.g. `eu.1:120;us.1:87` — readable in logs
 * and curl. Tokens are not signed: a forged token can only make a read wait (bounded) or be
 * redirected, never change data.
 */
import { isActorId } from '@meridian/causality';
import { MeridianError } from './errors.ts';

export type SessionVector = ReadonlyMap<string, bigint>;

export function formatSession(vector: SessionVector): string {
  return [...vector.entries()]
    .filter(([, p]) => p > 0n)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([actor, p]) => `${actor}:${p}`)
    .join(';');
}

export function parseSession(token: string): SessionVector {
  const out = new Map<string, bigint>();
  if (token.trim() === '') return out;
  if (token.length > 4096) throw new MeridianError('MERIDIAN_INVALID_SESSION', 'session token longer than 4096 characters');
  for (const part of token.split(';')) {
    const at = part.lastIndexOf(':');
    const actor = part.slice(0, at);
    const position = part.slice(at + 1);
    if (at <= 0 || !isActorId(actor) || !/^\d{1,19}$/.test(position)) {
      throw new MeridianError('MERIDIAN_INVALID_SESSION', `expected a session token like "eu.1:120;us.1:87" (got ${JSON.stringify(token.slice(0, 200))})`);
    }
    const p = BigInt(position);
    if (p > (out.get(actor) ?? 0n)) out.set(actor, p);
  }
  return out;
}

export function mergeSessions(...vectors: SessionVector[]): SessionVector {
  const out = new Map<string, bigint>();
  for (const v of vectors) for (const [actor, p] of v) if (p > (out.get(actor) ?? 0n)) out.set(actor, p);
  return out;
}
