/**
 * `meridian down`: stops the cluster that `<dir>/cluster.json` describes, from any shell.
 *
 * The supervisor (foreground or detached) owns every process of the cluster, so the normal way
 * down is SIGTERM to it and waiting until it has stopped them all and exited. Only if the
 * supervisor is gone (killed) or does not finish in time are the processes it left swept here:
 * the pids cluster.json lists and, for a detached supervisor, the members of its process group —
 * each only if its command line is recognisably one of the cluster's programs, because a pid
 * can have been reused by an unrelated process since.
 */
import { isAlive, listProcesses, readClusterFile, removeClusterFile, type ClusterFile, type ProcessEntry } from '@meridian/infra-local';
import type { DownCommand } from './cli-args.ts';

const SUPERVISOR_STOP_MS = 90_000;
const SWEEP_GRACE_MS = 10_000;

/** Command-line fragments of the programs a cluster runs. */
const CLUSTER_PROGRAMS = ['services/region/src/main.ts', 'services/gslb/src/main.ts', 'kafka.Kafka', 'zipkin-server', 'cli/src/main.ts up', 'bin/meridian up', 'cli/src/main.ts join', 'bin/meridian join'];

/** The processes of `file`'s cluster that are still alive (never this process). */
export function clusterLeftovers(file: ClusterFile, processes: readonly ProcessEntry[]): ProcessEntry[] {
  const pids = new Set(Object.values(file.pids));
  const group = file.detached ? file.pids['supervisor'] : undefined;
  return processes.filter(
    (p) => p.pid !== process.pid && p.state !== 'Z' && (pids.has(p.pid) || (group !== undefined && p.pgid === group)) && CLUSTER_PROGRAMS.some((m) => p.cmdline.includes(m)),
  );
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited in the meantime
  }
}

export async function runDown(command: DownCommand): Promise<number> {
  let file: ClusterFile | undefined;
  try {
    file = readClusterFile(command.dir);
  } catch (error) {
    console.error(`${(error as Error).message}\n(remove it if no cluster runs)`);
    return 1;
  }
  if (!file) {
    console.log(`no cluster is running from ${command.dir} (no cluster.json)`);
    return 0;
  }
  const supervisor = file.pids['supervisor']!;
  if (isAlive(supervisor)) {
    console.log(`stopping the cluster (supervisor pid ${supervisor})…`);
    signal(supervisor, 'SIGTERM');
    if (await until(() => !isAlive(supervisor), SUPERVISOR_STOP_MS)) {
      const left = clusterLeftovers(file, listProcesses());
      if (left.length === 0) {
        removeClusterFile(command.dir); // the supervisor removed it already; a no-op then
        console.log('stopped');
        return 0;
      }
    } else {
      console.log(`the supervisor did not finish within ${SUPERVISOR_STOP_MS / 1000} s`);
    }
  } else {
    console.log(`the supervisor (pid ${supervisor}) is gone; stopping what it left`);
  }
  const left = clusterLeftovers(file, listProcesses());
  for (const p of left) signal(p.pid, 'SIGTERM');
  const clean = await until(() => left.every((p) => !isAlive(p.pid)), SWEEP_GRACE_MS);
  if (!clean) for (const p of left) if (isAlive(p.pid)) signal(p.pid, 'SIGKILL');
  await until(() => left.every((p) => !isAlive(p.pid)), SWEEP_GRACE_MS);
  removeClusterFile(command.dir);
  console.log(left.length === 0 ? 'stopped' : `stopped; swept ${left.length} leftover process${left.length === 1 ? '' : 'es'} (${left.map((p) => p.pid).join(', ')})`);
  return 0;
}
