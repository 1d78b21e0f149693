/**
 * A seeded network between replicas, for convergence tests: messages are delivered in random
 * order, some twice (duplication), some lost and sent again later (the way a Kafka consumer
 * replays from its committed offset), none across a partition until it heals, and the ones a test
 * withholds only at the very end. Every random choice comes from the seed, so a failing schedule
 * replays exactly.
 *
 * The simulator only moves payloads; what a delivery does is the `deliver` callback's business.
 */
import { SeededRandom } from '@meridian/testkit';

export interface NetworkOptions<M = unknown> {
  readonly replicas: number;
  readonly seed: number;
  /** Chance that a delivered message also stays in flight, to be delivered again. */
  readonly duplicateRate?: number;
  /** Chance that a delivery attempt loses the message; lost messages come back on `resendLost`. */
  readonly lossRate?: number;
  /** Whether a message may be delivered now (e.g. causal delivery: its dependencies arrived first). */
  readonly ready?: (envelope: Envelope<M>) => boolean;
}

export interface Envelope<M> {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly payload: M;
}

export interface NetworkStats {
  delivered: number;
  duplicated: number;
  lost: number;
  withheld: number;
}

export class NetworkSimulator<M> {
  readonly #random: SeededRandom;
  readonly #ready: (envelope: Envelope<M>) => boolean;
  readonly #replicas: number;
  readonly #duplicateRate: number;
  readonly #lossRate: number;
  readonly #deliver: (envelope: Envelope<M>) => void;
  #inFlight: Envelope<M>[] = [];
  #lost: Envelope<M>[] = [];
  #withheld: Envelope<M>[] = [];
  /** group[i]: replica i's side of the partition; a message moves only within a side. */
  #group: number[];
  #nextId = 0;
  readonly stats: NetworkStats = { delivered: 0, duplicated: 0, lost: 0, withheld: 0 };

  constructor(options: NetworkOptions<M>, deliver: (envelope: Envelope<M>) => void) {
    this.#random = new SeededRandom(options.seed);
    this.#replicas = options.replicas;
    this.#duplicateRate = options.duplicateRate ?? 0;
    this.#lossRate = options.lossRate ?? 0;
    this.#deliver = deliver;
    this.#ready = options.ready ?? (() => true);
    this.#group = Array.from({ length: options.replicas }, () => 0);
  }

  /** Sends `payload` from one replica to every other; `withhold` keeps it until `settle`'s very end. */
  broadcast(from: number, payload: M, withhold = false): void {
    for (let to = 0; to < this.#replicas; to++) if (to !== from) this.send(from, to, payload, withhold);
  }

  send(from: number, to: number, payload: M, withhold = false): void {
    const envelope: Envelope<M> = { id: this.#nextId++, from, to, payload };
    if (withhold) {
      this.#withheld.push(envelope);
      this.stats.withheld++;
    } else {
      this.#inFlight.push(envelope);
    }
  }

  /** Cuts the network: replicas in different groups cannot reach each other until `heal`. */
  partition(groups: readonly (readonly number[])[]): void {
    this.#group = Array.from({ length: this.#replicas }, () => -1);
    groups.forEach((members, g) => members.forEach((r) => (this.#group[r] = g)));
    // A replica named in no group is alone on its own side.
    this.#group = this.#group.map((g, r) => (g === -1 ? groups.length + r : g));
  }

  heal(): void {
    this.#group = this.#group.map(() => 0);
  }

  /** Delivers (or loses, or duplicates) one random deliverable message; false if none can move. */
  step(): boolean {
    const deliverable = this.#inFlight.flatMap((e, i) => (this.#group[e.from] === this.#group[e.to] && this.#ready(e) ? [i] : []));
    if (deliverable.length === 0) return false;
    const index = deliverable[this.#random.below(deliverable.length)] ?? 0;
    const envelope = this.#inFlight[index];
    if (envelope === undefined) return false;
    if (this.#random.chance(this.#lossRate)) {
      this.#inFlight.splice(index, 1);
      this.#lost.push(envelope);
      this.stats.lost++;
      return true;
    }
    if (this.#random.chance(this.#duplicateRate)) this.stats.duplicated++;
    else this.#inFlight.splice(index, 1);
    this.stats.delivered++;
    this.#deliver(envelope);
    return true;
  }

  /** Up to `count` steps. */
  run(count: number): void {
    for (let i = 0; i < count && this.step(); i++);
  }

  /** Lost messages go back in flight (the consumer re-reads from its committed offset). */
  resendLost(): void {
    this.#inFlight.push(...this.#lost);
    this.#lost = [];
  }

  /**
   * Heals the network and delivers everything: first all that is in flight or was lost (with no
   * more loss or duplication), then the withheld messages, in random order (each when ready).
   */
  settle(): void {
    this.heal();
    this.resendLost();
    this.#drain();
    this.#inFlight.push(...this.#withheld);
    this.#withheld = [];
    this.#drain();
    if (this.#inFlight.length > 0) throw new Error(`${this.#inFlight.length} messages can never be delivered (none is ready)`);
  }

  get pending(): number {
    return this.#inFlight.length + this.#lost.length + this.#withheld.length;
  }

  /** Delivers ready messages in random order until none is ready. */
  #drain(): void {
    for (;;) {
      const ready = this.#inFlight.flatMap((e, i) => (this.#ready(e) ? [i] : []));
      if (ready.length === 0) return;
      const [envelope] = this.#inFlight.splice(ready[this.#random.below(ready.length)] ?? 0, 1);
      if (envelope === undefined) return;
      this.stats.delivered++;
      this.#deliver(envelope);
    }
  }
}
