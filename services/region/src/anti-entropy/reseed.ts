/**
 * A link that needs a reseed recovers by itself (DESIGN §4, §8): Kafka no longer holds updates of
 * the peer that this region has not applied, so they come through the peer's key states instead.
 *
 *  1. Read the log start and end of each of the peer's partitions, then the peer's published
 *     position over gRPC (origin actor, sequence S, outbox id O): every record below a log start
 *     was deleted, so published — and marked published — before S was read.
 *  2. Run a full exchange with the peer that repairs every differing key both ways. Its snapshot
 *     of the peer's states is taken after step 1, so it holds every update up to S.
 *  3. Only if the exchange completed (no error, no namespace it could not repair key by key), in
 *     one transaction under the peer's reseed lock: each lost partition restarts at its log start
 *     (a partition still resumable keeps its offset) — or past it, at the log start read again
 *     now if retention moved it during the exchange, up to the end read in step 1 (records Kafka
 *     held in step 1 are in the exchange's snapshot: `pastRetention`), and the origin's applied
 *     vector covers every sequence up to S (outbox id O). Then the replicator restarts from those offsets: what Kafka
 *     still holds is consumed again; sequences up to S are duplicates the vector drops, later ones
 *     apply (the states join), so nothing is lost and nothing applies twice. A link that failed on
 *     a gap in the origin's sequences rather than on an offset (a topic recreated and refilled past
 *     the stored offsets) restarts every partition at its log start: the offsets cannot say which
 *     partition skipped records.
 *
 * Several replicas of the region may reseed the same link: the lock serialises the commits, and a
 * replica that finds the stored offsets resumable, or the stored need of a reseed deleted (another
 * one reseeded), only restarts its link.
 */
import { runExchange, type ExchangeReport, type ReplicaSummary, type TokenBucket, type TreeReplica } from '@meridian/anti-entropy';
import type { NamespacePolicy, PgStore } from '@meridian/store';
import { standIn } from '../replication/namespace-declaration.ts';
import { AppliedVector } from '@meridian/replication-link';
import type { LocalReplica } from './local-replica.ts';
import { bootstrapOffsets, pastRetention, restartOffsets, type SequenceGap, type Watermark } from '../replication/reseed-plan.ts';

/** What a reseed needs of a replication link (a `PeerReplicator`). */
export interface ReseedableLink {
  readonly peer: string;
  readonly needsReseed: boolean;
  /** Set when the link failed on a gap in an origin's sequences, not on an offset: every partition restarts. */
  readonly sequenceGap?: SequenceGap | undefined;
  watermarks(): Promise<Map<number, Watermark>>;
  restartAfterReseed(): Promise<void>;
  noteReseedFailure(message: string): void;
}

export interface ReseedOutcome {
  /** 'reseeded': this replica stored the restart position; 'already': another replica had. */
  readonly outcome: 'reseeded' | 'already';
  /** The peer's published position the applied vector now covers (undefined: another replica's reseed). */
  readonly published: { readonly origin: string; readonly sequence: bigint; readonly outboxId: bigint } | undefined;
  /** Partition → the offset the link restarts at (the partitions whose offset changed). */
  readonly restarted: ReadonlyMap<number, bigint>;
  /** The repairing exchange (undefined: another replica's reseed). */
  readonly report: ExchangeReport | undefined;
}

export interface ReseedDeps {
  readonly store: PgStore;
  readonly local: LocalReplica;
  readonly remote: TreeReplica;
  readonly link: ReseedableLink;
  readonly limiter?: TokenBucket;
  /** How long the exchange waits before confirming a difference (default 500 ms). */
  readonly confirmAfterMs?: number;
}

export async function reseedLink(deps: ReseedDeps): Promise<ReseedOutcome> {
  const gap = deps.link.sequenceGap;
  // Another replica of this region may have reseeded the link already: then it only restarts here.
  const outcome = await seedFromPeer(deps, (stored, marks) => restartOffsets(stored, marks, gap !== undefined), gap, false, true);
  await deps.link.restartAfterReseed();
  return outcome;
}

/**
 * A joining region's link, before its consumer first starts (DESIGN §8, docs/decisions/0014):
 * the same steps as a reseed, from a link that has consumed nothing. Every partition starts at
 * the log start read in step 1 and the peer's own stream is covered up to the published position
 * read after it, so the consumer then applies exactly what the snapshot lacks. Namespaces of the
 * peer that this region has not seen are declared first as stand-ins (the peer's policy), which
 * their real declaration outranks when the stream brings it. Updates of third regions in the
 * peer's snapshot are joins the merge makes idempotent; each third region's own stream is covered
 * by this region's seeding from that region. The caller starts the consumer afterwards.
 */
export async function seedLink(deps: Omit<ReseedDeps, 'link'> & { readonly link: Pick<ReseedableLink, 'peer' | 'watermarks'> }): Promise<ReseedOutcome> {
  return seedFromPeer(deps, bootstrapOffsets, undefined, true, false, async (summary, by) => {
    const here = new Set((await deps.store.tree.roots()).map((r) => r.name));
    for (const n of summary.namespaces.filter((ns) => !here.has(ns.name))) {
      const stand = standIn(n.policy as NamespacePolicy, by);
      await deps.store.transaction((tx) => tx.declareNamespace(n.name, stand.policy, stand.by, stand.hlc));
    }
  });
}

