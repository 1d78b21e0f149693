/**
 * `meridian up`: runs the local cluster.
 *
 * - In the foreground (`npm run cluster`): starts everything, prints the URLs and the
 *   walkthrough, keeps a status line current, and on Ctrl-C (or SIGTERM from `meridian down`)
 *   stops every process it started before exiting — no Java or Node process is left behind.
 * - `--detach`: starts the same program as a detached supervisor (`up --supervised`, its own
 *   session and process group, output in `<dir>/logs/supervisor.log`), shows its progress, and
 *   returns once the supervisor has written cluster.json with its pid — or prints the log's tail
 *   and fails if it died first.
 *
 * Signals: until the cluster is up, the launchers' own hooks SIGKILL every child on SIGINT or
 * SIGTERM (a half-started cluster has nothing worth draining); once it is up, this module takes
 * over those signals and stops everything cleanly (a second signal forces the exit).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS, clusterFilePath, isAlive, operatorRegionSettings, readClusterFile, startLocalCluster, type ClusterFile, type LocalCluster, type LocalClusterOptions } from '@meridian/infra-local';
import type { UpCommand } from './cli-args.ts';
import { probeHealth, probeRegion } from './region-client.ts';
import { formatStatusLine, statusLineKey } from './status-format.ts';
import { formatWalkthrough } from './walkthrough.ts';

/** The program itself, for the detached supervisor (main.ts beside this file, or main.js in dist). */
const CLI_MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './main.ts' : './main.js', import.meta.url));
const STATUS_INTERVAL_MS = 2000;

/** A path as the user's shell reaches it: relative when under the current directory. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

function alreadyRunning(dir: string): string | undefined {
  let file: ClusterFile | undefined;
  try {
    file = readClusterFile(dir);
  } catch {
    return undefined;
  }
  const pid = file?.pids['supervisor'];
  return pid !== undefined && isAlive(pid) ? `a Meridian cluster is already running from ${dir} (supervisor pid ${pid}): \`npm run meridian -- status\` shows it, \`npm run meridian -- down\` stops it` : undefined;
}

/**
 * What `meridian up` asks the launcher for: the command line's choices, and every `MERIDIAN_*`
 * setting of its own environment (but the ones the launcher owns) for every region process, so
 * `MERIDIAN_TOMBSTONE_MIN_AGE=10m npm run cluster` runs every region with it.
 */
export function localClusterOptions(command: UpCommand, env: Readonly<Record<string, string | undefined>>, onProgress: (line: string) => void): LocalClusterOptions {
  return {
    baseDir: command.dir,
    regions: command.regions,
    gslb: command.gslb,
    ports: command.ports,
    kafka: command.kafka,
    zipkinUrl: command.zipkinUrl,
    locations: command.locations,
    databasePrefix: command.databasePrefix,
    auth: command.auth,
    tls: command.tls,
    fresh: command.fresh,
    detached: command.supervised,
    regionEnv: operatorRegionSettings(env),
    onProgress,
  };
}

function startCluster(command: UpCommand, onProgress: (line: string) => void): Promise<LocalCluster> {
  const options = localClusterOptions(command, process.env, onProgress);
  const passed = Object.keys(options.regionEnv ?? {});
  if (passed.length > 0) onProgress(`every region runs with ${passed.sort().join(', ')} from this environment`);
  return startLocalCluster(options);
}

/** Probes every region and the GSLB, and reports the status line whenever `show` wants it. */
function watchStatus(cluster: LocalCluster, show: (line: string, key: string) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async (): Promise<void> => {
    const [reports, gslb] = await Promise.all([
      Promise.all(cluster.file.regions.map((r) => probeRegion(r, cluster.file.auth?.reader))),
      cluster.file.gslb ? probeHealth(cluster.file.gslb) : Promise.resolve(undefined),
    ]);
    if (stopped) return;
    show(formatStatusLine(reports, gslb), statusLineKey(reports, gslb));
    timer = setTimeout(() => void tick(), STATUS_INTERVAL_MS);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Stops the cluster on the first SIGINT/SIGTERM/SIGHUP; exits at once on a second one. */
function stopOnSignal(cluster: LocalCluster, beforeStop: () => void, log: (line: string) => void): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log(`${signal} again: exiting now (the launchers kill what is left)`);
        process.exit(130);
      }
      stopping = true;
      beforeStop();
      log(`${signal}: stopping the GSLB, the regions, Kafka and Zipkin…`);
      cluster.stop().then(resolve, (error: unknown) => {
        log(`stopping failed: ${(error as Error).message}`);
        process.exit(1);
      });
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  });
}

