/** The status line, the status table and the lag matrix, from probe results. */
import { describe, expect, it } from 'vitest';
import { formatLagTable, formatPeerLag, formatSeconds, formatStatus, formatStatusLine, statusLineKey } from './status-format.ts';
import type { PeerLag, RegionReport } from './region-client.ts';

const lag = (lagSeconds: number | null, lagSequence: number | null, state: string | null = 'streaming', reason: string | null = null): PeerLag => ({ lagSeconds, lagSequence, state, reason });
const report = (id: string, port: number, peers: Record<string, PeerLag>): RegionReport => ({
  id, url: `http://127.0.0.1:${port}`, health: { kind: 'ready' }, replication: { kind: 'report', report: { applied: {}, peers } },
});
const eu = report('eu', 8081, { us: lag(0.234, 0), ap: lag(12.6, 340, 'catching-up') });
const us = report('us', 8082, { eu: lag(null, null, 'connecting'), ap: lag(0.05, 1) });
const ap: RegionReport = { id: 'ap', url: 'http://127.0.0.1:8083', health: { kind: 'down', reason: 'ECONNREFUSED' }, replication: { kind: 'error', reason: 'ECONNREFUSED' } };

describe('lag figures', () => {
  it('formats seconds with one decimal below ten, whole above, and ? when unknown', () => {
    expect([formatSeconds(0.04), formatSeconds(9.95), formatSeconds(12.6), formatSeconds(null)]).toEqual(['0.0 s', '9.9 s', '13 s', '?']);
  });
  it('shows a peer link\'s state only when it is not streaming', () => {
    expect(formatPeerLag(lag(0.234, 0))).toBe('0.2s/0');
    expect(formatPeerLag(lag(12.6, 340, 'catching-up'))).toBe('13s/340 catching-up');
    expect(formatPeerLag(lag(null, null, 'connecting'))).toBe('connecting');
    expect(formatPeerLag(lag(null, null, null))).toBe('?');
  });
});

describe('the status line', () => {
  it('shows every region up or down with its lag per peer, and the GSLB', () => {
    expect(formatStatusLine([eu, us, ap], { kind: 'ready' })).toBe('eu up (us 0.2s/0, ap 13s/340 catching-up) · us up (eu connecting, ap 0.1s/1) · ap DOWN · gslb up');
  });
  it('leaves lag out where replication is off, and the GSLB out when there is none', () => {
    const off: RegionReport = { id: 'eu', url: 'u', health: { kind: 'unready', reason: 'kafka: no answer' }, replication: { kind: 'off', reason: 'no /v1/replication on this region' } };
    expect(formatStatusLine([off], undefined)).toBe('eu NOT READY');
  });
  it('keys on states, not on figures: a lag that moves does not reprint a non-terminal line', () => {
    const later = report('eu', 8081, { us: lag(0.9, 3), ap: lag(2, 1, 'catching-up') });
    expect(statusLineKey([later], undefined)).toBe(statusLineKey([eu], undefined));
    const streaming = report('eu', 8081, { us: lag(0.9, 3), ap: lag(2, 1) });
    expect(statusLineKey([streaming], undefined)).not.toBe(statusLineKey([eu], undefined));
  });
});

describe('meridian status', () => {
  it('tabulates health, URL and the lag of every peer link, then the GSLB and Zipkin', () => {
    const text = formatStatus({ reports: [eu, us, ap], gslb: { url: 'http://127.0.0.1:8080', health: { kind: 'ready' } }, zipkin: 'http://127.0.0.1:9411' });
    expect(text.split('\n')).toEqual([
      '        health  url                    replication lag per peer',
      'eu      ready   http://127.0.0.1:8081  us 0.2 s behind, 0 updates (streaming) · ap 13 s behind, 340 updates (catching-up)',
      'us      ready   http://127.0.0.1:8082  eu ? behind, ? updates (connecting) · ap 0.1 s behind, 1 update (streaming)',
      'ap      DOWN    http://127.0.0.1:8083  ECONNREFUSED',
      'gslb    ready   http://127.0.0.1:8080',
      'zipkin          http://127.0.0.1:9411',
    ]);
  });
  it('gives the failing checks of a region that answers but is not ready, and a link\'s reason', () => {
    const sick: RegionReport = { id: 'eu', url: 'u', health: { kind: 'unready', reason: 'kafka: no answer within 2000 ms' }, replication: { kind: 'report', report: { applied: {}, peers: { us: lag(null, null, 'failed', 'offset 12 is gone') } } } };
    expect(formatStatus({ reports: [sick], gslb: undefined, zipkin: 'z' })).toContain('NOT READY  u    kafka: no answer within 2000 ms · us ? behind, ? updates (failed: offset 12 is gone)');
  });
});

describe('meridian lag', () => {
  it('is a matrix: each row how far that region is behind each peer', () => {
    expect(formatLagTable([eu, us, ap]).split('\n')).toEqual([
      'behind →  eu                  us         ap',
      'eu        ·                   0.2 s / 0  13 s / 340 (catching-up)',
      'us        ? / ? (connecting)  ·          0.1 s / 1',
      'ap        down                down       ·',
      '(each row: how far that region is behind each peer\'s updates — seconds / updates)',
    ]);
  });
});
