/**
 * Benchmarks of @meridian/crdt (not tests: `npm run bench`), each figure beside a comparable
 * workload on Yjs and Automerge measured in the same run, with the ratio (baseline time ÷
 * Meridian time: above 1, Meridian is faster). Sized to finish in well under two minutes on two cores.
 *
 * What is compared (the baselines are the libraries' own APIs unless said otherwise):
 * - version vectors of 8 regions: Meridian's immutable, validated VersionVector against Yjs's
 *   state vector (a Map of client → clock, as `Y.decodeStateVector` returns it), compared and merged
 *   entry-wise with a plain loop (Yjs has no compare/merge API for them), and encoded/decoded
 *   with `Y.encodeStateVector`/`Y.decodeStateVector`;
 * - a set of n elements joined with a concurrently edited replica (10% added on each side, 10%
 *   removed on one): ORSet.join against `Y.applyUpdate` of the other doc's state into a doc
 *   (a fresh copy each run) and `A.merge` of two Automerge docs whose map holds the elements as
 *   keys; and bytes to bytes: decode + join + encode against `Y.mergeUpdates`;
 * - one more element written into a set of 100k: apply + encode the delta, against `Y.Map.set` and
 *   its update, and Automerge `change` + `getLastLocalChange`;
 * - encode and decode of a whole set of 100k: against `Y.encodeStateAsUpdate` / `Y.applyUpdate`
 *   into a new doc and `A.save` / `A.load`.
 */
import * as A from '@automerge/automerge';
import * as Y from 'yjs';
import { VersionVector } from '@meridian/causality';
import { ORSet, setKind } from '@meridian/crdt';
import { markdownTable as table } from '@meridian/testkit';
import { formatTime, measure, measureBatched, measureWithSetup, ratio, throughput, type Measurement } from './measure.ts';

const REGIONS = ['eu', 'us', 'ap', 'sa', 'af', 'me', 'oc', 'an'];
const HEADER = ['workload', 'Meridian', 'Yjs', 'Yjs ÷ Meridian', 'Automerge', 'Automerge ÷ Meridian'];

function row(name: string, meridian: Measurement, yjs?: Measurement, automerge?: Measurement): string[] {
  return [name, formatTime(meridian.ms), yjs ? formatTime(yjs.ms) : '—', ratio(meridian, yjs), automerge ? formatTime(automerge.ms) : '—', ratio(meridian, automerge)];
}

function versionVectors(): string {
  // Two concurrent 8-region vectors, as two regions hold them mid-replication.
  const a = VersionVector.from(REGIONS.map((r, i) => [`${r}.1`, 1000 + i * 7 + (i % 2) * 5] as const));
  const b = VersionVector.from(REGIONS.map((r, i) => [`${r}.1`, 1000 + i * 7 + ((i + 1) % 2) * 5] as const));
  const docs = [0, 1].map((side) => {
    const doc = new Y.Doc();
    for (let i = 0; i < REGIONS.length; i++) {
      const peer = new Y.Doc();
      peer.clientID = i + 1;
      const text = peer.getText('t');
      const count = 1000 + i * 7 + ((i + side) % 2) * 5;
      peer.transact(() => {
        for (let k = 0; k < count; k += 100) text.insert(0, 'x'.repeat(Math.min(100, count - k)));
      });
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(peer));
    }
    return doc;
  });
  const [ya, yb] = docs.map((doc) => Y.decodeStateVector(Y.encodeStateVector(doc))) as [Map<number, number>, Map<number, number>];
  const yCompare = (x: Map<number, number>, y: Map<number, number>): string => {
    let less = false;
    let greater = false;
    for (const [client, clock] of x) {
      const other = y.get(client) ?? 0;
      if (clock < other) less = true;
      else if (clock > other) greater = true;
    }
    for (const [client, clock] of y) if (!x.has(client) && clock > 0) less = true;
    return less && greater ? 'concurrent' : less ? 'before' : greater ? 'after' : 'equal';
  };
  const yJoin = (x: Map<number, number>, y: Map<number, number>): Map<number, number> => {
    const joined = new Map(x);
    for (const [client, clock] of y) if (clock > (joined.get(client) ?? 0)) joined.set(client, clock);
    return joined;
  };
  if (a.compare(b) !== 'concurrent' || yCompare(ya, yb) !== 'concurrent') throw new Error('the vectors must be concurrent');
  const bytes = a.encode();
  const yBytes = Y.encodeStateVector(docs[0] as Y.Doc);
  const N = 2_000;
  return table(HEADER, [
    row('compare (8 regions)', measureBatched(N, () => a.compare(b)), measureBatched(N, () => yCompare(ya, yb))),
    row('join (8 regions)', measureBatched(N, () => a.join(b)), measureBatched(N, () => yJoin(ya, yb))),
    row(`encode (8 regions; ${bytes.length} B vs ${yBytes.length} B)`, measureBatched(N, () => a.encode()), measureBatched(N, () => Y.encodeStateVector(docs[0] as Y.Doc))),
    row('decode (8 regions)', measureBatched(N, () => VersionVector.decode(bytes)), measureBatched(N, () => Y.decodeStateVector(yBytes))),
  ]);
}

