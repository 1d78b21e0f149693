/**
 * Pages of sets and maps: walking a collection page by page, with any limit, yields exactly what
 * a whole read yields, in the same order; a page's position survives writes between pages.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pageKeys } from './collection-page.ts';
import { canonicalJson, type JsonValue } from './canonical-json.ts';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';
import { ORMap } from './or-map.ts';
import { ORSet } from './or-set.ts';

const EU = 'eu.1';

/** Every page of a collection, from the start, following `next`. */
function walk<E>(page: (after: string | undefined) => { entries: E[]; next: string | undefined }): { entries: E[]; pages: number } {
  const entries: E[] = [];
  let after: string | undefined;
  let pages = 0;
  for (;;) {
    const p = page(after);
    pages++;
    entries.push(...p.entries);
    if (p.next === undefined) return { entries, pages };
    after = p.next;
  }
}

const element: fc.Arbitrary<JsonValue> = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -50, max: 50 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }));

describe('collection pages', () => {
  it('a set walked page by page is its whole value, in order, for any limit', () => {
    fc.assert(
      fc.property(fc.array(element, { maxLength: 40 }), fc.integer({ min: 1, max: 12 }), (elements, limit) => {
        const s = ORSet.empty.update({ add: elements }, EU).state;
        const { entries, pages } = walk((after) => {
          const p = s.page(after, limit);
          return { entries: p.elements, next: p.next };
        });
        expect(entries).toEqual(s.values());
        expect(pages).toBe(Math.max(1, Math.ceil(s.size / limit)));
      }),
    );
  });

  it('a map walked page by page is its whole value, field by field, for any limit', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 5 }), { maxLength: 30 }), fc.integer({ min: 1, max: 9 }), (names, limit) => {
        let m = ORMap.empty;
        names.forEach((name, i) => {
          const delta = i % 3 === 0 ? m.set(EU, BigInt(i + 1), name, name) : i % 3 === 1 ? m.increment(EU, name, i) : m.add(EU, name, [i]);
          m = m.join(delta);
        });
        const { entries } = walk((after) => {
          const p = m.page(after, limit);
          return { entries: p.fields, next: p.next };
        });
        expect(entries.map(([name]) => name)).toEqual(m.fields());
        expect(Object.fromEntries(entries)).toEqual(m.value());
      }),
    );
  });

  it('a page starts after its position even when that entry was removed meanwhile', () => {
    let s = ORSet.empty.update({ add: ['a', 'b', 'c', 'd'] }, EU).state;
    const first = s.page(undefined, 2);
    expect(first).toEqual({ elements: ['a', 'b'], next: canonicalJson('b') });
    s = s.update({ remove: ['b'] }, undefined).state;
    s = s.update({ add: ['a0'] }, EU).state;
    expect(s.page(first.next, 2)).toEqual({ elements: ['c', 'd'], next: undefined });
  });

  it('refuses a limit that is not a positive integer', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => pageKeys(['"a"'], undefined, limit)).toThrow(CrdtError);
      try {
        pageKeys([], undefined, limit);
      } catch (error) {
        expect((error as CrdtError).code).toBe(CrdtErrorCode.InvalidValue);
      }
    }
  });

  it('an empty collection is one empty page', () => {
    expect(ORSet.empty.page(undefined, 5)).toEqual({ elements: [], next: undefined });
    expect(ORMap.empty.page(undefined, 5)).toEqual({ fields: [], next: undefined });
  });
});
