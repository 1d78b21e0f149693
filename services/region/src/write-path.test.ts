/**
 * The write path on the in-memory store (no PostgreSQL): a register write is stored with its
 * outbox row and read back; a write with a stale context keeps both values of an `mv` key; a
 * retry with the same Idempotency-Key answers the first answer and stores nothing more; a
 * write whose cached snapshot went stale plans again from the new one. The store contract
 * (packages/store) holds the in-memory store to PostgreSQL's behaviour; api.pg.test.ts and
 * compare-and-write.pg.test.ts run the same path on PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '@meridian/store';
import { ContextTokens } from './context-token.ts';
import { WriteCache } from './write-cache.ts';
import { WritePath } from './write-path.ts';

function pathOn(store: MemoryStore, region = 'eu', cache = new WriteCache(0)): WritePath {
  let now = 1_700_000_000_000;
  return new WritePath({ store, region, epoch: 1, tokens: new ContextTokens('secret'), maxValueBytes: 1024, maxClockDriftMs: 60_000, cache, now: () => (now += 1) });
}

describe('the write path on the in-memory store', () => {
  it('stores a register write with its outbox row and reads it back', async () => {
    const store = new MemoryStore();
    const path = pathOn(store);
    await path.declareNamespace('prefs', 'lww');
    const written = await path.writeRegister('prefs', 'k', { theme: 'dark' }, undefined, {});
    expect(written).toMatchObject({ status: 200, body: { value: { theme: 'dark' } } });
    expect((await path.read('prefs', 'k')).value).toEqual({ theme: 'dark' });
    const view = await store.readView('prefs', 'k');
    expect(view.highWater).toBe(2n); // the namespace's declaration, then the write
  });

  it('keeps both values of an mv key written from the same context, and one after a write that saw both', async () => {
    const store = new MemoryStore();
    const path = pathOn(store);
    await path.declareNamespace('docs', 'mv');
    const first = await path.writeRegister('docs', 'd', 'v1', undefined, {});
    await path.writeRegister('docs', 'd', 'v2', first.body.context, {});
    await path.writeRegister('docs', 'd', 'v3', first.body.context, {});
    const both = await path.read('docs', 'd');
    expect(both.values?.sort()).toEqual(['v2', 'v3']);
    await path.writeRegister('docs', 'd', 'merged', both.context, {});
    expect((await path.read('docs', 'd')).values).toEqual(['merged']);
  });

  it('a retry with the same Idempotency-Key answers the first answer and stores nothing more', async () => {
    const store = new MemoryStore();
    const path = pathOn(store);
    await path.declareNamespace('hits', 'counter');
    const first = await path.applyOps('hits', 'h', { increment: 2 }, { idempotencyKey: 'once' });
    const retry = await path.applyOps('hits', 'h', { increment: 2 }, { idempotencyKey: 'once' });
    expect(retry.body).toEqual(first.body);
    expect((await path.read('hits', 'h')).value).toBe(2);
    expect((await store.readView('hits', 'h')).highWater).toBe(2n);
  });

  it('a write planned from a stale cached snapshot is planned again from the stored row', async () => {
    const store = new MemoryStore();
    const cache = new WriteCache(1024 * 1024);
    const eu = pathOn(store, 'eu', cache);
    const other = pathOn(store, 'eu');
    await eu.declareNamespace('hits', 'counter');
    await eu.applyOps('hits', 'h', { increment: 1 }, {});
    // Another writer (a second replica of the region) changes the row behind eu's cache.
    await other.applyOps('hits', 'h', { increment: 10 }, {});
    await eu.applyOps('hits', 'h', { increment: 100 }, {});
    expect((await eu.read('hits', 'h')).value).toBe(111);
  });
});
