/**
 * `.meridian/cluster.json`: what a running local cluster publishes about itself — every
 * region's URL, Kafka and database, the GSLB's and Zipkin's URLs, and the pids of the processes
 * it started — for `meridian status`/`down`/`conflicts` in another shell and for scripts.
 *
 * Written once the whole cluster is ready (atomically: a reader never sees half a file) and
 * removed when it has stopped, so its presence means "a cluster was up"; whether it still is,
 * is the supervisor pid's liveness.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterTokens } from './local-auth.ts';

export interface ClusterRegion {
  readonly id: string;
  readonly url: string;
  /** Bootstrap servers of the region's own Kafka. */
  readonly kafka: string;
  /** The region's anti-entropy gRPC address (host:port); absent in files of older clusters. */
  readonly grpc?: string | undefined;
  /** The database's name on the shared PostgreSQL. */
  readonly database: string;
}

export interface ClusterFile {
  readonly regions: readonly ClusterRegion[];
  /** Absent when the cluster runs without a GSLB. */
  readonly gslb: string | null;
  readonly zipkin: string;
  /** `supervisor`, `region-<id>`, `kafka-<id>`, `zipkin`, `gslb` → pid. */
  readonly pids: Readonly<Record<string, number>>;
  /** The supervisor runs detached and leads its own process group (its children are in it). */
  readonly detached: boolean;
  readonly startedAt: string;
  /** Directory of the log files. */
  readonly logs: string;
  /** Bearer tokens for the regions' API (secrets: the file is its owner's only); null when the cluster runs with MERIDIAN_AUTH=off. */
  readonly auth: ClusterTokens | null;
  /** The operator's certificate for the regions' anti-entropy gRPC (`meridian verify`/`repair`); null (or absent) when the cluster runs without TLS. */
  readonly tls?: ClusterTls | null | undefined;
  /** The brokers' SASL_SSL: the CA and the directory of the SCRAM users' password files; null (or absent) when Kafka runs plaintext. */
  readonly kafkaSasl?: ClusterKafkaSasl | null | undefined;
}

export interface ClusterKafkaSasl {
  /** PEM file of the CA that signed the brokers' certificates. */
  readonly ca: string;
  /** `<user>.password` for `meridian-admin` and each `region-<id>` (the files are their owner's only). */
  readonly passwords: string;
}

/** PEM files: the deployment's CA, the operator's certificate and key. */
export interface ClusterTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export const CLUSTER_FILE = 'cluster.json';

export function clusterFilePath(baseDir: string): string {
  return join(baseDir, CLUSTER_FILE);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function field<T>(record: Record<string, unknown>, name: string, what: string, ok: (v: unknown) => v is T, where: string): T {
  const value = record[name];
  if (!ok(value)) throw new Error(`${where}: expected "${name}" to be ${what} (got ${JSON.stringify(value) ?? 'nothing'})`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

function parseAuth(value: unknown, where: string): ClusterTokens | null {
  if (value === null || value === undefined) return null;
  const at = `${where} auth`;
  if (!isRecord(value)) throw new Error(`${at}: expected an object of tokens (or null)`);
  return { admin: field(value, 'admin', 'a token', isString, at), writer: field(value, 'writer', 'a token', isString, at), reader: field(value, 'reader', 'a token', isString, at) };
}

function parseTls(value: unknown, where: string): ClusterTls | null {
  if (value === null || value === undefined) return null;
  const at = `${where} tls`;
  if (!isRecord(value)) throw new Error(`${at}: expected an object of PEM file paths (or null)`);
  return { ca: field(value, 'ca', 'a file path', isString, at), cert: field(value, 'cert', 'a file path', isString, at), key: field(value, 'key', 'a file path', isString, at) };
}

function parseKafkaSasl(value: unknown, where: string): ClusterKafkaSasl | null {
  if (value === null || value === undefined) return null;
  const at = `${where} kafkaSasl`;
  if (!isRecord(value)) throw new Error(`${at}: expected an object of paths (or null)`);
  return { ca: field(value, 'ca', 'a file path', isString, at), passwords: field(value, 'passwords', 'a directory', isString, at) };
}

/** Parses and checks a cluster file; the error says which field is wrong. */
export function parseClusterFile(text: string, where = CLUSTER_FILE): ClusterFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: not JSON (${(error as Error).message})`);
  }
  if (!isRecord(raw)) throw new Error(`${where}: expected an object`);
  const regions = field(raw, 'regions', 'a non-empty list', (v): v is unknown[] => Array.isArray(v) && v.length > 0, where).map((r, i): ClusterRegion => {
    const at = `${where} regions[${i}]`;
    if (!isRecord(r)) throw new Error(`${at}: expected an object`);
    return {
      id: field(r, 'id', 'a region id', isString, at),
      url: field(r, 'url', 'a URL', isString, at),
      kafka: field(r, 'kafka', 'host:port', isString, at),
      ...(r['grpc'] === undefined ? {} : { grpc: field(r, 'grpc', 'host:port', isString, at) }),
      database: field(r, 'database', 'a database name', isString, at),
    };
  });
  const pids = field(raw, 'pids', 'an object of pids', isRecord, where);
  for (const [name, pid] of Object.entries(pids)) if (!isPid(pid)) throw new Error(`${where}: expected pids.${name} to be a pid (got ${JSON.stringify(pid)})`);
  if (!isPid(pids['supervisor'])) throw new Error(`${where}: expected pids.supervisor`);
  return {
    regions,
    gslb: field(raw, 'gslb', 'a URL or null', (v): v is string | null => v === null || isString(v), where),
    zipkin: field(raw, 'zipkin', 'a URL', isString, where),
    pids: pids as Record<string, number>,
    detached: field(raw, 'detached', 'true or false', (v): v is boolean => typeof v === 'boolean', where),
    startedAt: field(raw, 'startedAt', 'a timestamp', isString, where),
    logs: field(raw, 'logs', 'a directory', isString, where),
    auth: parseAuth(raw['auth'], where),
    tls: parseTls(raw['tls'], where),
    kafkaSasl: parseKafkaSasl(raw['kafkaSasl'], where),
  };
}

/** The cluster file under `baseDir`, or undefined when there is none. */
export function readClusterFile(baseDir: string): ClusterFile | undefined {
  const path = clusterFilePath(baseDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseClusterFile(text, path);
}

export function writeClusterFile(baseDir: string, file: ClusterFile): void {
  mkdirSync(baseDir, { recursive: true });
  const path = clusterFilePath(baseDir);
  const staging = `${path}.${process.pid}.tmp`;
  // It holds the cluster's tokens: its owner's only.
  writeFileSync(staging, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(staging, path);
}

export function removeClusterFile(baseDir: string): void {
  rmSync(clusterFilePath(baseDir), { force: true });
}
