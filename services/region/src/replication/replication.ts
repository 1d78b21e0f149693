/**
 * A region's replication: its outbox relay, one replicator per peer, and the lag monitor that
 * turns peers' heartbeats into lag (seconds and sequence numbers) and link states. It answers
 * `GET /v1/replication`, readiness checks (local only: this region's Kafka, relay and
 * replicators — never a peer's health). Session coverage is judged from the store, with the data
 * (@meridian/protocol's session-consistency.ts).
 */
import { logLevel, type Admin, type Kafka } from 'kafkajs';
import type { HybridLogicalClock } from '@meridian/causality';
import type { PgStore, AppliedPosition, HeartbeatRow } from '@meridian/store';
import { createKafka, type KafkaClientSecurity } from './kafka-client.ts';
import { OutboxRelay } from './outbox-relay.ts';
import { PeerReplicator, RedriveError, type ReplicatorHooks } from './peer-replicator.ts';
import { addLagSample, linkLag, skewEstimateMs, type LagSample, type LinkHeartbeat, type LinkState } from '@meridian/replication-link';
import type { Logger } from './logger.ts';
import type { HealthCheck } from '../health.ts';

/**
 * Whether readiness still waits for a link started with the process: until it has streamed once,
 * unless paused, or — past the grace period — unless its peer is silent (a dead peer must not keep
 * a surviving region unready). A joining region's link (seeding, then reading what the seed left)
 * is waited for whatever the grace: a link still seeding has consumed nothing, so no heartbeat
 * could show its peer alive, and the region does not yet hold that peer's data.
 */
export function awaitsCatchUp(link: Pick<PeerReplicator, 'everStreamed' | 'state' | 'joining'>, pastGrace: boolean, peerAlive: boolean): boolean {
  if (link.everStreamed || link.state === 'paused') return false;
  return link.joining || !pastGrace || peerAlive;
}

export interface ReplicationOptions {
  readonly store: PgStore;
  readonly region: string;
  readonly epoch: number;
  readonly brokers: readonly string[];
  /** TLS and SASL for every Kafka this region connects to (kafka-client.ts); absent: plaintext. */
  readonly kafkaSecurity?: KafkaClientSecurity | undefined;
  readonly peers: ReadonlyMap<string, readonly string[]>;
  readonly partitions: number;
  /** Replicas of each partition of this region's topic when the relay creates it (default 1). */
  readonly topicReplicationFactor?: number;
  readonly clock: HybridLogicalClock;
  readonly log: Logger;
  readonly lagBoundSeconds: number;
  readonly hooks?: ReplicatorHooks;
  readonly relayPollMs?: number;
  readonly relayLingerMs?: number;
  /** Published outbox rows go once this old (default: the relay's, an hour). */
  readonly outboxRetentionMs?: number;
  /** Per peer, how its link recovers when it needs a reseed (or why it cannot by itself): said in the failure reason. */
  readonly reseedNotes?: ReadonlyMap<string, string>;
  /** How long readiness waits for a link that cannot connect before giving up on catching it up. */
  readonly catchUpGraceMs?: number;
  /** Per peer, the seeding a joining region's link does before it consumes (PeerReplicatorOptions.seed). */
  readonly seedFor?: (peer: string) => (() => Promise<void>) | undefined;
}

export interface PeerStatus {
  readonly state: LinkState;
  readonly lagSeconds: number | null;
  readonly lagSequence: number | null;
  readonly lagging: boolean;
  /** Kafka no longer holds updates of this peer that this region has not applied: the link is failed until a reseed. */
  readonly needsReseed: boolean;
  readonly reason?: string;
  readonly lastHeartbeatAt?: string;
}

export interface ReplicationStatus {
  readonly region: string;
  readonly applied: Record<string, number>;
  /** Session positions (outbox ids) per origin actor, this region's own included: what a session token is compared with. */
  readonly positions: Record<string, number>;
  readonly peers: Record<string, PeerStatus>;
  readonly relay: { readonly role: string; readonly lastSequence: number; readonly lastError?: string };
}