/** The foreground cluster, or (supervised) the detached supervisor's body. */
async function runInForeground(command: UpCommand): Promise<number> {
  const refusal = alreadyRunning(command.dir);
  if (refusal) {
    console.error(refusal);
    return 1;
  }
  const stamp = (): string => new Date().toISOString().slice(11, 19);
  const log = (line: string): void => console.log(command.supervised ? `${stamp()} ${line}` : line);
  log(`starting Meridian (data in ${command.dir})…`);
  const cluster = await startCluster(command, log);
  const interactive = !command.supervised && process.stdout.isTTY;
  if (!command.supervised) console.log(`\n${formatWalkthrough(cluster.file, { detached: false, clusterJson: shownPath(clusterFilePath(command.dir)) })}\n`);
  else log(`up: ${cluster.file.regions.map((r) => `${r.id} ${r.url}`).join(', ')}${cluster.file.gslb ? `, gslb ${cluster.file.gslb}` : ''}, zipkin ${cluster.file.zipkin}`);

  let lastKey = '';
  const stopWatching = watchStatus(cluster, (line, key) => {
    if (interactive) {
      const width = process.stdout.columns || 120;
      const shown = `${stamp()} ${line}`;
      process.stdout.write(`\r\x1b[K${shown.length > width - 1 ? `${shown.slice(0, width - 2)}…` : shown}`);
    } else if (key !== lastKey) {
      log(line);
    }
    lastKey = key;
  });
  await stopOnSignal(cluster, () => {
    stopWatching();
    if (interactive) process.stdout.write('\n');
  }, log);
  log(`stopped; the data is kept in ${command.dir} and the databases ${cluster.file.regions.map((r) => r.database).join(', ')}`);
  return 0;
}

/** Reads what `path` gained since `offset`. */
function readFrom(path: string, offset: number): { text: string; offset: number } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { text: '', offset };
  }
  if (size <= offset) return { text: '', offset };
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  return { text: buffer.toString('utf8'), offset: size };
}

async function runDetached(command: UpCommand, argv: readonly string[]): Promise<number> {
  const refusal = alreadyRunning(command.dir);
  if (refusal) {
    console.error(refusal);
    return 1;
  }
  const logs = join(command.dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const logFile = join(logs, 'supervisor.log');
  let offset = (() => {
    try {
      return statSync(logFile).size;
    } catch {
      return 0;
    }
  })();
  const fd = openSync(logFile, 'a');
  const args = [...NODE_FLAGS, CLI_MAIN, 'up', '--supervised', '--dir', command.dir, ...argv.filter((a) => a !== '--detach')];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the supervisor');
  let exitCode: number | null | undefined;
  child.on('exit', (code) => {
    exitCode = code;
  });
  // Ctrl-C while waiting: the half-started cluster goes too.
  const abort = (): void => {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  process.once('SIGINT', abort);
  console.log(`starting Meridian in the background (supervisor pid ${pid}, log ${logFile})…`);
  const deadline = Date.now() + 15 * 60_000; // the first run fetches the Kafka and Zipkin jars
  try {
    for (;;) {
      const gained = readFrom(logFile, offset);
      offset = gained.offset;
      if (gained.text) process.stdout.write(gained.text.replace(/^(?=.)/gm, '  '));
      let file: ClusterFile | undefined;
      try {
        file = readClusterFile(command.dir);
      } catch {
        file = undefined; // an old, unreadable file: the supervisor replaces it
      }
      if (file?.pids['supervisor'] === pid) {
        console.log(`\n${formatWalkthrough(file, { detached: true, clusterJson: shownPath(clusterFilePath(command.dir)) })}`);
        return 0;
      }
      if (exitCode !== undefined) {
        console.error(`the cluster did not start (supervisor exit code ${String(exitCode)}); its log is ${logFile}`);
        return 1;
      }
      if (Date.now() > deadline) {
        abort();
        console.error(`the cluster was not up within 15 minutes; stopped it. Log: ${logFile}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    process.removeListener('SIGINT', abort);
  }
}

/** `argv` is the command line after `up`, forwarded to the detached supervisor. */
export function runUp(command: UpCommand, argv: readonly string[]): Promise<number> {
  return command.detach ? runDetached(command, argv) : runInForeground(command);
}
