import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ACTORS, actorArb, counterRecordArb, hex, vectorArb, wideVectorArb } from './arbitraries.ts';
import { CausalityError } from './causality-error.ts';
import { VersionVector, type Ordering } from './version-vector.ts';

/** The reference semantics: a plain record, absent = 0. */
const at = (record: Record<string, number>, actor: string): number => record[actor] ?? 0;

describe('VersionVector: join is a semilattice join', () => {
  it('is commutative', () => {
    fc.assert(
      fc.property(vectorArb(), vectorArb(), (a, b) => {
        expect(a.join(b).equals(b.join(a))).toBe(true);
      }),
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(vectorArb(), vectorArb(), vectorArb(), (a, b, c) => {
        expect(a.join(b).join(c).equals(a.join(b.join(c)))).toBe(true);
      }),
    );
  });

  it('is idempotent', () => {
    fc.assert(fc.property(vectorArb(), vectorArb(), (a, b) => {
      expect(a.join(a).equals(a)).toBe(true);
      expect(a.join(b).join(b).equals(a.join(b))).toBe(true);
    }));
  });

  it('is the least upper bound: dominates both inputs, and is dominated by every upper bound', () => {
    fc.assert(
      fc.property(counterRecordArb(), counterRecordArb(), fc.array(fc.nat({ max: 3 }), { minLength: ACTORS.length, maxLength: ACTORS.length }), (ra, rb, extra) => {
        const a = VersionVector.from(ra);
        const b = VersionVector.from(rb);
        const joined = a.join(b);
        expect(joined.dominates(a)).toBe(true);
        expect(joined.dominates(b)).toBe(true);
        // An arbitrary upper bound, built without join: max of the records plus any non-negative slack.
        const upper = VersionVector.from(ACTORS.map((actor, i) => [actor, Math.max(at(ra, actor), at(rb, actor)) + (extra[i] ?? 0)] as const));
        expect(upper.dominates(a) && upper.dominates(b)).toBe(true);
        expect(upper.dominates(joined)).toBe(true);
        for (const actor of ACTORS) expect(joined.get(actor)).toBe(Math.max(at(ra, actor), at(rb, actor)));
      }),
    );
  });
});

describe('VersionVector: compare and dominates', () => {
  it('compare agrees with dominates, and is antisymmetric', () => {
    const mirror: Record<Ordering, Ordering> = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' };
    const seen = new Set<Ordering>();
    fc.assert(
      fc.property(vectorArb(2), vectorArb(2), (a, b) => {
        const ab = a.compare(b);
        seen.add(ab);
        expect(b.compare(a)).toBe(mirror[ab]);
        const expected: Ordering = a.dominates(b) ? (b.dominates(a) ? 'equal' : 'after') : b.dominates(a) ? 'before' : 'concurrent';
        expect(ab).toBe(expected);
        expect(ab === 'equal').toBe(a.equals(b));
      }),
      { numRuns: 300 },
    );
    // The property is only worth something if every outcome was exercised.
    expect([...seen].sort()).toEqual(['after', 'before', 'concurrent', 'equal']);
  });

  it('dominates agrees with the element-wise reference', () => {
    fc.assert(
      fc.property(counterRecordArb(2), counterRecordArb(2), (ra, rb) => {
        const expected = ACTORS.every((actor) => at(ra, actor) >= at(rb, actor));
        expect(VersionVector.from(ra).dominates(VersionVector.from(rb))).toBe(expected);
      }),
    );
  });

  it('increment yields a vector strictly after, whose new dot it contains and the old one does not', () => {
    fc.assert(
      fc.property(vectorArb(), actorArb, (v, actor) => {
        const { vector, dot } = v.increment(actor);
        expect(v.compare(vector)).toBe('before');
        expect(dot).toEqual({ actor, counter: v.get(actor) + 1 });
        expect(vector.contains(dot)).toBe(true);
        expect(v.contains(dot)).toBe(false);
        expect(vector.actors()).toEqual([...new Set([...v.actors(), actor])].sort());
      }),
    );
  });
});

