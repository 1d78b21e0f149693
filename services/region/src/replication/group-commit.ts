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
 * arriving while a group runs form the next one. No I/O here.
 */

export interface GroupCommitOptions<T, R> {
  /** Runs one group; answers one result per item, in the items' order. */
  readonly run: (items: readonly T[]) => Promise<readonly R[]>;
  /** An item's weight (e.g. its message count); a group holds at most `maxWeight`, but always at least one item. */
  readonly weight: (item: T) => number;
  readonly maxWeight: number;
  /** Items of one lane never share a group; they run in submission order. */
  readonly lane: (item: T) => string | number;
}

interface Pending<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommitQueue<T, R> {
  readonly #o: GroupCommitOptions<T, R>;
  #pending: Pending<T, R>[] = [];
  #draining = false;

  constructor(options: GroupCommitOptions<T, R>) {
    this.#o = options;
  }

  /** Items waiting for a group (not those of the group running now). */
  get waiting(): number {
    return this.#pending.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  /** The next group: queued items in order, one per lane, up to the weight cap (at least one). */
  #take(): Pending<T, R>[] {
    const group: Pending<T, R>[] = [];
    const rest: Pending<T, R>[] = [];
    const lanes = new Set<string | number>();
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

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const group = this.#take();
        try {
          const results = await this.#o.run(group.map((p) => p.item));
          if (results.length !== group.length) throw new Error(`group commit: ${results.length} results for ${group.length} items`);
          group.forEach((p, i) => p.resolve(results[i]!));
        } catch (error) {
          for (const p of group) p.reject(error);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
