/** Classifying the cluster's answers: readiness, replication status and its absence. */
import { describe, expect, it } from 'vitest';
import { healthView, replicationView } from './region-client.ts';

describe('healthView', () => {
  it('is ready on 200, lists the failing checks otherwise, and down when nothing answers', () => {
    expect(healthView({ kind: 'answer', status: 200, body: { status: 'ok' } })).toEqual({ kind: 'ready' });
    expect(healthView({ kind: 'answer', status: 503, body: { checks: { postgres: { ok: true }, kafka: { ok: false, reason: 'no answer' }, relay: { ok: false } } } })).toEqual({ kind: 'unready', reason: 'kafka: no answer; relay: failing' });
    expect(healthView({ kind: 'answer', status: 502, body: 'bad gateway' })).toEqual({ kind: 'unready', reason: 'HTTP 502' });
    expect(healthView({ kind: 'unreachable', reason: 'ECONNREFUSED' })).toEqual({ kind: 'down', reason: 'ECONNREFUSED' });
  });
});

describe('replicationView', () => {
  it('reads the applied vector and each peer link, ignoring what it does not know', () => {
    const body = { region: 'eu', applied: { eu: 12, us: 7, bad: 'x' }, peers: { us: { state: 'streaming', lagSeconds: 0.25, lagSequence: 0, lagging: false }, ap: { state: 'failed', lagSeconds: null, lagSequence: null, reason: 'offset gone' }, junk: 3 }, relay: {} };
    expect(replicationView({ kind: 'answer', status: 200, body })).toEqual({
      kind: 'report',
      report: {
        applied: { eu: 12, us: 7 },
        peers: { us: { state: 'streaming', lagSeconds: 0.25, lagSequence: 0, reason: null }, ap: { state: 'failed', lagSeconds: null, lagSequence: null, reason: 'offset gone' } },
      },
    });
  });
  it('says off for a region without replication or without the endpoint, and error otherwise', () => {
    expect(replicationView({ kind: 'answer', status: 200, body: { region: 'eu', applied: {}, peers: {}, replication: 'off' } })).toEqual({ kind: 'off', reason: 'replication is off in this region' });
    expect(replicationView({ kind: 'answer', status: 404, body: {} })).toMatchObject({ kind: 'off' });
    expect(replicationView({ kind: 'answer', status: 500, body: {} })).toEqual({ kind: 'error', reason: 'HTTP 500' });
    expect(replicationView({ kind: 'unreachable', reason: 'no answer within 2000 ms' })).toEqual({ kind: 'error', reason: 'no answer within 2000 ms' });
  });
});
