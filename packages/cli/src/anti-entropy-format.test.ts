import { describe, expect, it } from 'vitest';
import { formatDifference } from './anti-entropy-format.ts';

describe('formatDifference', () => {
  it('says which side lacks the key, or that both differ', () => {
    expect(formatDifference('eu↔us', { namespace: 'n', key: 'a', localHash: undefined, remoteHash: 1n })).toBe('eu↔us  n/a  missing in eu');
    expect(formatDifference('eu↔us', { namespace: 'n', key: 'b', localHash: 1n, remoteHash: undefined })).toBe('eu↔us  n/b  missing in us');
    expect(formatDifference('eu↔us', { namespace: 'n', key: 'c', localHash: 1n, remoteHash: 2n })).toBe('eu↔us  n/c  states differ');
  });
});
