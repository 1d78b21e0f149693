/**
 * The GSLB's configuration: one typed schema (env name, default, validation, doc), read from the
 * environment at start, validated with messages that say what was expected and what was given
 * ("expected X (got Y)", every problem at once), then frozen. The same schema feeds `--help`
 * and the README's table.
 *
 * Regions are one variable, `MERIDIAN_GSLB_REGIONS`, entries joined by `;`:
 *   `<id>=<url>@<lat>,<lon>[#<weight>]`, e.g.
 *   `eu=http://127.0.0.1:8081@50.1,8.7;us=http://127.0.0.1:8082@39.0,-77.5#2`
 * (the URL ends at the last `@`, so a URL with user info still parses). The CIDR table is
 * `MERIDIAN_GSLB_LOCATIONS`: `<cidr>=<lat>,<lon>` or `<cidr>=<region id>` (that region's
 * coordinates), joined by `;`.
 *
 * Invariants after loading: at least one region; region ids unique and valid; URLs http(s)
 * without query or fragment; probe timeout ≤ probe interval (so probes of one region never
 * overlap and the detection bound F × interval + timeout holds); CIDR blocks unique and written
 * with their network address; a location that names a region names a configured one.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, configReference as referenceOf, integer, oneOf, readConfig, type Field, type Parser } from '@meridian/service-kit';
import { parseGeoPoint, GEO_POINT_FORMAT, type GeoPoint } from './great-circle.ts';
import { buildCidrTable, parseCidr, type CidrBlock } from './cidr-table.ts';

export { ConfigError } from '@meridian/service-kit';

export interface RegionSpec {
  readonly id: string;
  /** The region's public base URL (no trailing slash); probes and redirects start here. */
  readonly url: string;
  /** Undefined only for a region learned from membership (membership-discovery.ts), not configured. */
  readonly location: GeoPoint | undefined;
  /** Ties between equally distant regions go to the higher weight (default 1). */
  readonly weight: number;
}

/** A location from the CIDR table, with what it was written as (for answers and logs). */
export interface NamedLocation {
  readonly point: GeoPoint;
  /** The region id or the `lat,lon` text it was configured as. */
  readonly label: string;
  /** Set when the block names a region: `point` is that region's location. */
  readonly region?: string;
}

export interface GslbConfig {
  readonly regions: readonly RegionSpec[];
  readonly host: string;
  readonly port: number;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly failuresToDown: number;
  readonly successesToUp: number;
  readonly locations: readonly CidrBlock<NamedLocation>[];
  /** 0: ignore X-Forwarded-For; n: the client is the n-th address from the right (n proxies we run). */
  readonly trustedProxyHops: number;
  readonly lagBoundSeconds: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Bearer token (read scope) for the regions' /v1/replication; a secret, never shown. */
  readonly regionToken: string | undefined;
}

export const REGION_ID = /^[a-z][a-z0-9-]{0,31}$/;
const REGION_ENTRY = '<id>=<url>@<lat>,<lon>[#<weight>]';

const positiveNumber = (what: string): Parser<number> => (raw) => {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`a positive number ${what}`);
  return n;
};

/** Splits `a;b;c` into trimmed, non-empty entries. */
const entries = (raw: string): string[] => raw.split(';').map((e) => e.trim()).filter(Boolean);

function parseRegion(entry: string): RegionSpec {
  const eq = entry.indexOf('=');
  const at = entry.lastIndexOf('@');
  const id = entry.slice(0, Math.max(eq, 0));
  if (eq <= 0 || at < eq) throw new Error(`${REGION_ENTRY} (got ${JSON.stringify(entry)})`);
  if (!REGION_ID.test(id)) throw new Error(`a region id matching ${String(REGION_ID)} (got ${JSON.stringify(id)})`);
  const rawUrl = entry.slice(eq + 1, at);
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Error(`an http(s) URL for region ${id} (got ${JSON.stringify(rawUrl)})`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new Error(`an http(s) URL without query or fragment for region ${id} (got ${JSON.stringify(rawUrl)})`);
  }
  const tail = entry.slice(at + 1);
  const hash = tail.indexOf('#');
  const location = parseGeoPoint(hash >= 0 ? tail.slice(0, hash) : tail);
  if (!location) throw new Error(`${GEO_POINT_FORMAT} for region ${id} (got ${JSON.stringify(tail)})`);
  let weight = 1;
  if (hash >= 0) {
    const text = tail.slice(hash + 1);
    weight = Number(text);
    if (text.trim() === '' || !Number.isFinite(weight) || weight <= 0) throw new Error(`a positive weight for region ${id} (got ${JSON.stringify(text)})`);
  }
  // No trailing slash: redirects append the request's path, which starts with one.
  return Object.freeze({ id, url: url.toString().replace(/\/+$/, ''), location, weight });
}

const regionList: Parser<readonly RegionSpec[]> = (raw) => {
  const regions = entries(raw).map(parseRegion);
  if (regions.length === 0) throw new Error(`at least one region: ${REGION_ENTRY}[;…]`);
  const seen = new Set<string>();
  for (const r of regions) {
    if (seen.has(r.id)) throw new Error(`each region once (got ${r.id} twice)`);
    seen.add(r.id);
  }
  return Object.freeze(regions);
};

/** Not a place: a block that names a region holds this until `loadConfig` resolves it. */
const UNRESOLVED_POINT: GeoPoint = Object.freeze({ lat: Number.NaN, lon: Number.NaN });

