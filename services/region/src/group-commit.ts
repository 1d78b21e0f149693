/**
 * A group-commit queue: callers submit items (a replicator: one partition's batch each) and wait;
 * one drain loop takes everything queued — up to a weight cap, at most one item per lane (a
 * partition's next batch must not share a transaction with its previous one) — and runs it as
 * one group (one PostgreSQL transaction). Each submitted promise settles when its group's run
 * settles: with the run's answer for that item, or with the run's error (every item of a failed
 * group is rejected; nothing of it was stored, so each caller retries its own item).
 *
 * The drain starts on the next macrotask, so items submitted in the same tick (kafkajs hands the
 * partitions' batches of one fetch to its workers synchronously) share the first group; items
 * arriving while a group runs form the next one. With `concurrency` above 1 (the write path:
 * one group per free connection), that many groups run at once (once `overlapAt` items wait),
 * and an item whose lane is in a running group waits for it. No I/O here.
 */

export interface GroupCommitOptions<T, R> {
  /** Runs one group; answers one result per item, in the items' order. */
  readonly run: (items: readonly T[]) => Promise<readonly R[]>;
  /** An item's weight (e.g. its message count); a group holds at most `maxWeight`, but always at least one item. */
  readonly weight: (item: T) => number;
  readonly maxWeight: number;
  /** Items of one lane never share a group; they run in submission order. */
  readonly lane: (item: T) => string | number;
  /** Groups running at once (1 if absent). */
  readonly concurrency?: number;
  /**
   * A group starts beside running ones only once at least this many items wait (1 if absent).
   * Below it, waiting items go together in the next group when a running one ends: a light
   * load then shares statements and commits instead of each item taking its own, and the extra
   * groups of `concurrency` are left for a queue that needs them.
   */
  readonly overlapAt?: number;
}

interface Pending<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommitQueue<T, R> {
  readonly #o: GroupCommitOptions<T, R>;
  readonly #concurrency: number;
  readonly #overlapAt: number;
  #pending: Pending<T, R>[] = [];
  /**
   * The lanes of each running group. A plain array, not a long-lived Set of lanes: adding and
   * deleting a lane per item made the Set reallocate its table, and those tables, held by an old
   * object, were the write path's largest source of objects promoted to V8's old generation
   * (docs/decisions/0007). The Set `#take` needs is built per call and dies young.
   */
  readonly #runningLanes: (readonly (string | number)[])[] = [];
  #scheduled = false;

  constructor(options: GroupCommitOptions<T, R>) {
    this.#o = options;
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#overlapAt = Math.max(1, options.overlapAt ?? 1);
  }

  /** Whether another group may start now: there is room, and either nothing runs or enough waits. */
  #mayStart(): boolean {
    const running = this.#runningLanes.length;
    return running < this.#concurrency && this.#pending.length > 0 && (running === 0 || this.#pending.length >= this.#overlapAt);
  }

  /** Items waiting for a group (not those of the groups running now). */
  get waiting(): number {
    return this.#pending.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#scheduled && this.#mayStart()) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#start();
        });
      }
    });
  }

  /** The next group: queued items in order, one per lane and none of a busy lane, up to the weight cap (at least one). */
  #take(): Pending<T, R>[] {
    const group: Pending<T, R>[] = [];
    const rest: Pending<T, R>[] = [];
    const lanes = new Set<string | number>();
    for (const running of this.#runningLanes) for (const lane of running) lanes.add(lane);
    let weight = 0;
    for (const p of this.#pending) {
      const lane = this.#o.lane(p.item);
      const w = this.#o.weight(p.item);
      if (lanes.has(lane) || (group.length > 0 && weight + w > this.#o.maxWeight)) {
        rest.push(p);
        // Later items of a lane whose earlier item waits must wait too (order within a lane).
        lanes.add(lane);
        continue;
      }
      lanes.add(lane);
      weight += w;
      group.push(p);
    }
    this.#pending = rest;
    return group;
  }

  /** Starts groups while there is room and something to run. */
  #start(): void {
    while (this.#mayStart()) {
      const group = this.#take();
      if (group.length === 0) return;
      const lanes = group.map((p) => this.#o.lane(p.item));
      this.#runningLanes.push(lanes);
      void this.#run(group).finally(() => {
        this.#runningLanes.splice(this.#runningLanes.indexOf(lanes), 1);
        this.#start();
      });
    }
  }

  async #run(group: readonly Pending<T, R>[]): Promise<void> {
    try {
      const results = await this.#o.run(group.map((p) => p.item));
      if (results.length !== group.length) throw new Error(`group commit: ${results.length} results for ${group.length} items`);
      group.forEach((p, i) => p.resolve(results[i]!));
    } catch (error) {
      for (const p of group) p.reject(error);
    }
  }
}
