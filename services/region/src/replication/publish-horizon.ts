/**
 * The relay's commit-safe horizon (DESIGN §4): the highest outbox id it may publish without ever
 * skipping a lower id that commits late.
 *
 * A probe reads the highest committed outbox id and the transactions running at that moment
 * (the snapshot's xmin and xmax). Any of those may hold a lower id, not yet visible; once every
 * one of them has ended (a later probe's xmin ≥ this probe's xmax) the probe's id is safe: the
 * ids below it are committed or rolled back for good. A probe that has to wait is kept as
 * pending, and a later call's probe checks it, so the relay never polls the server in a loop.
 * (Waiting within a call instead, re-probing every 2 ms for up to 20 ms, was tried: under load
 * the relay stage's latency did not fall — docs/decisions/0006.)
 */

export interface HorizonProbe {
  /** The highest committed outbox id (0 when none). */
  readonly maxId: bigint;
  /** The oldest transaction still running, and the first not yet started, at the probe. */
  readonly xmin: bigint;
  readonly xmax: bigint;
}

export class PublishHorizon {
  readonly #probe: () => Promise<HorizonProbe>;
  #pending: { maxId: bigint; xmax: bigint } | undefined;

  constructor(probe: () => Promise<HorizonProbe>) {
    this.#probe = probe;
  }

  /** Whether a probe waits for transactions that were running when it was taken. */
  get waiting(): boolean {
    return this.#pending !== undefined;
  }

  /** Forgets a waiting probe (a relay that takes the lease starts from the stored position). */
  reset(): void {
    this.#pending = undefined;
  }

  /** The highest id that is safe to publish, never below `published` (what was published already). */
  async safe(published: bigint): Promise<bigint> {
    const probe = await this.#probe();
    let safe = published;
    if (this.#pending && probe.xmin >= this.#pending.xmax) {
      if (this.#pending.maxId > safe) safe = this.#pending.maxId;
      this.#pending = undefined;
    }
    if (probe.maxId <= safe) return safe;
    if (probe.xmin >= probe.xmax) {
      this.#pending = undefined;
      return probe.maxId;
    }
    // An earlier waiting probe is kept: its transactions end first.
    this.#pending ??= { maxId: probe.maxId, xmax: probe.xmax };
    return safe;
  }
}
