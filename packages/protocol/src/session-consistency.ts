/**
 * The consistency decision of reads and writes (DESIGN §6), pure: no I/O, time given.
 *
 * A request may name updates this region has not applied yet: through its session token
 * (`X-Meridian-Session`, positions per origin actor), or — for a CRDT operation — through the
 * causal context it read (dots the key's state here does not hold). What it may be answered
 * depends on `X-Meridian-Consistency`:
 * - `wait` (the default): poll until applied, up to `X-Meridian-Wait-Ms`, then 503;
 * - `fallback`: poll briefly (at most FALLBACK_WAIT_MS), then redirect (307) to the one region
 *   that originated every missing update (it has them), or 503 when there is no single one;
 * - `stale`: answer now and say what is missing (X-Meridian-Behind) — only where answering
 *   without those updates acknowledges nothing false: a read, or a write whose own effect does
 *   not depend on them. A CRDT operation whose context names dots not here (a remove of an add
 *   that has not arrived) is never `stale`: acknowledged, it would be undone when the add came.
 *   Such an operation waits as under `wait`.
 * Everything the request needs to be answered is decided here; the caller (the region service)
 * only polls, sleeps and answers, so reads and writes follow one rule.
 */
import { isActorId, parseActor } from '@meridian/causality';
import type { SessionVector } from './session-token.ts';

export type ConsistencyMode = 'wait' | 'fallback' | 'stale';

/** The default bound of `wait`, and the most `X-Meridian-Wait-Ms` may ask. */
export const DEFAULT_WAIT_MS = 2000;
export const MAX_WAIT_MS = 30_000;
/** `fallback` waits this long at most before redirecting (a short hiccup needs no redirect). */
export const FALLBACK_WAIT_MS = 200;
/** How often a waiting request looks again. */
export const POLL_MS = 25;

export interface ConsistencyInput {
  /** Origin actors (`region.epoch`) of the updates not applied here; empty: nothing is missing. */
  readonly missingOrigins: readonly string[];
  /** What is missing, for messages and X-Meridian-Behind (a session token, or the missing dots). */
  readonly behind: string;
  readonly mode: ConsistencyMode;
  /** Whether answering without the missing updates is honest (false: a CRDT op's context is not covered). */
  readonly staleAllowed: boolean;
  /** When the request started and now (ms, one clock). */
  readonly startedAt: number;
  readonly now: number;
  /** `X-Meridian-Wait-Ms` (or DEFAULT_WAIT_MS), already capped at MAX_WAIT_MS. */
  readonly waitMs: number;
  /** Peer regions' public URLs (fallback targets). */
  readonly peerUrls: ReadonlyMap<string, string>;
  readonly region: string;
}

export type ConsistencyDecision =
  | { readonly kind: 'proceed' }
  /** Proceed, reporting what is missing (X-Meridian-Behind). */
  | { readonly kind: 'stale'; readonly behind: string }
  /** Look again after `retryInMs`. */
  | { readonly kind: 'wait'; readonly retryInMs: number }
  /** Answer 307 to `target` (a peer's base URL). */
  | { readonly kind: 'redirect'; readonly target: string; readonly behind: string; readonly message: string }
  /** Answer 503 MERIDIAN_SESSION_NOT_COVERED. */
  | { readonly kind: 'not-covered'; readonly behind: string; readonly message: string };

export function waitBound(mode: ConsistencyMode, waitMs: number): number {
  return mode === 'fallback' ? Math.min(waitMs, FALLBACK_WAIT_MS) : waitMs;
}

/** The region of an origin actor (`eu.1` → `eu`); undefined for what is not an actor. */
export function regionOfActor(actor: string): string | undefined {
  return isActorId(actor) ? parseActor(actor).region : undefined;
}

