/**
 * The `meridian` command line, parsed into one typed command (pure: no I/O, so every flag and
 * every refusal is unit-tested). A usage error names the flag, what was expected and what was
 * given, and the program exits 2 on it.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
}

interface Common {
  /** The cluster's directory (cluster.json, Kafka data, logs). */
  readonly dir: string;
}

export interface UpCommand extends Common {
  readonly kind: 'up';
  readonly detach: boolean;
  /** Internal: the detached supervisor (no status line; its output goes to a log). */
  readonly supervised: boolean;
  readonly fresh: boolean;
  readonly regions: readonly string[] | undefined;
  /** undefined: when the checkout has the GSLB. */
  readonly gslb: boolean | undefined;
  readonly ports: Readonly<Record<string, number>>;
  readonly kafka: Readonly<Record<string, string>>;
  readonly zipkinUrl: string | undefined;
  readonly locations: Readonly<Record<string, GeoPoint>>;
  readonly databasePrefix: string | undefined;
  /** `--no-auth`: every region's API open (MERIDIAN_AUTH=off), for local experiments only. */
  readonly auth: 'on' | 'off';
  /** `--no-tls`: the links between regions and Kafka plaintext (MERIDIAN_GRPC_TLS=off, MERIDIAN_KAFKA_SECURITY=plaintext), a baseline for benchmarks. */
  readonly tls: 'on' | 'off';
}

export interface TokenCommand extends Common {
  readonly kind: 'token';
  readonly role: 'admin' | 'writer' | 'reader' | 'metrics';
  /** Namespace names or `prefix*` the token is limited to; undefined: every namespace. */
  readonly namespaces: readonly string[] | undefined;
  readonly days: number;
}

export interface DownCommand extends Common {
  readonly kind: 'down';
}

export interface StatusCommand extends Common {
  readonly kind: 'status' | 'lag';
  readonly json: boolean;
}

export interface ConflictsCommand extends Common {
  readonly kind: 'conflicts';
  /** undefined: the first region of the cluster. */
  readonly region: string | undefined;
  readonly follow: boolean;
  readonly ns: string | undefined;
  readonly key: string | undefined;
  readonly limit: number;
  readonly json: boolean;
  readonly intervalMs: number;
}

export interface AntiEntropyCommand extends Common {
  readonly kind: 'verify' | 'repair';
  /** Regions to compare (undefined: every region of the cluster); the first is compared with each other one. */
  readonly regions: readonly string[] | undefined;
  /** gRPC addresses given on the command line (a deployment the local cluster did not start), by region. */
  readonly grpc: Readonly<Record<string, string>>;
  /** The operator's certificate given on the command line (else cluster.json's `tls`; neither: plaintext). */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string } | undefined;
  readonly json: boolean;
  /** Keys merged per second at most (repair). */
  readonly rate: number;
  /** How long a one-shot comparison waits before confirming a difference seen while updates were in flight. */
  readonly confirmMs: number;
}

/** `meridian join <region>`: a new region added to the running local cluster (docs/decisions/0014). */
export interface JoinCommand extends Common {
  readonly kind: 'join';
  readonly region: string;
  /** `<region>`, `grpc-<region>`, `kafka-<region>`, `kafka-<region>-controller`; free ports when absent. */
  readonly ports: Readonly<Record<string, number>>;
  /**
   * Join anew: drop the region's database and Kafka data kept from an earlier run and copy
   * everything again, and ask the others to add it back with `fresh=true`. The only way a
   * removed region comes back (it may hold values deleted and purged elsewhere since).
   */
  readonly fresh: boolean;
}

/** `meridian remove <region>`: the region leaves every other region's membership. */
export interface RemoveCommand extends Common {
  readonly kind: 'remove';
  readonly region: string;
  /** Remove it even where the link from it is not drained (its unapplied writes are given up). */
  readonly force: boolean;
}

export interface HelpCommand {
  readonly kind: 'help';
}

