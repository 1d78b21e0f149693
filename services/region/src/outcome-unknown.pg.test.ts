/**
 * A connection to PostgreSQL lost while a write commits: the region cannot know whether the write
 * took effect, and must not say "nothing was written". The region runs on the shared PostgreSQL
 * through a fault proxy that forwards the committing statement (a COMMIT, or a group-committed
 * write statement) and then resets the connection before its answer comes back. The answer is
 * MERIDIAN_OUTCOME_UNKNOWN, and a retry with the same Idempotency-Key applies the increment
 * exactly once. Failures that provably wrote nothing (a connection lost before COMMIT was sent,
 * a refused connection) stay MERIDIAN_STORE_UNAVAILABLE.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { FaultProxy, uniqueName } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('region_unknown');
let proxy: FaultProxy;
let region: RegionService;
let db: pg.Pool;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  const direct = new URL(url);
  proxy = await FaultProxy.start({ target: `${direct.hostname}:${direct.port || '5432'}` });
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: proxied.toString(), MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3' }));
  db = new pg.Pool({ connectionString: url, max: 2 });
  db.on('error', () => undefined);
  expect((await call('PUT', '/v1/namespaces/c', { policy: 'counter' })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await region?.close();
  await proxy?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return injectJson(region.app, method, url, body, headers);
}

const increment = (key: string, n: number, idempotencyKey?: string): Promise<{ status: number; json: Record<string, any> }> =>
  call('POST', `/v1/ns/c/keys/${key}/ops`, { increment: n }, idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey });
const value = async (key: string): Promise<unknown> => (await call('GET', `/v1/ns/c/keys/${key}`)).json['value'];
/** Outbox rows of a key: one per write that took effect. */
const writesOf = async (key: string): Promise<number> =>
  Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM meridian_outbox WHERE message_key = $1`, [`c/${key}`])).rows[0]!.n);

describe('a write whose outcome is unknown', () => {
  it('a connection lost after COMMIT was sent answers MERIDIAN_OUTCOME_UNKNOWN; the retry with the same Idempotency-Key applies the increment once', async () => {
    expect((await increment('visits', 1)).status).toBe(200);
    proxy.resetAfterClientSends('COMMIT');
    const first = await increment('visits', 5, 'retry-me-1');
    expect(proxy.requestCuts).toBe(1);
    expect(first.json['error']?.code, JSON.stringify(first.json)).toBe('MERIDIAN_OUTCOME_UNKNOWN');
    expect(first.status).toBe(503);
    expect(first.json['error'].message).toMatch(/same Idempotency-Key/);
    expect(first.json['error'].message).not.toMatch(/nothing was written/);

    const retry = await increment('visits', 5, 'retry-me-1');
    expect(retry.status).toBe(200);
    expect(retry.json['value']).toBe(6);
    const again = await increment('visits', 5, 'retry-me-1');
    expect(again.json).toEqual(retry.json);
    expect(await value('visits')).toBe(6);
    expect(await writesOf('visits')).toBe(2);
  });

  it('a group-committed write statement cut after it was sent is unknown, not "nothing was written": it took effect', async () => {
    expect((await increment('likes', 1)).status).toBe(200);
    proxy.resetAfterClientSends('meridian_write_update');
    const cut = await increment('likes', 10);
    expect(proxy.requestCuts).toBe(2);
    expect(cut.json['error']?.code, JSON.stringify(cut.json)).toBe('MERIDIAN_OUTCOME_UNKNOWN');
    expect(cut.status).toBe(503);
    // The server executed the statement before the connection went: the write is durable.
    expect(await value('likes')).toBe(11);
    expect(await writesOf('likes')).toBe(2);
  });

  it('a connection lost inside the transaction, before COMMIT was sent, provably wrote nothing: MERIDIAN_STORE_UNAVAILABLE, and the retry applies once', async () => {
    expect((await increment('shares', 1)).status).toBe(200);
    proxy.resetAfterClientSends('meridian_lock_key');
    const cut = await increment('shares', 3, 'retry-me-2');
    expect(proxy.requestCuts).toBe(3);
    expect(cut.json['error']?.code, JSON.stringify(cut.json)).toBe('MERIDIAN_STORE_UNAVAILABLE');
    expect(await value('shares')).toBe(1);
    expect(await writesOf('shares')).toBe(1);
    const retry = await increment('shares', 3, 'retry-me-2');
    expect(retry.json['value']).toBe(4);
    expect(await writesOf('shares')).toBe(2);
  });

  it('a refused connection provably wrote nothing: MERIDIAN_STORE_UNAVAILABLE', async () => {
    expect((await increment('clicks', 1)).status).toBe(200);
    await proxy.down();
    try {
      const refused = await increment('clicks', 2);
      expect(refused.json['error']?.code, JSON.stringify(refused.json)).toBe('MERIDIAN_STORE_UNAVAILABLE');
      expect(refused.status).toBe(503);
    } finally {
      await proxy.up();
    }
    expect(await value('clicks')).toBe(1);
    expect(await writesOf('clicks')).toBe(1);
  });
});
