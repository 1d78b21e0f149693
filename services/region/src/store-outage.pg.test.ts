/**
 * PostgreSQL goes away: writes answer 503 with a retryable code and store nothing, readiness
 * says why, and the service recovers by itself when the server returns. Runs on a private
 * server (initdb, its own port) that the test can stop — never the shared one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivatePostgres, type PrivatePostgres } from '@meridian/infra-local';
import { waitFor } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

let server: PrivatePostgres;
let region: RegionService;

beforeAll(async () => {
  server = await startPrivatePostgres();
  region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: server.url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3' }));
}, 120_000);
afterAll(async () => {
  await region?.close();
  await server?.destroy();
});

async function call(method: 'GET' | 'PUT', url: string, body?: unknown): Promise<Answer> {
  return injectJson(region.app, method, url, body);
}

describe('PostgreSQL outage', () => {
  it('answers 503 MERIDIAN_STORE_UNAVAILABLE while the database is down, then recovers by itself', async () => {
    expect((await call('PUT', '/v1/namespaces/o', { policy: 'mv' })).status).toBe(201);
    expect((await call('PUT', '/v1/ns/o/keys/before', { value: 1 })).status).toBe(200);

    await server.stop();
    const write = await call('PUT', '/v1/ns/o/keys/during', { value: 2 });
    expect(write.status).toBe(503);
    expect(write.json['error'].code).toBe('MERIDIAN_STORE_UNAVAILABLE');
    const read = await call('GET', '/v1/ns/o/keys/before');
    expect(read.status).toBe(503);
    const ready = await call('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json['checks']['postgres'].ok).toBe(false);
    expect(typeof ready.json['checks']['postgres'].reason).toBe('string');
    expect((await call('GET', '/health/live')).status).toBe(200);

    await server.start();
    await waitFor(() => call('GET', '/health/ready'), (r) => r.status === 200, { timeoutMs: 30_000, what: 'readiness after PostgreSQL returned' });
    expect((await call('PUT', '/v1/ns/o/keys/after', { value: 3 })).status).toBe(200);
    // The write refused during the outage left nothing behind.
    expect((await call('GET', '/v1/ns/o/keys/during')).status).toBe(404);
    expect((await call('GET', '/v1/ns/o/keys/before')).json['values']).toEqual([1]);
  });
});
