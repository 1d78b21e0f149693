/**
 * CPU time of other processes (the service, PostgreSQL backends, pgbench), to say where a
 * write's time goes. `top -b -n 1 -p …` prints each process's cumulative CPU time (TIME+) to
 * the hundredth of a second; two snapshots around a phase give the cores it used. Best effort:
 * a process that exited, or a `top` whose output cannot be read, is simply left out.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** pid → cumulative CPU seconds. */
export type CpuSnapshot = ReadonlyMap<number, number>;

/** `m:ss.hh` (top's TIME+) in seconds; undefined for any other shape (e.g. hours-long `h,mm`). */
function parseTimePlus(text: string): number | undefined {
  const match = /^(\d+):(\d{2})\.(\d{2})$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 60 + Number(match[2]) + Number(match[3]) / 100;
}

export async function cpuSnapshot(pids: readonly number[]): Promise<CpuSnapshot> {
  const out = new Map<number, number>();
  // top takes at most 20 pids per -p.
  for (let i = 0; i < pids.length; i += 20) {
    const chunk = pids.slice(i, i + 20);
    let stdout: string;
    try {
      ({ stdout } = await run('top', ['-b', '-n', '1', '-p', chunk.join(',')], { env: { ...process.env, COLUMNS: '200' } }));
    } catch {
      continue;
    }
    const lines = stdout.split('\n');
    const headerAt = lines.findIndex((l) => /\bPID\b/.test(l) && l.includes('TIME+'));
    if (headerAt < 0) continue;
    const header = lines[headerAt]!.trim().split(/\s+/);
    const pidColumn = header.indexOf('PID');
    const timeColumn = header.indexOf('TIME+');
    for (const line of lines.slice(headerAt + 1)) {
      const cells = line.trim().split(/\s+/);
      const pid = Number(cells[pidColumn]);
      const seconds = parseTimePlus(cells[timeColumn] ?? '');
      if (Number.isInteger(pid) && seconds !== undefined) out.set(pid, seconds);
    }
  }
  return out;
}

/**
 * CPU seconds spent between two snapshots by the processes in `after`. One missing from
 * `before` started in between (a pool connection opened during the phase): all its time counts.
 */
export function cpuSeconds(before: CpuSnapshot, after: CpuSnapshot): number | undefined {
  if (after.size === 0) return undefined;
  let total = 0;
  for (const [pid, end] of after) total += end - (before.get(pid) ?? 0);
  return total;
}

/** Busy CPU seconds of the whole machine so far (every core, every process). */
export function machineBusySeconds(): number {
  let ms = 0;
  for (const core of cpus()) ms += core.times.user + core.times.nice + core.times.sys + core.times.irq;
  return ms / 1000;
}

/**
 * Seconds the machine's cores sat idle waiting for disk I/O so far (`/proc/stat`'s iowait; Linux
 * only, undefined elsewhere). Commits waiting on a slow WAL flush show up here.
 */
export function machineIowaitSeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/);
    return Number(fields[5]) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** USER_HZ: the unit of /proc/stat and /proc/<pid>/stat, 100 on every Linux architecture Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;
