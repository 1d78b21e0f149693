/**
 * LWW register (greatest (HLC, dot) in any join order) and MV register (siblings are exactly the writes no
 * other write saw; stale and blind writes keep what they did not see).
 */
import { VersionVector } from '@meridian/causality';
import { describe, expect, it } from 'vitest';
import { LwwRegister } from './lww-register.ts';
import { MvRegister } from './mv-register.ts';

const EU = 'eu.1';
const US = 'us.1';

describe('LwwRegister', () => {
  it('keeps the greatest (HLC, dot), in any join order', () => {
    const a = LwwRegister.of('a', { hlc: 5n, dot: { actor: US, counter: 1 } });
    const b = LwwRegister.of('b', { hlc: 7n, dot: { actor: EU, counter: 1 } });
    const c = LwwRegister.of('c', { hlc: 7n, dot: { actor: EU, counter: 2 } }); // same HLC: the greater dot
    for (const order of [[a, b, c], [c, b, a], [b, c, a]]) {
      expect(order.reduce((x, y) => x.join(y), LwwRegister.empty).value()).toBe('c');
    }
    expect(a.join(b).stamp()).toEqual({ hlc: 7n, dot: { actor: EU, counter: 1 } });
  });

  it('a write with a lower stamp loses (the service stamps after what it saw)', () => {
    const current = LwwRegister.of('current', { hlc: 9n, dot: { actor: EU, counter: 1 } });
    expect(current.join(current.set('late', { hlc: 8n, dot: { actor: US, counter: 1 } })).value()).toBe('current');
  });

  it('refuses invalid stamps and values', () => {
    expect(() => LwwRegister.of('x', { hlc: -1n, dot: { actor: EU, counter: 1 } })).toThrow(/HLC/);
    expect(() => LwwRegister.of('x', { hlc: 1n, dot: { actor: 'EU', counter: 1 } })).toThrow(/invalid dot/);
    expect(() => LwwRegister.of(undefined as never, { hlc: 1n, dot: { actor: EU, counter: 1 } })).toThrow(/not plain JSON/);
  });

  it('round-trips through bytes and JSON, the HLC as 16 hex digits', () => {
    const r = LwwRegister.of({ z: 1, a: [true, null] }, { hlc: (1_700_000_000_000n << 16n) | 3n, dot: { actor: EU, counter: 4 } });
    expect(LwwRegister.decode(r.encode()).equals(r)).toBe(true);
    expect(r.toJSON()).toEqual({ type: 'lww-register', version: 1, write: { hlc: '018bcfe568000003', dot: [EU, 4], value: { a: [true, null], z: 1 } } });
    expect(LwwRegister.fromJSON(r.toJSON()).equals(r)).toBe(true);
    expect(LwwRegister.decode(LwwRegister.empty.encode()).isBottom()).toBe(true);
  });
});

describe('MvRegister', () => {
  it('keeps exactly the concurrent writes as siblings', () => {
    const eu = MvRegister.empty.write('from eu', EU).delta;
    const us = MvRegister.empty.write('from us', US).delta;
    const both = eu.join(us);
    expect(both.values()).toEqual(['from eu', 'from us']);
    // A write that read both supersedes both.
    const resolved = both.write('resolved', EU, both.context()).delta;
    expect(resolved.values()).toEqual(['resolved']);
    expect(resolved.join(eu).join(us).values()).toEqual(['resolved']);
  });

  it('a write with a stale context keeps what its client did not see; a blind write keeps everything', () => {
    const first = MvRegister.empty.write(1, EU).delta;
    const staleContext = first.context();
    const second = first.write(2, US, first.context()).delta;
    const third = second.write(3, EU, staleContext).delta; // saw 1, not 2
    expect(third.values().sort()).toEqual([2, 3]);
    const blind = third.write(4, US).delta;
    expect(blind.values().sort()).toEqual([2, 3, 4]);
    expect(blind.write(5, US, VersionVector.empty).delta.values().sort()).toEqual([2, 3, 4, 5]);
  });

  it('round-trips through bytes and JSON', () => {
    const r = MvRegister.empty.write({ b: 1, a: 2 }, EU).delta.join(MvRegister.empty.write([1], US).delta);
    expect(MvRegister.decode(r.encode()).equals(r)).toBe(true);
    expect(MvRegister.fromJSON(JSON.parse(JSON.stringify(r.toJSON()))).equals(r)).toBe(true);
    expect(r.siblings()).toEqual([
      { dot: { actor: EU, counter: 1 }, value: { a: 2, b: 1 } },
      { dot: { actor: US, counter: 1 }, value: [1] },
    ]);
    expect(() => MvRegister.decode(r.encode().slice(0, 5))).toThrow(/truncated/);
  });
});
