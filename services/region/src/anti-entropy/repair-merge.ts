/**
 * Repair's merge (DESIGN §8): a peer's full causal states of some keys, merged into this region's
 * keys through the replicator's own fold (`foldKey`: registers joined as version sets with
 * conflicts resolved by policy and recorded, CRDT states joined), in one transaction with the
 * keys locked in order. A state is safe to join any number of times, so a repair sent twice, or
 * crossing a replicated update of the same key, changes nothing the second time.
 *
 * Each key whose state changed is recorded in `meridian_repairs` (digest before and after, the
 * peer it came from) in the same transaction, traced (`meridian.repair`, always sampled) and
 * counted. A repair never touches the applied vector or the outbox: it is not an update of any
 * origin's stream, and the peer that sent it already has the merged information.
 *
 * A peer's tombstone of a register this region has no row for is not copied in when this region's
 * tombstone GC would purge it at once (decision 0012): the peer has not purged it yet, this region
 * has, and purged and absent are the same.
 *
 * Only a member may repair here (decision 0014): the tombstone GC waits only for the members, so a
 * region that is not one — removed, or never added — may still hold a live copy of a register
 * deleted and purged here, and merging it would bring the value back. In a replicated region the
 * stored membership decides, read in the merge's transaction with its row share-locked, so a
 * removal (and the purge that may follow it) cannot slip between the check and the merge; in a
 * standalone region, its configured peers. A refused merge throws `NotAMemberError`, changes
 * nothing and is told to `onRefused`.
 *
 * A state that cannot be decoded as the namespace's policy is skipped and reported (the peer's
 * row is broken; merging it would spread the damage). A namespace this region does not know, or
 * knows under another policy, is not repaired key by key: the namespace's own declaration
 * replicates, and a policy clash is a namespace-policy conflict.
 */
import { context as otelContext, trace } from '@opentelemetry/api';
import type { HybridLogicalClock } from '@meridian/causality';
import { digest } from '@meridian/crdt';
import { NotAMemberError, type KeyRepair, type KeyState } from '@meridian/anti-entropy';
import { isPolicy, payloadKindOf, type UpdateRecord } from '@meridian/protocol';
import { lockedMemberState, purgeCutoff, recordRepairs, type NamespaceRow, type PgStore, type RepairInput } from '@meridian/store';
import { mayPurge } from '@meridian/retention';
import { SpanAttribute, SpanName, meridianTracer } from '@meridian/telemetry';
import { foldKey, keyId } from '../replication/key-fold.ts';
import { registerTombstone } from '../retention/retention-loop.ts';
import type { SavedKey } from '../replication/batch-applier.ts';

export interface RepairHooks {
  onRepair?(namespace: string, peer: string): void;
  onConflict?(namespace: string, policy: string): void;
  /** After a commit: the rows the repair wrote (the write path's snapshot cache follows them). */
  onKeysSaved?(rows: readonly SavedKey[]): void;
  /** A state skipped because it could not be merged. */
  onRejected?(namespace: string, key: string, reason: string): void;
  /** A merge refused: the region offering it is not a member here. */
  onRefused?(peer: string, reason: string): void;
}

/**
 * The regions whose states a repair may merge here: the stored members (`meridian_members`, a
 * replicated region) or a fixed set (a standalone region's configured peers).
 */
export type RepairPeers = { readonly stored: true } | { readonly fixed: ReadonlySet<string> };

export class RepairMergeError extends Error {
  override readonly name = 'RepairMergeError';
}

/** The update a repair folds: the peer's whole state as the payload (a register set, or a CRDT state — itself a delta). */
function asUpdate(namespace: string, policy: NamespaceRow['policy'], peer: string, s: KeyState & { state: Uint8Array }): UpdateRecord {
  return {
    kind: 'update',
    schemaVersion: 1,
    origin: { region: peer, epoch: 1 },
    originSequence: 0n,
    outboxId: 0n,
    namespace,
    policy,
    hlc: s.maxHlc,
    traceparent: '',
    key: s.key,
    payload: payloadKindOf(policy) === 'register' ? { kind: 'register', state: s.state } : { kind: 'crdt', delta: s.state },
  };
}

/** Whether a register state is a tombstone this region's GC would purge now (a state that does not decode is for foldKey to reject). */
function purgedHere(state: Uint8Array, quarantined: boolean, cutoff: number): boolean {
  try {
    return mayPurge({ ...registerTombstone(state), quarantined }, cutoff);
  } catch {
    return false;
  }
}