const locationTable: Parser<readonly CidrBlock<NamedLocation>[]> = (raw) => {
  const blocks = entries(raw).map((entry) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`<cidr>=<lat>,<lon> or <cidr>=<region id> (got ${JSON.stringify(entry)})`);
    const cidr = entry.slice(0, eq).trim();
    const target = entry.slice(eq + 1).trim();
    const point = parseGeoPoint(target);
    let value: NamedLocation;
    if (point) value = { point, label: target };
    else if (REGION_ID.test(target)) value = { point: UNRESOLVED_POINT, label: target, region: target };
    else throw new Error(`${GEO_POINT_FORMAT} or a region id after ${cidr}= (got ${JSON.stringify(target)})`);
    try {
      return parseCidr<NamedLocation>(cidr, value);
    } catch (error) {
      throw new Error(`${(error as Error).message} (got ${JSON.stringify(cidr)})`);
    }
  });
  return buildCidrTable(blocks);
};

const FIELDS: readonly Field<GslbConfig>[] = [
  { key: 'regions', env: 'MERIDIAN_GSLB_REGIONS', doc: `the regions: ${REGION_ENTRY} joined by ";", e.g. eu=http://127.0.0.1:8081@50.1,8.7;us=http://127.0.0.1:8082@39.0,-77.5#2`, parse: regionList },
  { key: 'host', env: 'MERIDIAN_GSLB_HOST', doc: 'address to listen on', default: '127.0.0.1', parse: (raw) => raw },
  { key: 'port', env: 'MERIDIAN_GSLB_PORT', doc: 'HTTP port', default: 8070, parse: integer(0, 65535) },
  { key: 'probeIntervalMs', env: 'MERIDIAN_GSLB_PROBE_INTERVAL_MS', doc: 'time between the starts of two probes of one region', default: 1000, parse: integer(10, 3_600_000) },
  { key: 'probeTimeoutMs', env: 'MERIDIAN_GSLB_PROBE_TIMEOUT_MS', doc: 'a probe with no answer by then has failed (at most the interval)', default: 500, parse: integer(1, 3_600_000) },
  { key: 'failuresToDown', env: 'MERIDIAN_GSLB_FAILURES_TO_DOWN', doc: 'F: failed probes in a row that take a region down', default: 3, parse: integer(1, 100) },
  { key: 'successesToUp', env: 'MERIDIAN_GSLB_SUCCESSES_TO_UP', doc: 'R: good probes in a row that bring a region back', default: 2, parse: integer(1, 100) },
  { key: 'locations', env: 'MERIDIAN_GSLB_LOCATIONS', doc: 'where clients are, by address: <cidr>=<lat>,<lon> or <cidr>=<region id>, joined by ";"; the most specific block wins', default: Object.freeze([]), shownDefault: '(none)', parse: locationTable },
  { key: 'trustedProxyHops', env: 'MERIDIAN_GSLB_TRUSTED_PROXY_HOPS', doc: 'proxies of ours in front of the GSLB: 0 ignores X-Forwarded-For; n takes the n-th address from its right', default: 0, parse: integer(0, 10) },
  { key: 'lagBoundSeconds', env: 'MERIDIAN_GSLB_LAG_BOUND_SECONDS', doc: 'a region further behind than this (its worst peer lag) is demoted for fresh reads', default: 10, parse: positiveNumber('of seconds') },
  { key: 'regionToken', env: 'MERIDIAN_GSLB_REGION_TOKEN', doc: 'bearer token with the read scope for the regions\' /v1/replication (lag-aware routing) and /v1/members (regions that joined); also read from MERIDIAN_GSLB_REGION_TOKEN_FILE', secret: true, default: undefined, shownDefault: '(none)', parse: (raw) => raw },
  { key: 'logLevel', env: 'MERIDIAN_GSLB_LOG_LEVEL', doc: 'log level', default: 'info', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) },
];

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): GslbConfig {
  const { values: out, problems } = readConfig(FIELDS, env, readFile);

  const interval = out['probeIntervalMs'];
  const timeout = out['probeTimeoutMs'];
  if (typeof interval === 'number' && typeof timeout === 'number' && timeout > interval) {
    problems.push(`MERIDIAN_GSLB_PROBE_TIMEOUT_MS: expected at most MERIDIAN_GSLB_PROBE_INTERVAL_MS (${interval}) (got ${timeout})`);
  }
  const regions = out['regions'] as readonly RegionSpec[] | undefined;
  const locations = out['locations'] as readonly CidrBlock<NamedLocation>[] | undefined;
  if (locations) {
    out['locations'] = Object.freeze(
      locations.map((block) => {
        const regionId = block.value.region;
        if (regionId === undefined) return block;
        const region = regions?.find((r) => r.id === regionId);
        if (!region) {
          if (regions) problems.push(`MERIDIAN_GSLB_LOCATIONS: expected a configured region (${regions.map((r) => r.id).join(', ')}) after ${block.cidr}= (got ${JSON.stringify(regionId)})`);
          return block;
        }
        return { ...block, value: { point: region.location, label: regionId, region: regionId } };
      }),
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as unknown as GslbConfig;
}

/** The configuration for logs and `/v1/config`-like answers: plain JSON, the region token masked. */
export function describeConfig(config: GslbConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const field of FIELDS) shown[field.key] = config[field.key];
  if (config.regionToken !== undefined) shown['regionToken'] = '***';
  shown['locations'] = config.locations.map((b) => ({ cidr: b.cidr, location: b.value.label }));
  return shown;
}

/** The documented settings, for the README and `--help`. */
export function configReference(): { env: string; doc: string; default: string }[] {
  return referenceOf(FIELDS);
}
