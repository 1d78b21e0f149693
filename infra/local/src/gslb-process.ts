/**
 * The GSLB (services/gslb/src/main.ts) as a real child process over a set of regions, for the
 * local cluster and for failover scenarios. The options are the GSLB's settings in typed form;
 * `gslbEnvironment` writes them the way its config schema reads them (services/gslb/src/config.ts:
 * `MERIDIAN_GSLB_REGIONS` = `<id>=<url>@<lat>,<lon>[#<weight>]` joined by `;`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { REPOSITORY_ROOT, startServiceProcess, type ServiceProcess } from './service-process.ts';

export const GSLB_ENTRY = join(REPOSITORY_ROOT, 'services', 'gslb', 'src', 'main.ts');

/** Whether this checkout has the GSLB program. */
export function gslbAvailable(): boolean {
  return existsSync(GSLB_ENTRY);
}

export interface GeoLocation {
  readonly lat: number;
  readonly lon: number;
}

export interface GslbRegion {
  readonly id: string;
  readonly url: string;
  readonly location: GeoLocation;
  /** Ties between equally distant regions go to the higher weight (default 1). */
  readonly weight?: number | undefined;
}

export interface GslbProcessOptions {
  readonly regions: readonly GslbRegion[];
  /** A free port when absent; kept across restarts. */
  readonly port?: number | undefined;
  readonly host?: string | undefined;
  /** Client address block → `lat,lon` or a region id (MERIDIAN_GSLB_LOCATIONS). */
  readonly locations?: Readonly<Record<string, string>> | undefined;
  readonly probeIntervalMs?: number | undefined;
  readonly probeTimeoutMs?: number | undefined;
  /** Default: info. */
  readonly logLevel?: string | undefined;
  /** A token with the read scope for the regions' /v1/replication (passed as MERIDIAN_GSLB_REGION_TOKEN). */
  readonly regionToken?: string | undefined;
  /** Any other setting; wins over the ones above. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly logFile?: string | undefined;
  readonly readyTimeoutMs?: number | undefined;
  /** The readiness path probed (default /health/ready). */
  readonly readyPath?: string | undefined;
}

export type GslbProcess = ServiceProcess;

/** The environment for the GSLB program, as its config schema names the settings. */
export function gslbEnvironment(options: GslbProcessOptions & { readonly port: number }): Record<string, string> {
  if (options.regions.length === 0) throw new Error('expected at least one region for the GSLB (got none)');
  const env: Record<string, string> = {
    MERIDIAN_GSLB_REGIONS: options.regions
      .map((r) => `${r.id}=${r.url}@${r.location.lat},${r.location.lon}${r.weight === undefined ? '' : `#${r.weight}`}`)
      .join(';'),
    MERIDIAN_GSLB_PORT: String(options.port),
    MERIDIAN_GSLB_HOST: options.host ?? '127.0.0.1',
    MERIDIAN_GSLB_LOG_LEVEL: options.logLevel ?? 'info',
  };
  const locations = Object.entries(options.locations ?? {});
  if (locations.length > 0) env['MERIDIAN_GSLB_LOCATIONS'] = locations.map(([cidr, where]) => `${cidr}=${where}`).join(';');
  if (options.regionToken !== undefined) env['MERIDIAN_GSLB_REGION_TOKEN'] = options.regionToken;
  if (options.probeIntervalMs !== undefined) env['MERIDIAN_GSLB_PROBE_INTERVAL_MS'] = String(options.probeIntervalMs);
  if (options.probeTimeoutMs !== undefined) env['MERIDIAN_GSLB_PROBE_TIMEOUT_MS'] = String(options.probeTimeoutMs);
  return { ...env, ...options.env };
}

/** Starts the GSLB and resolves once it answers its readiness probe with 200. */
export async function startGslbProcess(options: GslbProcessOptions): Promise<GslbProcess> {
  if (!gslbAvailable()) throw new Error(`the GSLB program is missing (${GSLB_ENTRY})`);
  const port = options.port ?? (await freePort());
  return startServiceProcess({
    name: 'gslb',
    entry: GSLB_ENTRY,
    host: options.host ?? '127.0.0.1',
    port,
    env: gslbEnvironment({ ...options, port }),
    logFile: options.logFile,
    readyPath: options.readyPath ?? '/health/ready',
    readyTimeoutMs: options.readyTimeoutMs,
  });
}