export async function mergeRepairStates(
  deps: { readonly store: PgStore; readonly region: string; readonly clock: HybridLogicalClock; readonly peers: RepairPeers; readonly hooks?: RepairHooks | undefined },
  request: { readonly namespace: string; readonly policy: string; readonly fromRegion: string; readonly states: readonly KeyState[] },
): Promise<KeyRepair[]> {
  const { namespace, fromRegion } = request;
  if (!isPolicy(request.policy)) throw new RepairMergeError(`expected a policy (got ${JSON.stringify(request.policy)})`);
  const refused = (): NotAMemberError => {
    const error = new NotAMemberError(fromRegion, deps.region);
    deps.hooks?.onRefused?.(fromRegion, error.message);
    return error;
  };
  if ('fixed' in deps.peers && !deps.peers.fixed.has(fromRegion)) throw refused();
  const present = request.states.filter((s): s is KeyState & { state: Uint8Array } => s.state !== undefined);
  if (present.length === 0) {
    if ('stored' in deps.peers && (await lockedMemberState(deps.store.pool, fromRegion)) !== 'member') throw refused();
    return [];
  }
  const tracer = meridianTracer();
  const { repairs, saved, conflicts } = await deps.store.transaction(async (tx, client) => {
    if ('stored' in deps.peers) {
      // Share-locked: a removal's update waits for this merge, and the GC round after it sees its result.
      if ((await lockedMemberState(client, fromRegion)) !== 'member') throw refused();
    }
    const rtx = tx;
    const ns = (await rtx.namespacesAmong([namespace])).get(namespace);
    if (!ns) throw new RepairMergeError(`namespace ${namespace} does not exist in region ${deps.region}`);
    if (ns.policy !== request.policy) throw new RepairMergeError(`namespace ${namespace} has policy ${ns.policy} in region ${deps.region}, not ${request.policy}`);
    const sorted = [...present].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const rows = await rtx.lockKeys(sorted.map((s) => ({ namespace, key: s.key })));
    const cutoff = payloadKindOf(ns.policy) === 'register' ? await purgeCutoff(client) : undefined;
    const quarantined = cutoff === undefined ? new Set<string>() : await rtx.quarantinedAmong(sorted.map((s) => ({ namespace, key: s.key })));
    const writes: { namespace: string; key: string; state: Uint8Array; maxHlc: bigint }[] = [];
    const repairs: (KeyRepair & { traceId: string | undefined })[] = [];
    const conflicts = [];
    for (const s of sorted) {
      const row = rows.get(keyId(namespace, s.key));
      if (row?.state === undefined && cutoff !== undefined && purgedHere(s.state, quarantined.has(JSON.stringify([namespace, s.key])), cutoff)) {
        await tx.deleteEmptyKey(namespace, s.key);
        continue;
      }
      deps.clock.receive(s.maxHlc);
      const fold = foldKey({ namespace, key: s.key }, ns.policy, row, [asUpdate(namespace, ns.policy, fromRegion, s)], 0, deps.clock.bound());
      if (fold.rejected) {
        deps.hooks?.onRejected?.(namespace, s.key, fold.rejected.reason);
        if (row?.state === undefined) await tx.deleteEmptyKey(namespace, s.key);
        continue;
      }
      conflicts.push(...fold.conflicts);
      if (!fold.save) continue;
      writes.push({ namespace, key: s.key, state: fold.save.state, maxHlc: fold.save.maxHlc });
      const before = row?.state ? digest(row.state) : undefined;
      const after = digest(fold.save.state);
      // One span per repaired key, always sampled: its id goes into the repair record.
      const span = tracer.startSpan(
        SpanName.repair,
        {
          attributes: {
            [SpanAttribute.alwaysSample]: true,
            [SpanAttribute.namespace]: namespace,
            [SpanAttribute.key]: s.key,
            [SpanAttribute.policy]: ns.policy,
            [SpanAttribute.repairRegion]: deps.region,
            [SpanAttribute.repairPeer]: fromRegion,
            [SpanAttribute.repairBefore]: before ?? '',
            [SpanAttribute.repairAfter]: after,
          },
        },
        otelContext.active(),
      );
      span.end();
      const traceId = trace.isSpanContextValid(span.spanContext()) ? span.spanContext().traceId : undefined;
      repairs.push({ key: s.key, before, after, traceId });
    }
    await rtx.saveKeys(writes);
    const recorded = conflicts.length > 0 ? await rtx.recordConflicts(conflicts.map((c) => c.record)) : new Set<string>();
    const rowsOut: RepairInput[] = repairs.map((r) => ({ namespace, key: r.key, peer: fromRegion, before: r.before, after: r.after, traceId: r.traceId }));
    await recordRepairs(client, rowsOut);
    const saved: SavedKey[] = writes.map((w) => ({ namespace: ns, key: { namespace, key: w.key, state: w.state, maxHlc: w.maxHlc } }));
    return { repairs, saved, conflicts: conflicts.filter((c) => recorded.has(c.record.id)) };
  });
  for (const c of conflicts) deps.hooks?.onConflict?.(c.namespace, c.policy);
  for (let i = 0; i < repairs.length; i++) deps.hooks?.onRepair?.(namespace, fromRegion);
  if (saved.length > 0) deps.hooks?.onKeysSaved?.(saved);
  return repairs.map((r) => ({ key: r.key, before: r.before, after: r.after }));
}
