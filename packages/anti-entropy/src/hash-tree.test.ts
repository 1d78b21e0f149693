/**
 * The hash tree's laws: a tree kept up to date through any sequence of writes, rewrites and
 * deletes equals the tree rebuilt from the final keys; the order keys arrive in never matters;
 * every key is counted in exactly one segment (the counts add up, and counting a key twice is
 * visible); branches and the root are the XOR of the level below.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BRANCH_WIDTH, HashTree, SEGMENTS, branchOf, differing, differingKeys, keyHash, keyIdentity, segmentOf, segmentsOf } from './hash-tree.ts';

const op = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: fc.string({ maxLength: 4 }), state: fc.uint8Array({ maxLength: 6 }) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.string({ maxLength: 4 }) }),
);

function rebuilt(ns: string, keys: ReadonlyMap<string, Uint8Array>): HashTree {
  const tree = new HashTree();
  for (const [key, state] of keys) tree.add(ns, key, state);
  return tree;
}

describe('HashTree', () => {
  it('kept current through any writes and deletes, equals the tree rebuilt from scratch', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3 }), fc.array(op, { maxLength: 60 }), (ns, ops) => {
        const tree = new HashTree();
        const keys = new Map<string, Uint8Array>();
        for (const o of ops) {
          const old = keys.get(o.key);
          if (old) tree.remove(ns, o.key, old);
          if (o.kind === 'put') {
            tree.add(ns, o.key, o.state);
            keys.set(o.key, o.state);
          } else keys.delete(o.key);
        }
        const fresh = rebuilt(ns, keys);
        expect(tree.segments()).toEqual(fresh.segments());
        expect(tree.root()).toEqual(fresh.root());
        expect(tree.root().keys).toBe(keys.size);
      }),
    );
  });

  it('is independent of the order keys arrive in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.string({ maxLength: 5 }), fc.uint8Array({ maxLength: 4 })), { selector: ([k]) => k, maxLength: 30 }), fc.infiniteStream(fc.nat()), (entries, seeds) => {
        const shuffled = [...entries].map((e) => [seeds.next().value as number, e] as const).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
        expect(rebuilt('ns', new Map(shuffled)).segments()).toEqual(rebuilt('ns', new Map(entries)).segments());
      }),
    );
  });

  it('counts every key in exactly one segment, and a key counted twice shows', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 40 }), (keys) => {
        const tree = rebuilt('n', new Map(keys.map((k) => [k, new Uint8Array([1])])));
        expect([...tree.segments().values()].reduce((n, s) => n + s.keys, 0)).toBe(keys.length);
        // Each key is counted in the one segment segmentOf names, and nowhere else.
        const expected = new Map<number, number>();
        for (const k of keys) expected.set(segmentOf('n', k), (expected.get(segmentOf('n', k)) ?? 0) + 1);
        expect(new Map([...tree.segments()].map(([s, summary]) => [s, summary.keys]))).toEqual(expected);
        if (keys.length > 0) {
          const twice = rebuilt('n', new Map(keys.map((k) => [k, new Uint8Array([1])]))).add('n', keys[0]!, new Uint8Array([1]));
          // XOR cancels the hash of a key counted twice; its count does not.
          expect(differing(twice.segments(), tree.segments())).toEqual([segmentOf('n', keys[0]!)]);
        }
      }),
    );
  });

  it('combines segments into branches and the root by XOR', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 40 }), (keys) => {
        const tree = rebuilt('n', new Map(keys.map((k) => [k, new Uint8Array([k.length])])));
        let root = 0n;
        for (const [b, summary] of tree.branches()) {
          let x = 0n;
          for (const [s, seg] of tree.segments()) if (branchOf(s) === b) x ^= seg.hash;
          expect(summary.hash).toBe(x);
          root ^= summary.hash;
        }
        expect(tree.root().hash).toBe(root);
      }),
    );
  });

  it('separates namespace from key, and segments fall in range', () => {
    expect(keyIdentity('ab', 'c')).not.toEqual(keyIdentity('a', 'bc'));
    expect(keyHash('ab', 'c', new Uint8Array())).not.toBe(keyHash('a', 'bc', new Uint8Array()));
    fc.assert(fc.property(fc.string(), fc.string(), (ns, k) => {
      const s = segmentOf(ns, k);
      expect(s >= 0 && s < SEGMENTS).toBe(true);
      expect(segmentsOf(branchOf(s))).toContain(s);
    }));
    expect(segmentsOf(3)).toHaveLength(BRANCH_WIDTH);
  });

  it('lists differing keys: missing on either side or with another hash', () => {
    expect(differingKeys(new Map([['a', 1n], ['b', 2n], ['c', 3n]]), new Map([['b', 2n], ['c', 4n], ['d', 5n]]))).toEqual(['a', 'c', 'd']);
  });
});
