/**
 * The region's adapter over `@meridian/replication-link`'s key fold (DESIGN §4, §5): the fold
 * is pure and returns its conflicts as facts; this builds their records (trace links, skew flag)
 * with `conflict-record.ts`. Pure: no I/O.
 */
import { foldKey as foldKeyUpdates, type KeyFold as PureKeyFold, type StoredKey } from '@meridian/replication-link';
import type { UpdateRecord } from '@meridian/protocol';
import type { NamespacePolicy } from '@meridian/store';
import { policyConflict, registerConflict, type ConflictObservation } from './conflict-record.ts';

export { PAYLOAD_INVALID_CODE, groupByKey, keyId, originOf, planUpdates, touchesRow, type KeyUpdates, type StoredKey } from '@meridian/replication-link';
export type { ConflictObservation };

export interface KeyFold extends Omit<PureKeyFold, 'conflicts'> {
  readonly conflicts: readonly ConflictObservation[];
}

/** `@meridian/replication-link`'s `foldKey`, its conflicts recorded; `skewMs` flags `lww` decisions within the clock skew. */
export function foldKey(target: { readonly namespace: string; readonly key: string }, nsPolicy: NamespacePolicy, row: StoredKey | undefined, updates: readonly UpdateRecord[], skewMs: number, hlcCeiling: bigint): KeyFold {
  const fold = foldKeyUpdates(target, nsPolicy, row, updates, hlcCeiling);
  if (fold.conflicts.length === 0) return { ...fold, conflicts: [] };
  const conflicts = fold.conflicts.map((c): ConflictObservation => (c.kind === 'register' ? registerConflict(target.namespace, target.key, c.policy, c.conflict, skewMs) : policyConflict(c.update, nsPolicy)));
  return { ...fold, conflicts };
}
