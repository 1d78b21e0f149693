import { describe, expect, it } from 'vitest';
import { drainRefusal } from './membership.ts';
import type { PeerStatus } from './replication/replication.ts';

const link = (over: Partial<PeerStatus>): PeerStatus => ({ state: 'streaming', lagSeconds: 0, lagSequence: 0, lagging: false, needsReseed: false, ...over });

describe('drainRefusal (may a region be removed without force?)', () => {
  it('a streaming link that applied everything the region reported published is drained', () => {
    expect(drainRefusal('ap', link({}))).toBeUndefined();
    expect(drainRefusal('ap', undefined)).toBeUndefined(); // not consumed here: nothing to drain
  });

  it('refuses while updates are behind, the link is paused or failed, or no heartbeat arrived', () => {
    expect(drainRefusal('ap', link({ state: 'catching-up', lagSequence: 3 }))).toMatch(/3 update\(s\) ap published are not applied here yet/);
    expect(drainRefusal('ap', link({ state: 'paused', reason: 'paused by an operator' }))).toMatch(/paused/);
    expect(drainRefusal('ap', link({ state: 'failed', needsReseed: true, reason: 'needs a reseed' }))).toMatch(/failed/);
    expect(drainRefusal('ap', link({ state: 'connecting', lagSequence: null, lagSeconds: null }))).toMatch(/no heartbeat/);
  });
});
