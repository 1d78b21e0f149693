/**
 * pgbench, PostgreSQL's own load generator, as the baseline of the region write benchmark:
 * found on the machine, run with a custom script against the bench database, its tps parsed.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The pgbench binary: $BENCH_PGBENCH, else the one beside the server binaries that `pg_config`
 * names (Debian keeps it off PATH in some installs), else `pgbench` on PATH.
 */
export async function findPgbench(): Promise<{ command: string; version: string }> {
  const candidates: string[] = [];
  const fromEnv = process.env['BENCH_PGBENCH'];
  if (fromEnv) candidates.push(fromEnv);
  try {
    const { stdout } = await run('pg_config', ['--bindir']);
    const beside = join(stdout.trim(), 'pgbench');
    if (existsSync(beside)) candidates.push(beside);
  } catch {
    // no pg_config: try PATH
  }
  candidates.push('pgbench');
  for (const command of candidates) {
    try {
      const { stdout } = await run(command, ['--version']);
      return { command, version: stdout.trim() };
    } catch {
      // next candidate
    }
  }
  throw new Error('pgbench not found: install PostgreSQL\'s client tools, or set BENCH_PGBENCH to its path');
}

export interface PgbenchOptions {
  readonly command: string;
  readonly databaseUrl: string;
  /** The custom transaction script (pgbench's script language). */
  readonly script: string;
  readonly clients: number;
  readonly threads: number;
  readonly seconds: number;
  /** Transactions per second on a schedule (`-R`), each latency logged (`-l`); absent: as fast as it can. */
  readonly rate?: number;
}

export interface PgbenchResult {
  readonly tps: number;
  readonly latencyMs: number | undefined;
  readonly output: string;
  /**
   * With `rate`: every transaction's latency in ms from its scheduled start (its time plus its
   * schedule lag), as the service's paced latencies are measured.
   */
  readonly latencies?: Float64Array;
}

export interface PgbenchRun {
  /** pgbench's own pid (its client threads), for CPU accounting. */
  readonly pid: number | undefined;
  readonly done: Promise<PgbenchResult>;
  kill(): void;
}

/** The connection as libpq's environment, so that a password never shows in `ps`. */
function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)),
  };
  if (u.username) env['PGUSER'] = decodeURIComponent(u.username);
  if (u.password) env['PGPASSWORD'] = decodeURIComponent(u.password);
  return env;
}

/**
 * Starts pgbench: `-n` (no vacuum of pgbench's own tables, which do not exist here),
 * `-M extended` (parse/bind/execute of unnamed statements, the protocol node-postgres uses for
 * parameterised queries), `-c clients -j threads -T seconds`.
 */
export function startPgbench(options: PgbenchOptions): PgbenchRun {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-pgbench-'));
  const scriptFile = join(dir, 'script.sql');
  writeFileSync(scriptFile, options.script);
  const args = ['-n', '-M', 'extended', '-f', scriptFile, '-c', String(options.clients), '-j', String(options.threads), '-T', String(options.seconds)];
  if (options.rate !== undefined) args.push('-R', String(options.rate), '-l', `--log-prefix=${join(dir, 'log')}`);
  const child = spawn(options.command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...libpqEnv(options.databaseUrl) } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<PgbenchResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const latencies = options.rate === undefined ? undefined : readLatencies(dir);
      rmSync(dir, { recursive: true, force: true });
      const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(output);
      const failedTx = /^number of failed transactions: (\d+)/m.exec(output);
      if (code !== 0 || !tps) return reject(new Error(`pgbench failed (exit ${String(code)}):\n${output}`));
      if (failedTx && Number(failedTx[1]) > 0) return reject(new Error(`pgbench: ${failedTx[1]} failed transactions:\n${output}`));
      const latency = /^latency average = ([\d.]+) ms/m.exec(output);
      resolve({ tps: Number(tps[1]), latencyMs: latency ? Number(latency[1]) : undefined, output, ...(latencies ? { latencies } : {}) });
    });
  });
  return { pid: child.pid, done, kill: () => child.kill('SIGINT') };
}

/**
 * pgbench's per-transaction logs (`log.<pid>[.<thread>]`): `client_id transaction_no time
 * script_no time_epoch time_us [schedule_lag]`, times in microseconds.
 */
function readLatencies(dir: string): Float64Array {
  const values: number[] = [];
  for (const file of readdirSync(dir).filter((f) => f.startsWith('log'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 6) continue;
      values.push((Number(fields[2]) + Number(fields[6] ?? 0)) / 1000);
    }
  }
  return Float64Array.from(values.filter((v) => Number.isFinite(v)));
}
