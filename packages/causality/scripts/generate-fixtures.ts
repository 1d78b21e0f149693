/**
 * Writes the golden fixtures of @meridian/causality's encodings: `fixtures/<kind>.v<format>.json`,
 * each case an encoded value in hex beside its JSON form.
 *
 * Run once per format version (`node --conditions=meridian-source packages/causality/scripts/generate-fixtures.ts`),
 * then commit the files. It never overwrites a fixture file: a golden file is a promise that those
 * bytes decode forever, so a format change adds a new version's files instead of rewriting old ones.
 * The test (`src/golden-fixtures.test.ts`) only reads and decodes them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { CausalContext, DvvSet, VersionVector, encodeHlc, formatHlc, hlc, hlcLogical, hlcPhysical, type Dot, type Hlc } from '../src/index.ts';

const FORMAT = 1;
const BASE = 1_763_800_000_000; // 2025-11-22, a realistic physical time
const LONG_REGION = 'a-region-name-of-32-characters-x';
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (value: string): Uint8Array => new TextEncoder().encode(value);
const dots = (actor: string, ...counters: number[]): Dot[] => counters.map((counter) => ({ actor, counter }));

interface Case {
  readonly name: string;
  readonly hex: string;
  readonly json: unknown;
}

function write(kind: string, note: string, cases: readonly Case[]): void {
  const file = new URL(`../fixtures/${kind}.v${FORMAT}.json`, import.meta.url);
  if (existsSync(file)) {
    console.log(`kept ${file.pathname} (golden files are never rewritten)`);
    return;
  }
  writeFileSync(file, `${JSON.stringify({ kind, format: FORMAT, note, cases }, null, 2)}\n`);
  console.log(`wrote ${file.pathname}`);
}

const vectors: [string, VersionVector][] = [
  ['empty', VersionVector.empty],
  ['one actor', VersionVector.from({ 'eu.1': 1 })],
  ['string order of actors (eu.10 before eu.2)', VersionVector.from({ 'eu.2': 5, 'eu.10': 3, 'ap-south.1': 2, 'us.1': 9 })],
  ['varint boundaries', VersionVector.from({ 'eu.1': 127, 'us.1': 128, 'ap.1': 16_384, 'sa.1': 2 ** 32 })],
  ['extremes: 32-character region, largest epoch and counter', VersionVector.from([[`${LONG_REGION}.${Number.MAX_SAFE_INTEGER}`, Number.MAX_SAFE_INTEGER]])],
];

const contexts: [string, CausalContext][] = [
  ['empty', CausalContext.empty],
  ['vector only', CausalContext.fromVector(VersionVector.from({ 'eu.1': 4, 'us.1': 2 }))],
  ['cloud only (the first dot is missing)', CausalContext.fromDots(dots('eu.1', 2, 3, 5))],
  ['vector and cloud with gaps', CausalContext.fromDots([...dots('eu.1', 1, 2, 3, 5, 6, 9), ...dots('us.1', 1), ...dots('ap.2', 7)])],
  ['far cloud dots', CausalContext.fromDots([...dots('eu.1', 1, 1_000_000), ...dots('eu.10', Number.MAX_SAFE_INTEGER)])],
];

function dvvSets(): [string, DvvSet<string>][] {
  const one = DvvSet.empty<string>().update(undefined, 'eu.1', 'hello').set;
  const siblings = one.update(undefined, 'eu.1', 'concurrent').set.sync(DvvSet.empty<string>().update(undefined, 'us.1', 'from us').set);
  const resolved = siblings.update(siblings.context(), 'us.1', 'resolved').set;
  const readElsewhere = DvvSet.empty<string>().update(VersionVector.from({ 'eu.1': 2, 'us.1': 1 }), 'ap.1', 'read at eu, written at ap').set;
  const unicode = DvvSet.empty<string>().update(undefined, 'eu.1', '').set.update(undefined, 'eu.1', 'żółć ✓ 🌍').set;
  return [
    ['empty', DvvSet.empty<string>()],
    ['one version', one],
    ['siblings from two regions', siblings],
    ['siblings resolved by a read-modify-write', resolved],
    ['a context absorbed from a read elsewhere', readElsewhere],
    ['empty and non-ASCII values', unicode],
  ];
}

const timestamps: [string, Hlc][] = [
  ['zero', 0n],
  ['physical time, logical 0', hlc(BASE, 0)],
  ['logical counter in use', hlc(BASE, 513)],
  ['logical counter full', hlc(BASE, 0xffff)],
  ['the largest timestamp', (1n << 64n) - 1n],
];

write(
  'version-vector',
  'VersionVector.encode(); json = toJSON()',
  vectors.map(([name, v]) => ({ name, hex: hex(v.encode()), json: v.toJSON() })),
);
write(
  'causal-context',
  'CausalContext.encode(); json = toJSON()',
  contexts.map(([name, c]) => ({ name, hex: hex(c.encode()), json: c.toJSON() })),
);
write(
  'dvv-set',
  'DvvSet<string>.encode(utf8); json = toJSON(v => v)',
  dvvSets().map(([name, s]) => ({ name, hex: hex(s.encode(utf8)), json: s.toJSON((v) => v) })),
);
write(
  'hlc',
  'encodeHlc() (8 bytes big-endian); json = {physical, logical, formatted}',
  timestamps.map(([name, t]) => ({ name, hex: hex(encodeHlc(t)), json: { physical: hlcPhysical(t), logical: hlcLogical(t), formatted: formatHlc(t) } })),
);
