import { describe, expect, it } from 'vitest';
import type { KeyRow, NamespaceRow } from '@meridian/store';
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

  it('keeps the later of two answers for one key (a row\'s highest HLC never goes back)', () => {
    const cache = new WriteCache(1 << 20);
    cache.set(ns('n'), row('a', 7n));
    cache.set(ns('n'), row('a', 6n));
    expect(cache.get('n', 'a')?.key?.maxHlc).toBe(7n);
    cache.set(ns('n', 'mv'), row('a', 7n));
    expect(cache.get('n', 'a')?.namespace?.policy).toBe('mv');
  });

  it('stays within its byte limit, dropping the keys stored longest ago', () => {
    const cache = new WriteCache(10_000);
    for (let i = 0; i < 100; i++) cache.set(ns('n'), row(`k${i}`, BigInt(i), 500));
    const { entries, bytes } = cache.stats();
    expect(bytes).toBeLessThanOrEqual(10_000);
    expect(entries).toBeGreaterThan(5);
    expect(cache.get('n', 'k99')).toBeDefined();
    expect(cache.get('n', 'k0')).toBeUndefined();
    // Writing an old key again moves it to the back.
    const kept = 100 - entries;
    cache.set(ns('n'), row(`k${kept}`, 1000n, 500));
    for (let i = 100; i < 100 + entries - 1; i++) cache.set(ns('n'), row(`k${i}`, BigInt(i), 500));
    expect(cache.get('n', `k${kept}`)).toBeDefined();
    // A state larger than the whole cache is not kept, and drops what the key had.
    cache.set(ns('n'), row('huge', 2000n, 20_000));
    expect(cache.get('n', 'huge')).toBeUndefined();
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
    const exact = new Uint8Array([4, 5, 6]);
    cache.set(ns('n'), { namespace: 'n', key: 'w', state: exact, maxHlc: 1n });
    expect(cache.get('n', 'w')!.key!.state).toBe(exact);
  });
});
