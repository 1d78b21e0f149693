/**
 * Hybrid logical clocks (Kulkarni, Demirbas, Madappa, Avva, Leone 2014), packed in 64 bits:
 * `(physical ms << 16) | logical`, so that comparing two timestamps is comparing two bigints, and
 * `formatHlc` (16 lower-case hex digits) and `encodeHlc` (8 bytes big-endian) keep that order as
 * strings and as bytes.
 *
 * Clock domain: the physical part is wall-clock milliseconds since the Unix epoch as read by the
 * injected `now()` on this region; it may go backwards (NTP steps) and the clock stays strictly
 * monotonic regardless: the logical part absorbs it, and a logical overflow carries into the
 * physical part (it is plain +1 on the packed value).
 *
 * The HLC orders concurrent versions under last-writer-wins; it never decides concurrency (dots
 * do). A peer's timestamp far ahead of local time is still applied by callers (the data is
 * committed elsewhere) but never drags this clock more than `maxDriftMs` ahead of local physical
 * time: one bad clock must not push every region's timestamps into the future. Such a receive is
 * reported so it can be flagged.
 */
import { CausalityError, CausalityErrorCode, describeValue } from './causality-error.ts';

export type Hlc = bigint;

export const HLC_MAX_PHYSICAL_MS = 2 ** 48 - 1;
export const HLC_MAX_LOGICAL = 0xffff;
const MAX_HLC = (1n << 64n) - 1n;

function hlcError(message: string): CausalityError {
  return new CausalityError(CausalityErrorCode.InvalidHlc, message);
}

function checkHlc(t: Hlc): Hlc {
  if (typeof t !== 'bigint' || t < 0n || t > MAX_HLC) throw hlcError(`invalid HLC: expected a bigint in [0, 2^64) (got ${describeValue(t)})`);
  return t;
}

/** Validates a physical clock reading: finite, in range; fractions of a millisecond are dropped. */
function physicalMs(reading: number): number {
  if (typeof reading !== 'number' || !(reading >= 0 && reading < HLC_MAX_PHYSICAL_MS + 1)) {
    throw hlcError(`invalid physical time: expected milliseconds in [0, 2^48) (got ${describeValue(reading)})`);
  }
  return Math.floor(reading);
}

/** Packs a timestamp; throws unless physicalMs is an integer in [0, 2^48) and logical in [0, 2^16). */
export function hlc(physical: number, logical: number): Hlc {
  if (!Number.isSafeInteger(physical) || physical < 0 || physical > HLC_MAX_PHYSICAL_MS) {
    throw hlcError(`invalid HLC physical part: expected an integer in [0, 2^48) (got ${describeValue(physical)})`);
  }
  if (!Number.isSafeInteger(logical) || logical < 0 || logical > HLC_MAX_LOGICAL) {
    throw hlcError(`invalid HLC logical part: expected an integer in [0, 65535] (got ${describeValue(logical)})`);
  }
  return (BigInt(physical) << 16n) | BigInt(logical);
}

export function hlcPhysical(t: Hlc): number {
  return Number(checkHlc(t) >> 16n);
}

export function hlcLogical(t: Hlc): number {
  return Number(checkHlc(t) & 0xffffn);
}

/** max(pack(now, 0), atLeast + 1): the per-key rule "max(now, key's highest HLC) + 1". */
export function hlcAfter(atLeast: Hlc, nowMs: number): Hlc {
  const floor = hlc(physicalMs(nowMs), 0);
  const next = checkHlc(atLeast) + 1n;
  if (next > MAX_HLC) throw hlcError('HLC overflow: no timestamp after 2^64 - 1');
  return floor > next ? floor : next;
}

/** 16 lower-case hex digits: string order equals timestamp order. */
export function formatHlc(t: Hlc): string {
  return checkHlc(t).toString(16).padStart(16, '0');
}

export function parseHlc(s: string): Hlc {
  if (typeof s !== 'string' || !/^[0-9a-f]{16}$/.test(s)) throw hlcError(`invalid HLC string: expected 16 lower-case hex digits (got ${describeValue(s)})`);
  return BigInt(`0x${s}`);
}

/** 8 bytes, big-endian: byte order (memcmp) equals timestamp order. */
export function encodeHlc(t: Hlc): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, checkHlc(t));
  return bytes;
}

export function decodeHlc(bytes: Uint8Array): Hlc {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 8) {
    throw new CausalityError(CausalityErrorCode.InvalidEncoding, `invalid encoded HLC: expected 8 bytes (got ${bytes instanceof Uint8Array ? bytes.length : describeValue(bytes)})`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
}

function driftBound(physical: number, maxDriftMs: number): Hlc {
  return hlc(Math.min(physical + maxDriftMs, HLC_MAX_PHYSICAL_MS), HLC_MAX_LOGICAL);
}

export type ReceiveResult =
  | { readonly timestamp: Hlc; readonly drift: null }
  | { readonly timestamp: Hlc; readonly drift: { readonly remoteAheadMs: number; readonly clamped: true } };

export interface HybridLogicalClockOptions {
  /** Physical time in ms since the Unix epoch (Date.now in production; injected for tests). */
  readonly now: () => number;
  /** How far ahead of local physical time a remote timestamp may pull this clock. */
  readonly maxDriftMs: number;
}

export class HybridLogicalClock {
  readonly #now: () => number;
  readonly #maxDriftMs: number;
  #last: Hlc = 0n;

  constructor(options: HybridLogicalClockOptions) {
    if (typeof options.now !== 'function') throw hlcError('HybridLogicalClock: expected options.now to be a function');
    if (!Number.isSafeInteger(options.maxDriftMs) || options.maxDriftMs < 0) {
      throw hlcError(`HybridLogicalClock: expected maxDriftMs to be a non-negative integer (got ${describeValue(options.maxDriftMs)})`);
    }
    this.#now = options.now;
    this.#maxDriftMs = options.maxDriftMs;
  }

  /** A timestamp greater than every one this clock has returned or received before. */
  now(): Hlc {
    this.#last = hlcAfter(this.#last, this.#now());
    return this.#last;
  }

  /**
   * Update-on-receive: the result is after the previous local timestamp and after `remote`, unless
   * `remote` is beyond the drift bound `pack(now + maxDriftMs, 65535)`: then the clock moves only up to
   * that bound (never past it on account of the remote), and the drift is reported. A remote
   * exactly at the bound counts as clamped too: nothing after it fits within the bound.
   */
  receive(remote: Hlc): ReceiveResult {
    checkHlc(remote);
    const physical = physicalMs(this.#now());
    const bound = driftBound(physical, this.#maxDriftMs);
    const clamped = remote >= bound;
    const pulled = clamped ? bound : remote + 1n;
    const local = hlcAfter(this.#last, physical);
    this.#last = pulled > local ? pulled : local;
    if (!clamped) return { timestamp: this.#last, drift: null };
    return { timestamp: this.#last, drift: { remoteAheadMs: hlcPhysical(remote) - physical, clamped: true } };
  }

  /**
   * The drift bound now, `pack(now + maxDriftMs, 65535)`: the highest timestamp a remote may pull
   * this clock to. Callers that keep a remote's timestamp as a floor for later local ones (a key's
   * highest HLC) keep it only up to here, so a fast clock cannot drag later local writes with it.
   */
  bound(): Hlc {
    return driftBound(physicalMs(this.#now()), this.#maxDriftMs);
  }

  /** The latest timestamp this clock has issued (0n before the first); reads no physical time. */
  peek(): Hlc {
    return this.#last;
  }
}
