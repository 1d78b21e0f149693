/**
 * The OR-Set's semantics, case by case: add-wins, removes without tombstones, observed-context removes, and
 * exact causal contexts (a delta delivered after a later one still counts).
 */
import { CausalContext } from '@meridian/causality';
import { describe, expect, it } from 'vitest';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';
import { ORSet } from './or-set.ts';

const EU = 'eu.1';
const US = 'us.1';

function write(state: ORSet, delta: ORSet): ORSet {
  return state.join(delta);
}

describe('ORSet', () => {
  it('adds and removes elements identified by canonical JSON', () => {
    let s = ORSet.empty;
    s = write(s, s.add(EU, [{ b: 2, a: 1 }, 'x', 'x']));
    expect(s.has({ a: 1, b: 2 })).toBe(true);
    expect(s.size).toBe(2);
    expect(s.values()).toEqual(['x', { a: 1, b: 2 }]);
    s = write(s, s.remove([{ a: 1, b: 2 }]));
    expect(s.values()).toEqual(['x']);
  });

  it('a remove leaves no tombstone: its delta is an empty store plus the removed dots', () => {
    let s = ORSet.empty;
    s = write(s, s.add(EU, ['x']));
    const removal = s.remove(['x']);
    expect(removal.toJSON()).toEqual({ type: 'or-set', version: 1, context: { vv: { [EU]: 1 }, cloud: [] }, elements: [] });
    s = write(s, removal);
    expect(s.toJSON().elements).toEqual([]);
    expect(s.context.vector.get(EU)).toBe(1);
  });

  it('add wins over a concurrent remove', () => {
    let eu = ORSet.empty;
    eu = write(eu, eu.add(EU, ['x']));
    let us = eu;
    const removal = us.remove(['x']);
    us = write(us, removal);
    const readd = eu.add(EU, ['x']); // concurrent with the remove: a fresh dot the remove never saw
    eu = write(eu, readd);
    expect(eu.join(removal).has('x')).toBe(true);
    expect(us.join(readd).has('x')).toBe(true);
    expect(eu.join(us).equals(us.join(eu))).toBe(true);
  });

  it('an add supersedes the element’s older dots (one dot per concurrent add, not per add ever)', () => {
    let s = ORSet.empty;
    for (let i = 0; i < 5; i++) s = write(s, s.add(EU, ['x']));
    expect(s.dots('x')).toEqual([{ actor: EU, counter: 5 }]);
  });

  it('a remove with the client’s observed context removes only the adds that client saw', () => {
    let s = ORSet.empty;
    s = write(s, s.add(EU, ['x']));
    const seen = s.context;
    s = write(s, s.add(US, ['x'])); // an add the client did not see
    s = write(s, s.remove(['x'], seen));
    expect(s.has('x')).toBe(true);
    expect(s.dots('x')).toEqual([{ actor: US, counter: 1 }]);
  });

  it('exact contexts: a delta withheld and delivered last still counts (no compaction across a gap)', () => {
    let eu = ORSet.empty;
    const deltas: ORSet[] = [];
    for (const element of ['a', 'b', 'c']) {
      const delta = eu.add(EU, [element]);
      deltas.push(delta);
      eu = write(eu, delta);
    }
    const [first, second, third] = deltas as [ORSet, ORSet, ORSet];
    // us receives the third add first, then removes it: its context has eu.1:3 but not eu.1:1.
    let us = ORSet.empty.join(third);
    expect(us.context.contains({ actor: EU, counter: 1 })).toBe(false);
    us = write(us, us.remove(['c']));
    // The withheld adds arrive last and must not be mistaken for already-removed ones.
    us = us.join(second).join(first);
    expect(us.values()).toEqual(['a', 'b']);
    expect(us.context.vector.get(EU)).toBe(3);
  });

  it('one element added concurrently by 20 actors keeps 20 dots; the order still holds', () => {
    const adds = Array.from({ length: 20 }, (_, i) => ORSet.empty.add(`r${i}.1`, ['x']));
    const all = adds.reduce((s, d) => s.join(d), ORSet.empty);
    expect(all.dots('x')).toHaveLength(20);
    const most = adds.slice(1).reduce((s, d) => s.join(d), ORSet.empty);
    expect(most.leq(all)).toBe(true);
    expect(all.leq(most)).toBe(false);
    const removed = all.join(all.remove(['x']));
    expect(all.leq(removed)).toBe(true);
    expect(removed.leq(all)).toBe(false);
    expect(most.join(removed).has('x')).toBe(false);
    expect(removed.equals(ORSet.decode(removed.encode()))).toBe(true);
  });

  it('refuses values that are not plain JSON', () => {
    expect(() => ORSet.empty.add(EU, [undefined])).toThrow(CrdtError);
    expect(() => ORSet.empty.add(EU, [NaN])).toThrow(/finite/);
    expect(() => ORSet.empty.add(EU, [new Date(0)])).toThrow(/plain objects/);
  });

  describe('decoding refuses what no replica could have written', () => {
    const valid = (): ORSet => {
      const s = ORSet.empty;
      return s.join(s.add(EU, ['x', 'y']));
    };

    function expectDecodeError(bytes: Uint8Array, message: RegExp): void {
      try {
        ORSet.decode(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(CrdtError);
        expect((error as CrdtError).code).toBe(CrdtErrorCode.InvalidEncoding);
        expect((error as CrdtError).message).toMatch(message);
        return;
      }
      throw new Error('decoded');
    }

    it('trailing bytes, truncation, another type', () => {
      const bytes = valid().encode();
      expectDecodeError(Uint8Array.from([...bytes, 0]), /trailing/);
      expectDecodeError(bytes.slice(0, bytes.length - 1), /truncated/);
      expectDecodeError(Uint8Array.from([0x67, ...bytes.slice(1)]), /not an encoded ORSet/);
      expectDecodeError(Uint8Array.from([bytes[0] ?? 0, 9, ...bytes.slice(2)]), /format version/);
    });

    it('a dot outside the context', () => {
      const json = valid().toJSON();
      expect(() => ORSet.fromJSON({ ...json, context: CausalContext.fromDots([{ actor: EU, counter: 1 }]).toJSON() })).toThrow(/outside the causal context/);
    });

    it('a dot held twice, an element twice, unknown fields', () => {
      const json = valid().toJSON();
      const [x] = json.elements;
      expect(() => ORSet.fromJSON({ ...json, elements: [x, { value: 'y', dots: x?.dots }] })).toThrow(/held twice/);
      expect(() => ORSet.fromJSON({ ...json, elements: [x, x] })).toThrow(/appears twice/);
      expect(() => ORSet.fromJSON({ ...json, extra: 1 })).toThrow(/exactly the fields/);
    });
  });
});