export type Command = UpCommand | DownCommand | StatusCommand | ConflictsCommand | AntiEntropyCommand | TokenCommand | JoinCommand | RemoveCommand | HelpCommand;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `meridian — run Meridian's local multi-region cluster and look inside it

  meridian up [--detach] [--fresh] [--regions eu,us,ap] [--no-gslb] [--port NAME=N]…
              [--kafka REGION=HOST:PORT]… [--zipkin URL] [--location REGION=LAT,LON]…
              [--database-prefix NAME] [--no-auth] [--no-tls]
      start Kafka per region, Zipkin, the region services and the GSLB; print every URL and
      a walkthrough; show a status line; Ctrl-C stops everything. --detach runs it in the
      background (logs in .meridian/logs/). Data is kept across runs; --fresh drops it.
      Port names: <region>, grpc-<region>, kafka-<region>, kafka-<region>-controller, gslb, zipkin.
      --kafka and --zipkin use servers that already run instead of starting them.
      The API is secured: a signing key is made in .meridian/auth at first start and the
      admin, writer and reader tokens are in .meridian/cluster.json ("auth"). --no-auth runs
      every region open (MERIDIAN_AUTH=off): local experiments only. The links between
      regions use mutual TLS with a CA made in .meridian/tls at first start, and Kafka runs
      SASL_SSL (a SCRAM principal per region, passwords in .meridian/kafka-users, ACLs);
      --no-tls runs both plaintext (a baseline for benchmarks). Every MERIDIAN_* setting of
      this environment reaches every region (MERIDIAN_TOMBSTONE_MIN_AGE=10m meridian up), but
      the ones up sets itself: wiring, ports, MERIDIAN_AUTH*, MERIDIAN_GRPC_TLS*,
      MERIDIAN_KAFKA_SECURITY/TLS*/SASL*, MERIDIAN_GSLB_*.
  meridian down                 stop a cluster started in another shell or with --detach
  meridian status [--json]      each region's health and replication lag per peer
  meridian lag [--json]         replication lag: how far each region is behind each peer
  meridian conflicts [--region ID] [--follow] [--ns NS] [--key KEY] [--limit N] [--json]
      conflict records of one region, newest first; --follow prints new ones as they appear
  meridian verify [--regions eu,us] [--grpc REGION=HOST:PORT]… [--json] [--confirm-ms N]
      compare regions' data over gRPC (hash trees, then keys) and list the keys that differ;
      changes nothing; exit 1 when any key differs, 0 when the regions hold the same data.
      Mutual TLS with the operator's certificate from cluster.json ("tls"), or given with
      --tls-ca FILE --tls-cert FILE --tls-key FILE (a certificate the deployment's CA signed)
  meridian repair [--regions eu,us] [--grpc REGION=HOST:PORT]… [--json] [--rate N]
      the same, then merge each differing key's full state into both sides (the replicator's
      merge), at most N keys a second; resumable: a new run repairs what still differs
  meridian join REGION [--port NAME=N]… [--fresh]
      add a region to the running cluster, in the foreground (Ctrl-C stops it): its Kafka and
      database, then the region, which copies every namespace from each region over gRPC and
      streams from the positions that copy reflects; every region then consumes it (no restart).
      Port names as for up; free ports when not given. Data kept from an earlier join is resumed;
      --fresh drops it first (database and Kafka) and copies everything again: the only way to
      add back a region that was removed
  meridian remove REGION [--force]
      take a region out of every other region's membership: they stop consuming it. Refused
      where the link from it has not applied all it published, unless --force (those writes are
      given up there); a region added with join is then stopped
  meridian token admin|writer|reader|metrics [--ns NS[,PREFIX*]…] [--days N]
      a bearer token signed with the cluster's key (made if missing), limited to the given
      namespaces if any, valid N days (30): for scripts, CI and namespace-scoped clients

  Every command takes --dir DIR: the cluster's directory (default: .meridian in the repository).`;

const REGION_ID = /^[a-z][a-z0-9-]{0,31}$/;

/** `name=value` pairs of a repeated flag, each value parsed by `parse` (which throws "expected …"). */
function pairs<T>(flag: string, raw: readonly string[] | undefined, parse: (value: string) => T, form: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const item of raw ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag}: expected ${form} (got ${JSON.stringify(item)})`);
    const name = item.slice(0, eq);
    try {
      out[name] = parse(item.slice(eq + 1));
    } catch (error) {
      throw new UsageError(`--${flag}: expected ${(error as Error).message} in ${form} (got ${JSON.stringify(item)})`);
    }
  }
  return out;
}

const port = (raw: string): number => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 65535) throw new Error('a port from 1 to 65535');
  return n;
};
const hostPort = (raw: string): string => {
  if (!/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/.test(raw)) throw new Error('host:port');
  return raw;
};
const geoPoint = (raw: string): GeoPoint => {
  const [lat, lon, extra] = raw.split(',').map((p) => Number(p.trim()));
  if (extra !== undefined || lat === undefined || lon === undefined || !(Math.abs(lat) <= 90) || !(Math.abs(lon) <= 180)) throw new Error('lat,lon in degrees');
  return { lat, lon };
};
const httpUrl = (flag: string, raw: string): string => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--${flag}: expected an http(s) URL (got ${JSON.stringify(raw)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--${flag}: expected an http(s) URL (got ${JSON.stringify(raw)})`);
  return raw.replace(/\/+$/, '');
};
const positiveInteger = (flag: string, raw: string, max: number): number => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new UsageError(`--${flag}: expected an integer from 1 to ${max} (got ${JSON.stringify(raw)})`);
  return n;
};

