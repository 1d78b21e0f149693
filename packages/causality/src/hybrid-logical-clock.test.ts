import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { dotArb, hex, hlcArb } from './arbitraries.ts';
import { CausalityError } from './causality-error.ts';
import {
  HLC_MAX_LOGICAL,
  HLC_MAX_PHYSICAL_MS,
  HybridLogicalClock,
  decodeHlc,
  encodeHlc,
  formatHlc,
  hlc,
  hlcAfter,
  hlcLogical,
  hlcPhysical,
  parseHlc,
  type Hlc,
} from './hybrid-logical-clock.ts';
import { compareStamped } from './lww-order.ts';

const BASE = 1_700_000_000_000;

type Event = { readonly kind: 'now'; readonly physical: number } | { readonly kind: 'receive'; readonly physical: number; readonly remote: Hlc };

/** Physical readings that jump around a base, backwards too; remotes behind, near and far ahead of them. */
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('now' as const), physical: fc.integer({ min: BASE - 5_000, max: BASE + 5_000 }) }),
  fc.record({
    kind: fc.constant('receive' as const),
    physical: fc.integer({ min: BASE - 5_000, max: BASE + 5_000 }),
    remote: fc.tuple(fc.integer({ min: BASE - 10_000, max: BASE + 100_000 }), fc.oneof(fc.constantFrom(0, HLC_MAX_LOGICAL), fc.nat({ max: HLC_MAX_LOGICAL }))).map(([p, l]) => hlc(p, l)),
  }),
);

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

