/**
 * The in-memory half of a set-based apply (DESIGN §4, §5). Pure: no I/O.
 *
 * - `planUpdates`: a batch's updates grouped by key (keys in (namespace, key) order, each key's
 *   updates in origin-sequence order), duplicates dropped first: an update whose sequence the
 *   applied vector already has — at or below the watermark, above it, or earlier in this very
 *   batch — is counted and dropped before any merge; every other one is marked applied.
 * - `foldKey`: one key's updates merged, one after the other, into its stored state, with the
 *   same rules as applying them one at a time: registers join the incoming version set with the
 *   stored one (dominated → unchanged, dominating → replaces, concurrent → a conflict, resolved
 *   by the policy, with a deterministic id and a skew flag for `lww`); CRDTs join the delta
 *   (counted as a concurrent merge when neither side had seen the other); an update written
 *   under another policy than the namespace's is kept in a `namespace-policy-update` conflict
 *   record and not applied. The key's new state is encoded once, at the end, if anything changed.
 *   An update whose payload is invalid — it does not fit the policy, or cannot be decoded or
 *   merged — is not applied and stops the fold: it is `rejected` (to be dead-lettered, code
 *   `PAYLOAD_INVALID_CODE`), the updates before it are kept and the ones after it are held
 *   behind it. Each payload is decoded once: validating it is decoding it.
 */
import { DvvSet } from '@meridian/causality';
import { crdtKind, decodeRegisterSet, decodeRegisterSetExact, encodeRegisterSet, mergeRegister, type RegisterMerge, type RegisterPolicy, type RegisterSet, type RegisterVersion } from '@meridian/crdt';
import { payloadKindOf, type Policy, type UpdateRecord } from '@meridian/protocol';
import type { RegisterConflict } from '@meridian/crdt';
import type { AppliedVector } from './applied-vector.ts';

type NamespacePolicy = Policy;

/** The dead-letter code of an update whose envelope decodes but whose payload is invalid. */
export const PAYLOAD_INVALID_CODE = 'MERIDIAN_PAYLOAD_INVALID';

export interface KeyUpdates {
  readonly namespace: string;
  readonly key: string;
  /** `JSON.stringify([namespace, key])`, as `ReplicationTx.quarantinedAmong` names keys. */
  readonly id: string;
  readonly updates: readonly UpdateRecord[];
}

export const keyId = (namespace: string, key: string): string => JSON.stringify([namespace, key]);

/**
 * A conflict the fold observed, as facts: the caller builds its record (the region service's
 * `conflict-record.ts` adds the trace links and the skew flag).
 * - `register`: concurrent versions of an `lww` or `mv` key, resolved by `policy`.
 * - `namespace`: `update` was written under another policy than the namespace's; not applied.
 */
export type FoldConflict =
  | { readonly kind: 'register'; readonly policy: RegisterPolicy; readonly conflict: RegisterConflict }
  | { readonly kind: 'namespace'; readonly update: UpdateRecord };

export const originOf = (r: { readonly origin: { readonly region: string; readonly epoch: number } }): string => `${r.origin.region}.${r.origin.epoch}`;

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Groups updates by key: keys in the order they first appear, each key's updates in the given order. */
export function groupByKey(updates: readonly UpdateRecord[]): KeyUpdates[] {
  const byKey = new Map<string, { namespace: string; key: string; id: string; updates: UpdateRecord[] }>();
  for (const u of updates) {
    const id = keyId(u.namespace, u.key);
    const group = byKey.get(id);
    if (group) group.updates.push(u);
    else byKey.set(id, { namespace: u.namespace, key: u.key, id, updates: [u] });
  }
  return [...byKey.values()];
}

/**
 * A batch's updates by key, keys in (namespace, key) order and each key's in sequence order,
 * with duplicates by sequence dropped and counted; every other update is marked applied in
 * `vectors` (one per origin of these updates). Held back or applied, a kept update is applied.
 */
export function planUpdates(updates: readonly UpdateRecord[], vectors: ReadonlyMap<string, AppliedVector>): { keys: KeyUpdates[]; duplicates: number } {
  const groups = groupByKey(updates).sort((a, b) => compareText(a.namespace, b.namespace) || compareText(a.key, b.key));
  let duplicates = 0;
  const keys: KeyUpdates[] = [];
  // The vector of the previous update's origin (a batch usually comes from one origin).
  let origin: UpdateRecord['origin'] | undefined;
  let vector: AppliedVector | undefined;
  for (const group of groups) {
    // Stable: copies of one sequence keep their arrival order.
    const ordered = group.updates.length === 1 ? group.updates : [...group.updates].sort((a, b) => (a.originSequence < b.originSequence ? -1 : a.originSequence > b.originSequence ? 1 : 0));
    const fresh: UpdateRecord[] = [];
    for (const u of ordered) {
      if (origin === undefined || u.origin.region !== origin.region || u.origin.epoch !== origin.epoch) {
        origin = u.origin;
        vector = vectors.get(originOf(u));
        if (!vector) throw new Error(`no applied vector for origin ${originOf(u)}`);
      }
      if (vector!.mark(u.originSequence, u.outboxId)) fresh.push(u);
      else duplicates++;
    }
    if (fresh.length > 0) keys.push({ namespace: group.namespace, key: group.key, id: group.id, updates: fresh });
  }
  return { keys, duplicates };
}

export interface StoredKey {
  /** undefined: the key was never written (its row was just inserted). */
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
}

