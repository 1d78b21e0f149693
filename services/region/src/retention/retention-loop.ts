/**
 * The region's retention loop (decision 0012): every round it
 * - records a sample of every region's stream (peers' heartbeats; its own relay position) and
 *   decides, with @meridian/retention, up to when tombstones may go and which regions hold GC
 *   back; the decision and the samples kept are stored (`meridian_gc`, `meridian_gc_samples`);
 * - scans a slice of the register keys (resuming where the last round stopped), counts the
 *   tombstone-only ones and purges those the decision allows;
 * - expires idempotency records older than their TTL and conflict records older than their
 *   retention (dead letters stay: they are data an operator must redrive or discard);
 * - reads each table's size.
 * One process per region decides and purges: the relay's lease holder (every process when the
 * region runs standalone); the others read the stored decision for their metrics. A purge is a
 * conditional delete, so two deciders at a lease handover cannot purge a row that changed.
 */
import { decideGc, mayPurge, peerSample, withSample, type RegionView, type StreamSample } from '@meridian/retention';
import { hlcPhysical } from '@meridian/causality';
import type { GcSamples, PgStore, PurgeKey } from '@meridian/store';
import { decodeRegisterSet } from '@meridian/crdt';
import type { Logger } from '../replication/logger.ts';

export interface RetentionOptions {
  readonly store: PgStore;
  readonly region: string;
  /** The actor this region writes as now. */
  readonly actor: string;
  /** The other regions of the deployment (the stored membership, read at each round): each one holds GC back until it has applied. */
  readonly peers: () => readonly string[];
  readonly minAgeMs: number;
  /** MERIDIAN_MAX_CLOCK_DRIFT_MS: a peer's heartbeat wall time is believed no further ahead of ours. */
  readonly maxClockDriftMs: number;
  readonly idempotencyTtlMs: number;
  readonly conflictRetentionMs: number;
  readonly intervalMs: number;
  /** Whether this process decides and purges (the relay's lease holder; always when standalone). */
  readonly leader: () => boolean;
  readonly now?: () => number;
  readonly log: Logger;
  readonly onPurged?: (keys: number) => void;
  /** Register keys read per scan statement, and statements per round. */
  readonly scanBatch?: number;
  readonly scanBatchesPerRound?: number;
}

/** What the metrics show: the last decision and count, and the tables' sizes. */
export interface RetentionView {
  readonly tombstones: number | undefined;
  /** Every region of the deployment → whether it holds GC back. */
  readonly blocked: ReadonlyMap<string, boolean>;
  readonly tableBytes: ReadonlyMap<string, number>;
}

export interface RoundReport {
  readonly purgeBeforeMs: number | undefined;
  readonly blocking: readonly string[];
  readonly purged: number;
  readonly idempotencyExpired: number;
  readonly conflictsExpired: number;
}

/** Rows one expiry statement deletes; a round goes on while statements delete, up to EXPIRE_STATEMENTS_PER_ROUND. */
const EXPIRE_BATCH = 5000;
/**
 * A round expires up to 500,000 rows of each table (50,000 a second at the longest period, 10 s):
 * one statement a round would bound neither table once records expire faster than 500 a second.
 */
const EXPIRE_STATEMENTS_PER_ROUND = 100;

/** Calls `expire` (one statement, up to EXPIRE_BATCH rows) until it deletes nothing or the round's statements are spent; the rows deleted. */
async function expireAll(expire: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < EXPIRE_STATEMENTS_PER_ROUND; i++) {
    const n = await expire();
    total += n;
    if (n === 0) break;
  }
  return total;
}

/** Whether every version of a register's stored state is a tombstone; its newest version's wall time. */
export function registerTombstone(state: Uint8Array): { tombstoneOnly: boolean; newestWallMs: number } {
  const versions = decodeRegisterSet(state).values();
  let newest = 0n;
  for (const v of versions) if (v.hlc > newest) newest = v.hlc;
  return { tombstoneOnly: versions.length > 0 && versions.every((v) => v.value === undefined), newestWallMs: Number(hlcPhysical(newest)) };
}

export class RetentionLoop {
  readonly #o: RetentionOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #view: RetentionView = { tombstones: undefined, blocked: new Map(), tableBytes: new Map() };