describe('HLC: packing and forms', () => {
  it('pack/unpack round-trips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: HLC_MAX_PHYSICAL_MS }), fc.nat({ max: HLC_MAX_LOGICAL }), (physical, logical) => {
        const t = hlc(physical, logical);
        expect(hlcPhysical(t)).toBe(physical);
        expect(hlcLogical(t)).toBe(logical);
        expect(parseHlc(formatHlc(t))).toBe(t);
        expect(decodeHlc(encodeHlc(t))).toBe(t);
      }),
    );
  });

  it('orders by physical then logical', () => {
    fc.assert(
      fc.property(hlcArb, hlcArb, (a, b) => {
        const byParts = hlcPhysical(a) - hlcPhysical(b) || hlcLogical(a) - hlcLogical(b);
        expect(Math.sign(byParts)).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });

  it('formatHlc is 16 lower-case hex digits whose string order is the timestamp order, and so is encodeHlc byte order', () => {
    fc.assert(
      fc.property(fc.oneof(hlcArb, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), fc.oneof(hlcArb, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), (a, b) => {
        const [fa, fb] = [formatHlc(a), formatHlc(b)];
        expect(fa).toMatch(/^[0-9a-f]{16}$/);
        const bigintOrder = a < b ? -1 : a > b ? 1 : 0;
        expect(fa < fb ? -1 : fa > fb ? 1 : 0).toBe(bigintOrder);
        expect(Math.sign(Buffer.compare(encodeHlc(a), encodeHlc(b)))).toBe(bigintOrder);
      }),
    );
  });

  it.each([
    ['a negative physical part', () => hlc(-1, 0)],
    ['a physical part beyond 48 bits', () => hlc(HLC_MAX_PHYSICAL_MS + 1, 0)],
    ['a fractional physical part', () => hlc(1.5, 0)],
    ['a logical part beyond 16 bits', () => hlc(0, HLC_MAX_LOGICAL + 1)],
    ['a negative HLC', () => formatHlc(-1n)],
    ['an HLC beyond 64 bits', () => hlcPhysical(1n << 64n)],
    ['upper-case hex', () => parseHlc('00000000000000AB')],
    ['short hex', () => parseHlc('abc')],
    ['a signed string', () => parseHlc('-000000000000001')],
    ['7 bytes', () => decodeHlc(new Uint8Array(7))],
    ['overflow of the last timestamp', () => hlcAfter((1n << 64n) - 1n, 0)],
    ['a NaN physical reading', () => hlcAfter(0n, NaN)],
    ['a negative physical reading', () => hlcAfter(0n, -1)],
  ])('refuses %s', (_what, call) => {
    expect(call).toThrow(CausalityError);
  });
});

describe('HLC: hlcAfter, the per-key rule', () => {
  it('is after its input and not before now, and is the least such timestamp', () => {
    fc.assert(
      fc.property(hlcArb, fc.oneof(fc.integer({ min: BASE - 10, max: BASE + 10 }), fc.integer({ min: 0, max: HLC_MAX_PHYSICAL_MS })), (atLeast, nowMs) => {
        const t = hlcAfter(atLeast, nowMs);
        expect(t > atLeast).toBe(true);
        expect(t >= hlc(nowMs, 0)).toBe(true);
        expect(t === atLeast + 1n || t === hlc(nowMs, 0)).toBe(true);
      }),
    );
  });

  it('carries a logical overflow into the physical part', () => {
    expect(hlcAfter(hlc(BASE, HLC_MAX_LOGICAL), BASE)).toBe(hlc(BASE + 1, 0));
  });
});

describe('HybridLogicalClock', () => {
  it('is strictly monotonic under arbitrary, even backwards, physical clocks and receives', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000 }), fc.array(eventArb, { minLength: 1, maxLength: 80 }), (maxDriftMs, events) => {
        let physical = BASE;
        const clock = new HybridLogicalClock({ now: () => physical, maxDriftMs });
        let previous = clock.peek();
        for (const event of events) {
          physical = event.physical;
          const t = event.kind === 'now' ? clock.now() : clock.receive(event.remote).timestamp;
          expect(t > previous).toBe(true);
          expect(t >= hlc(physical, 0)).toBe(true);
          expect(clock.peek()).toBe(t);
          previous = t;
        }
      }),
    );
  });

  it('receive is after the remote and the previous local time, unless the remote is beyond the drift bound; then it is clamped and reported', () => {
    let clampedSeen = 0;
    let acceptedSeen = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000 }), fc.array(eventArb, { maxLength: 30 }), eventArb, (maxDriftMs, warmup, last) => {
        let physical = BASE;
        const clock = new HybridLogicalClock({ now: () => physical, maxDriftMs });
        for (const event of warmup) {
          physical = event.physical;
          if (event.kind === 'now') clock.now();
          else clock.receive(event.remote);
        }
        const remote = last.kind === 'receive' ? last.remote : hlc(last.physical, 7);
        physical = last.physical;
        const before = clock.peek();
        const { timestamp, drift } = clock.receive(remote);
        expect(timestamp > before).toBe(true);
        const bound = hlc(physical + maxDriftMs, HLC_MAX_LOGICAL);
        expect(clock.bound()).toBe(bound);
        if (drift === null) {
          acceptedSeen++;
          expect(timestamp > remote).toBe(true);
          expect(hlcPhysical(remote)).toBeLessThanOrEqual(physical + maxDriftMs);
          expect(timestamp).toBe(max(max(before + 1n, hlc(physical, 0)), remote + 1n));
        } else {
          clampedSeen++;
          expect(remote >= bound).toBe(true);
          expect(drift.remoteAheadMs).toBe(hlcPhysical(remote) - physical);
          expect(drift.remoteAheadMs).toBeGreaterThanOrEqual(maxDriftMs);
          // The remote pulls the clock up to the bound and no further.
          expect(timestamp).toBe(max(max(before + 1n, hlc(physical, 0)), bound));
          expect(hlcPhysical(timestamp)).toBeLessThanOrEqual(Math.max(hlcPhysical(before + 1n), physical + maxDriftMs));
        }
      }),
      { numRuns: 300 },
    );
    expect(clampedSeen).toBeGreaterThan(10);
    expect(acceptedSeen).toBeGreaterThan(10);
  });

  it('never lets remotes pull the clock beyond local time + maxDriftMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), hlcArb), { minLength: 1, maxLength: 50 }), (maxDriftMs, receives) => {
        let physical = BASE;
        const clock = new HybridLogicalClock({ now: () => physical, maxDriftMs });
        for (const [step, remote] of receives) {
          physical += step;
          const before = clock.peek();
          clock.receive(remote);
          expect(hlcPhysical(clock.peek())).toBeLessThanOrEqual(Math.max(hlcPhysical(before + 1n), physical + maxDriftMs));
        }
      }),
    );
  });

  it('reports a remote exactly at the bound as clamped: nothing after it fits', () => {
    const clock = new HybridLogicalClock({ now: () => BASE, maxDriftMs: 100 });
    expect(clock.receive(hlc(BASE + 100, HLC_MAX_LOGICAL - 1))).toEqual({ timestamp: hlc(BASE + 100, HLC_MAX_LOGICAL), drift: null });
    const fresh = new HybridLogicalClock({ now: () => BASE, maxDriftMs: 100 });
    expect(fresh.receive(hlc(BASE + 100, HLC_MAX_LOGICAL))).toEqual({ timestamp: hlc(BASE + 100, HLC_MAX_LOGICAL), drift: { remoteAheadMs: 100, clamped: true } });
  });

  it('refuses bad options and bad physical readings', () => {
    expect(() => new HybridLogicalClock({ now: () => BASE, maxDriftMs: -1 })).toThrow(CausalityError);
    expect(() => new HybridLogicalClock({ now: () => NaN, maxDriftMs: 1 }).now()).toThrow(/physical time/);
    expect(() => new HybridLogicalClock({ now: () => BASE, maxDriftMs: 1 }).receive(-5n)).toThrow(CausalityError);
  });
});

describe('compareStamped: the LWW order', () => {
  const stampedArb = fc.record({ hlc: fc.oneof(hlcArb, fc.constantFrom(hlc(BASE, 0), hlc(BASE, 1))), dot: dotArb(3) });

  it('is a total order by HLC, then dot', () => {
    fc.assert(
      fc.property(stampedArb, stampedArb, stampedArb, (a, b, c) => {
        expect(Math.sign(compareStamped(a, b)) + Math.sign(compareStamped(b, a))).toBe(0);
        if (a.hlc !== b.hlc) expect(Math.sign(compareStamped(a, b))).toBe(a.hlc < b.hlc ? -1 : 1);
        expect(compareStamped(a, b) === 0).toBe(a.hlc === b.hlc && a.dot.actor === b.dot.actor && a.dot.counter === b.dot.counter);
        if (compareStamped(a, b) <= 0 && compareStamped(b, c) <= 0) expect(compareStamped(a, c)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('breaks an HLC tie by dot', () => {
    const t = hlc(BASE, 3);
    expect(compareStamped({ hlc: t, dot: { actor: 'eu.1', counter: 9 } }, { hlc: t, dot: { actor: 'us.1', counter: 1 } })).toBeLessThan(0);
    expect(hex(encodeHlc(t))).toBe(formatHlc(t));
  });
});
