/**
 * The repair rate limit: a token bucket of keys per second with a burst, time injected. A repair
 * asks for its keys before sending them and waits for what `take` answers; a round that would
 * exceed the rate is slowed, never dropped (the next round would only find the keys again).
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(options: { readonly perSecond: number; readonly burst?: number; readonly now: () => number }) {
    if (!(options.perSecond > 0)) throw new RangeError(`expected a positive rate (got ${options.perSecond})`);
    this.#rate = options.perSecond;
    this.#burst = options.burst ?? options.perSecond;
    this.#now = options.now;
    this.#tokens = this.#burst;
    this.#at = options.now();
  }

  /** Takes `n` tokens (going into debt if need be) and returns how long to wait, in ms, before using them. */
  take(n: number): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#rate) * 1000);
  }
}