/** Runs node's parseArgs, turning its errors into usage errors of `command`. */
function flags<T>(command: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(`meridian ${command}: ${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
}

const DIR = { type: 'string' } as const;

/** Parses `argv` (without node and the script). `defaultDir` is the repository's `.meridian`; `cwd` resolves a relative --dir. */
export function parseCommand(argv: readonly string[], defaultDir: string, cwd = process.cwd()): Command {
  const [name, ...rest] = argv;
  const dirOf = (values: { dir?: string | undefined }): string => (values.dir === undefined ? defaultDir : resolve(cwd, values.dir));
  switch (name) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { kind: 'help' };
    case 'up': {
      const { values } = flags('up', () => parseArgs({ args: [...rest], strict: true, options: {
        dir: DIR,
        detach: { type: 'boolean', default: false },
        supervised: { type: 'boolean', default: false },
        fresh: { type: 'boolean', default: false },
        regions: { type: 'string' },
        'no-gslb': { type: 'boolean', default: false },
        port: { type: 'string', multiple: true },
        kafka: { type: 'string', multiple: true },
        zipkin: { type: 'string' },
        location: { type: 'string', multiple: true },
        'database-prefix': { type: 'string' },
        'no-auth': { type: 'boolean', default: false },
        'no-tls': { type: 'boolean', default: false },
      } }));
      let regions: string[] | undefined;
      if (values.regions !== undefined) {
        regions = values.regions.split(',').map((r) => r.trim()).filter(Boolean);
        const bad = regions.find((r) => !REGION_ID.test(r));
        if (regions.length === 0 || bad !== undefined) throw new UsageError(`--regions: expected region ids like eu,us,ap (got ${JSON.stringify(values.regions)})`);
        if (new Set(regions).size !== regions.length) throw new UsageError(`--regions: expected each region once (got ${JSON.stringify(values.regions)})`);
      }
      const prefix = values['database-prefix'];
      if (prefix !== undefined && !/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new UsageError(`--database-prefix: expected lower-case letters, digits and _ (got ${JSON.stringify(prefix)})`);
      if (values.detach && values.supervised) throw new UsageError('meridian up: --detach and --supervised exclude each other');
      return {
        kind: 'up',
        dir: dirOf(values),
        detach: values.detach,
        supervised: values.supervised,
        fresh: values.fresh,
        regions,
        gslb: values['no-gslb'] ? false : undefined,
        ports: pairs('port', values.port, port, 'NAME=PORT'),
        kafka: pairs('kafka', values.kafka, hostPort, 'REGION=HOST:PORT'),
        zipkinUrl: values.zipkin === undefined ? undefined : httpUrl('zipkin', values.zipkin),
        locations: pairs('location', values.location, geoPoint, 'REGION=LAT,LON'),
        databasePrefix: prefix,
        auth: values['no-auth'] ? 'off' : 'on',
        tls: values['no-tls'] ? 'off' : 'on',
      };
    }
    case 'down': {
      const { values } = flags('down', () => parseArgs({ args: [...rest], strict: true, options: { dir: DIR } }));
      return { kind: 'down', dir: dirOf(values) };
    }
    case 'status':
    case 'lag': {
      const { values } = flags(name, () => parseArgs({ args: [...rest], strict: true, options: { dir: DIR, json: { type: 'boolean', default: false } } }));
      return { kind: name, dir: dirOf(values), json: values.json };
    }
    case 'conflicts': {
      const { values } = flags('conflicts', () => parseArgs({ args: [...rest], strict: true, options: {
        dir: DIR,
        region: { type: 'string' },
        follow: { type: 'boolean', short: 'f', default: false },
        ns: { type: 'string' },
        key: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean', default: false },
        interval: { type: 'string' },
      } }));
      if (values.region !== undefined && !REGION_ID.test(values.region)) throw new UsageError(`--region: expected a region id like eu (got ${JSON.stringify(values.region)})`);
      if (values.key !== undefined && values.ns === undefined) throw new UsageError('--key: expected --ns as well (a key lives in a namespace)');
      return {
        kind: 'conflicts',
        dir: dirOf(values),
        region: values.region,
        follow: values.follow,
        ns: values.ns,
        key: values.key,
        limit: values.limit === undefined ? 20 : positiveInteger('limit', values.limit, 500),
        json: values.json,
        intervalMs: values.interval === undefined ? 1000 : positiveInteger('interval', values.interval, 600_000),
      };
    }
    case 'verify':
    case 'repair': {
      const { values } = flags(name, () => parseArgs({ args: [...rest], strict: true, options: {
        dir: DIR,
        regions: { type: 'string' },
        grpc: { type: 'string', multiple: true },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        json: { type: 'boolean', default: false },
        rate: { type: 'string' },
        'confirm-ms': { type: 'string' },
      } }));
      const regions = values.regions?.split(',').map((r) => r.trim());
      for (const r of regions ?? []) if (!REGION_ID.test(r)) throw new UsageError(`--regions: expected region ids like eu,us (got ${JSON.stringify(values.regions)})`);
      if (regions !== undefined && regions.length < 2) throw new UsageError(`--regions: expected at least two regions to compare (got ${JSON.stringify(values.regions)})`);
      const grpc = pairs('grpc', values.grpc, (v) => {
        if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(v)) throw new Error('host:port');
        return v;
      }, 'REGION=HOST:PORT');
      const tlsFlags = [values['tls-ca'], values['tls-cert'], values['tls-key']];
      if (tlsFlags.some((f) => f !== undefined) && !tlsFlags.every((f) => f !== undefined)) throw new UsageError('--tls-ca, --tls-cert, --tls-key: expected all three or none');
      return {
        kind: name,
        dir: dirOf(values),
        regions,
        grpc,
        tls: values['tls-ca'] !== undefined ? { ca: resolve(cwd, values['tls-ca']), cert: resolve(cwd, values['tls-cert']!), key: resolve(cwd, values['tls-key']!) } : undefined,
        json: values.json,
        rate: values.rate === undefined ? 1000 : positiveInteger('rate', values.rate, 10_000_000),
        confirmMs: values['confirm-ms'] === undefined ? 2000 : positiveInteger('confirm-ms', values['confirm-ms'], 600_000),
      };
    }
    case 'token': {
      const { values, positionals } = flags('token', () => parseArgs({ args: [...rest], strict: true, allowPositionals: true, options: { dir: DIR, ns: { type: 'string' }, days: { type: 'string' } } }));
      const role = positionals[0];
      if (positionals.length !== 1 || (role !== 'admin' && role !== 'writer' && role !== 'reader' && role !== 'metrics')) throw new UsageError(`meridian token: expected one role, admin, writer, reader or metrics (got ${JSON.stringify(positionals.join(' '))})`);
      const namespaces = values.ns?.split(',').map((n) => n.trim()).filter(Boolean);
      if (namespaces !== undefined && namespaces.length === 0) throw new UsageError(`--ns: expected namespace names or prefixes like orders,cart-* (got ${JSON.stringify(values.ns)})`);
      return { kind: 'token', dir: dirOf(values), role, namespaces, days: values.days === undefined ? 30 : positiveInteger('days', values.days, 3650) };
    }
    case 'join':
    case 'remove': {
      const { values, positionals } = flags(name, () => parseArgs({ args: [...rest], strict: true, allowPositionals: true, options: { dir: DIR, port: { type: 'string', multiple: true }, force: { type: 'boolean', default: false }, fresh: { type: 'boolean', default: false } } }));
      const region = positionals[0];
      if (positionals.length !== 1 || region === undefined || !REGION_ID.test(region)) throw new UsageError(`meridian ${name}: expected one region id like sa (got ${JSON.stringify(positionals.join(' '))})`);
      if (name === 'remove') {
        if (values.port !== undefined) throw new UsageError('meridian remove: --port is for join');
        if (values.fresh) throw new UsageError('meridian remove: --fresh is for join');
        return { kind: 'remove', dir: dirOf(values), region, force: values.force };
      }
      if (values.force) throw new UsageError('meridian join: --force is for remove');
      const ports = pairs('port', values.port, port, 'NAME=PORT');
      const known = [region, `grpc-${region}`, `kafka-${region}`, `kafka-${region}-controller`];
      const unknown = Object.keys(ports).find((n) => !known.includes(n));
      if (unknown !== undefined) throw new UsageError(`--port: unknown port name ${JSON.stringify(unknown)} (expected one of ${known.join(', ')})`);
      return { kind: 'join', dir: dirOf(values), region, ports, fresh: values.fresh };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(name)} (expected up, down, status, lag, conflicts, verify, repair, join, remove, token or help)`);
  }
}
