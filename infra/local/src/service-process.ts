/**
 * One of Meridian's own Node programs (a region service, the GSLB) as a child process: spawned
 * with `process.execPath` on its TypeScript source (the `meridian-source` condition, DESIGN
 * decision 0001), ready once `GET <readyPath>` answers 200, and controllable the way the fault
 * scenarios need: clean stop, crash (SIGKILL), pause and resume (SIGSTOP/SIGCONT), and restart
 * on the same port with the same environment — so the same database and the same Kafka.
 *
 * The child's environment is the parent's minus every `MERIDIAN_*` setting and `DATABASE_URL`,
 * plus what the launcher sets: a developer's shell settings never leak into a region unseen.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from './managed-process.ts';
import { readProcess } from './process-table.ts';

/** The repository's root (this file is infra/local/src/service-process.ts). */
export const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * The flags every Meridian program runs with: the README says why kafkajs's negative timeouts are
 * silenced, docs/decisions/0008 why V8's memory reducer is off (its heap-shrinking collection,
 * started when load drops, finishes with a long pause when load returns), and 0009 why the old
 * generation may grow to twice its live size before a major collection.
 */
export const NODE_FLAGS: readonly string[] = ['--no-memory-reducer', '--heap-growing-percent=100', '--disable-warning=TimeoutNegativeWarning', '--conditions=meridian-source'];

export interface ServiceProcessOptions {
  /** A label for logs and errors, e.g. "region eu". */
  readonly name: string;
  /** The program's entry module (absolute path). */
  readonly entry: string;
  readonly host: string;
  readonly port: number;
  /** Settings on top of the cleaned parent environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Where stdout and stderr go (appended across restarts); a temporary file when absent. */
  readonly logFile?: string | undefined;
  /** Path probed for readiness; 200 = ready. */
  readonly readyPath: string;
  readonly readyTimeoutMs?: number | undefined;
  /** How long a clean stop may take before SIGKILL. */
  readonly stopGraceMs?: number | undefined;
}

export interface ServiceProcess {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  /** The current child (a new one after each restart). */
  readonly process: ManagedProcess;
  readonly running: boolean;
  readonly paused: boolean;
  /** SIGTERM (after SIGCONT when paused) and wait for the exit; SIGKILL after the grace period. */
  stop(): Promise<void>;
  /** SIGKILL now, and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** SIGSTOP, resolved once the process is stopped: it stays alive, holds its sockets and answers nothing. */
  pause(): Promise<void>;
  /** SIGCONT after pause(), resolved once the process runs again. */
  resume(): Promise<void>;
  /** Stop if running, then start again on the same port and environment, and wait until ready. */
  restart(): Promise<void>;
  /** Until `GET <readyPath>` answers 200; fails with the log's tail at the deadline or if the process exits. */
  waitReady(timeoutMs?: number): Promise<void>;
}

/** The parent's environment without Meridian settings, plus `env`. */
export function childEnvironment(parent: NodeJS.ProcessEnv, env: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (name.startsWith('MERIDIAN_') || name === 'DATABASE_URL') continue;
    out[name] = value;
  }
  return { ...out, ...env };
}

/**
 * Signals are delivered asynchronously: waits until the process's state (from /proc) says the
 * signal took effect, so a caller's next step never races it. Without /proc, returns at once.
 */
async function signalAndSettle(child: ManagedProcess, signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  if (!child.running || child.pid === undefined) throw new Error(`${child.name} is not running`);
  child.signal(signal);
  const stopped = (): boolean | undefined => {
    const state = readProcess(child.pid!)?.state;
    return state === undefined ? undefined : state === 'T';
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = stopped();
    if (now === undefined || now === (signal === 'SIGSTOP') || !child.running) return;
    if (Date.now() > deadline) throw new Error(`${child.name}: ${signal} not in effect after 5 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function answers200(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.status === 200;
}

export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const ownedLogDir = options.logFile === undefined ? mkdtempSync(join(tmpdir(), 'meridian-service-')) : undefined;
  const logFile = options.logFile ?? join(ownedLogDir!, 'service.log');
  const probeHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const url = `http://${probeHost}:${options.port}`;
  const env = childEnvironment(process.env, options.env);
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  let child: ManagedProcess;
  let paused = false;

  const spawnChild = (): ManagedProcess => {
    mkdirSync(dirname(logFile), { recursive: true });
    paused = false;
    return new ManagedProcess({ name: options.name, command: process.execPath, args: [...NODE_FLAGS, options.entry], env, logFile, cwd: REPOSITORY_ROOT });
  };
  const waitReady = (timeoutMs = readyTimeoutMs): Promise<void> =>
    child.waitUntil(() => answers200(`${url}${options.readyPath}`), timeoutMs, `ready (GET ${url}${options.readyPath} → 200)`);
  const stop = async (): Promise<void> => {
    if (paused) child.signal('SIGCONT');
    paused = false;
    await child.stop(options.stopGraceMs ?? 20_000);
  };

  child = spawnChild();
  try {
    await waitReady();
  } catch (error) {
    await child.kill();
    throw error;
  }

  return {
    name: options.name,
    url,
    port: options.port,
    logFile,
    get process() {
      return child;
    },
    get running() {
      return child.running;
    },
    get paused() {
      return paused && child.running;
    },
    stop: async () => {
      await stop();
      if (ownedLogDir !== undefined) rmSync(ownedLogDir, { recursive: true, force: true });
    },
    kill: async () => {
      paused = false;
      await child.kill();
    },
    pause: async () => {
      paused = true;
      await signalAndSettle(child, 'SIGSTOP');
    },
    resume: async () => {
      paused = false;
      await signalAndSettle(child, 'SIGCONT');
    },
    restart: async () => {
      await stop();
      child = spawnChild();
      await waitReady();
    },
    waitReady,
  };
}
