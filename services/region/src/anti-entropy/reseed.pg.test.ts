/**
 * A link that failed on a gap in a peer origin's sequences is reseeded once per loss, not once per
 * replica of the region (DESIGN §4 "A failed link reseeds itself"): every replica follows the
 * stored need of a reseed, with its gap, and a gap restarts every partition whatever the stored
 * offsets say, so only the stored need — deleted by the reseed that commits — tells a replica that
 * another one's reseed already repaired the link. The later reseeds answer `already`: no exchange,
 * no offset rewound, no consumer fenced. Two regions in one process on PostgreSQL (the peer's
 * replica is called in process; no Kafka: the link's watermarks are given).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from '../config.ts';
import { startRegion, type RegionService } from '../region.ts';
import { reseedLink, type ReseedableLink } from './reseed.ts';
import type { SequenceGap } from '../replication/reseed-plan.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const [P, R] = [`rsg-p${suffix}`, `rsg-r${suffix}`];
const dbs = [uniqueName('rsg_p'), uniqueName('rsg_r')];
let p: RegionService;
let r: RegionService;

beforeAll(async () => {
  const [urlP, urlR] = await Promise.all(dbs.map((d) => createDatabase(d, infra.postgresUrl)));
  const common = { MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_KAFKA_SECURITY: 'plaintext', MERIDIAN_PG_POOL_SIZE: '4' };
  p = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: P, DATABASE_URL: urlP! }));
  r = await startRegion(loadConfig({ ...common, MERIDIAN_REGION: R, DATABASE_URL: urlR! }));
}, 120_000);

afterAll(async () => {
  await Promise.all([p?.close(), r?.close()]);
  await Promise.all(dbs.map((n) => dropDatabase(n, infra.postgresUrl)));
});

const marks = new Map([
  [0, { low: 2n, high: 40n }],
  [1, { low: 0n, high: 30n }],
]);

/** A replica's failed link, as `PeerReplicator` shows it to the reseed: failed on `gap`. */
function failedLink(gap: SequenceGap): ReseedableLink & { restarts: number } {
  return {
    peer: P,
    needsReseed: true,
    sequenceGap: gap,
    restarts: 0,
    watermarks: () => Promise.resolve(new Map(marks)),
    restartAfterReseed() {
      this.restarts++;
      return Promise.resolve();
    },
    noteReseedFailure: () => undefined,
  };
}

async function storeOffsets(offsets: Map<number, bigint>): Promise<void> {
  await r.store.transaction((tx) => tx.restartPeerOffsets(P, [...offsets].map(([partition, nextOffset]) => ({ partition, nextOffset }))));
}

describe('a link failed on a sequence gap, on two replicas', () => {
  const gap = (): SequenceGap => ({ origin: `${P}.1`, sequence: 5n, floor: 9n });
  const reseed = (link: ReseedableLink): ReturnType<typeof reseedLink> => reseedLink({ store: r.store, local: r.antiEntropy.local, remote: p.antiEntropy.local, link, confirmAfterMs: 10 });

  it('one after the other: the first reseeds, the second finds the need deleted and rewinds nothing', async () => {
    await storeOffsets(new Map([[0, 20n], [1, 10n]]));
    await r.store.replication.setLinkReseed(P, { reason: 'gap', gap: gap() });
    const [first, second] = [failedLink(gap()), failedLink(gap())];
    expect((await reseed(first)).outcome).toBe('reseeded');
    expect(await r.store.replication.peerOffsets(P)).toEqual(new Map([[0, 2n], [1, 0n]]));
    // The restarted link consumes on.
    await storeOffsets(new Map([[0, 25n], [1, 12n]]));
    const again = await reseed(second);
    expect(again.outcome).toBe('already');
    expect(again.report).toBeUndefined(); // no exchange ran
    expect(await r.store.replication.peerOffsets(P)).toEqual(new Map([[0, 25n], [1, 12n]]));
    expect(second.restarts).toBe(1);
  });

  it('at once: the reseed lock serialises them, and only one stores a restart', async () => {
    await storeOffsets(new Map([[0, 20n], [1, 10n]]));
    await r.store.replication.setLinkReseed(P, { reason: 'gap', gap: gap() });
    const outcomes = await Promise.all([reseed(failedLink(gap())), reseed(failedLink(gap()))]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['already', 'reseeded']);
    expect(await r.store.replication.linkReseed(P)).toBeUndefined();
  });

  it('a need stored anew after a reseed is reseeded again', async () => {
    await storeOffsets(new Map([[0, 20n], [1, 10n]]));
    await r.store.replication.setLinkReseed(P, { reason: 'gap', gap: gap() });
    expect((await reseed(failedLink(gap()))).outcome).toBe('reseeded');
    await storeOffsets(new Map([[0, 30n], [1, 15n]]));
    await r.store.replication.setLinkReseed(P, { reason: 'another gap', gap: gap() });
    expect((await reseed(failedLink(gap()))).outcome).toBe('reseeded');
    expect(await r.store.replication.peerOffsets(P)).toEqual(new Map([[0, 2n], [1, 0n]]));
  });
});
