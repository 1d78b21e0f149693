import { describe, expect, it } from 'vitest';
import { decodeReplicationStatus } from './replication-status.ts';

describe('decodeReplicationStatus', () => {
  it('compares sessions on the region\'s `positions` (outbox ids by actor) when it publishes them', () => {
    const status = decodeReplicationStatus({ applied: { eu: 3, us: 7 }, positions: { 'eu.1': 12, 'us.1': 40 }, peers: {} });
    expect([...status.applied]).toEqual([
      ['eu.1', 12n],
      ['us.1', 40n],
    ]);
  });

  it('reads the applied vector (numbers or digit strings, beyond 2^53 too) and the worst peer lag', () => {
    const status = decodeReplicationStatus({
      applied: { 'eu.1': 120, 'us.1': '9007199254740993' },
      peers: { us: { state: 'streaming', lagSeconds: 1.5, lagSequence: 3 }, ap: { state: 'catching-up', lagSeconds: 42, lagSequence: 900 } },
      extra: true,
    });
    expect([...status.applied]).toEqual([
      ['eu.1', 120n],
      ['us.1', 9007199254740993n],
    ]);
    expect(status.maxLagSeconds).toBe(42);
    expect(status.peers.get('us')).toEqual({ state: 'streaming', lagSeconds: 1.5, lagSequence: 3 });
  });

  it('leaves lag unknown when no peer reports a number, and tolerates peers without one', () => {
    expect(decodeReplicationStatus({ applied: {} }).maxLagSeconds).toBeUndefined();
    const status = decodeReplicationStatus({ applied: { 'eu.1': 1 }, peers: { us: { state: 'paused' }, ap: 'junk' } });
    expect(status.maxLagSeconds).toBeUndefined();
    expect(status.peers.get('us')).toEqual({ state: 'paused', lagSeconds: undefined, lagSequence: undefined });
    expect(status.peers.has('ap')).toBe(false);
  });

  it('refuses an answer whose applied vector it cannot read exactly (a half-read vector could claim coverage)', () => {
    expect(() => decodeReplicationStatus(null)).toThrow('expected {"applied"');
    expect(() => decodeReplicationStatus({ peers: {} })).toThrow('expected {"applied"');
    expect(() => decodeReplicationStatus({ applied: { 'eu.1': -1 } })).toThrow('expected applied.eu.1 to be a non-negative integer (got -1)');
    expect(() => decodeReplicationStatus({ applied: { 'eu.1': 1.5 } })).toThrow('(got 1.5)');
    expect(() => decodeReplicationStatus({ applied: { 'eu.1': 2 ** 60 } })).toThrow('non-negative integer');
    expect(() => decodeReplicationStatus({ applied: {}, peers: [] })).toThrow('expected "peers" to be an object');
  });
});
