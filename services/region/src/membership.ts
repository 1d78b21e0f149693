/**
 * A region's membership at run time (docs/decisions/0014-region-membership.md): the peer regions
 * it consumes, compares with and redirects to, from the stored table (`meridian_members`).
 *
 * - At start the configured peers (MERIDIAN_PEERS, _PEER_URLS, _PEER_GRPC) seed the table: a new
 *   one becomes a member, a member's addresses follow the configuration, a region an operator
 *   removed stays removed (a warning names it).
 * - `add` / `remove` (the admin endpoints `PUT` / `DELETE /v1/members/:region`) store the change
 *   and apply it here at once; every other replica of the region follows the table within
 *   SYNC_MS. Nothing restarts: a new member's link starts consuming its topic from the beginning
 *   (or from its stored offsets when it was a member before), its anti-entropy rounds start, its
 *   URL becomes a fallback target. A removed member's link stops, its rounds stop, and its
 *   session positions are no longer demanded.
 * - A removed region is added back only with `fresh` (MERIDIAN_REGION_REMOVED otherwise): it must
 *   have been wiped and joined anew. Its merges are refused meanwhile (repair-merge.ts).
 * - Removal refuses (MERIDIAN_LINK_NOT_DRAINED) unless the link from the region has applied
 *   everything the region reported as published (`drainRefusal`), or `force` is given: what it
 *   acknowledged and no peer applied is then gone with it.
 */
import type { MemberAddress, MemberRow, PgStore } from '@meridian/store';
import type { TreeReplica } from '@meridian/anti-entropy';
import { MeridianError } from './errors.ts';
import type { PeerStatus, Replication } from './replication/replication.ts';
import type { Logger } from './replication/logger.ts';

/** How often a replica of the region re-reads the stored membership (another replica's changes). */
export const SYNC_MS = 2000;

/**
 * Why the link from a region to be removed is not drained (undefined: drained). Drained means
 * this region applied every update the region reported as published in its latest heartbeat;
 * what it has not published yet (an outbox backlog, writes still arriving) no heartbeat can show:
 * stop its writes first (take it out of the GSLB) and let its relay finish.
 */
export function drainRefusal(region: string, link: PeerStatus | undefined): string | undefined {
  if (!link) return undefined; // not consumed here: nothing to drain
  if (link.needsReseed || link.state === 'failed') return `the link from ${region} is failed (${link.reason ?? 'needs a reseed'}): updates it acknowledged may be missing here`;
  // Heartbeats travel in the stream: a paused link's last one says nothing of what waits behind it.
  if (link.state === 'paused') return `the link from ${region} is paused (${link.reason ?? 'paused'}): what waits in its Kafka is not applied here`;
  if (link.lagSequence === null) return `no heartbeat from ${region} has arrived: how far its stream goes is unknown here`;
  if (link.lagSequence > 0) return `${link.lagSequence} update(s) ${region} published are not applied here yet`;
  return undefined;
}

export interface MembershipDeps {
  readonly store: PgStore;
  readonly region: string;
  readonly replication: Replication | undefined;
  /** Peer → anti-entropy client: shared, live, with the continuous loop and the seeding of links. */
  readonly replicas: Map<string, TreeReplica & { close(): void }>;
  readonly newReplica: (peer: string, address: string) => TreeReplica & { close(): void };
  /** Peer → public URL: shared, live, with the app (fallback redirects). */
  readonly peerUrls: Map<string, string>;
  /** Regions whose session positions are no longer demanded (the write path's set). */
  readonly removedRegions: Set<string>;
  /** The continuous loop, told to forget a removed peer. */
  readonly forget?: (peer: string) => void;
  readonly reseedNote: (peer: string, grpc: string | undefined) => string;
  readonly log: Logger;
}

export interface MemberView {
  readonly region: string;
  readonly kafka: string;
  readonly url: string | null;
  readonly grpc: string | null;
  readonly state: MemberRow['state'];
  readonly reason: string | null;
  readonly changedAt: string;
  /** The link consuming the member's topic here (absent for a removed region, or replication off). */
  readonly link?: PeerStatus;
}

export class Membership {
  readonly #d: MembershipDeps;
  #rows: MemberRow[] = [];
  /** The gRPC address each replica was made for (a moved address makes a new client). */
  readonly #grpcOf = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> = Promise.resolve();

  constructor(deps: MembershipDeps) {
    this.#d = deps;
  }

  /** Applies the stored membership (seeded from the configuration: `seedMembers`) and follows it; the caller then starts replication. */
  async start(): Promise<void> {
    await this.sync();
    this.#timer = setInterval(() => void this.sync().catch((error: unknown) => this.#d.log.warn({ err: error }, 'membership: refresh failed')), SYNC_MS);
  }

