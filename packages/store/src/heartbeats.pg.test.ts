/**
 * A peer's stored heartbeat (`meridian_peer_heartbeats`): the latest by the peer's wall clock, with
 * the highest high-water its origin actor's heartbeats carried — a relay host whose clock ran fast
 * must not freeze what the sequence-gap check reads as published (`linkStream`).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { PgStore } from './pg-store.ts';
import { ReplicationTx } from './replication-tx.ts';

const infra = inject('infra');
const db = uniqueName('heartbeats');
let store: PgStore;

beforeAll(async () => {
  store = await PgStore.open({ connectionString: await createDatabase(db, infra.postgresUrl), poolSize: 2 });
});

afterAll(async () => {
  await store?.close();
  await dropDatabase(db, infra.postgresUrl);
});

const beat = (peer: string, origin: string, wallMs: bigint, highWater: bigint): Promise<void> =>
  store.transaction((_tx, client) => new ReplicationTx(client).saveHeartbeat(peer, origin, wallMs, highWater, { [origin]: String(wallMs) }));

describe('a peer\'s stored heartbeat', () => {
  it('after a relay host with a fast clock, the next host\'s heartbeats still raise the origin\'s high-water', async () => {
    await beat('fast', 'fast.1', 10_000n, 5n); // the fast host's last heartbeat
    await beat('fast', 'fast.1', 2_000n, 9n); // the next relay host, its clock right
    expect((await store.replication.linkStream('fast')).published).toEqual(new Map([['fast.1', 9n]]));
    const [row] = (await store.replication.heartbeats()).filter((h) => h.peer === 'fast');
    expect(row).toMatchObject({ origin: 'fast.1', wallMs: 10_000n, highWater: 9n, applied: { 'fast.1': '10000' } }); // the rest stays the latest's
  });

  it('an older heartbeat never lowers the high-water, and one of another origin changes nothing', async () => {
    await beat('old', 'old.2', 5_000n, 7n);
    await beat('old', 'old.2', 4_000n, 6n);
    await beat('old', 'old.1', 4_500n, 40n);
    expect((await store.replication.linkStream('old')).published).toEqual(new Map([['old.2', 7n]]));
    await beat('old', 'old.3', 6_000n, 1n); // a newer actor's heartbeat replaces it
    expect((await store.replication.linkStream('old')).published).toEqual(new Map([['old.3', 1n]]));
  });
});
