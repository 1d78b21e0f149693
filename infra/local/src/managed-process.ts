/**
 * A child process that Meridian's launchers own: started with its output in a log file, waited
 * on until a readiness probe passes (with a deadline), and stopped with SIGTERM, then SIGKILL.
 *
 * Invariant: no broker or Zipkin outlives the Node process that started it. Every live process
 * is registered and killed on exit, SIGINT and SIGTERM of the parent; `stop()` waits for the
 * child's exit, so a test run that ends has no Java process left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';

export interface ManagedProcessOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run as this user and group (the parent must be root). Signals then reach the process itself. */
  readonly uid?: number;
  readonly gid?: number;
}

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined = undefined;

  constructor(options: ManagedProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    const log = createWriteStream(options.logFile, { flags: 'a' });
    this.#child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    this.#child.stdout?.pipe(log);
    this.#child.stderr?.pipe(log);
    this.#exited = once(this.#child, 'exit').then(([code]) => {
      this.#exitCode = code as number | null;
      live.delete(this);
      return this.#exitCode;
    });
    live.add(this);
    installExitHooks();
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** The tail of the log, for error messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Polls `probe` until it returns true; fails with the log tail if the process dies or time runs out. */
  async waitUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        throw new Error(`${this.name} exited (code ${String(this.#exitCode)}) before ${what}; log ${this.logFile}:\n${this.logTail()}`);
      }
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) {
        throw new Error(`${this.name} not ${what} within ${timeoutMs} ms; log ${this.logFile}:\n${this.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** `signal` (SIGTERM), then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.#child.kill(signal);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** For fault tests: SIGKILL now. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  signal(sig: NodeJS.Signals): void {
    this.#child.kill(sig);
  }
}

const live = new Set<ManagedProcess>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const p of live) p.signal('SIGKILL');
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}
