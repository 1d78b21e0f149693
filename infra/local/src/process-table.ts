/**
 * What the local cluster needs to know about running processes, read from Linux's `/proc`: which
 * processes a supervisor started (to record their pids), whether a recorded pid is still the
 * process it was (pids are reused), and which leftovers to sweep after a supervisor died.
 *
 * Every function answers "unknown" (undefined or an empty list) where `/proc` is missing, so on
 * other systems the callers fall back to the supervisor's own clean shutdown and never signal a
 * process they cannot identify.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  /** Process group id: a detached supervisor leads its own group, and its children stay in it. */
  readonly pgid: number;
  /** One letter, as in ps: R running, S sleeping, T stopped, Z zombie, … */
  readonly state: string;
  /** The command line, arguments joined by spaces. */
  readonly cmdline: string;
}

/** Parses `/proc/<pid>/stat`: the command name is in parentheses and may hold spaces and parentheses itself. */
export function parseProcStat(stat: string): { pid: number; state: string; ppid: number; pgid: number } | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(stat.slice(0, stat.indexOf(' ')));
  const [state, ppid, pgid] = stat.slice(close + 2).split(' ');
  if (!Number.isInteger(pid) || state === undefined || ppid === undefined || pgid === undefined) return undefined;
  return { pid, state, ppid: Number(ppid), pgid: Number(pgid) };
}

export function readProcess(pid: number): ProcessEntry | undefined {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (!stat) return undefined;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return { ...stat, cmdline };
  } catch {
    return undefined; // gone between listing and reading, or no /proc
  }
}

export function listProcesses(): ProcessEntry[] {
  if (!existsSync('/proc/self/stat')) return [];
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => readProcess(Number(name)) ?? []);
}

/** Whether `pid` is a live process (a zombie is not: it has exited and only waits to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const entry = readProcess(pid);
  return entry === undefined ? true : entry.state !== 'Z';
}

/** The direct children of `pid`. */
export function childrenOf(pid: number): ProcessEntry[] {
  return listProcesses().filter((p) => p.ppid === pid);
}
