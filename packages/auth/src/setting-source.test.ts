import { describe, expect, it } from 'vitest';
import { readSetting } from './setting-source.ts';

describe('readSetting', () => {
  const read = (path: string): string => {
    if (path === '/s/token') return 'content\n';
    throw Object.assign(new Error('gone'), { code: 'ENOENT' });
  };
  it('prefers the variable, then <NAME>_FILE without its trailing newline, else nothing', () => {
    expect(readSetting({ X: 'direct', X_FILE: '/s/token' }, 'X', read)).toEqual({ value: 'direct' });
    expect(readSetting({ X_FILE: '/s/token' }, 'X', read)).toEqual({ value: 'content' });
    expect(readSetting({}, 'X', read)).toEqual({ value: undefined });
  });
  it('names an unreadable file without any content', () => {
    expect(readSetting({ X_FILE: '/s/missing' }, 'X', read)).toEqual({ problem: 'X_FILE: expected a readable file (got "/s/missing": ENOENT)' });
  });
});