describe('VersionVector: forms', () => {
  it('entries are sorted by actor, zeros omitted, and from() of them is the same vector', () => {
    fc.assert(
      fc.property(counterRecordArb(), (record) => {
        const v = VersionVector.from(record);
        const expected = Object.entries(record).filter(([, n]) => n > 0).sort(([x], [y]) => (x < y ? -1 : 1));
        expect(v.entries()).toEqual(expected);
        expect(VersionVector.from(v.entries()).equals(v)).toBe(true);
        expect(VersionVector.from(new Map(v.entries())).equals(v)).toBe(true);
      }),
    );
  });

  it('round-trips through encode/decode and JSON, with canonical bytes', () => {
    fc.assert(
      fc.property(wideVectorArb, (v) => {
        const bytes = v.encode();
        const decoded = VersionVector.decode(bytes);
        expect(decoded.equals(v)).toBe(true);
        expect(hex(decoded.encode())).toBe(hex(bytes));
        expect(VersionVector.fromJSON(JSON.parse(JSON.stringify(v)))).toEqual(v);
        expect(VersionVector.fromJSON(v.toJSON()).equals(v)).toBe(true);
      }),
    );
  });

  it('equal vectors built in any order have byte-equal encodings', () => {
    fc.assert(
      fc.property(counterRecordArb(), (record) => {
        const forwards = VersionVector.from(Object.entries(record));
        const backwards = VersionVector.from(Object.entries(record).reverse());
        expect(hex(forwards.encode())).toBe(hex(backwards.encode()));
      }),
    );
  });

  it('fromJSON accepts exactly the valid records and rejects any other value', () => {
    const isValidRecord = (value: unknown): boolean =>
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      [Object.prototype, null].includes(Object.getPrototypeOf(value) as object | null) &&
      Object.entries(value).every(([k, n]) => /^[a-z][a-z0-9-]{0,31}\.[1-9][0-9]*$/.test(k) && Number.isSafeInteger(Number(k.split('.')[1])) && Number.isSafeInteger(n) && (n as number) >= 0);
    fc.assert(
      fc.property(fc.oneof(fc.anything(), counterRecordArb(), fc.dictionary(fc.oneof(actorArb, fc.string()), fc.oneof(fc.integer(), fc.double(), fc.string()))), (json) => {
        let result: VersionVector | CausalityError;
        try {
          result = VersionVector.fromJSON(json);
        } catch (error) {
          expect(error).toBeInstanceOf(CausalityError);
          result = error as CausalityError;
        }
        expect(result instanceof VersionVector).toBe(isValidRecord(json));
      }),
    );
  });

  it.each([
    ['null', null],
    ['an array', [['eu.1', 1]]],
    ['a string', 'eu.1'],
    ['a negative counter', { 'eu.1': -1 }],
    ['a fractional counter', { 'eu.1': 1.5 }],
    ['an unsafe counter', { 'eu.1': 2 ** 53 }],
    ['a string counter', { 'eu.1': '1' }],
    ['a bad actor', { eu: 1 }],
    ['a __proto__ key', JSON.parse('{"__proto__": 1}') as unknown],
    ['a class instance', new Map([['eu.1', 1]])],
  ])('fromJSON rejects %s', (_what, json) => {
    expect(() => VersionVector.fromJSON(json)).toThrow(CausalityError);
  });

  it('from() refuses an actor given twice', () => {
    expect(() => VersionVector.from([['eu.1', 1], ['eu.1', 2]])).toThrow(/twice/);
  });

  it('is immutable', () => {
    const v = VersionVector.from({ 'eu.1': 1 });
    const entries = v.entries();
    entries[0]![1] = 99;
    expect(v.get('eu.1')).toBe(1);
    expect(Object.isFrozen(v)).toBe(true);
    expect(v.increment('eu.1').vector.get('eu.1')).toBe(2);
    expect(v.get('eu.1')).toBe(1);
  });
});
