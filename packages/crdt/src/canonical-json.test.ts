/**
 * Canonical JSON text, the identity of set elements: member order never matters, and what is not plain
 * JSON is refused rather than silently changed into another element.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, canonicalJson, nestedDeeperThan, parseCanonicalJson } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts members by UTF-16 code units, drops whitespace, writes numbers the shortest way', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2.5, -0], c: 'é' }, A: null })).toBe('{"A":null,"a":{"c":"é","d":[1,2.5,0]},"b":1}');
    expect(canonicalJson({ '\u00e9': 1, z: 2, '\ud83d\ude00': 3 })).toBe('{"z":2,"é":1,"😀":3}');
    expect(canonicalJson(1e21)).toBe('1e+21');
    expect(canonicalJson('\ud800')).toBe('"\\ud800"'); // a lone surrogate is escaped: the text stays well-formed
  });

  it('is idempotent and independent of member order, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(parseCanonicalJson(text))).toBe(text);
        expect(canonicalJson(JSON.parse(JSON.stringify(value)))).toBe(text);
        expect(text.isWellFormed()).toBe(true);
      }),
    );
  });

  it('refuses what is not plain JSON instead of changing it', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const [value, message] of [
      [undefined, /undefined is not a JSON type/],
      [Number.POSITIVE_INFINITY, /finite/],
      [1n, /bigint/],
      [new Map(), /plain objects/],
      [[1, , 3], /holes/],
      [{ a: undefined }, /undefined/],
      [cyclic, /cycle/],
      [{ [Symbol('s')]: 1 }, /symbol/],
    ] as const) {
      expect(() => canonicalJson(value)).toThrow(message);
    }
    expect(canonicalJson(Object.assign(Object.create(null) as object, { a: 1 }))).toBe('{"a":1}');
    const shared = [1];
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":[1],"b":[1]}'); // shared, not cyclic
  });
});

/** `[[…[leaf]…]]`: `depth` arrays around `leaf`, built without recursion. */
function nested(depth: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

describe('nesting depth', () => {
  it('nestedDeeperThan measures values nested far deeper than the stack allows, and stops at the limit', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    expect(() => JSON.stringify(deep)).toThrow(RangeError); // what the region's value check used to do
    expect(nestedDeeperThan(deep, MAX_JSON_DEPTH)).toBe(true);
    expect(nestedDeeperThan(deep, 100_000)).toBe(false);
    expect(nestedDeeperThan(nested(64), 64)).toBe(false);
    expect(nestedDeeperThan(nested(65), 64)).toBe(true);
    expect(nestedDeeperThan([1, 'a', null, [], {}], 1)).toBe(true);
    expect(nestedDeeperThan('scalar', 0)).toBe(false);
  });

  it('canonicalJson refuses a value nested 5,000 deep with a CrdtError, not a stack overflow', () => {
    expect(() => canonicalJson(nested(5000), 'element')).toThrow(/nested deeper than 64/);
  });

  it('nestedDeeperThan(v, MAX_JSON_DEPTH) is exactly canonicalJson\'s depth rule', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 80 }), fc.jsonValue({ maxDepth: 3 }), (depth, leaf) => {
        const value = nested(depth, leaf);
        let refused = false;
        try {
          canonicalJson(value);
        } catch {
          refused = true;
        }
        expect(nestedDeeperThan(value, MAX_JSON_DEPTH)).toBe(refused);
      }),
    );
  });
});
