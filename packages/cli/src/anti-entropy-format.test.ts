import { describe, expect, it } from 'vitest';
import { formatDifference, formatProgress } from './anti-entropy-format.ts';

describe('formatDifference', () => {
  it('says which side lacks the key, or that both differ', () => {
    expect(formatDifference('eu↔us', { namespace: 'n', key: 'a', localHash: undefined, remoteHash: 1n })).toBe('eu↔us  n/a  missing in eu');
    expect(formatDifference('eu↔us', { namespace: 'n', key: 'b', localHash: 1n, remoteHash: undefined })).toBe('eu↔us  n/b  missing in us');
    expect(formatDifference('eu↔us', { namespace: 'n', key: 'c', localHash: 1n, remoteHash: 2n })).toBe('eu↔us  n/c  states differ');
  });
});

describe('formatProgress', () => {
  it('draws the pair, the phase (padded), a 20-wide bar of done/total, the counts and the namespace', () => {
    expect(formatProgress('eu↔us', { phase: 'keys', namespace: 'docs', done: 1, total: 4 })).toBe('eu↔us keys    [#####...............] 1/4 docs');
    expect(formatProgress('eu↔us', { phase: 'compare', done: 0, total: 3 })).toBe('eu↔us compare [....................] 0/3');
    expect(formatProgress('eu↔us', { phase: 'repair', namespace: 'n', done: 1, total: 3 })).toBe('eu↔us repair  [#######.............] 1/3 n');
    expect(formatProgress('eu↔us', { phase: 'confirm', done: 7, total: 7 })).toBe('eu↔us confirm [####################] 7/7');
  });

  it('shows nothing to do as done', () => {
    expect(formatProgress('eu↔ap', { phase: 'compare', done: 0, total: 0 })).toBe('eu↔ap compare [####################] 0/0');
  });
});
