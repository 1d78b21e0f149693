import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyRow, NamespaceRow } from '@meridian/store';
import { ORSet } from '@meridian/crdt';
import { WriteCache } from './write-cache.ts';

const ns = (name: string, policy: NamespaceRow['policy'] = 'lww'): NamespaceRow => ({ name, policy, declaredBy: 'eu.1', declaredHlc: 1n, createdAt: new Date(0) });
const row = (key: string, maxHlc: bigint, size = 100): KeyRow => ({ namespace: 'n', key, state: new Uint8Array(size), maxHlc });

describe('WriteCache', () => {
  it('returns what was stored for a key, and nothing for other keys or namespaces', () => {
    const cache = new WriteCache(1 << 20);
    cache.set(ns('n'), row('a', 5n));
    expect(cache.get('n', 'a')).toEqual({ namespace: ns('n'), key: row('a', 5n) });
    expect(cache.get('n', 'b')).toBeUndefined();
    expect(cache.get('m', 'a')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2 });
    cache.delete('n', 'a');
    expect(cache.get('n', 'a')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('keeps no set above the split threshold, and forgets what it held of it (its writes plan from rows)', () => {
    // Found by review: whole states of split keys were cached, so the next write decoded, planned
    // and rewrote the whole collection, only to be refused.
    const cache = new WriteCache(1 << 20, 2);
    const set = (n: number): Uint8Array => {
      let s = ORSet.empty;
      for (let i = 0; i < n; i++) s = s.join(s.add('eu.1', [i]));
      return s.encode();
    };
    cache.set(ns('s', 'set'), { namespace: 's', key: 'k', state: set(2), maxHlc: 1n });
    expect(cache.get('s', 'k')).toBeDefined();
    cache.set(ns('s', 'set'), { namespace: 's', key: 'k', state: set(3), maxHlc: 2n });
    expect(cache.get('s', 'k')).toBeUndefined();
  });

  it("follows an apply's rows: keeps a whole state, drops the key for a partial one (some rows of a split collection)", () => {
    const cache = new WriteCache(1 << 20);
    cache.set(ns('n'), row('a', 5n));
    cache.follow({ namespace: ns('n'), key: row('a', 6n, 10) });
    expect(cache.get('n', 'a')?.key?.state?.byteLength).toBe(10);
    cache.follow({ namespace: ns('n'), key: row('a', 7n, 3), partial: true });
    expect(cache.get('n', 'a')).toBeUndefined();
  });

  it('keeps the later of two answers for one key (a row\'s highest HLC never goes back)', () => {
    const cache = new WriteCache(1 << 20);
    cache.set(ns('n'), row('a', 7n));
    cache.set(ns('n'), row('a', 6n));
    expect(cache.get('n', 'a')?.key?.maxHlc).toBe(7n);
    cache.set(ns('n', 'mv'), row('a', 7n));
    expect(cache.get('n', 'a')?.namespace?.policy).toBe('mv');
  });

  it('stays within its byte limit; the CLOCK hand spares a key rewritten since it last passed', () => {
    const cache = new WriteCache(10_000);
    for (let i = 0; i < 100; i++) cache.set(ns('n'), row(`k${i}`, BigInt(i), 500));
    const { entries, bytes } = cache.stats();
    expect(bytes).toBeLessThanOrEqual(10_000);
    expect(entries).toBeGreaterThan(5);
    expect(cache.get('n', 'k99')).toBeDefined();
    expect(cache.get('n', 'k0')).toBeUndefined();
    // Rewriting the oldest key spares it when the hand next reaches it: as many new keys again
    // as the cache holds push out every other old key, not it.
    const kept = 100 - entries;
    expect(cache.get('n', `k${kept}`)).toBeDefined();
    cache.set(ns('n'), row(`k${kept}`, 1000n, 500));
    for (let i = 100; i < 100 + entries - 1; i++) cache.set(ns('n'), row(`k${i}`, BigInt(i), 500));
    expect(cache.get('n', `k${kept}`)).toBeDefined();
    expect(cache.get('n', `k${kept + 1}`)).toBeUndefined();
    // A state larger than the whole cache is not kept, and drops what the key had.
    cache.set(ns('n'), row(`k${kept}`, 2000n, 20_000));
    expect(cache.get('n', `k${kept}`)).toBeUndefined();
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
  });

  it('answers a copy: a later write of the key does not change a snapshot already handed out', () => {
    const cache = new WriteCache(1 << 20);
    cache.set(ns('n'), { namespace: 'n', key: 'a', state: new Uint8Array([1, 2, 3]), maxHlc: 1n });
    const first = cache.get('n', 'a')!.key!;
    cache.set(ns('n'), { namespace: 'n', key: 'a', state: new Uint8Array([9, 9]), maxHlc: 2n });
    expect([...first.state!]).toEqual([1, 2, 3]);
    expect(first.maxHlc).toBe(1n);
    expect([...cache.get('n', 'a')!.key!.state!]).toEqual([9, 9]);
    // and the stored state is copied in: changing the caller's bytes changes nothing cached.
    const mine = new Uint8Array([4, 4, 4, 4]);
    cache.set(ns('n'), { namespace: 'n', key: 'a', state: mine, maxHlc: 3n });
    mine[0] = 7;
    expect([...cache.get('n', 'a')!.key!.state!]).toEqual([4, 4, 4, 4]);
    // A row without a state (inserted, not yet written) stays distinct from an empty state.
    cache.set(ns('n'), { namespace: 'n', key: 'a', state: undefined, maxHlc: 4n });
    expect(cache.get('n', 'a')!.key!.state).toBeUndefined();
    cache.set(ns('n'), { namespace: 'n', key: 'a', state: new Uint8Array(0), maxHlc: 5n });
    expect(cache.get('n', 'a')!.key!.state).toEqual(new Uint8Array(0));
  });

  it('shares one namespace row among a namespace\'s keys, and takes a changed one for all of them', () => {
    const cache = new WriteCache(1 << 20);
    cache.set(ns('n'), row('a', 1n));
    cache.set(ns('n'), row('b', 2n));
    cache.set(ns('m'), row('a', 3n));
    expect(cache.get('n', 'a')!.namespace).toBe(cache.get('n', 'b')!.namespace);
    expect(cache.get('m', 'a')!.namespace!.name).toBe('m');
    // A replicated declaration replaced the policy: the newer row is what every key of n answers
    // (a key planned from the old one would lose its compare-and-write, never store wrongly).
    cache.set(ns('n', 'mv'), row('b', 4n));
    expect(cache.get('n', 'a')!.namespace!.policy).toBe('mv');
    expect(cache.get('m', 'a')!.namespace!.policy).toBe('lww');
    // Once no key of a namespace is cached, its row goes too: a later write brings its own.
    cache.delete('n', 'a');
    cache.delete('n', 'b');
    cache.set(ns('n', 'lww'), row('c', 5n));
    expect(cache.get('n', 'c')!.namespace!.policy).toBe('lww');
  });

  it('grows past its first columns without losing or mixing up a key', () => {
    const cache = new WriteCache(1 << 22);
    for (let i = 0; i < 1000; i++) cache.set(ns('n'), { namespace: 'n', key: `k${i}`, state: Uint8Array.of(i & 255, i >> 8), maxHlc: BigInt(i + 1) });
    expect(cache.stats().entries).toBe(1000);
    for (let i = 0; i < 1000; i++) {
      const got = cache.get('n', `k${i}`)!.key!;
      expect(got.maxHlc).toBe(BigInt(i + 1));
      expect([...got.state!]).toEqual([i & 255, i >> 8]);
    }
  });

  it('holds nothing with a limit of 0', () => {
    const cache = new WriteCache(0);
    cache.set(ns('n'), row('a', 1n));
    expect(cache.get('n', 'a')).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
  });

  it('copies a state that is a view of a larger buffer, so it does not keep that buffer alive', () => {
    const cache = new WriteCache(1 << 20);
    const big = new Uint8Array(1 << 16);
    big.set([1, 2, 3], 100);
    cache.set(ns('n'), { namespace: 'n', key: 'v', state: big.subarray(100, 103), maxHlc: 1n });
    const state = cache.get('n', 'v')!.key!.state!;
    expect([...state]).toEqual([1, 2, 3]);
    expect(state.buffer.byteLength).toBeLessThan(1024);
    // A small Buffer from Node's pool (as the driver parses a bytea): its `slice` is a view.
    const pooled = Buffer.from('0a0b0c', 'hex');
    expect(pooled.buffer.byteLength).toBeGreaterThan(1024);
    cache.set(ns('n'), { namespace: 'n', key: 'p', state: pooled, maxHlc: 1n });
    const copied = cache.get('n', 'p')!.key!.state!;
    expect([...copied]).toEqual([10, 11, 12]);
    expect(copied.buffer.byteLength).toBeLessThan(1024);
  });

  it('law: a key answers its last stored row (with its namespace\'s last stored namespace row) or nothing, never another key\'s or a deleted one; the limit holds; without eviction nothing is lost', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), ns: fc.constantFrom('n', 'm'), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), size: fc.oneof(fc.constant(-1), fc.nat(400)), fill: fc.nat(255), policy: fc.constantFrom<NamespaceRow['policy'][]>('lww', 'mv') }),
      fc.record({ kind: fc.constant('delete' as const), ns: fc.constantFrom('n', 'm'), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
    );
    fc.assert(
      fc.property(fc.constantFrom(0, 900, 2_000, 1 << 20), fc.array(op, { maxLength: 80 }), (limit, ops) => {
        const cache = new WriteCache(limit);
        const model = new Map<string, { state: number[] | undefined; hlc: bigint }>();
        // The namespace row a namespace's keys answer: the one its last kept write stored.
        const namespacePolicy = new Map<string, string>();
        let hlc = 0n;
        for (const o of ops) {
          const id = `${o.ns}/${o.key}`;
          if (o.kind === 'delete') {
            cache.delete(o.ns, o.key);
            model.delete(id);
          } else {
            hlc++;
            const state = o.size < 0 ? undefined : Array.from({ length: o.size }, (_, i) => (o.fill + i) & 255);
            cache.set(ns(o.ns, o.policy), { namespace: o.ns, key: o.key, state: state && Uint8Array.from(state), maxHlc: hlc });
            model.set(id, { state, hlc });
            if (limit > 0) namespacePolicy.set(o.ns, o.policy);
          }
          expect(cache.stats().bytes).toBeLessThanOrEqual(limit);
          let present = 0;
          for (const n of ['n', 'm']) {
            for (const k of ['a', 'b', 'c', 'd', 'e']) {
              const got = cache.get(n, k);
              const want = model.get(`${n}/${k}`);
              if (got === undefined) {
                // Only a cache too small to hold every key may have let a stored key go.
                if (limit === 1 << 20) expect(want).toBeUndefined();
                continue;
              }
              present++;
              expect(want).toBeDefined();
              expect(got.key!.key).toBe(k);
              expect(got.key!.maxHlc).toBe(want!.hlc);
              expect(got.namespace!.policy).toBe(namespacePolicy.get(n));
              expect(got.key!.state === undefined ? undefined : [...got.key!.state]).toEqual(want!.state);
            }
          }
          expect(cache.stats().entries).toBe(present);
        }
      }),
    );
  });
});