export function decideConsistency(input: ConsistencyInput): ConsistencyDecision {
  if (input.missingOrigins.length === 0) return { kind: 'proceed' };
  const { mode, behind } = input;
  if (mode === 'stale' && input.staleAllowed) return { kind: 'stale', behind };
  // A stale request whose context is not covered is held to `wait`: stale never acknowledges it.
  const effective: ConsistencyMode = mode === 'stale' ? 'wait' : mode;
  const deadline = input.startedAt + waitBound(effective, input.waitMs);
  if (input.now < deadline) return { kind: 'wait', retryInMs: Math.max(1, Math.min(POLL_MS, deadline - input.now)) };
  if (effective === 'fallback') {
    // The origin of the missing updates has them: redirect there when they all come from one region.
    const regions = new Set(input.missingOrigins.map((a) => regionOfActor(a) ?? ''));
    const only = regions.size === 1 ? [...regions][0]! : undefined;
    const target = only && only !== input.region ? input.peerUrls.get(only) : undefined;
    if (target !== undefined) return { kind: 'redirect', target, behind, message: `this region has not applied ${behind} yet; redirecting to a region that has` };
    return { kind: 'not-covered', behind, message: `this region has not applied ${behind} yet and no single region is known to have it` };
  }
  return { kind: 'not-covered', behind, message: `this region has not applied ${behind} within ${input.waitMs} ms` };
}

/**
 * Updates of a key held back here (a quarantine: DESIGN §4): the key reflects nothing of
 * `origin` from position `from` on, although the applied vector has passed it (a held update
 * counts as handled so that the stream never stalls). `origin` undefined: a dead letter whose
 * origin actor is unknown; it came from `region`'s stream, so every actor of that region is held.
 */
export interface HeldBack {
  readonly origin: string | undefined;
  readonly region: string;
  readonly from: bigint;
}

/**
 * This region's own actors: the current one, whose every write this database holds, and the
 * earlier incarnations', held here only up to where each ended (`earlier`: that outbox id, or
 * undefined for an actor that is not an earlier one of this region). What an earlier actor wrote
 * after the copy a restore came from is only in the peers: no wait here brings it.
 */
export interface OwnActors {
  readonly self: string;
  earlier(actor: string): bigint | undefined;
}

/**
 * The session entries this region cannot answer for a key: those of other origins beyond what it
 * has applied, those of an earlier incarnation of this region beyond where it ended, and those
 * that name a position the key's held-back updates start at or after. Entries of the current
 * actor are always covered (a region has every write it made). Entries of a region removed from
 * the deployment (`removed`) are no longer demanded: its stream is no longer consumed, so no wait
 * would bring them (what it acknowledged and no peer applied is gone with it: docs/deploy.md).
 */
export function uncoveredSession(session: SessionVector, applied: ReadonlyMap<string, bigint>, held: readonly HeldBack[], own: OwnActors, removed: ReadonlySet<string> = new Set()): Map<string, bigint> {
  const missing = new Map<string, bigint>();
  for (const [actor, position] of session) {
    if (actor === own.self) continue;
    if (removed.size > 0 && removed.has(regionOfActor(actor) ?? '')) continue;
    const ownUpTo = own.earlier(actor);
    if (ownUpTo !== undefined) {
      if (ownUpTo < position) missing.set(actor, position);
      continue;
    }
    const heldBack = held.some((h) => (h.origin === undefined ? regionOfActor(actor) === h.region : h.origin === actor) && position >= h.from);
    if (heldBack || (applied.get(actor) ?? 0n) < position) missing.set(actor, position);
  }
  return missing;
}

/**
 * The applied positions a read of a key may claim in its session token: for an origin whose
 * updates of the key are held back, only the positions before the first held one (the key
 * reflects nothing from there on). Claiming more would make the region's own next read of the key
 * with that token behind; claiming less than the key reflects is impossible (every later update of
 * the key is held too).
 */
export function claimableApplied(applied: ReadonlyMap<string, bigint>, held: readonly HeldBack[]): Map<string, bigint> {
  const claim = new Map(applied);
  for (const h of held) {
    for (const [actor, position] of claim) {
      const holds = h.origin === undefined ? regionOfActor(actor) === h.region : h.origin === actor;
      if (holds && position >= h.from) claim.set(actor, h.from - 1n);
    }
  }
  return claim;
}
