/**
 * G- and PN-counters: running-total deltas survive reordering and duplication, overflow is refused, values
 * stay exact beyond 2^53, and encodings are canonical.
 */
import { describe, expect, it } from 'vitest';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';
import { GCounter } from './g-counter.ts';
import { PNCounter, counterJson } from './pn-counter.ts';

const EU = 'eu.1';
const US = 'us.1';

describe('GCounter', () => {
  it('increments return the actor’s raised entry as the delta; join is entry-wise max', () => {
    let eu = GCounter.empty;
    const d1 = eu.increment(EU, 3);
    eu = eu.join(d1);
    const d2 = eu.increment(EU, 4);
    expect(d2.entries()).toEqual([[EU, 7]]);
    eu = eu.join(d2);
    const us = GCounter.empty.join(GCounter.empty.increment(US, 10));
    // Deltas out of order, duplicated: the entry is a running total, so the late d1 changes nothing.
    const merged = us.join(d2).join(d1).join(d2);
    expect(merged.value()).toBe(17n);
    expect(merged.equals(eu.join(us))).toBe(true);
  });

  it('refuses non-positive or fractional increments and overflow of an entry', () => {
    expect(() => GCounter.empty.increment(EU, 0)).toThrow(CrdtError);
    expect(() => GCounter.empty.increment(EU, 1.5)).toThrow(/positive safe integer/);
    expect(() => GCounter.empty.increment('not an actor', 1)).toThrow(/invalid actor id/);
    const full = GCounter.from({ [EU]: Number.MAX_SAFE_INTEGER });
    let code: string | undefined;
    try {
      full.increment(EU, 1);
    } catch (error) {
      code = (error as CrdtError).code;
    }
    expect(code).toBe(CrdtErrorCode.CounterOverflow);
  });

  it('is canonical: built in any order, the same bytes; zero entries dropped', () => {
    const a = GCounter.from([[US, 2], [EU, 1], ['ap.1', 0]]);
    const b = GCounter.from({ [EU]: 1, [US]: 2 });
    expect(a.encode()).toEqual(b.encode());
    expect(a.entries()).toEqual([[EU, 1], [US, 2]]);
    expect(() => GCounter.from([[EU, 1], [EU, 2]])).toThrow(/twice/);
  });

  it('equality compares entries, not just actors', () => {
    expect(GCounter.from({ [EU]: 1 }).equals(GCounter.from({ [EU]: 2 }))).toBe(false);
  });
});

describe('PNCounter', () => {
  it('sums increments and decrements exactly, beyond 2^53', () => {
    let c = PNCounter.empty;
    for (const [actor, n] of [[EU, 5], [US, -8], [EU, -2], [US, 1]] as const) c = c.join(c.increment(actor, n));
    expect(c.value()).toBe(-4n);
    expect(c.increments.entries()).toEqual([[EU, 5], [US, 1]]);
    expect(c.decrements.entries()).toEqual([[EU, 2], [US, 8]]);
    let big = PNCounter.empty;
    big = big.join(big.increment(EU, Number.MAX_SAFE_INTEGER)).join(big.increment(US, Number.MAX_SAFE_INTEGER));
    expect(big.value()).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER));
    expect(counterJson(big.value())).toBe('18014398509481982');
    expect(counterJson(-4n)).toBe(-4);
  });

  it('refuses a zero increment', () => {
    expect(() => PNCounter.empty.increment(EU, 0)).toThrow(/non-zero/);
  });

  it('decoding refuses non-canonical input', () => {
    const c = PNCounter.empty.increment(EU, 1);
    const bytes = c.encode();
    expect(PNCounter.decode(bytes).equals(c)).toBe(true);
    expect(() => PNCounter.decode(Uint8Array.from([...bytes, 0]))).toThrow(/trailing/);
    expect(() => PNCounter.fromJSON({ type: 'pn-counter', version: 1, increments: [[EU, 0]], decrements: [] })).toThrow(/positive/);
    expect(() => PNCounter.fromJSON({ type: 'pn-counter', version: 2, increments: [], decrements: [] })).toThrow(/version/);
    expect(() => GCounter.decode(bytes)).toThrow(/not an encoded GCounter/);
  });
});
