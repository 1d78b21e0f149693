/**
 * Writes the golden fixtures of @meridian/crdt's state encodings: `fixtures/<type>.v<format>.json`,
 * each case a state's bytes in hex beside its JSON form and the value a reader sees.
 *
 * Run once per format version (`node --conditions=meridian-source packages/crdt/scripts/write-fixtures.ts`),
 * then commit the files. It never overwrites a fixture file: a golden file is a promise that those
 * bytes decode forever (they are stored in every region's database), so a format change adds a new
 * version's files instead of rewriting old ones. `src/golden-fixtures.test.ts` only reads them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { DvvSet } from '@meridian/causality';
import { GCounter, ORMap, ORSet, PNCounter, writeRegister, type RegisterSet } from '../src/index.ts';
import { FIXTURE_CODECS, encodableRegister, type FixtureCase } from '../src/testing/fixture-codecs.ts';

const FORMAT = 1;
const HLC = (1_763_800_000_000n << 16n) | 7n; // 2025-11-22, logical 7
const MAX = Number.MAX_SAFE_INTEGER;

interface Encodable {
  encode(): Uint8Array;
}

function write(type: string, note: string, states: readonly [string, Encodable][]): void {
  const file = new URL(`../fixtures/${type}.v${FORMAT}.json`, import.meta.url);
  if (existsSync(file)) {
    console.log(`kept ${file.pathname} (golden files are never rewritten)`);
    return;
  }
  const codec = FIXTURE_CODECS[type];
  if (codec === undefined) throw new Error(`no fixture codec for ${type}`);
  const cases: FixtureCase[] = states.map(([name, state]) => {
    const hex = Buffer.from(state.encode()).toString('hex');
    const decoded = codec.decode(Buffer.from(hex, 'hex'));
    return { name, hex, json: decoded.toJSON(), view: decoded.view() };
  });
  writeFileSync(file, `${JSON.stringify({ type, format: FORMAT, note, cases }, null, 2)}\n`);
  console.log(`wrote ${file.pathname}`);
}

const join = <S extends { join(o: S): S }>(...states: S[]): S => states.reduce((a, b) => a.join(b));

write('g-counter', 'GCounter.encode(); json = toJSON(); view = value as counter JSON', [
  ['empty', GCounter.empty],
  ['one actor', GCounter.from({ 'eu.1': 3 })],
  ['string order of actors (eu.10 before eu.2), varint boundaries', GCounter.from({ 'eu.2': 127, 'eu.10': 128, 'us.1': 16_384, 'ap-south.3': 2 ** 32 })],
  ['largest entries: the value exceeds 2^53', GCounter.from({ 'eu.1': MAX, 'us.1': MAX })],
]);

write('pn-counter', 'PNCounter.encode(); json = toJSON(); view = value as counter JSON', [
  ['empty', PNCounter.empty],
  ['increments only', PNCounter.from(GCounter.from({ 'eu.1': 5, 'us.1': 2 }), GCounter.empty)],
  ['decrements only', PNCounter.from(GCounter.empty, GCounter.from({ 'eu.1': 9 }))],
  ['both, negative value', PNCounter.from(GCounter.from({ 'eu.1': 5 }), GCounter.from({ 'eu.1': 2, 'us.1': 300 }))],
]);

function registers(): [string, Encodable][] {
  const empty: RegisterSet = DvvSet.empty();
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const one = writeRegister(empty, 'mv', undefined, 'eu.1', { value: 'hello', hlc: HLC, traceparent: tp }).set;
  const siblings = one.sync(writeRegister(empty, 'mv', undefined, 'us.1', { value: { z: [1, 2.5, null], a: { 'é': 'żółć ✓ 🌍' } }, hlc: HLC + 1n, traceparent: undefined }).set);
  const resolved = writeRegister(siblings, 'mv', siblings.context(), 'ap.2', { value: true, hlc: HLC + 2n, traceparent: undefined }).set;
  const deleted = writeRegister(resolved, 'lww', undefined, 'eu.1', { value: undefined, hlc: (1n << 64n) - 1n, traceparent: undefined }).set;
  return [
    ['empty', encodableRegister(empty)],
    ['one version with its traceparent', encodableRegister(one)],
    ['two concurrent versions (siblings)', encodableRegister(siblings)],
    ['a write that read both supersedes them', encodableRegister(resolved)],
    ['a delete: a tombstone version at the largest HLC', encodableRegister(deleted)],
  ];
}
write('register', 'encodeRegisterSet(): a DvvSet of versions {h: hex HLC, v: value | d: 1 (deleted), t?: traceparent}, as lww and mv keys are stored; json = DvvSet JSON; view = viewRegister under lww and mv', registers());

function orSets(): [string, ORSet][] {
  const eu = ORSet.empty.add('eu.1', ['x', 1, null, true, { b: [1], a: 'é' }, [1, 'x'], '']);
  const base = ORSet.empty.join(eu);
  const removed = base.join(base.remove(['x', 1]));
  const concurrent = join(removed, removed.add('us.1', [true]), removed.add('ap.1', [true]));
  let withheld = ORSet.empty;
  const deltas = [0, 1, 2].map(() => {
    const d = withheld.add('eu.1', [`e${withheld.size}`]);
    withheld = withheld.join(d);
    return d;
  });
  return [
    ['empty', ORSet.empty],
    ['one add of every JSON type', base],
    ['after removes: no tombstones, the context remembers', removed],
    ['concurrent adds of one element: two dots', concurrent],
    ['a delta arrived before earlier ones: dots in the cloud', ORSet.empty.join(deltas[2] ?? ORSet.empty)],
    ['a remove delta: empty store, removed dots in the context', base.remove([null, ''])],
    ['everything removed: only the context is left', base.join(base.remove(base.values()))],
  ];
}
write('or-set', 'ORSet.encode(); json = toJSON(); view = values()', orSets());

function orMaps(): [string, ORMap][] {
  const m0 = ORMap.empty;
  const fields = m0.join(m0.mutate({ set: [['name', 'Ada'], ['profile', { langs: ['en', 'fr'], age: 36 }]], increment: [['visits', 3]], add: [['tags', ['x', 2]]] }, { actor: 'eu.1', hlc: HLC }));
  const busy = join(fields, fields.increment('us.1', 'visits', -10), fields.set('us.1', HLC, 'name', 'Grace'), fields.remove('tags', ['x']));
  const clash = join(ORMap.empty.set('eu.1', HLC, 'f', 'text'), ORMap.empty.increment('us.1', 'f', 1), ORMap.empty.add('ap.1', 'f', ['s']));
  const deleted = busy.join(busy.delete(['profile', 'tags']));
  return [
    ['empty', ORMap.empty],
    ['a register, a JSON register, a counter and a set', fields],
    ['concurrent register writes, a negative counter entry, a set remove', busy],
    ['one field created with three types concurrently', clash],
    ['after deleting fields: no tombstones, the context remembers', deleted],
    ['a delete delta', busy.delete(['name'])],
    ['a field named __proto__', ORMap.empty.set('eu.1', HLC, '__proto__', { x: 1 })],
  ];
}
write('or-map', 'ORMap.encode(); json = toJSON(); view = {value, clashes}', orMaps());
