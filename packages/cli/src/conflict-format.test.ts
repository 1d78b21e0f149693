/** Conflict records as lines, and picking the new ones while following. */
import { describe, expect, it } from 'vitest';
import { formatConflict, unseenConflicts } from './conflict-format.ts';

const register = {
  id: '3e9b9e32628b7f132565645fcbe58f4b', namespace: 'demo', key: 'greeting', policy: 'mv', kind: 'register',
  versions: [
    { dot: 'us.1:1', hlc: '01a2050f159d0000', value: 'hello', deleted: false, traceparent: '00-cbfc-74ec-01' },
    { dot: 'eu.1:1', hlc: '01a2050f15860000', value: { n: 1 }, deleted: false },
    { dot: 'ap.1:4', hlc: '01a2050f15870000', value: null, deleted: true },
  ],
  outcome: { kind: 'siblings', kept: ['eu.1:1', 'us.1:1', 'ap.1:4'] },
  regions: ['ap', 'eu', 'us'], traceIds: ['cbfc', '24a0'], skewFlagged: false, observedAt: '2026-11-22T21:00:05.251Z', observedIn: 'ap',
};

describe('formatConflict', () => {
  it('shows when, what, who, the outcome, each version, and where to look in Zipkin', () => {
    expect(formatConflict(register, 'http://127.0.0.1:9411').split('\n')).toEqual([
      '2026-11-22T21:00:05.251Z  demo/greeting (mv)  concurrent writes in ap, eu, us  kept all 3 values as siblings',
      '    id 3e9b9e32628b7f132565645fcbe58f4b, recorded in ap',
      '    us.1:1  "hello"  hlc 01a2050f159d0000',
      '    eu.1:1  {"n":1}  hlc 01a2050f15860000',
      '    ap.1:4  (deleted)  hlc 01a2050f15870000',
      '    zipkin: http://127.0.0.1:9411/zipkin/?annotationQuery=meridian.conflict.id%3D3e9b9e32628b7f132565645fcbe58f4b',
      '    writes: http://127.0.0.1:9411/zipkin/traces/cbfc  http://127.0.0.1:9411/zipkin/traces/24a0',
    ]);
  });
  it('says which write won under last-writer-wins, and flags the clock-skew window', () => {
    const lww = { ...register, policy: 'lww', outcome: { kind: 'lww', winner: 'us.1:1', dropped: ['eu.1:1'] }, skewFlagged: true, versions: [], traceIds: [] };
    expect(formatConflict(lww).split('\n')).toEqual([
      '2026-11-22T21:00:05.251Z  demo/greeting (lww)  concurrent writes in ap, eu, us  last writer wins: us.1:1 over eu.1:1',
      '    id 3e9b9e32628b7f132565645fcbe58f4b, recorded in ap, within the clock-skew window',
    ]);
  });
  it('describes a namespace created with two policies at once', () => {
    const ns = {
      id: 'ns-eu.1-us.1-demo', namespace: 'demo', key: '', policy: 'lww', kind: 'namespace-policy', regions: ['eu', 'us'], traceIds: [],
      versions: [{ policy: 'mv', declaredBy: 'us.1', hlc: 'a' }, { policy: 'lww', declaredBy: 'eu.1', hlc: 'b' }],
      outcome: { winner: { policy: 'lww', by: 'eu.1' }, loser: { policy: 'mv', by: 'us.1' }, displacedKeys: [] },
    };
    expect(formatConflict(ns)).toContain('namespace demo (lww)  concurrent writes in eu, us  policy lww (by eu.1) wins over mv (by us.1)');
    expect(formatConflict(ns)).toContain('    us.1  policy mv  hlc a');
  });
  it('never fails on a record it does not know', () => {
    expect(formatConflict({ outcome: { surprise: true } })).toBe('namespace ?  {"surprise":true}\n    id ?');
  });
});

describe('unseenConflicts', () => {
  it('keeps the order and returns each record once', () => {
    const seen = new Set<string>();
    expect(unseenConflicts([{ id: 'b' }, { id: 'a' }], seen)).toEqual([{ id: 'b' }, { id: 'a' }]);
    expect(unseenConflicts([{ id: 'c' }, { id: 'b' }, { id: 'a' }], seen)).toEqual([{ id: 'c' }]);
  });
});
