/**
 * A peer's stored heartbeat (`meridian_peer_heartbeats`): the latest by the peer's wall clock, with
 * the highest high-water its origin actor's heartbeats carried — a relay host whose clock ran fast
 * must not freeze what the sequence-gap check reads as published (`linkStream`). Every actor keeps
 * its own highest high-water (`meridian_peer_high_waters`): a peer's new incarnation must not drop
 * the earlier actor's, the evidence its tail is judged on.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { PgStore } from './pg-store.ts';

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
  store.transaction((tx) => tx.saveHeartbeat(peer, origin, wallMs, highWater, { [origin]: String(wallMs) }));

describe('a peer\'s stored heartbeat', () => {
  it('after a relay host with a fast clock, the next host\'s heartbeats still raise the origin\'s high-water', async () => {
    await beat('fast', 'fast.1', 10_000n, 5n); // the fast host's last heartbeat
    await beat('fast', 'fast.1', 2_000n, 9n); // the next relay host, its clock right
    expect((await store.replication.linkStream('fast')).published).toEqual(new Map([['fast.1', 9n]]));
    const [row] = (await store.replication.heartbeats()).filter((h) => h.peer === 'fast');
    expect(row).toMatchObject({ origin: 'fast.1', wallMs: 10_000n, highWater: 9n, applied: { 'fast.1': '10000' } }); // the rest stays the latest's
  });

  it('an older heartbeat never lowers the high-water, and an older one of another origin does not replace the latest', async () => {
    await beat('old', 'old.2', 5_000n, 7n);
    await beat('old', 'old.2', 4_000n, 6n);
    await beat('old', 'old.1', 4_500n, 40n);
    expect(await store.replication.linkStream('old')).toMatchObject({ current: 'old.2', published: new Map([['old.1', 40n], ['old.2', 7n]]) });
    await beat('old', 'old.3', 6_000n, 1n); // a newer actor's heartbeat replaces it as the latest
    expect(await store.replication.linkStream('old')).toMatchObject({ current: 'old.3', published: new Map([['old.1', 40n], ['old.2', 7n], ['old.3', 1n]]) });
  });

  it('each actor keeps its own highest high-water: a new incarnation\'s heartbeat does not drop the earlier actor\'s', async () => {
    await beat('inc', 'inc.1', 1_000n, 10n);
    await beat('inc', 'inc.2', 2_000n, 3n);
    await beat('inc', 'inc.1', 1_500n, 12n); // the earlier relay's last heartbeat, consumed late
    const s = await store.replication.linkStream('inc');
    expect(s.published).toEqual(new Map([['inc.1', 12n], ['inc.2', 3n]]));
    expect(s.current).toBe('inc.2');
    const [row] = (await store.replication.heartbeats()).filter((h) => h.peer === 'inc');
    expect(row).toMatchObject({ origin: 'inc.2', wallMs: 2_000n, highWater: 3n }); // the latest heartbeat is the new actor's
  });

  it('the current actor is the one of the highest epoch, even when an earlier actor\'s host clock ran ahead (review)', async () => {
    await beat('skew', 'skew.1', 9_000n, 10n); // the earlier relay's host, its clock fast
    await beat('skew', 'skew.2', 3_000n, 4n); // the new incarnation's first heartbeats, by its right clock
    const s = await store.replication.linkStream('skew');
    expect(s.current).toBe('skew.2');
    expect(s.published).toEqual(new Map([['skew.1', 10n], ['skew.2', 4n]]));
  });

  it('another region\'s actors never count as the peer\'s, whatever was stored before they were refused (review)', async () => {
    await store.pool.query(`INSERT INTO meridian_peer_high_waters (peer, origin, high_water) VALUES ('mine', 'other.1', 500)`);
    await store.pool.query(`INSERT INTO meridian_offsets (peer, partition, next_offset, owner_epoch) VALUES ('mine', 0, 7, 1)`);
    await store.pool.query(`INSERT INTO meridian_offset_sequences (peer, partition, origin, highest) VALUES ('mine', 0, 'other.1', 500), ('mine', 0, 'mine.1', 6)`);
    await beat('mine', 'mine.1', 1_000n, 6n);
    const s = await store.replication.linkStream('mine');
    expect(s.published).toEqual(new Map([['mine.1', 6n]]));
    expect(s.current).toBe('mine.1');
    expect(s.partitions.get(0)?.highest).toEqual(new Map([['mine.1', 6n]]));
  });
});
