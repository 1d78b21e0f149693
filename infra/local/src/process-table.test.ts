/** Reading /proc/<pid>/stat, whose command name may hold spaces and parentheses. */
import { describe, expect, it } from 'vitest';
import { parseProcStat } from './process-table.ts';

describe('parseProcStat', () => {
  it('reads pid, state, parent and process group after the command name', () => {
    expect(parseProcStat('4242 (node) S 4200 4100 4100 0 -1 4194560')).toEqual({ pid: 4242, state: 'S', ppid: 4200, pgid: 4100 });
    expect(parseProcStat('77 (a (b) c) T 1 77 77 0')).toEqual({ pid: 77, state: 'T', ppid: 1, pgid: 77 });
  });
  it('answers nothing for what it cannot read', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x)')).toBeUndefined();
  });
});
