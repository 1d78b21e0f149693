/**
 * The golden fixtures in `fixtures/` stay decodable forever: states are stored in every region's
 * database and shipped between regions, so bytes written by this version must be read by every
 * later one. This test only reads them (they were written once by `scripts/write-fixtures.ts`,
 * which never rewrites a file): every case decodes to its recorded JSON form and reader's view,
 * re-encodes to the very same bytes (current format), and its JSON form reads back to them.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION } from './binary-codec.ts';
import { FIXTURE_CODECS, type FixtureFile } from './testing/fixture-codecs.ts';

const directory = new URL('../fixtures/', import.meta.url);
const files = readdirSync(directory)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, fixture: JSON.parse(readFileSync(new URL(name, directory), 'utf8')) as FixtureFile }));

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('golden fixtures', () => {
  it('cover every state type', () => {
    expect(new Set(files.map((f) => f.fixture.type))).toEqual(new Set(Object.keys(FIXTURE_CODECS)));
    for (const { fixture } of files) expect(fixture.cases.length).toBeGreaterThanOrEqual(4);
  });

  describe.each(files)('$name', ({ fixture }) => {
    const codec = FIXTURE_CODECS[fixture.type];
    it.each(fixture.cases)('$name', (c) => {
      if (codec === undefined) throw new Error(`no codec for fixture type ${fixture.type}`);
      const state = codec.decode(Uint8Array.from(Buffer.from(c.hex, 'hex')));
      expect(state.toJSON()).toEqual(c.json);
      expect(state.view()).toEqual(c.view);
      if (fixture.format === FORMAT_VERSION) {
        expect(toHex(state.encode())).toBe(c.hex);
        expect(toHex(codec.fromJSON(c.json).encode())).toBe(c.hex);
      }
    });
  });
});
