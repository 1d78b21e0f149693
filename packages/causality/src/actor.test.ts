import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { actorId, compareDots, dotKey, isActorId, parseActor, type Dot } from './actor.ts';
import { anyActorArb, dotArb } from './arbitraries.ts';
import { CausalityError } from './causality-error.ts';

describe('actorId / parseActor', () => {
  it('round-trips every valid (region, epoch)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (region, epoch) => {
        const actor = actorId(region, epoch);
        expect(parseActor(actor)).toEqual({ region, epoch });
        expect(isActorId(actor)).toBe(true);
      }),
    );
  });

  it.each([
    ['', 1],
    ['EU', 1],
    ['1eu', 1],
    ['eu.west', 1],
    ['eu:1', 1],
    ['a'.repeat(33), 1],
    ['eu', 0],
    ['eu', -1],
    ['eu', 1.5],
    ['eu', Number.MAX_SAFE_INTEGER + 1],
    ['eu', NaN],
  ])('refuses region %j with epoch %j', (region, epoch) => {
    expect(() => actorId(region, epoch)).toThrow(CausalityError);
  });

  it.each(['eu', 'eu.', 'eu.0', 'eu.01', 'eu.+1', 'eu.1.2', 'EU.1', 'eu.1 ', '.1', 'eu.99999999999999999', 'eu.1e3'])('parseActor refuses %j', (actor) => {
    expect(() => parseActor(actor)).toThrow(/invalid actor id/);
    expect(isActorId(actor)).toBe(false);
  });

  it('gives one string per (region, epoch): parse then rebuild is the identity', () => {
    fc.assert(
      fc.property(anyActorArb, (actor) => {
        const { region, epoch } = parseActor(actor);
        expect(actorId(region, epoch)).toBe(actor);
      }),
    );
  });
});

describe('compareDots', () => {
  it('is a total order: antisymmetric, transitive, zero only for equal dots', () => {
    fc.assert(
      fc.property(dotArb(4), dotArb(4), dotArb(4), (a, b, c) => {
        expect(Math.sign(compareDots(a, b)) + Math.sign(compareDots(b, a))).toBe(0);
        expect(compareDots(a, b) === 0).toBe(a.actor === b.actor && a.counter === b.counter);
        if (compareDots(a, b) <= 0 && compareDots(b, c) <= 0) expect(compareDots(a, c)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('orders by actor in code-unit order, then counter numerically', () => {
    const dots: Dot[] = [
      { actor: 'eu.2', counter: 1 },
      { actor: 'eu.10', counter: 9 },
      { actor: 'eu.10', counter: 10 },
      { actor: 'ap-south.3', counter: 2 },
    ];
    expect([...dots].sort(compareDots).map(dotKey)).toEqual(['ap-south.3:2', 'eu.10:9', 'eu.10:10', 'eu.2:1']);
  });
});

describe('dotKey', () => {
  it('is injective', () => {
    fc.assert(
      fc.property(anyActorArb, anyActorArb, fc.integer({ min: 1 }), fc.integer({ min: 1 }), (a, b, m, n) => {
        expect(dotKey({ actor: a, counter: m }) === dotKey({ actor: b, counter: n })).toBe(a === b && m === n);
      }),
    );
  });
});
