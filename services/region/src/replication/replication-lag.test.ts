/**
 * The lag monitor across a peer's new incarnation: the peer's heartbeats switch to a new actor
 * whose high-water starts again at 1; its lag is measured in that actor's stream only, never
 * against the samples of the actor before it (whose high-water is far above the new contiguous).
 */
import { describe, expect, it } from 'vitest';
import { HybridLogicalClock } from '@meridian/causality';
import type { AppliedPosition, HeartbeatRow, PgStore } from '@meridian/store';
import { silentLogger } from './logger.ts';
import { Replication } from './replication.ts';

describe('lag across a peer\'s new incarnation', () => {
  it('counts from the new actor\'s own heartbeats', async () => {
    let beats: HeartbeatRow[] = [];
    let applied: AppliedPosition[] = [];
    const store = {
      replication: { appliedPositions: () => Promise.resolve(applied), heartbeats: () => Promise.resolve(beats), relayState: () => Promise.resolve({ leaseEpoch: 0n, lastOutboxId: 0n, lastSequence: 0n }), linkPauses: () => Promise.resolve(new Map()) },
      outboxHighWater: () => Promise.resolve(0n),
    } as unknown as PgStore;
    const replication = new Replication({ store, region: 'eu', epoch: 1, brokers: ['127.0.0.1:9'], peers: new Map([['us', ['127.0.0.1:9']]]), partitions: 1, clock: new HybridLogicalClock({ now: Date.now, maxDriftMs: 60_000 }), log: silentLogger, lagBoundSeconds: 10 });
    const beat = (origin: string, wallMs: number, highWater: bigint): HeartbeatRow => ({ peer: 'us', origin, wallMs: BigInt(wallMs), highWater, applied: {}, receivedAt: new Date() });
    const t0 = Date.now() - 120_000;
    // us.1: caught up at 1000, two minutes ago.
    beats = [beat('us.1', t0, 1000n)];
    applied = [{ origin: 'us.1', region: 'us', contiguous: 1000n, contiguousOutboxId: 5000n }];
    await replication.refresh();
    expect(replication.status().peers['us']).toMatchObject({ lagSequence: 0 });
    // us restored: us.2 publishes its first update now; eu has not applied it yet.
    beats = [beat('us.2', Date.now(), 1n)];
    await replication.refresh();
    const lag = replication.status().peers['us']!;
    expect(lag.lagSequence).toBe(1);
    expect(lag.lagSeconds).toBeLessThan(10);
    expect(lag.lagging).toBe(false);
    // What eu reports applied of us is us.2's stream, not the prefix of the us.1 stream that ended.
    expect(replication.status().applied['us']).toBe(0);
    applied = [...applied, { origin: 'us.2', region: 'us', contiguous: 1n, contiguousOutboxId: 5001n }];
    await replication.refresh();
    expect(replication.status().applied['us']).toBe(1);
  });
});