interface Replicas {
  readonly a: ORSet;
  readonly b: ORSet;
  readonly ya: Uint8Array;
  readonly yb: Uint8Array;
  readonly ma: A.Doc<{ set: Record<string, boolean> }>;
  readonly mb: A.Doc<{ set: Record<string, boolean> }>;
}

/** Replica a holds n elements; b got a copy, then both edit concurrently (10% each, b removes 10%). */
function replicas(n: number): Replicas {
  const tenth = n / 10;
  const name = (prefix: string, i: number): string => `${prefix}${i}`;
  let a = ORSet.empty;
  a = a.join(a.add('eu.1', Array.from({ length: n }, (_, i) => name('e', i))));
  let b = a;
  b = b.join(b.add('us.1', Array.from({ length: tenth }, (_, i) => name('b', i))));
  b = b.join(b.remove(Array.from({ length: tenth }, (_, i) => name('e', i))));
  a = a.join(a.add('eu.1', Array.from({ length: tenth }, (_, i) => name('a', i))));

  const docA = new Y.Doc();
  docA.clientID = 1;
  docA.transact(() => {
    const s = docA.getMap<boolean>('set');
    for (let i = 0; i < n; i++) s.set(name('e', i), true);
  });
  const docB = new Y.Doc();
  docB.clientID = 2;
  Y.applyUpdate(docB, Y.encodeStateAsUpdate(docA));
  docB.transact(() => {
    const s = docB.getMap<boolean>('set');
    for (let i = 0; i < tenth; i++) {
      s.set(name('b', i), true);
      s.delete(name('e', i));
    }
  });
  docA.transact(() => {
    const s = docA.getMap<boolean>('set');
    for (let i = 0; i < tenth; i++) s.set(name('a', i), true);
  });

  let ma = A.from<{ set: Record<string, boolean> }>({ set: {} }, { actor: 'aa'.repeat(16) });
  ma = A.change(ma, (d) => {
    for (let i = 0; i < n; i++) d.set[name('e', i)] = true;
  });
  let mb = A.clone(ma, { actor: 'bb'.repeat(16) });
  mb = A.change(mb, (d) => {
    for (let i = 0; i < tenth; i++) {
      d.set[name('b', i)] = true;
      delete d.set[name('e', i)];
    }
  });
  ma = A.change(ma, (d) => {
    for (let i = 0; i < tenth; i++) d.set[name('a', i)] = true;
  });
  return { a, b, ya: Y.encodeStateAsUpdate(docA), yb: Y.encodeStateAsUpdate(docB), ma, mb };
}

function checkSameResult(r: Replicas, n: number): void {
  const joined = r.a.join(r.b);
  const doc = new Y.Doc();
  Y.applyUpdate(doc, r.ya);
  Y.applyUpdate(doc, r.yb);
  const merged = A.merge(A.clone(r.ma), r.mb);
  const expected = n + n / 10;
  const sizes = [joined.size, doc.getMap('set').size, Object.keys(merged.set).length];
  if (sizes.some((s) => s !== expected)) throw new Error(`the three joins disagree: ${sizes.join(', ')} (expected ${expected})`);
}