  constructor(options: RetentionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get view(): RetentionView {
    return this.#view;
  }

  start(): void {
    const tick = (): void => {
      if (this.#stopped) return;
      this.#running = this.runOnce().then(
        () => undefined,
        (error: unknown) => this.#o.log.warn({ err: error }, `retention round failed: ${(error as Error).message}`),
      ).finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.intervalMs);
      });
    };
    this.#timer = setTimeout(tick, this.#o.intervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One round; a process that is not the leader only refreshes its view of the stored decision. */
  async runOnce(): Promise<RoundReport> {
    const store = this.#o.store;
    const peers = this.#o.peers();
    const regions = [this.#o.region, ...peers];
    if (!this.#o.leader()) {
      const [state, sizes] = await Promise.all([store.retention.state(), store.retention.tableSizes()]);
      this.#view = { tombstones: state.tombstones, blocked: new Map(regions.map((r) => [r, state.blocking.includes(r)])), tableBytes: sizes };
      return { purgeBeforeMs: state.purgeBeforeMs, blocking: state.blocking, purged: 0, idempotencyExpired: 0, conflictsExpired: 0 };
    }
    const [state, beats, applied, relay] = await Promise.all([
      store.retention.state(),
      store.replication.heartbeats(),
      store.replication.appliedPositions(),
      store.replication.relayState(),
    ]);
    // After the reads: this region's sample says it had applied `applied` by `now`.
    const now = this.#now();
    const sampled = (region: string, actor: string, sample: StreamSample): GcSamples => {
      const stored = state.samples.get(region);
      // A new incarnation is a new stream: its samples start again.
      return { actor, samples: withSample(stored?.actor === actor ? stored.samples : [], sample) };
    };
    const samples = new Map<string, GcSamples>();
    const views: RegionView[] = [];
    const own = sampled(this.#o.region, this.#o.actor, { wallMs: now, highWater: relay.lastSequence });
    samples.set(this.#o.region, own);
    views.push({ region: this.#o.region, applied: new Map(applied.map((a) => [a.origin, a.contiguous])), actor: own.actor, samples: own.samples });
    for (const peer of peers) {
      const beat = beats.find((b) => b.peer === peer);
      if (!beat) {
        views.push({ region: peer, applied: undefined, actor: undefined, samples: [] });
        continue;
      }
      const theirs = sampled(peer, beat.origin, peerSample(Number(beat.wallMs), beat.highWater, Math.min(now, beat.receivedAt.getTime()), this.#o.maxClockDriftMs));
      samples.set(peer, theirs);
      views.push({ region: peer, applied: new Map(Object.entries(beat.applied).map(([a, n]) => [a, BigInt(n)])), actor: theirs.actor, samples: theirs.samples });
    }
    // Behind another region for a minute (or the min age, if shorter), or silent for a minute
    // (heartbeats come every second): named as holding GC back.
    const plan = decideGc({ regions: views, nowMs: now, minAgeMs: this.#o.minAgeMs, blockedAfterMs: Math.min(60_000, this.#o.minAgeMs), silentAfterMs: 60_000 });
    const kept = new Map([...samples].map(([region, s]) => [region, { actor: s.actor, samples: plan.keep.get(region) ?? s.samples }]));
    await store.retention.saveDecision({ purgeBeforeMs: plan.purgeBeforeMs, frontier: plan.frontier, blocking: plan.blocking, samples: kept });
    // Said when it changes, not every round.
    if (plan.blocking.join() !== state.blocking.join()) {
      if (plan.blocking.length > 0) this.#o.log.warn({ blocking: plan.blocking, purgeBeforeMs: plan.purgeBeforeMs }, `tombstone GC held back by ${plan.blocking.join(', ')}: deleted registers are kept until they have applied what the others published`);
      else this.#o.log.info({ purgeBeforeMs: plan.purgeBeforeMs }, 'tombstone GC no longer held back');
    }

    const { purged, tombstones } = await this.#scan(state.scanFrom, state.passTombstones, plan.purgeBeforeMs);
    const idempotencyExpired = await expireAll(() => store.retention.expireIdempotency(new Date(now - this.#o.idempotencyTtlMs), EXPIRE_BATCH));
    const conflictsExpired = await expireAll(() => store.retention.expireConflicts(new Date(now - this.#o.conflictRetentionMs), EXPIRE_BATCH));
    this.#view = {
      tombstones: tombstones ?? state.tombstones,
      blocked: new Map(regions.map((r) => [r, plan.blocking.includes(r)])),
      tableBytes: await store.retention.tableSizes(),
    };
    return { purgeBeforeMs: plan.purgeBeforeMs, blocking: plan.blocking, purged, idempotencyExpired, conflictsExpired };
  }

  /** A slice of the key space: counts tombstones, purges what may go; `tombstones` is the count of a pass that finished in it. */
  async #scan(from: { namespace: string; key: string } | undefined, counted: number, purgeBeforeMs: number | undefined): Promise<{ purged: number; tombstones: number | undefined }> {
    const store = this.#o.store;
    const batch = this.#o.scanBatch ?? 1000;
    let after = from;
    let passTombstones = counted;
    let purged = 0;
    let finished: number | undefined;
    for (let i = 0; i < (this.#o.scanBatchesPerRound ?? 20) && finished === undefined; i++) {
      const rows = await store.retention.scanRegisters(after, batch);
      const doomed: PurgeKey[] = [];
      for (const row of rows) {
        const { tombstoneOnly, newestWallMs } = registerTombstone(row.state);
        if (!tombstoneOnly) continue;
        if (mayPurge({ tombstoneOnly, newestWallMs, quarantined: row.quarantined }, purgeBeforeMs)) doomed.push(row);
        else passTombstones++;
      }
      const gone = await store.retention.purge(doomed);
      // A row that changed since the scan read it stays, and is counted in the next pass.
      purged += gone;
      if (gone > 0) this.#o.onPurged?.(gone);
      const last = rows.at(-1);
      after = rows.length < batch || !last ? undefined : { namespace: last.namespace, key: last.key };
      if (after === undefined) finished = passTombstones;
      await store.retention.saveScan(after, finished === undefined ? passTombstones : finished);
      if (finished !== undefined) passTombstones = 0;
    }
    return { purged, tombstones: finished };
  }
}