export interface KeyFold {
  /** What to store, when the key changes (a new key is always stored once an update reaches it). */
  readonly save: { readonly state: Uint8Array; readonly maxHlc: bigint } | undefined;
  readonly conflicts: readonly FoldConflict[];
  /** Concurrent CRDT merges (counted, not conflicts). */
  readonly merges: number;
  /** The first update whose payload is invalid, why, and the key's updates after it (not folded: they wait behind it). */
  readonly rejected?: { readonly update: UpdateRecord; readonly reason: string; readonly held: readonly UpdateRecord[] } | undefined;
}

/** Whether any of these updates will touch the key's row (the others are policy conflicts only). */
export function touchesRow(nsPolicy: NamespacePolicy, updates: readonly UpdateRecord[]): boolean {
  return updates.some((u) => u.policy === nsPolicy);
}

/** `updates[i]` rejected: the ones after it are held. */
const rejection = (updates: readonly UpdateRecord[], i: number, reason: string): KeyFold['rejected'] => ({ update: updates[i]!, reason, held: updates.slice(i + 1) });

const wireName = (kind: UpdateRecord['payload']['kind']): string => (kind === 'register' ? 'register_state' : 'crdt_delta');

/**
 * Folds one key's updates (in order) into its stored state. `row` is the key's locked row; it
 * may be undefined only when no update has the namespace's policy (`touchesRow` is false).
 * `hlcCeiling` is the local clock's drift bound (`HybridLogicalClock.bound()`): a peer's HLC is
 * kept in the versions it ships, but the key's highest HLC — the floor of every later local
 * write's HLC — takes it only up to the bound, so a fast clock does not win every later
 * conflict on the key (and a key's `max_hlc` always fits a PostgreSQL bigint).
 */
export function foldKey(target: { readonly namespace: string; readonly key: string }, nsPolicy: NamespacePolicy, row: StoredKey | undefined, updates: readonly UpdateRecord[], hlcCeiling: bigint): KeyFold {
  const { namespace, key } = target;
  const conflicts: FoldConflict[] = [];
  let merges = 0;
  let hasState = row?.state !== undefined;
  let maxHlc = row?.maxHlc ?? 0n;
  let dirty = false;
  let register: RegisterSet | undefined;
  /** `register`'s encoding when it is an incoming state that arrived in its canonical bytes (stored as they are). */
  let registerBytes: Uint8Array | undefined;
  let crdt: unknown;
  let rejected: KeyFold['rejected'];
  const expected = payloadKindOf(nsPolicy);
  const kind = expected === 'register' ? undefined : crdtKind(nsPolicy);
  if (expected === 'crdt' && !kind) throw new Error(`no CRDT kind for policy ${nsPolicy}`);

  for (let i = 0; i < updates.length; i++) {
    const u = updates[i]!;
    if (u.policy !== nsPolicy) {
      conflicts.push({ kind: 'namespace', update: u });
      continue;
    }
    if (!row) throw new Error(`key ${namespace}/${key} was not locked before its updates were folded`);
    if (u.payload.kind !== expected) {
      rejected = rejection(updates, i, `a ${wireName(u.payload.kind)} payload does not fit policy ${nsPolicy} (it ships ${wireName(expected)})`);
      break;
    }
    // max(maxHlc, min(u.hlc, ceiling)): never lowered, never raised past the drift bound.
    const bounded = u.hlc > hlcCeiling ? hlcCeiling : u.hlc;
    const hlc = maxHlc > bounded ? maxHlc : bounded;
    // Only the incoming payload's decode and merge are guarded: a stored state that cannot be read is not this update's fault.
    let step = 'decoded';
    if (u.payload.kind === 'register') {
      register ??= row.state ? decodeRegisterSet(row.state) : DvvSet.empty<RegisterVersion>();
      let merge: RegisterMerge;
      let incoming: { set: RegisterSet; canonical: boolean };
      try {
        incoming = decodeRegisterSetExact(u.payload.state);
        step = 'merged';
        merge = mergeRegister(namespace, key, register, incoming.set, u.policy as RegisterPolicy);
      } catch (error) {
        rejected = rejection(updates, i, `its register_state cannot be ${step}: ${(error as Error).message}`);
        break;
      }
      if (merge.changed || !hasState) {
        register = merge.next;
        // The merge kept the incoming state as it is (it superseded the stored one): its bytes are the new state's encoding.
        registerBytes = merge.next === incoming.set && incoming.canonical ? u.payload.state : undefined;
        hasState = true;
        maxHlc = hlc;
        dirty = true;
      }
      if (merge.conflict) conflicts.push({ kind: 'register', policy: u.policy as RegisterPolicy, conflict: merge.conflict });
      continue;
    }
    const current: unknown = crdt ?? (row.state ? kind!.decode(row.state) : kind!.empty());
    let next: unknown;
    let concurrent: boolean;
    try {
      const delta: unknown = kind!.decode(u.payload.delta);
      step = 'merged';
      concurrent = hasState && kind!.concurrent(current, delta);
      next = kind!.join(current, delta);
    } catch (error) {
      rejected = rejection(updates, i, `its crdt_delta cannot be ${step} as a ${nsPolicy}: ${(error as Error).message}`);
      break;
    }
    if (concurrent) merges++;
    crdt = current;
    if (!hasState || !kind!.equals(next, current)) {
      crdt = next;
      hasState = true;
      maxHlc = hlc;
      dirty = true;
    }
  }
  if (!dirty) return { save: undefined, conflicts, merges, rejected };
  const state = register ? (registerBytes ?? encodeRegisterSet(register)) : kind!.encode(crdt);
  return { save: { state, maxHlc }, conflicts, merges, rejected };
}