export class Replication {
  readonly relay: OutboxRelay;
  /** The links by peer; membership (membership.ts) adds and removes them at run time. */
  readonly #links = new Map<string, { readonly link: PeerReplicator; readonly brokers: string }>();
  /** The links present when this process started: readiness waits for those to catch up, never for a peer added later. */
  readonly #startLinks = new Set<PeerReplicator>();
  #started = false;
  readonly #hooks: ReplicatorHooks;
  readonly #o: ReplicationOptions;
  readonly #kafka: Kafka;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = Date.now();
  #admin: Admin | undefined;
  #adminConnected = false;
  #applied = new Map<string, AppliedPosition>();
  #heartbeats = new Map<string, HeartbeatRow>();
  #samples = new Map<string, LagSample[]>();
  #lag = new Map<string, { seconds: number | null; sequence: number | null }>();
  #skew = new Map<string, number>();
  /** The region's published high-water, from the relay state every replica shares. */
  #highWater = 0n;
  /** The highest committed outbox id here: this region's own session position. */
  #ownPosition = 0n;
  /**
   * Counts this process's changes of stored link pauses: a refresh applies the pauses it read
   * only if none changed meanwhile (its read may predate the change).
   */
  #pauseChanges = 0;
  /** The stored pauses as last read: a refresh follows changes of them, not the in-memory state of every link. */
  #storedPauses = new Map<string, string>();

  constructor(options: ReplicationOptions) {
    this.#o = options;
    this.#kafka = createKafka({ clientId: `meridian-${options.region}-health`, brokers: [...options.brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1500, ...options.kafkaSecurity });
    this.relay = new OutboxRelay({ store: options.store, region: options.region, epoch: options.epoch, brokers: options.brokers, kafkaSecurity: options.kafkaSecurity, partitions: options.partitions, ...(options.topicReplicationFactor !== undefined ? { replicationFactor: options.topicReplicationFactor } : {}), clock: options.clock, log: options.log, ...(options.relayPollMs ? { pollMs: options.relayPollMs } : {}), ...(options.relayLingerMs !== undefined ? { lingerMs: options.relayLingerMs } : {}), ...(options.outboxRetentionMs !== undefined ? { retentionSeconds: options.outboxRetentionMs / 1000 } : {}) });
    this.#hooks = { ...options.hooks, skewMs: (peer) => this.#skew.get(peer) ?? 0 };
    for (const [peer, brokers] of options.peers) this.#links.set(peer, { link: this.#newLink(peer, brokers), brokers: brokers.join(',') });
  }

