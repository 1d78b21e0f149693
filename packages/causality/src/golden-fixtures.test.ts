/**
 * The golden fixtures in `fixtures/` stay decodable forever. This test only reads them (they were
 * written once by `scripts/generate-fixtures.ts`, which never rewrites a file): every case decodes
 * to its recorded JSON form, and cases of the current format re-encode to the very same bytes.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { FORMAT_VERSION } from './byte-codec.ts';
import { CausalContext } from './causal-context.ts';
import { DvvSet } from './dvv-set.ts';
import { decodeHlc, encodeHlc, formatHlc, hlc, hlcLogical, hlcPhysical, parseHlc } from './hybrid-logical-clock.ts';
import { VersionVector } from './version-vector.ts';

interface FixtureFile {
  readonly kind: string;
  readonly format: number;
  readonly cases: readonly { readonly name: string; readonly hex: string; readonly json: unknown }[];
}

const directory = new URL('../fixtures/', import.meta.url);
const files = readdirSync(directory)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, fixture: JSON.parse(readFileSync(new URL(name, directory), 'utf8')) as FixtureFile }));

const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = { encode: (v: string) => new TextEncoder().encode(v), decode: (b: Uint8Array) => new TextDecoder('utf-8', { fatal: true }).decode(b) };

/** Per kind: decode the bytes, give the JSON form, and re-encode (current format only). */
const CODECS: Record<string, (bytes: Uint8Array) => { json: unknown; encode: () => Uint8Array }> = {
  'version-vector': (bytes) => {
    const v = VersionVector.decode(bytes);
    return { json: v.toJSON(), encode: () => v.encode() };
  },
  'causal-context': (bytes) => {
    const c = CausalContext.decode(bytes);
    return { json: c.toJSON(), encode: () => c.encode() };
  },
  'dvv-set': (bytes) => {
    const s = DvvSet.decode(bytes, utf8.decode);
    return { json: s.toJSON((v) => v), encode: () => s.encode(utf8.encode) };
  },
  hlc: (bytes) => {
    const t = decodeHlc(bytes);
    expect(parseHlc(formatHlc(t))).toBe(t);
    return { json: { physical: hlcPhysical(t), logical: hlcLogical(t), formatted: formatHlc(t) }, encode: () => encodeHlc(t) };
  },
};

describe('golden fixtures', () => {
  it('exist for every encoding in the current format', () => {
    expect(files.map((f) => f.name)).toEqual(expect.arrayContaining(Object.keys(CODECS).map((kind) => `${kind}.v${FORMAT_VERSION}.json`)));
  });

  describe.each(files)('$name', ({ fixture }) => {
    it.each(fixture.cases)('decodes $name', ({ hex, json }) => {
      const codec = CODECS[fixture.kind];
      expect(codec, `no decoder for fixture kind ${fixture.kind}`).toBeDefined();
      const decoded = codec!(fromHex(hex));
      expect(decoded.json).toEqual(json);
      if (fixture.format === FORMAT_VERSION || fixture.kind === 'hlc') expect(toHex(decoded.encode())).toBe(hex);
    });
  });

  it('the HLC fixture agrees with packing', () => {
    const file = files.find((f) => f.fixture.kind === 'hlc');
    for (const { hex, json } of file!.fixture.cases) {
      const { physical, logical } = json as { physical: number; logical: number };
      expect(decodeHlc(fromHex(hex))).toBe(hlc(physical, logical));
    }
  });
});
