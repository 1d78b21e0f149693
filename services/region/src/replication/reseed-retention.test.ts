/**
 * A gap reseed on a topic under retention (DESIGN §4 "A failed link reseeds itself"): the restart
 * offsets are planned from the log starts read before the (rate-limited, possibly minutes-long)
 * repairing exchange; if retention moved a busy partition's log start meanwhile, the restarted
 * link's claim must not fail "retention passed" again (each further reseed would race the same way).
 */
import { describe, expect, it } from 'vitest';
import { lostOffset, pastRetention, restartOffsets } from './reseed-plan.ts';

describe('a gap reseed on a topic under retention', () => {
  it('stores restart offsets the restarted link can still claim after the log start moved during the exchange', () => {
    // Stored offsets near each partition's end: nothing lost by offsets (the link failed on a sequence gap).
    const stored = new Map([[0, 4990n], [1, 40n]]);
    const before = new Map([[0, { low: 100n, high: 5000n }], [1, { low: 0n, high: 40n }]]);
    const planned = restartOffsets(stored, before, true)!;
    expect(planned.get(0)).toBe(100n); // partition 0 is moved back to the log start
    // While the exchange runs, retention deletes partition 0's oldest segment.
    const atCommit = new Map([[0, { low: 1200n, high: 5600n }], [1, { low: 0n, high: 45n }]]);
    const restart = pastRetention(planned, before, atCommit);
    expect(restart).toEqual(new Map([[0, 1200n], [1, 0n]]));
    for (const [partition, next] of restart) {
      const mark = atCommit.get(partition)!;
      expect(lostOffset(next, mark.low, mark.high), `partition ${partition}`).toBeUndefined();
    }
  });

  it('never skips records produced after the watermarks were read: a log start past that end stays lost', () => {
    const before = new Map([[0, { low: 100n, high: 500n }], [1, { low: 10n, high: 50n }]]);
    // Partition 0: retention deleted past the end read before the exchange; partition 1 kept its offset.
    const now = new Map([[0, { low: 800n, high: 900n }], [1, { low: 20n, high: 60n }]]);
    const restart = pastRetention(new Map([[0, 100n], [1, 45n]]), before, now);
    expect(restart).toEqual(new Map([[0, 500n], [1, 45n]])); // 500..799 may not be in the snapshot
    expect(lostOffset(restart.get(0)!, 800n, 900n)).toMatch(/retention passed/);
  });
});
