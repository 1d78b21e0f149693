/**
 * PostgreSQL for tests and the local cluster.
 *
 * - The shared server: `DATABASE_URL` (or the PG* environment) when given, otherwise the local
 *   server on 127.0.0.1:5432, started with pg_ctlcluster if it is down. Tests get a database
 *   each (`createDatabase` / `dropDatabase … WITH (FORCE)`), never the server itself.
 * - A private server (`startPrivatePostgres`): initdb into a temporary directory, its own port,
 *   for tests that stop PostgreSQL or need `wal_level=logical`; the shared server is never
 *   stopped or reconfigured.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ManagedProcess } from './managed-process.ts';
import { freePort } from './ports.ts';

const run = promisify(execFile);

/** A connection URL to the server's maintenance database. */
export function adminUrl(): string {
  const fromEnv = process.env['DATABASE_URL'];
  if (fromEnv) return fromEnv;
  const host = process.env['PGHOST'] ?? '127.0.0.1';
  const port = process.env['PGPORT'] ?? '5432';
  const user = process.env['PGUSER'] ?? 'postgres';
  const password = process.env['PGPASSWORD'];
  const auth = password ? `${encodeURIComponent(user)}:${encodeURIComponent(password)}` : encodeURIComponent(user);
  return `postgres://${auth}@${host}:${port}/${process.env['PGDATABASE'] ?? 'postgres'}`;
}

/** The same server as `url`, another database. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined); // a refused or reset connection is the answer, not a crash
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Makes sure the shared server answers; starts the local Debian cluster when it is down. */
export async function ensurePostgres(url = adminUrl()): Promise<string> {
  if (await canConnect(url)) return url;
  if (!process.env['DATABASE_URL'] && existsSync('/etc/postgresql')) {
    for (const version of readdirSync('/etc/postgresql')) {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']).catch(() => undefined);
    }
    for (let i = 0; i < 30; i++) {
      if (await canConnect(url)) return url;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const shown = new URL(url);
  shown.password = shown.password ? '***' : '';
  throw new Error(`PostgreSQL does not answer at ${shown.toString()}: set DATABASE_URL to a server Meridian can use`);
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`expected a database name matching ${String(NAME)} (got ${JSON.stringify(name)})`);
}

/** Creates `name` (dropping a leftover of the same name first) and returns its URL. */
export async function createDatabase(name: string, url = adminUrl()): Promise<string> {
  checkName(name);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // A pool's end() resolves before its connections have closed (pg-pool ends idle clients without
    // waiting): forced at once, the drop would terminate them mid-close, and the error reaches the
    // pool's own listener — uncaught in a test whose pool has none. Give them a moment first.
    for (let waited = 0; waited < 2000; waited += 50) {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (rows[0]!.n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(url, name);
}

export async function dropDatabase(name: string, url = adminUrl()): Promise<void> {
  checkName(name);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // A pool's end() resolves before its connections have closed (pg-pool ends idle clients without
    // waiting): forced at once, the drop would terminate them mid-close, and the error reaches the
    // pool's own listener — uncaught in a test whose pool has none. Give them a moment first.
    for (let waited = 0; waited < 2000; waited += 50) {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (rows[0]!.n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * Copies database `from` into a new database `to` (dropped first), as a backup or a restore does:
 * PostgreSQL's template copy, so nothing may be connected to `from` (stop its region first).
 */
export async function copyDatabase(from: string, to: string, url = adminUrl()): Promise<string> {
  checkName(from);
  checkName(to);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${to}" WITH (FORCE)`);
    // A killed region's backends may take a moment to leave: end them, the copy needs none.
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [from]);
    await client.query(`CREATE DATABASE "${to}" TEMPLATE "${from}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(url, to);
}

export interface PrivatePostgres {
  /** URL of the `postgres` database on the private server. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly running: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function serverBinDir(): string {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) throw new Error(`no PostgreSQL server binaries under ${base}: install postgresql`);
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) throw new Error(`no initdb under ${base}/*/bin`);
  return join(base, newest, 'bin');
}

/** initdb and postgres refuse to run as root: then they run as the `postgres` user. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/**
 * `tls`: the server's certificate and key (PEM; e.g. `ensureCertificate` of a test CA for
 * 127.0.0.1 and localhost): the server runs with ssl=on, so clients can connect with
 * sslmode=verify-full. Plain connections stay allowed (readiness probes use them).
 */
export async function startPrivatePostgres(options: { readonly port?: number; readonly settings?: Record<string, string>; readonly tls?: { readonly certFile: string; readonly keyFile: string } } = {}): Promise<PrivatePostgres> {
  const bin = serverBinDir();
  const user = await serverUser();
  const root = mkdtempSync(join(tmpdir(), 'meridian-pg-'));
  const dataDir = join(root, 'data');
  writeFileSync(join(root, 'postgres.log'), '');
  if (user) {
    chownSync(root, user.uid, user.gid);
    chownSync(join(root, 'postgres.log'), user.uid, user.gid);
  }
  await new Promise<void>((resolve, reject) => {
    execFile(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'], { ...(user ?? {}) }, (error, _stdout, stderr) =>
      error ? reject(new Error(`initdb failed: ${stderr || error.message}`)) : resolve(),
    );
  });
  const port = options.port ?? (await freePort());
  const tlsSettings: Record<string, string> = {};
  if (options.tls) {
    // The server reads its key only when its own user owns it with no access for others.
    const cert = join(root, 'server.crt');
    const key = join(root, 'server.key');
    copyFileSync(options.tls.certFile, cert);
    copyFileSync(options.tls.keyFile, key);
    chmodSync(key, 0o600);
    if (user) for (const f of [cert, key]) chownSync(f, user.uid, user.gid);
    Object.assign(tlsSettings, { ssl: 'on', ssl_cert_file: `'${cert}'`, ssl_key_file: `'${key}'` });
  }
  const settings: Record<string, string> = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    unix_socket_directories: `'${root}'`,
    max_connections: '60',
    shared_buffers: '32MB',
    fsync: 'off',
    ...tlsSettings,
    ...options.settings,
  };
  appendFileSync(join(dataDir, 'postgresql.conf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc: ManagedProcess | undefined;
  const start = async (): Promise<void> => {
    proc = new ManagedProcess({ name: `postgres[${port}]`, command: join(bin, 'postgres'), args: ['-D', dataDir], logFile: join(root, 'postgres.log'), ...(user ?? {}) });
    await proc.waitUntil(() => canConnect(url), 30_000, `accepting connections on ${port}`);
  };
  await start();
  return {
    url,
    port,
    dataDir,
    get running() {
      return proc?.running ?? false;
    },
    start,
    // SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients instead of waiting for them.
    stop: async () => proc?.stop(10_000, 'SIGINT'),
    destroy: async () => {
      await proc?.stop(10_000, 'SIGINT');
      rmSync(root, { recursive: true, force: true });
    },
  };
}
