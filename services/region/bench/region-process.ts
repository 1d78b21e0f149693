/**
 * The region service as the benchmark runs it: `src/main.ts` in a child process (the same Node
 * binary, the `meridian-source` condition), configured by environment like in production, its
 * output in a log file whose tail explains a failure. Stopped with SIGTERM (the service drains),
 * SIGKILL if it has not exited after 15 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export interface RegionProcessOptions {
  readonly databaseUrl: string;
  readonly port: number;
  readonly poolSize: number;
  readonly logFile: string;
  /** Further MERIDIAN_* settings; the environment's own pass through unless overridden here. */
  readonly env?: Readonly<Record<string, string>>;
}

export class RegionProcess {
  readonly baseUrl: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(child: ChildProcess, baseUrl: string, logFile: string) {
    this.#child = child;
    this.baseUrl = baseUrl;
    this.logFile = logFile;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve((this.#exitCode = code))));
  }

  static start(options: RegionProcessOptions): RegionProcess {
    const log = openSync(options.logFile, 'a');
    try {
      const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--conditions=meridian-source', MAIN], {
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          MERIDIAN_REGION: 'bench',
          DATABASE_URL: options.databaseUrl,
          MERIDIAN_CONTEXT_SECRET: 'region-write-bench-secret',
          MERIDIAN_HOST: '127.0.0.1',
          MERIDIAN_PORT: String(options.port),
          MERIDIAN_PG_POOL_SIZE: String(options.poolSize),
          MERIDIAN_LOG_LEVEL: 'warn',
          ...options.env,
        },
      });
      return new RegionProcess(child, `http://127.0.0.1:${options.port}`, options.logFile);
    } finally {
      closeSync(log);
    }
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Polls /health/ready until it answers 200; fails with the log tail if the process dies or time runs out. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`the region service exited (code ${String(this.#exitCode)}) before it was ready; log:\n${this.logTail()}`);
      try {
        const response = await fetch(`${this.baseUrl}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the region service was not ready within ${timeoutMs} ms; log:\n${this.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code once the process has exited. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (!this.running) return this.#exitCode ?? null;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }
}