  /** Every link, in the order peers were added. */
  get replicators(): readonly PeerReplicator[] {
    return [...this.#links.values()].map((l) => l.link);
  }

  #newLink(peer: string, brokers: readonly string[], reseedNote = this.#o.reseedNotes?.get(peer)): PeerReplicator {
    const o = this.#o;
    const seed = o.seedFor?.(peer);
    return new PeerReplicator({ store: o.store, self: o.region, peer, brokers, kafkaSecurity: o.kafkaSecurity, clock: o.clock, log: o.log, hooks: this.#hooks, partitions: o.partitions, ...(reseedNote !== undefined ? { reseedNote } : {}), ...(seed ? { seed } : {}) });
  }

  /**
   * Starts consuming a peer added at run time (or one whose Kafka moved: its link restarts on the
   * new brokers). Its stored offsets, applied vector and pause hold as for any link. Answers
   * whether anything changed.
   */
  async addPeer(peer: string, brokers: readonly string[], reseedNote?: string): Promise<boolean> {
    const existing = this.#links.get(peer);
    if (existing?.brokers === brokers.join(',')) return false;
    if (existing) await this.removePeer(peer);
    const link = this.#newLink(peer, brokers, reseedNote);
    this.#links.set(peer, { link, brokers: brokers.join(',') });
    const reason = this.#storedPauses.get(peer);
    if (reason !== undefined) link.pause(reason);
    if (this.#started) link.start();
    this.#o.log.info({ peer, brokers }, 'replication: consuming a peer added to the membership');
    return true;
  }

  /** Stops consuming a peer removed from the membership. Its stored offsets stay (a peer added back resumes from them, or reseeds). */
  async removePeer(peer: string): Promise<boolean> {
    const entry = this.#links.get(peer);
    if (!entry) return false;
    this.#links.delete(peer);
    this.#startLinks.delete(entry.link);
    this.#lag.delete(peer);
    this.#samples.delete(peer);
    await entry.link.stop();
    this.#o.log.info({ peer }, 'replication: stopped consuming a peer removed from the membership');
    return true;
  }

  async start(): Promise<void> {
    this.#startedAt = Date.now();
    await this.relay.start();
    // An operator's pause holds across restarts: a paused link starts paused.
    this.#applyPauses(await this.#o.store.replication.linkPauses(), true);
    this.#started = true;
    for (const r of this.replicators) {
      this.#startLinks.add(r);
      r.start();
    }
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh().catch((error: unknown) => this.#o.log.warn({ err: error }, 'replication: lag refresh failed')), 1000);
  }

  async stop(): Promise<void> {
    this.#started = false;
    clearInterval(this.#timer);
    await this.#admin?.disconnect().catch(() => undefined);
    await Promise.all([this.relay.stop(), ...this.replicators.map((r) => r.stop())]);
  }

  /**
   * Pauses (with a reason) or resumes the link from `peer`: stored first (Meridian's state, held
   * across consumer, broker and region restarts, followed by every replica of the region), then
   * applied here whether or not the link's consumer is running.
   */
  async setLinkPaused(peer: string, paused: boolean, reason = 'paused by an operator'): Promise<void> {
    const link = this.replicators.find((r) => r.peer === peer);
    if (!link) throw new Error(`no replication link from ${peer}`);
    this.#pauseChanges++;
    try {
      await this.#o.store.replication.setLinkPause(peer, paused ? reason : undefined);
      if (paused) this.#storedPauses.set(peer, reason);
      else this.#storedPauses.delete(peer);
      if (paused) link.pause(reason);
      else link.resume();
    } finally {
      this.#pauseChanges++;
    }
  }

  /**
   * Follows changes of the stored pauses (all of them at start; then another replica's pause or
   * resume): a link whose stored pause appeared is paused, one whose stored pause went is resumed.
   */
  #applyPauses(pauses: ReadonlyMap<string, string>, initial = false): void {
    for (const r of this.replicators) {
      const reason = pauses.get(r.peer);
      const changed = initial || (reason !== undefined) !== this.#storedPauses.has(r.peer);
      if (!changed) continue;
      if (reason !== undefined && !r.operatorPaused) r.pause(reason);
      else if (reason === undefined && r.operatorPaused) r.resume();
    }
    this.#storedPauses = new Map(pauses);
  }

  /** Reads applied vectors, heartbeats and link pauses, recomputes lag, and moves links between streaming and catching-up. */
  async refresh(): Promise<void> {
    const pauseChanges = this.#pauseChanges;
    const [applied, heartbeats, relay, own, pauses] = await Promise.all([
      this.#o.store.replication.appliedPositions(),
      this.#o.store.replication.heartbeats(),
      this.#o.store.replication.relayState(),
      this.#o.store.outboxHighWater(),
      this.#o.store.replication.linkPauses(),
    ]);
    if (pauseChanges === this.#pauseChanges) this.#applyPauses(pauses);
    this.#highWater = relay.lastSequence;
    this.#ownPosition = own;
    this.#applied = new Map(applied.map((r) => [r.origin, r]));
    this.#heartbeats = new Map(heartbeats.map((h) => [h.peer, h]));
    const now = Date.now();
    for (const r of this.replicators) {
      const beat = this.#heartbeats.get(r.peer);
      if (!beat) {
        this.#lag.set(r.peer, { seconds: null, sequence: null });
        continue;
      }
      // A peer's new incarnation is a new stream: its lag is never measured against the samples of the one before (link-lag.ts).
      const heartbeat: LinkHeartbeat = { origin: beat.origin, wallMs: Number(beat.wallMs), highWater: beat.highWater, receivedAtMs: beat.receivedAt.getTime() };
      const samples = addLagSample(this.#samples.get(r.peer) ?? [], heartbeat);
      this.#samples.set(r.peer, samples);
      this.#skew.set(r.peer, skewEstimateMs(heartbeat));
      const { seconds, sequence } = linkLag(heartbeat, samples, this.#applied.get(beat.origin)?.contiguous ?? 0n, now);
      this.#lag.set(r.peer, { seconds, sequence });
      // A heartbeat stored before this process started says nothing about what is still waiting
      // in Kafka for us: only a fresh one may declare the link caught up. Nor may a link that is
      // still seeding from the peer (it has not consumed anything yet).
      if (beat.receivedAt.getTime() < this.#startedAt || r.seeding) continue;
      // Lag measures the peer's current actor only: an earlier incarnation's tail still waiting in
      // some partition keeps the link behind (`PeerReplicator.earlierTailPending`).
      const behind = seconds > this.#o.lagBoundSeconds || r.earlierTailPending === true;
      if (r.state === 'streaming' || r.state === 'catching-up' || r.state === 'connecting') {
        if (r.state !== 'connecting' || (sequence === 0 && r.earlierTailPending !== true)) r.signal(behind ? 'fell-behind' : 'caught-up');
      }
    }
  }

  status(): ReplicationStatus {
    // Each region's CURRENT stream: its own relay's high-water here, and for a peer the contiguous
    // prefix of the actor its latest heartbeat names. A peer restored from a copy starts a new
    // incarnation numbered from 1; the maximum over its actors would report the ended stream's
    // prefix for good, never what this region has applied of the stream the peer writes now.
    const applied: Record<string, number> = { [this.#o.region]: Number(this.#highWater) };
    for (const row of this.#applied.values()) {
      if (row.region === this.#o.region) continue;
      const current = this.#heartbeats.get(row.region)?.origin;
      if (current === undefined) applied[row.region] = Math.max(applied[row.region] ?? 0, Number(row.contiguous));
      else if (row.origin === current) applied[row.region] = Number(row.contiguous);
    }
    const peers: Record<string, PeerStatus> = {};
    for (const r of this.replicators) {
      applied[r.peer] ??= 0;
      const lag = this.#lag.get(r.peer) ?? { seconds: null, sequence: null };
      const beat = this.#heartbeats.get(r.peer);
      peers[r.peer] = {
        state: r.state,
        lagSeconds: lag.seconds === null ? null : Math.round(lag.seconds * 1000) / 1000,
        lagSequence: lag.sequence,
        lagging: (lag.seconds !== null && lag.seconds > this.#o.lagBoundSeconds) || r.earlierTailPending === true,
        needsReseed: r.needsReseed,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(beat ? { lastHeartbeatAt: beat.receivedAt.toISOString() } : {}),
      };
    }
    const positions: Record<string, number> = { [`${this.#o.region}.${this.#o.epoch}`]: Number(this.#ownPosition) };
    for (const row of this.#applied.values()) positions[row.origin] = Number(row.contiguousOutboxId);
    const relay = this.relay.status;
    return { region: this.#o.region, applied, positions, peers, relay: { role: relay.role, lastSequence: Number(relay.lastSequence), ...(relay.lastError ? { lastError: relay.lastError } : {}) } };
  }

  /** Redrives (or discards) a dead letter through the replicator of the peer it came from. */
  async redrive(id: bigint, mode: 'retry' | 'discard'): Promise<{ applied: number; released: boolean }> {
    const [letter] = await this.#o.store.replication.deadLetters(1, id);
    if (!letter) throw new RedriveError('MERIDIAN_NOT_FOUND', `no dead letter ${id}`);
    const replicator = this.replicators.find((r) => r.peer === letter.peer) ?? this.replicators[0];
    if (!replicator) throw new RedriveError('MERIDIAN_REDRIVE_FAILED', 'this region has no replication links');
    return replicator.redrive(id, mode);
  }

  /** Readiness: local only. */
  checks(): HealthCheck[] {
    return [
      {
        // One admin connection, kept: a readiness probe must be cheap (the GSLB probes often,
        // with a short timeout). A failed round trip drops it; the next probe reconnects.
        name: 'kafka',
        check: async () => {
          try {
            this.#admin ??= this.#kafka.admin();
            if (!this.#adminConnected) {
              await this.#admin.connect();
              this.#adminConnected = true;
            }
            await this.#admin.describeCluster();
          } catch (error) {
            const admin = this.#admin;
            this.#admin = undefined;
            this.#adminConnected = false;
            await admin?.disconnect().catch(() => undefined);
            throw error;
          }
        },
      },
      {
        name: 'relay',
        check: () => {
          const s = this.relay.status;
          if (s.role === 'stopped') return Promise.reject(new Error('relay stopped'));
          if (s.lastError && s.role === 'active') return Promise.reject(new Error(`relay failing: ${s.lastError}`));
          return Promise.resolve();
        },
      },
      {
        // DESIGN §7: a region that returns catches up before it is ready again. A link whose
        // peer's Kafka cannot be reached is waited for only for a grace period: a dead peer
        // must not keep a surviving region unready.
        name: 'caught-up',
        check: () => {
          const graceMs = this.#o.catchUpGraceMs ?? 15_000;
          const pastGrace = Date.now() - this.#startedAt > graceMs;
          // A peer that heartbeats since we started is alive: we must catch up with it. A silent
          // one (or an unreachable Kafka) is not waited for beyond the grace period.
          const alive = (peer: string): boolean => (this.#heartbeats.get(peer)?.receivedAt.getTime() ?? 0) > this.#startedAt;
          const waiting = this.replicators.filter((r) => this.#startLinks.has(r) && awaitsCatchUp(r, pastGrace, alive(r.peer)));
          return waiting.length === 0 ? Promise.resolve() : Promise.reject(new Error(`catching up with ${waiting.map((r) => `${r.peer} (${r.state})`).join(', ')}`));
        },
      },
      {
        name: 'replicators',
        check: () => {
          const failed = this.replicators.filter((r) => r.state === 'failed');
          return failed.length === 0 ? Promise.resolve() : Promise.reject(new Error(failed.map((r) => `${r.peer}: ${r.reason ?? 'failed'}`).join('; ')));
        },
      },
    ];
  }
}