function setJoins(sizes: readonly number[]): string {
  const rows: string[][] = [];
  for (const n of sizes) {
    const r = replicas(n);
    checkSameResult(r, n);
    const heavy = n >= 100_000;
    const options = heavy ? { minMs: 300, minRuns: 2, warmup: 1 } : { minMs: 300, minRuns: 5, warmup: 2 };
    rows.push(
      row(
        `set join, ${n.toLocaleString('en')} elements (in memory)`,
        measure(() => r.a.join(r.b), options),
        measureWithSetup(
          () => {
            const doc = new Y.Doc();
            Y.applyUpdate(doc, r.ya);
            return doc;
          },
          (doc) => Y.applyUpdate(doc, r.yb),
          options,
        ),
        measureWithSetup(() => A.clone(r.ma), (doc) => A.merge(doc, r.mb), options),
      ),
    );
    const ea = r.a.encode();
    const eb = r.b.encode();
    rows.push(
      row(
        `set join, ${n.toLocaleString('en')} elements (bytes → bytes: decode, join, encode)`,
        measure(() => ORSet.decode(ea).join(ORSet.decode(eb)).encode(), options),
        measure(() => Y.mergeUpdates([r.ya, r.yb]), options),
      ),
    );
  }
  return table(HEADER, rows);
}

function oneWrite(n: number): string {
  const r = replicas(n);
  let counter = 0;
  const doc = new Y.Doc();
  Y.applyUpdate(doc, r.ya);
  let lastUpdate: Uint8Array | undefined;
  doc.on('update', (update: Uint8Array) => (lastUpdate = update));
  let am = A.clone(r.ma);
  return table(HEADER, [
    row(
      `add one element to a set of ${n.toLocaleString('en')} (apply + encode delta)`,
      measure(() => {
        const { delta } = setKind.apply(r.a, { add: [`new${counter++}`] }, { actor: 'eu.1' });
        return setKind.encode(delta);
      }),
      measure(() => {
        doc.getMap<boolean>('set').set(`new${counter++}`, true);
        return lastUpdate;
      }),
      measure(() => {
        am = A.change(am, (d) => {
          d.set[`new${counter++}`] = true;
        });
        return A.getLastLocalChange(am);
      }),
    ),
  ]);
}

function encodings(n: number): string {
  const r = replicas(n);
  const state = r.a.join(r.b);
  const bytes = state.encode();
  const doc = new Y.Doc();
  Y.applyUpdate(doc, r.ya);
  Y.applyUpdate(doc, r.yb);
  const yBytes = Y.encodeStateAsUpdate(doc);
  const merged = A.merge(A.clone(r.ma), r.mb);
  const aBytes = A.save(merged);
  const options = { minMs: 300, minRuns: 3, warmup: 1 };
  const encode = measure(() => state.encode(), options);
  const decode = measure(() => ORSet.decode(bytes), options);
  const yEncode = measure(() => Y.encodeStateAsUpdate(doc), options);
  const yDecode = measure(() => Y.applyUpdate(new Y.Doc(), yBytes), options);
  const aEncode = measure(() => A.save(merged), options);
  const aDecode = measure(() => A.load(aBytes), options);
  const label = n.toLocaleString('en');
  return [
    table(HEADER, [row(`encode a set of ${label}`, encode, yEncode, aEncode), row(`decode a set of ${label}`, decode, yDecode, aDecode)]),
    '',
    table(
      ['encoding of the same set', 'size', 'encode throughput', 'decode throughput'],
      [
        ['Meridian ORSet', `${(bytes.length / 1e6).toFixed(2)} MB`, throughput(bytes.length, encode), throughput(bytes.length, decode)],
        ['Yjs update', `${(yBytes.length / 1e6).toFixed(2)} MB`, throughput(yBytes.length, yEncode), throughput(yBytes.length, yDecode)],
        ['Automerge save', `${(aBytes.length / 1e6).toFixed(2)} MB`, throughput(aBytes.length, aEncode), throughput(aBytes.length, aDecode)],
      ],
    ),
  ].join('\n');
}

const started = Date.now();
console.log(`# @meridian/crdt benchmarks (Node ${process.version}, yjs and @automerge/automerge in the same run)\n`);
console.log('Ratios are baseline time ÷ Meridian time: above 1, Meridian is faster.\n');
console.log('## Version vectors, 8 regions\n');
console.log(versionVectors());
console.log('\n## Set join with a concurrently edited replica\n');
console.log(setJoins([10_000, 100_000]));
console.log('\n## One write into a large set\n');
console.log(oneWrite(100_000));
console.log('\n## Encode and decode a whole set\n');
console.log(encodings(100_000));
console.log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s)`);
