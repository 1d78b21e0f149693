/**
 * Continuous anti-entropy (DESIGN §8): every interval, this region compares its tree with each
 * peer's over gRPC and repairs, both ways, the keys that diverged — a difference counts from its
 * second consecutive round (one tracker per peer), or at once when nothing was in flight between
 * the two. Rounds run one after the other (never two at once), rate-limited by one token bucket
 * for all peers. A failed round (peer unreachable) is logged and retried at the next interval.
 *
 * Several replicas of a region may each run it: a repair is an idempotent merge, so a second one
 * changes nothing (it only costs the comparison).
 */
import { DivergenceTracker, TokenBucket, runExchange, type ExchangeReport, type TreeReplica } from '@meridian/anti-entropy';
import type { Logger } from '../replication/logger.ts';
import type { ReseedableLink, ReseedOutcome } from './reseed.ts';

export interface AntiEntropyLoopOptions {
  readonly local: TreeReplica;
  /** Peer region → its replica (a gRPC client); read at each round, so membership may change it. */
  readonly peers: ReadonlyMap<string, TreeReplica>;
  readonly intervalMs: number;
  readonly keysPerSecond: number;
  /** The repair bucket, when the process shares one (reseeds, a joining region's seeding); else one of `keysPerSecond`. */
  readonly limiter?: TokenBucket;
  readonly log: Logger;
  readonly now?: () => number;
  readonly onReport?: (peer: string, report: ExchangeReport) => void;
  /**
   * Replication links that may need a reseed: a round with a peer whose link does runs the
   * reseed (`reseedLink`) instead of the plain exchange.
   */
  readonly reseed?: {
    readonly links: { get(peer: string): ReseedableLink | undefined };
    readonly run: (link: ReseedableLink, remote: TreeReplica, limiter: TokenBucket) => Promise<ReseedOutcome>;
    readonly onReseed?: (peer: string, outcome: ReseedOutcome) => void;
  };
}

export interface PeerRoundStatus {
  readonly at: string;
  readonly ok: boolean;
  readonly differences?: number;
  readonly repaired?: number;
  readonly error?: string;
  /** Set when the round reseeded the replication link from the peer. */
  readonly reseed?: { readonly outcome: string; readonly origin?: string; readonly sequence?: number; readonly outboxId?: number };
}

export class AntiEntropyLoop {
  readonly #o: AntiEntropyLoopOptions;
  readonly #trackers = new Map<string, DivergenceTracker>();
  readonly #limiter: TokenBucket;
  readonly #status = new Map<string, PeerRoundStatus>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: AntiEntropyLoopOptions) {
    this.#o = options;
    this.#limiter = options.limiter ?? new TokenBucket({ perSecond: options.keysPerSecond, now: options.now ?? Date.now });
  }

  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** The last round's outcome with each peer. */
  status(): Record<string, PeerRoundStatus> {
    return Object.fromEntries([...this.#status].filter(([peer]) => this.#o.peers.has(peer)));
  }

  /** Drops what the loop tracked of a peer removed from the membership. */
  forget(peer: string): void {
    this.#trackers.delete(peer);
    this.#status.delete(peer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.runRound().finally(() => {
        this.#running = undefined;
        this.#schedule();
      });
    }, this.#o.intervalMs);
  }

  /** One round with every peer, in turn. */
  async runRound(): Promise<void> {
    for (const [peer, remote] of this.#o.peers) {
      if (this.#stopped) return;
      let tracker = this.#trackers.get(peer);
      if (!tracker) this.#trackers.set(peer, (tracker = new DivergenceTracker()));
      const link = this.#o.reseed?.links.get(peer);
      if (link?.needsReseed) {
        await this.#reseed(peer, link, remote);
        continue;
      }
      try {
        const report = await runExchange(this.#o.local, remote, { repair: true, tracker, limiter: this.#limiter, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
        const repaired = report.repairedLocal.length + report.repairedRemote.length;
        this.#status.set(peer, { at: new Date().toISOString(), ok: true, differences: report.differences.length, repaired });
        if (report.differences.length > 0) this.#o.log.warn({ peer, differences: report.differences.length, repairedHere: report.repairedLocal.length, repairedThere: report.repairedRemote.length, policyMismatches: report.policyMismatches }, 'anti-entropy: repaired divergent keys');
        this.#o.onReport?.(peer, report);
      } catch (error) {
        this.#status.set(peer, { at: new Date().toISOString(), ok: false, error: (error as Error).message });
        this.#o.log.warn({ peer, err: error }, 'anti-entropy: round failed');
      }
    }
  }

  async #reseed(peer: string, link: ReseedableLink, remote: TreeReplica): Promise<void> {
    try {
      this.#o.log.warn({ peer }, 'anti-entropy: the replication link needs a reseed; repairing from the peer');
      const outcome = await this.#o.reseed!.run(link, remote, this.#limiter);
      const { report, published } = outcome;
      this.#status.set(peer, {
        at: new Date().toISOString(),
        ok: true,
        ...(report ? { differences: report.differences.length, repaired: report.repairedLocal.length + report.repairedRemote.length } : {}),
        reseed: { outcome: outcome.outcome, ...(published ? { origin: published.origin, sequence: Number(published.sequence), outboxId: Number(published.outboxId) } : {}) },
      });
      this.#o.log.warn({ peer, outcome: outcome.outcome, origin: published?.origin, sequence: published?.sequence.toString(), repairedHere: report?.repairedLocal.length, restarted: Object.fromEntries([...outcome.restarted].map(([p, o]) => [p, o.toString()])) }, 'anti-entropy: reseeded the replication link');
      this.#o.reseed!.onReseed?.(peer, outcome);
      if (report) this.#o.onReport?.(peer, report);
    } catch (error) {
      this.#status.set(peer, { at: new Date().toISOString(), ok: false, error: `reseed: ${(error as Error).message}` });
      link.noteReseedFailure((error as Error).message);
      this.#o.log.warn({ peer, err: error }, 'anti-entropy: reseed failed; the link stays failed until a later round succeeds');
    }
  }
}
