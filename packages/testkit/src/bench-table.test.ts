import { describe, expect, it } from 'vitest';
import { fixed, markdownTable, whole } from './bench-table.ts';

describe('benchmark tables', () => {
  it('prints a Markdown table and its cells', () => {
    expect(markdownTable(['a', 'b'], [['1', '2'], ['3', '4']])).toBe('| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |');
    expect([fixed(1.25, 1), fixed(2), fixed(undefined), fixed(Number.NaN, 3), whole(12345.6)]).toEqual(['1.3', '2.0', '—', '—', '12,346']);
  });
});
