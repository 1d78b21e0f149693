import { describe, expect, it } from 'vitest';
import { checkConvergence, checkCounters, checkHistory, checkLww, checkMv, checkSessions, checkSets, lostByRestore, type Finals, type HistoryOp, type ReadValue } from './history-checkers.ts';

let clock = 0;
const at = (): { start: number; end: number } => {
  clock += 10;
  return { start: clock, end: clock + 5 };
};
const base = (session = 's1', region = 'eu', object = 'o'): { object: string; session: string; region: string; start: number; end: number } => ({ object, session, region, ...at() });
const inc = (amount: number, outcome: 'ok' | 'fail' | 'unknown' = 'ok', session = 's1'): HistoryOp => ({ kind: 'increment', amount, outcome, ...base(session) });
const add = (element: string, outcome: 'ok' | 'fail' | 'unknown' = 'ok', session = 's1'): HistoryOp => ({ kind: 'add', element, outcome, ...base(session) });
const remove = (element: string, outcome: 'ok' | 'fail' | 'unknown' = 'ok', session = 's1'): HistoryOp => ({ kind: 'remove', element, outcome, ...base(session) });
const write = (policy: 'lww' | 'mv', value: string, seen: Record<string, number>, dot: [string, number] | undefined, extra: { outcome?: 'ok' | 'unknown'; hlc?: bigint; session?: string } = {}): HistoryOp => ({
  kind: 'write',
  policy,
  value,
  seen,
  dot: dot ? { actor: dot[0], counter: dot[1] } : undefined,
  hlc: extra.hlc,
  outcome: extra.outcome ?? 'ok',
  ...base(extra.session),
});
const read = (read: ReadValue, session = 's1', region = 'eu'): HistoryOp => ({ kind: 'read', read, ...base(session, region) });
const finals = (...values: ReadValue[]): Finals => new Map([['o', new Map(values.map((v, i) => [`r${i}`, v]))]]);

describe('counter checker', () => {
  it('accepts the acknowledged sum plus any part of the unknown increments', () => {
    const h = [inc(2), inc(3, 'unknown'), inc(5, 'fail')];
    expect(checkCounters(h, finals({ type: 'counter', value: 2 }, { type: 'counter', value: 5 }))).toEqual([]);
  });
  it('fails a lost acknowledged increment, and one applied twice', () => {
    const h = [inc(2), inc(3, 'unknown'), inc(5, 'fail')];
    expect(checkCounters(h, finals({ type: 'counter', value: 1 }))).toHaveLength(1);
    expect(checkCounters(h, finals({ type: 'counter', value: 7 }))[0]!.message).toMatch(/outside \[2, 5\]/);
  });
});

describe('set checker', () => {
  it('fails a lost add, an undone remove, and an element no one added', () => {
    const h = [add('a'), add('b'), remove('b'), add('c', 'unknown')];
    expect(checkSets(h, finals({ type: 'set', elements: ['a'] }, { type: 'set', elements: ['a', 'c'] }))).toEqual([]);
    expect(checkSets(h, finals({ type: 'set', elements: [] }))[0]!.message).toMatch(/lost the acknowledged add of a/);
    expect(checkSets(h, finals({ type: 'set', elements: ['a', 'b'] }))[0]!.message).toMatch(/b again after its acknowledged remove/);
    expect(checkSets(h, finals({ type: 'set', elements: ['a', 'z'] }))[0]!.message).toMatch(/z, which no one added/);
  });
  it('accepts an element added again after its remove', () => {
    const h = [add('a'), remove('a'), add('a', 'unknown')];
    expect(checkSets(h, finals({ type: 'set', elements: ['a'] }))).toEqual([]);
  });
});

describe('lww checker', () => {
  it('fails when the superseded value wins', () => {
    const h = [write('lww', 'v1', {}, ['us.1', 1], { hlc: 900n }), write('lww', 'v2', { 'us.1': 1 }, ['eu.1', 1], { hlc: 100n })];
    expect(checkLww(h, finals({ type: 'lww', value: 'v2', vector: {} }))).toEqual([]);
    expect(checkLww(h, finals({ type: 'lww', value: 'v1', vector: {} }))[0]!.message).toMatch(/which v2 superseded/);
  });
  it('among concurrent writes, fails the lower HLC winning; fails a value no one wrote', () => {
    const h = [write('lww', 'v1', {}, ['us.1', 1], { hlc: 900n }), write('lww', 'v2', {}, ['eu.1', 1], { hlc: 100n })];
    expect(checkLww(h, finals({ type: 'lww', value: 'v1', vector: {} }))).toEqual([]);
    expect(checkLww(h, finals({ type: 'lww', value: 'v2', vector: {} }))[0]!.message).toMatch(/higher HLC/);
    expect(checkLww(h, finals({ type: 'lww', value: 'zz', vector: {} }))[0]!.message).toMatch(/not an acknowledged write/);
  });
});

