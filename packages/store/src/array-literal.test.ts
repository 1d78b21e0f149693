import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { arrayLiteral } from './array-literal.ts';

/** node-postgres's own conversion of a parameter value (what it sends for a JS array). */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils') as { prepareValue: (value: unknown) => unknown };

describe('arrayLiteral', () => {
  it('is the literal node-postgres sends for the same array', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('"', '\\', 'a', ',', '{', '}', ' ', 'é', '\u0000') }), fc.constantFrom('', 'NULL', 'bench_catchup'));
    fc.assert(
      fc.property(fc.array(fc.oneof(text, fc.integer(), fc.bigInt()), { maxLength: 12 }), (values) => {
        expect(arrayLiteral(values, (v) => v)).toBe(prepareValue(values));
      }),
      { numRuns: 1000 },
    );
  });

  it('quotes a run of equal elements once, and each element in order', () => {
    expect(arrayLiteral([{ n: 'ns' }, { n: 'ns' }, { n: 'a"b' }, { n: 'ns' }], (o) => o.n)).toBe('{"ns","ns","a\\"b","ns"}');
  });
});
