import { describe, it, expect } from 'vitest';
import { VersionVector, CausalContext } from './index.ts';

describe('smoke', () => {
  it('vv and cc basics', () => {
    const a = VersionVector.from({ 'eu.1': 2, 'us.1': 0 });
    expect(a.entries()).toEqual([['eu.1', 2]]);
    const { vector, dot } = a.increment('us.1');
    expect(dot).toEqual({ actor: 'us.1', counter: 1 });
    expect(a.compare(vector)).toBe('before');
    expect(VersionVector.decode(vector.encode()).equals(vector)).toBe(true);
    const c = CausalContext.fromDots([{ actor: 'eu.1', counter: 1 }, { actor: 'eu.1', counter: 3 }]);
    expect(c.toJSON()).toEqual({ vv: { 'eu.1': 1 }, cloud: [['eu.1', 3]] });
    const d = c.add({ actor: 'eu.1', counter: 2 });
    expect(d.toJSON()).toEqual({ vv: { 'eu.1': 3 }, cloud: [] });
    expect(CausalContext.decode(c.encode()).equals(c)).toBe(true);
    expect(Buffer.from(c.encode()).toString('hex')).toBe('43010102657501010100');
  });
});