describe('mv checker', () => {
  const h = [write('mv', 'a', {}, ['eu.1', 1]), write('mv', 'b', {}, ['us.1', 1]), write('mv', 'c', { 'eu.1': 1 }, ['eu.1', 2])];
  it('wants exactly the maximal acknowledged writes', () => {
    expect(checkMv(h, finals({ type: 'mv', values: ['b', 'c'], vector: {} }))).toEqual([]);
    expect(checkMv(h, finals({ type: 'mv', values: ['c'], vector: {} }))[0]!.message).toMatch(/lost the sibling b/);
    expect(checkMv(h, finals({ type: 'mv', values: ['a', 'b', 'c'], vector: {} }))[0]!.message).toMatch(/keeps a beside c/);
  });
  it('lets an unknown write supersede a sibling', () => {
    const h2 = [...h, write('mv', 'd', { 'us.1': 1 }, undefined, { outcome: 'unknown' })];
    expect(checkMv(h2, finals({ type: 'mv', values: ['c', 'd'], vector: {} }))).toEqual([]);
  });
});

describe('session checker', () => {
  it('fails a read that misses the session\'s own increment, and one that goes back', () => {
    expect(checkSessions([inc(2), read({ type: 'counter', value: 2 }), read({ type: 'counter', value: 3 })])).toEqual([]);
    expect(checkSessions([inc(2), read({ type: 'counter', value: 1 })])[0]!.checker).toBe('read-your-writes');
    const v = checkSessions([read({ type: 'counter', value: 5 }, 's2', 'eu'), read({ type: 'counter', value: 4 }, 's2', 'us')]);
    expect(v[0]!.checker).toBe('monotonic-reads');
  });
  it('fails a set read missing an own add, or showing an own remove; elements seen do not vanish', () => {
    expect(checkSessions([add('a'), read({ type: 'set', elements: [] })])[0]!.checker).toBe('read-your-writes');
    expect(checkSessions([add('a'), remove('a'), read({ type: 'set', elements: ['a'] })])[0]!.message).toMatch(/removed, is back/);
    expect(checkSessions([read({ type: 'set', elements: ['x'] }, 's3'), read({ type: 'set', elements: [] }, 's3')])[0]!.checker).toBe('monotonic-reads');
    expect(checkSessions([read({ type: 'set', elements: ['x'] }, 's3'), remove('x', 'ok', 's4'), read({ type: 'set', elements: [] }, 's3')])).toEqual([]);
  });
  it('fails a register read whose vector misses the own write or is older than an earlier read', () => {
    expect(checkSessions([write('lww', 'v', {}, ['eu.1', 3]), read({ type: 'lww', value: 'old', vector: { 'eu.1': 2 } })])[0]!.checker).toBe('read-your-writes');
    const v = checkSessions([read({ type: 'mv', values: ['x'], vector: { 'eu.1': 3 } }, 's5'), read({ type: 'mv', values: ['y'], vector: { 'us.1': 1 } }, 's5')]);
    expect(v[0]!.checker).toBe('monotonic-reads');
  });
});

describe('convergence and the whole', () => {
  it('fails regions that differ', () => {
    expect(checkConvergence(finals({ type: 'set', elements: ['a', 'b'] }, { type: 'set', elements: ['b', 'a'] }))).toEqual([]);
    expect(checkConvergence(finals({ type: 'counter', value: 1 }, { type: 'counter', value: 2 }))).toHaveLength(1);
  });
  it('runs only the enabled checkers', () => {
    const h = [inc(2)];
    const f = finals({ type: 'counter', value: 0 }, { type: 'counter', value: 2 });
    expect(checkHistory(h, f).map((v) => v.checker).sort()).toEqual(['convergence', 'counter']);
    expect(checkHistory(h, f, new Set(['sessions']))).toEqual([]);
  });
});

describe('writes a restore undid', () => {
  // eu was copied at 100 and stopped for the restore at 200; its topic then held eu.1 up to outbox id 40.
  const restore = { region: 'eu', copiedAt: 100, stoppedAt: 200, published: { 'eu.1': 40 } };
  const addAt = (element: string, end: number, position?: [string, number], region = 'eu'): HistoryOp => ({
    kind: 'add', element, outcome: 'ok', object: 'o', session: 's1', region, start: end - 5, end, ...(position ? { position: { actor: position[0], outboxId: position[1] } } : {}),
  });
  it('are the acknowledged writes after the copy that the restored region never published', () => {
    const lost = addAt('lost', 150, ['eu.1', 41]);
    const published = addAt('published', 150, ['eu.1', 40]); // a peer applies it from Kafka
    const beforeCopy = addAt('copied', 90, ['eu.1', 41]); // in the copy
    const afterRestore = addAt('later', 250, ['eu.2', 3]); // the new incarnation's
    const elsewhere = addAt('us', 150, ['us.1', 99], 'us');
    const unknownPlace = addAt('no-position', 150);
    expect([...lostByRestore([lost, published, beforeCopy, afterRestore, elsewhere, unknownPlace], [restore])]).toEqual([lost]);
  });
  it('may be missing everywhere; every other acknowledged write must not', () => {
    const h = [addAt('lost', 150, ['eu.1', 41]), addAt('published', 160, ['eu.1', 40])];
    const f = finals({ type: 'set', elements: ['published'] }, { type: 'set', elements: ['published'] });
    expect(checkHistory(h, f, new Set(['set']), [restore])).toEqual([]);
    expect(checkHistory(h, f, new Set(['set']))).toHaveLength(2);
    const none = finals({ type: 'set', elements: [] });
    expect(checkHistory(h, none, new Set(['set']), [restore]).map((v) => v.message)).toEqual(['r0 lost the acknowledged add of published']);
  });
});
