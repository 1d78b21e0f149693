/**
 * Readiness's caught-up check (replication.ts `awaitsCatchUp`): a joining region's link is waited
 * for until it has streamed, past the grace period too — a link still seeding consumed nothing,
 * so no heartbeat shows its peer alive (review rev-mem: the joiner reported ready after 15 s).
 */
import { describe, expect, it } from 'vitest';
import { awaitsCatchUp } from './replication.ts';

describe('awaitsCatchUp', () => {
  it('waits for a joining link still seeding or connecting past the grace, with no heartbeat seen', () => {
    for (const state of ['connecting', 'catching-up'] as const) {
      expect(awaitsCatchUp({ joining: true, everStreamed: false, state }, true, false)).toBe(true);
    }
  });

  it('stops waiting once the link has streamed, or is paused by an operator', () => {
    expect(awaitsCatchUp({ joining: true, everStreamed: true, state: 'catching-up' }, true, false)).toBe(false);
    expect(awaitsCatchUp({ joining: true, everStreamed: false, state: 'paused' }, true, false)).toBe(false);
  });

  it('a returning region waits for a silent peer only within the grace, for a live one until caught up', () => {
    expect(awaitsCatchUp({ joining: false, everStreamed: false, state: 'connecting' }, false, false)).toBe(true);
    expect(awaitsCatchUp({ joining: false, everStreamed: false, state: 'connecting' }, true, false)).toBe(false);
    expect(awaitsCatchUp({ joining: false, everStreamed: false, state: 'catching-up' }, true, true)).toBe(true);
  });
});
