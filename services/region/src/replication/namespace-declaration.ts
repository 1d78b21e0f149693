/**
 * Which declaration of a namespace a region keeps (DESIGN §2, §11). Pure: no I/O.
 *
 * Concurrent declarations of one name with different policies: the earliest (HLC, then actor id)
 * wins everywhere, whatever the delivery order — `declare` is a max (a min by rank) over the
 * declarations a region has received, so every region that received the same declarations keeps
 * the same one.
 *
 * A stand-in is what a region keeps when an update arrives before any declaration of its
 * namespace (the declaration travels on another region's link): the update's policy, by the
 * update's origin, at `STAND_IN_HLC`, the largest HLC a row can store, so that it ranks after
 * every real declaration and any real declaration replaces it. (Ranked by the update's own HLC,
 * as it once was, a stand-in from a region whose clock is behind could outrank the real winner,
 * and the region kept another policy for good.) A real declaration at or beyond `STAND_IN_HLC`
 * cannot be ranked (nor stored in a PostgreSQL bigint): it is refused, to be dead-lettered.
 */
import type { NamespacePolicy } from '@meridian/store';

/** 2^63 - 1: PostgreSQL's largest bigint, the rank of a stand-in. */
export const STAND_IN_HLC = (1n << 63n) - 1n;

export interface Declaration {
  readonly policy: NamespacePolicy;
  /** The declaring actor (`region.epoch`). */
  readonly by: string;
  readonly hlc: bigint;
}

/** Whether `a` ranks before (wins over) `b`: earlier HLC, then lower actor id. */
export function outranks(a: Declaration, b: Declaration): boolean {
  return a.hlc < b.hlc || (a.hlc === b.hlc && a.by < b.by);
}

/** The stand-in an early update of an undeclared namespace creates. */
export function standIn(policy: NamespacePolicy, by: string): Declaration {
  return { policy, by, hlc: STAND_IN_HLC };
}

export function isStandIn(d: Declaration): boolean {
  return d.hlc === STAND_IN_HLC;
}

export type DeclarationStep =
  /** No declaration was kept: the incoming one is. */
  | { readonly kind: 'create' }
  /** The kept one stays; `conflict` when the incoming one has another policy (it lost). */
  | { readonly kind: 'keep'; readonly conflict: boolean }
  /** The incoming one replaces the kept one; `conflict` when the policy changes (the keys written under the old one are displaced). */
  | { readonly kind: 'replace'; readonly conflict: boolean }
  /** The incoming one cannot be ranked: dead-letter it. */
  | { readonly kind: 'refuse'; readonly reason: string };

/** What a region does with an incoming declaration, given the one it keeps. */
export function declare(kept: Declaration | undefined, incoming: Declaration): DeclarationStep {
  if (incoming.hlc >= STAND_IN_HLC) {
    return { kind: 'refuse', reason: `its HLC ${incoming.hlc} is beyond the range a declaration can be ranked in and stored (below 2^63 - 1): a clock far in the future` };
  }
  if (!kept) return { kind: 'create' };
  const conflict = kept.policy !== incoming.policy;
  return outranks(incoming, kept) ? { kind: 'replace', conflict } : { kind: 'keep', conflict };
}

/** The declaration kept after `step` (for models and tests: the store applies the step itself). */
export function afterStep(kept: Declaration | undefined, incoming: Declaration, step: DeclarationStep): Declaration | undefined {
  return step.kind === 'create' || step.kind === 'replace' ? incoming : kept;
}
