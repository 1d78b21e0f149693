/**
 * Merging a replicated register state into the stored one (DESIGN §4, §5). Pure.
 *
 * The incoming payload is the origin key's WHOLE version set (shipping one version plus a clock
 * would delete siblings here). `sync` keeps a version unless the other side has seen its dot
 * without keeping it. The two states were concurrent — a conflict — when each side brings a
 * version the other has not seen: some incoming version is new here, and some stored version is
 * unknown to the incoming context. Concurrency is decided from dots only, never from clocks.
 *
 * Resolution by policy: `mv` keeps every concurrent version as a sibling; `lww` keeps the
 * highest (HLC, dot) and drops the others while keeping their dots in the context (`retain`), so
 * every region keeps the same winner and a loser is never resurrected.
 *
 * A conflict's id is a hash of the namespace, the key and the concurrent dots (dots are minted
 * per key, so the dots alone would collide across keys), so every region that observes the same
 * conflict records the same id.
 */
import { createHash } from 'node:crypto';
import { dotKey, hlcPhysical, type Version } from '@meridian/causality';
import { lwwWinner, type RegisterPolicy, type RegisterSet, type RegisterVersion } from './register-state.ts';

export interface RegisterConflict {
  readonly id: string;
  /** The concurrent versions: those each side had that the other had not seen. */
  readonly versions: readonly Version<RegisterVersion>[];
  readonly outcome: { readonly kind: 'siblings'; readonly kept: readonly string[] } | { readonly kind: 'lww'; readonly winner: string; readonly dropped: readonly string[] };
}

export interface RegisterMerge {
  readonly next: RegisterSet;
  /** The stored state changes (false: the incoming state was already covered). */
  readonly changed: boolean;
  readonly conflict: RegisterConflict | undefined;
}

export function conflictId(namespace: string, key: string, versions: readonly Version<unknown>[]): string {
  const dots = versions.map((v) => dotKey(v.dot)).sort();
  return createHash('sha256').update(JSON.stringify([namespace, key, dots])).digest('hex').slice(0, 32);
}

export function mergeRegister(namespace: string, key: string, stored: RegisterSet, incoming: RegisterSet, policy: RegisterPolicy): RegisterMerge {
  // A version a side has not seen is one whose dot is outside that side's context (a set's live
  // versions' dots are always inside its own). Only both sides bringing one makes a conflict.
  const fromIncoming = incoming.versions().filter((v) => !stored.causalContext().contains(v.dot));
  const fromStored = fromIncoming.length === 0 ? [] : stored.versions().filter((v) => !incoming.causalContext().contains(v.dot));
  let next = stored.sync(incoming);
  let conflict: RegisterConflict | undefined;
  if (fromIncoming.length > 0 && fromStored.length > 0) {
    const versions = [...fromStored, ...fromIncoming];
    if (policy === 'lww') {
      const winner = lwwWinner(next.versions())!;
      next = next.retain((v) => v === winner || dotKey(v.dot) === dotKey(winner.dot));
      conflict = {
        id: conflictId(namespace, key, versions),
        versions,
        outcome: { kind: 'lww', winner: dotKey(winner.dot), dropped: versions.map((v) => dotKey(v.dot)).filter((d) => d !== dotKey(winner.dot)) },
      };
    } else {
      conflict = { id: conflictId(namespace, key, versions), versions, outcome: { kind: 'siblings', kept: next.versions().map((v) => dotKey(v.dot)) } };
    }
  } else if (policy === 'lww' && next.size() > 1) {
    // Not a new conflict here, but never hold more than the winner.
    const winner = lwwWinner(next.versions())!;
    next = next.retain((v) => dotKey(v.dot) === dotKey(winner.dot));
  }
  const changed = !next.causalContext().equals(stored.causalContext()) || next.size() !== stored.size();
  return { next, changed, conflict };
}

/**
 * Whether an LWW decision between these versions fell inside the clock-skew window: their HLCs'
 * physical parts are closer than the skew estimated between the regions, so "last" may be an
 * artefact of clocks rather than of real time.
 */
export function withinSkew(versions: readonly Version<RegisterVersion>[], skewMs: number): boolean {
  const times = versions.map((v) => hlcPhysical(v.value.hlc));
  return Math.max(...times) - Math.min(...times) <= skewMs;
}