  stop(): Promise<void> {
    clearInterval(this.#timer);
    return this.#syncing;
  }

  /** The regions that are members now (removed ones excluded). */
  memberIds(): string[] {
    return this.#rows.filter((r) => r.state === 'member').map((r) => r.region);
  }

  /** The stored members as last applied (members first). */
  members(): MemberView[] {
    const links = this.#d.replication?.status().peers ?? {};
    return this.#rows.map((r) => ({
      region: r.region,
      kafka: r.kafka,
      url: r.url ?? null,
      grpc: r.grpc ?? null,
      state: r.state,
      reason: r.reason ?? null,
      changedAt: r.changedAt.toISOString(),
      ...(links[r.region] ? { link: links[r.region] } : {}),
    }));
  }

  /**
   * Adds a member (or moves its addresses) and applies it here. A removed region comes back only
   * with `fresh` — the operator's word that it was wiped and joined anew (MERIDIAN_JOIN=on): as it
   * was, it may hold values deleted here whose tombstones the GC purged once it stopped waiting
   * for it, and its anti-entropy would bring them back.
   */
  async add(address: MemberAddress, fresh = false): Promise<MemberView> {
    if (address.region === this.#d.region) throw new MeridianError('MERIDIAN_VALIDATION', `${address.region} is this region: a region is not its own peer`);
    const stored = (await this.#d.store.members.members()).find((r) => r.region === address.region);
    if (stored?.state === 'removed' && !fresh) {
      throw new MeridianError(
        'MERIDIAN_REGION_REMOVED',
        `${address.region} was removed from region ${this.#d.region} (${stored.reason ?? 'removed'}): it may still hold values deleted and purged here since. Wipe its database, start it with MERIDIAN_JOIN=on, then add it with fresh=true`,
      );
    }
    await this.#d.store.members.addMember(address, stored?.state === 'removed' ? 'added back by an operator, joined fresh' : 'added by an operator');
    await this.sync();
    return this.members().find((m) => m.region === address.region)!;
  }

  /** Removes a member: refused unless its link is drained, or `force`. */
  async remove(region: string, force: boolean): Promise<{ member: MemberView; forced: string | undefined }> {
    const row = this.#rows.find((r) => r.region === region);
    if (!row) throw new MeridianError('MERIDIAN_NOT_FOUND', `${region} is not a member of region ${this.#d.region}`);
    await this.#d.replication?.refresh();
    const refusal = drainRefusal(region, this.#d.replication?.status().peers[region]);
    if (refusal && !force) throw new MeridianError('MERIDIAN_LINK_NOT_DRAINED', `${refusal}; removing ${region} now would give up those writes here. Stop writes to ${region}, wait until its link is drained, or remove it with force`);
    await this.#d.store.members.removeMember(region, refusal ? `removed by an operator with force: ${refusal}` : 'removed by an operator');
    if (refusal) this.#d.log.warn({ peer: region, refusal }, `membership: ${region} removed with force; ${refusal}`);
    await this.sync();
    return { member: this.members().find((m) => m.region === region)!, forced: refusal };
  }

  /** Reads the stored membership and makes the running links, clients and URLs follow it (one at a time). */
  sync(): Promise<void> {
    const run = this.#syncing.then(() => this.#apply());
    this.#syncing = run.catch(() => undefined);
    return run;
  }

  async #apply(): Promise<void> {
    const d = this.#d;
    const rows = await d.store.members.members();
    const members = rows.filter((r) => r.state === 'member');
    const wanted = new Set(members.map((r) => r.region));
    for (const m of members) {
      await d.replication?.addPeer(m.region, m.kafka.split(','), d.reseedNote(m.region, m.grpc));
      if (m.url !== undefined) d.peerUrls.set(m.region, m.url);
      else d.peerUrls.delete(m.region);
      if (m.grpc !== undefined && this.#grpcOf.get(m.region) !== m.grpc) {
        d.replicas.get(m.region)?.close();
        d.replicas.set(m.region, d.newReplica(m.region, m.grpc));
        this.#grpcOf.set(m.region, m.grpc);
      } else if (m.grpc === undefined && d.replicas.has(m.region)) {
        d.replicas.get(m.region)!.close();
        d.replicas.delete(m.region);
        this.#grpcOf.delete(m.region);
      }
      d.removedRegions.delete(m.region);
    }
    for (const peer of new Set([...d.replicas.keys(), ...d.peerUrls.keys(), ...(d.replication?.replicators.map((r) => r.peer) ?? [])])) {
      if (wanted.has(peer)) continue;
      await d.replication?.removePeer(peer);
      d.replicas.get(peer)?.close();
      d.replicas.delete(peer);
      this.#grpcOf.delete(peer);
      d.peerUrls.delete(peer);
      d.forget?.(peer);
    }
    for (const r of rows) if (r.state === 'removed') d.removedRegions.add(r.region);
    this.#rows = [...members, ...rows.filter((r) => r.state === 'removed')];
  }
}
