/**
 * The region launcher against the real program and PostgreSQL: it is ready when it says so, its
 * HTTP API writes and reads, a crash (SIGKILL) and restart keeps the data on the same port, and
 * a paused process answers nothing until it is resumed. A program that cannot start fails the
 * launch with its own words (the log's tail). The region runs with authentication on, as the
 * local cluster does: its API refuses a request without a token and stores nothing. With
 * MERIDIAN_TOMBSTONE_MIN_AGE=2s it purges a deleted register, and its /metrics show the GC's
 * series as the program wires them.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { sleep, uniqueName, waitFor } from '@meridian/testkit';
import { createDatabase, dropDatabase } from './postgres.ts';
import { startRegionProcess, type RegionProcess } from './region-process.ts';
import { readProcess } from './process-table.ts';
import { ephemeralAuth, type LocalAuth } from './local-auth.ts';

const infra = inject('infra');
const dbName = uniqueName('region_process');
let databaseUrl: string;
let region: RegionProcess | undefined;
let auth: LocalAuth;

beforeAll(async () => {
  auth = await ephemeralAuth();
  databaseUrl = await createDatabase(dbName, infra.postgresUrl);
});
afterAll(async () => {
  await region?.stop();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT', url: string, body?: unknown, token: string | null = auth.tokens.writer): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('startRegionProcess', () => {
  it('starts the region program, ready, and serves writes and reads over HTTP', async () => {
    region = await startRegionProcess({ region: 'eu', databaseUrl, auth, env: { MERIDIAN_PG_POOL_SIZE: '2', MERIDIAN_TOMBSTONE_MIN_AGE: '2s', MERIDIAN_MAX_CLOCK_DRIFT_MS: '200' } });
    expect(region.region).toBe('eu');
    expect(region.url).toBe(`http://127.0.0.1:${region.port}`);
    expect(region.running).toBe(true);
    const ready = await call('GET', `${region.url}/health/ready`);
    expect(ready).toMatchObject({ status: 200, json: { status: 'ok', region: 'eu' } });

    expect((await call('PUT', `${region.url}/v1/namespaces/launch`, { policy: 'lww' })).status).toBe(201);
    // Without a token, or with a reader's, a write is refused and nothing is stored.
    expect(await call('PUT', `${region.url}/v1/ns/launch/keys/k9`, { value: 1 }, null)).toMatchObject({ status: 401, json: { error: { code: 'MERIDIAN_UNAUTHENTICATED' } } });
    expect(await call('PUT', `${region.url}/v1/ns/launch/keys/k9`, { value: 1 }, auth.tokens.reader)).toMatchObject({ status: 403, json: { error: { code: 'MERIDIAN_FORBIDDEN' } } });
    expect(await call('GET', `${region.url}/v1/ns/launch/keys/k9`, undefined, auth.tokens.reader)).toMatchObject({ status: 404 });
    expect((await call('PUT', `${region.url}/v1/ns/launch/keys/k1`, { value: { n: 1 } })).status).toBe(200);
    expect(await call('GET', `${region.url}/v1/ns/launch/keys/k1`)).toMatchObject({ status: 200, json: { value: { n: 1 } } });
    // A key's second write is planned from the snapshot its first one cached; /metrics says so.
    expect((await call('PUT', `${region.url}/v1/ns/launch/keys/k0`, { value: 1 })).status).toBe(200);
    expect((await call('PUT', `${region.url}/v1/ns/launch/keys/k0`, { value: 2 })).status).toBe(200);
    expect((await fetch(`${region.url}/metrics`, { headers: { authorization: `Bearer ${auth.tokens.writer}` } })).status).toBe(403);
    const metrics = await (await fetch(`${region.url}/metrics`, { headers: { authorization: `Bearer ${auth.tokens.admin}` } })).text();
    const value = (series: string): number => Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('meridian_writes_total\\{namespace="launch",policy="lww"\\}')).toBe(3);
    expect(value('meridian_write_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(value('meridian_write_cache_entries')).toBe(2);
    expect(value('meridian_write_cache_bytes')).toBeGreaterThan(0);
    // The first writes of k1 and k0 found nothing cached.
    expect(value('meridian_write_cache_misses_total')).toBeGreaterThanOrEqual(2);
    // The process's garbage collections are counted from its start (loading it takes several).
    expect(value('meridian_gc_pause_seconds_count\\{kind="minor"\\}')).toBeGreaterThanOrEqual(1);
    // Its output goes to the log file, where a failing scenario can read it.
    expect(readFileSync(region.logFile, 'utf8')).toContain('"region":"eu"');
  });

  it('purges a deleted register after two min ages, and /metrics shows the GC: tombstones held, purged, no region blocking, table sizes', async () => {
    const r = region!;
    const metric = async (series: string): Promise<number | undefined> => {
      const text = await (await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${auth.tokens.admin}` } })).text();
      const found = new RegExp(`^${series} (\\S+)$`, 'm').exec(text);
      return found ? Number(found[1]) : undefined;
    };
    expect((await call('PUT', `${r.url}/v1/ns/launch/keys/gone`, { value: 'old' })).status).toBe(200);
    const deleted = await fetch(`${r.url}/v1/ns/launch/keys/gone`, { method: 'DELETE', headers: { authorization: `Bearer ${auth.tokens.writer}` } });
    expect(deleted.status).toBe(200);
    // Counted while younger than two min ages (rounds every second), then purged.
    await waitFor(() => metric('meridian_tombstones'), (n) => n === 1, { timeoutMs: 30_000, intervalMs: 100, what: 'meridian_tombstones 1' });
    await waitFor(async () => [await metric('meridian_gc_purged_total'), await metric('meridian_tombstones')], ([purged, held]) => purged === 1 && held === 0, { timeoutMs: 30_000, intervalMs: 100, what: 'the tombstone purged' });
    expect(await call('GET', `${r.url}/v1/ns/launch/keys/gone`, undefined, auth.tokens.reader)).toMatchObject({ status: 404 });
    expect(await metric('meridian_gc_blocked\\{region="eu"\\}')).toBe(0);
    expect(await metric('meridian_table_bytes\\{table="meridian_keys"\\}')).toBeGreaterThan(0);
    expect(await metric('meridian_table_bytes\\{table="meridian_idempotency"\\}')).toBeGreaterThan(0);
  });

  it('keeps the data across kill() and restart(), on the same port', async () => {
    const r = region!;
    const { port } = r;
    const oldPid = r.process.pid;
    await r.kill();
    expect(r.running).toBe(false);
    await expect(fetch(`${r.url}/health/live`)).rejects.toThrow();

    await r.restart();
    expect(r.running).toBe(true);
    expect(r.port).toBe(port);
    expect(r.process.pid).not.toBe(oldPid);
    expect(await call('GET', `${r.url}/v1/ns/launch/keys/k1`)).toMatchObject({ status: 200, json: { value: { n: 1 } } });
    expect((await call('PUT', `${r.url}/v1/ns/launch/keys/k2`, { value: 'after restart' })).status).toBe(200);

    // A restart of a running region is a clean stop and start.
    await r.restart();
    expect(await call('GET', `${r.url}/v1/ns/launch/keys/k2`)).toMatchObject({ status: 200, json: { value: 'after restart' } });
  });

  it('answers nothing while paused, and the pending request once resumed', async () => {
    const r = region!;
    await r.pause();
    expect(r.paused).toBe(true);
    expect(readProcess(r.process.pid!)?.state).toBe('T');
    let settled = false;
    const pending = call('GET', `${r.url}/v1/ns/launch/keys/k1`).finally(() => {
      settled = true;
    });
    await sleep(500);
    expect(settled).toBe(false); // a stopped process cannot answer, however long we wait

    await r.resume();
    expect(r.paused).toBe(false);
    expect(await pending).toMatchObject({ status: 200, json: { value: { n: 1 } } });
    await r.waitReady();
  });

  it('stops cleanly even while paused', async () => {
    const r = region!;
    await r.pause();
    await r.stop();
    expect(r.running).toBe(false);
    region = undefined;
  });

  it('fails a launch that cannot start, with the program\'s own message', async () => {
    const failed = startRegionProcess({ region: 'eu', databaseUrl, auth, env: { MERIDIAN_CONTEXT_SECRET: 'short' } });
    await expect(failed).rejects.toThrow(/exited \(code 2\)[\s\S]*MERIDIAN_CONTEXT_SECRET: expected at least 16 characters/);
  });

  it('refuses to start with authentication on and no key to verify tokens (secure by default)', async () => {
    const failed = startRegionProcess({ region: 'eu', databaseUrl, auth: 'off', env: { MERIDIAN_AUTH: 'on' } });
    await expect(failed).rejects.toThrow(/exited \(code 2\)[\s\S]*MERIDIAN_AUTH_PUBLIC_KEYS: required/);
  });
});