/**
 * Steps 1–3 of a reseed or a seeding. `plan` decides the offsets from the stored ones (undefined:
 * another replica did it); `gap`: the sequence gap a reseed repairs (an earlier actor's too).
 * `whileNeeded` (a reseed): only while the link's need of one is stored — after a gap every
 * partition restarts whatever the offsets, so `plan` cannot tell that another replica's reseed
 * committed since this replica's link failed; the need that reseed deleted can. (A need this
 * process could not store: the restarted link finds the loss again and stores it.)
 */
async function seedFromPeer(
  deps: Omit<ReseedDeps, 'link'> & { readonly link: Pick<ReseedableLink, 'peer' | 'watermarks'> },
  plan: (stored: ReadonlyMap<number, bigint>, marks: ReadonlyMap<number, Watermark>) => Map<number, bigint> | undefined,
  gap: SequenceGap | undefined,
  pullOnly: boolean,
  whileNeeded: boolean,
  beforeExchange?: (summary: ReplicaSummary, peerActor: string) => Promise<void>,
): Promise<ReseedOutcome> {
  const { store, remote, link } = deps;
  const peer = link.peer;
  const rejected: string[] = [];
  const local = deps.local.observingRejections((namespace, key, reason) => rejected.push(`${namespace}/${key}: ${reason}`));
  const marks = await link.watermarks();
  const stored = await store.replication.peerOffsets(peer);
  if (!plan(stored, marks) || (whileNeeded && !(await store.replication.linkReseed(peer)))) {
    // Another replica reseeded (or the stored offsets are served again): nothing needs a reseed.
    await store.replication.setLinkReseed(peer, undefined);
    return { outcome: 'already', published: undefined, restarted: new Map(), report: undefined };
  }
  const summary = await remote.summary();
  const { published } = summary;
  if (!published) throw new Error(`${peer} does not report its published position (it runs an older version): it cannot reseed this region`);
  if (published.origin.slice(0, published.origin.lastIndexOf('.')) !== peer) throw new Error(`${peer} reports the published position of ${published.origin}`);
  await beforeExchange?.(summary, published.origin);
  const report = await runExchange(local, remote, { repair: true, pullOnly, confirmAfterMs: deps.confirmAfterMs ?? 500, ...(deps.limiter ? { limiter: deps.limiter } : {}), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
  // A namespace of the peer that this region lacks (its declaration may be among the lost records)
  // or holds under another policy: its keys were not repaired. The link stays failed, saying why.
  // (A namespace only this region has is the peer's link's business.)
  const peerNamespaces = new Set(summary.namespaces.map((n) => n.name));
  const unrepaired = report.policyMismatches.filter((ns) => peerNamespaces.has(ns));
  if (unrepaired.length > 0) throw new Error(`namespaces ${unrepaired.join(', ')} are missing here or declared with another policy: their keys cannot be repaired`);
  if (rejected.length > 0) throw new Error(`${rejected.length} state(s) of ${peer} could not be merged here (${rejected.slice(0, 3).join('; ')}): nothing of the restart position is stored`);
  // Retention may have moved log starts during the (rate-limited, long) exchange: read them again
  // and restart past what it deleted, which the repair already holds (`pastRetention`).
  const now = await link.watermarks();
  const { outcome, restarted } = await store.transaction(async (rtx) => {
    const stored = await rtx.lockPeerOffsetsForReseed(peer);
    // The link no longer needs a reseed (stored when it failed), whichever replica commits it. No
    // need stored: another replica's reseed committed while this one ran (the lock serialises them).
    const wasNeeded = await rtx.clearLinkReseed(peer);
    const planned = whileNeeded && !wasNeeded ? undefined : plan(stored, marks);
    if (!planned) return { outcome: 'already' as const, restarted: new Map<number, bigint>() };
    const restart = pastRetention(planned, marks, now);
    const changed = new Map([...restart].filter(([partition, offset]) => stored.get(partition) !== offset));
    await rtx.restartPeerOffsets(peer, [...changed].map(([partition, nextOffset]) => ({ partition, nextOffset })));
    // A gap in an earlier actor's sequences (the peer started a new incarnation since): everything
    // below the lowest sequence each partition delivered was published before the exchange's
    // snapshot, so the repair holds it too.
    const older = gap && gap.origin !== published.origin ? gap : undefined;
    const rows = await rtx.lockApplied([{ origin: published.origin, region: peer }, ...(older ? [{ origin: older.origin, region: peer }] : [])]);
    const vector = AppliedVector.fromRow(rows.get(published.origin)!);
    vector.coverUpTo(published.sequence, published.outboxId);
    const earlier = older ? AppliedVector.fromRow(rows.get(older.origin)!) : undefined;
    earlier?.coverUpTo(older!.floor - 1n, 0n);
    const covered = [vector, ...(earlier ? [earlier] : [])].filter((v) => v.changed);
    if (covered.length > 0) await rtx.saveApplied(covered.map((v) => v.toRow()));
    return { outcome: 'reseeded' as const, restarted: changed };
  });
  return { outcome, published, restarted, report };
}
