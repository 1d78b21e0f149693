/**
 * Review (rev-mem): the tombstone GC waits only for the stored members, but anti-entropy's
 * mergeStates (the gRPC server: no membership check on fromRegion) still merges states from a
 * region that is not a member — one removed (DELETE /v1/members/us) and still running its own
 * loop against this region, or added back later. A pre-delete live copy it still holds comes back
 * after this region purged the tombstone. Standalone region here: `us` is not a member, exactly
 * like a removed one.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from '../config.ts';
import { startRegion, type RegionService } from '../region.ts';
import { NotAMemberError } from '@meridian/anti-entropy';
import { injectJson, type Answer } from '../inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('rmrepair');
const HOUR = 3_600_000;
let now = Date.UTC(2026, 0, 1);
let region: RegionService;
let db: pg.Pool;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  region = await startRegion(
    loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3', MERIDIAN_TOMBSTONE_MIN_AGE: '1h' }),
    { now: () => now, retentionIntervalMs: 24 * HOUR },
  );
  db = new pg.Pool({ connectionString: url, max: 1 });
});
afterAll(async () => {
  await region?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<Answer> {
  return injectJson(region.app, method, url, body);
}

describe('a region the GC no longer waits for (removed) still repairs into this one', () => {
  it('does not bring back a register deleted and purged here', async () => {
    expect((await call('PUT', '/v1/namespaces/gc', { policy: 'mv' })).status).toBe(201);
    const first = await call('PUT', '/v1/ns/gc/keys/gone', { value: 'old' });
    // The removed region `us` applied the write, never the delete (it lagged, then was removed).
    const live = (await db.query<{ state: Buffer; max_hlc: bigint }>(`SELECT state, max_hlc FROM meridian_keys WHERE key = 'gone'`)).rows[0]!;
    await call('DELETE', `/v1/ns/gc/keys/gone?context=${encodeURIComponent(first.json['context'] as string)}`);
    // The two-round GC (decision 0012): a round that samples this region, then one a min age later purges.
    now += 2 * HOUR;
    await region.retention.runOnce();
    now += 2 * HOUR;
    expect((await region.retention.runOnce()).purged).toBe(1);
    expect((await call('GET', '/v1/ns/gc/keys/gone')).status).toBe(404);
    // `us`'s anti-entropy loop (it still lists eu as a member) offers its live copy.
    // The region's own replica (what its gRPC server answers with) refuses it: `us` is not a member.
    const offered = region.antiEntropy.local.mergeStates('gc', 'mv', 'us', [{ key: 'gone', state: new Uint8Array(live.state), maxHlc: BigInt(live.max_hlc) }]);
    await expect(offered).rejects.toBeInstanceOf(NotAMemberError);
    await expect(offered).rejects.toThrow(/us is not a member of region eu .*joining fresh/);
    const after = await call('GET', '/v1/ns/gc/keys/gone');
    expect(after.json['values']).toBeUndefined();
    expect(after.status).toBe(404);
  });
});
