/** Benchmark settings from the environment (BENCH_*), validated like the service's own config. */
import { join } from 'node:path';
import { ensureCertificateAuthority, ensureKafkaSecurity, ephemeralAuth, startRegionProcess, type KafkaBroker, type KafkaDeploymentSecurity, type LocalAuth, type RegionProcess } from '@meridian/infra-local';

/** An integer setting in [min, max]; `fallback` when unset; a clear error otherwise. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}: expected an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}

/** A comma-separated list of set sizes (1 to 10,000,000); `fallback` when unset; a clear error otherwise. */
export function envSizes(name: string, fallback: string): number[] {
  return (process.env[name] || fallback).split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 10_000_000) throw new Error(`${name}: expected sizes from 1 to 10000000 (got ${JSON.stringify(s)})`);
    return n;
  });
}

/**
 * The MERIDIAN_* settings of this process's environment, passed on to the region services a
 * benchmark starts (infra-local's launcher drops inherited MERIDIAN_* variables), e.g.
 * MERIDIAN_OTEL_INSTRUMENTATIONS=none to measure without telemetry.
 */
export function serviceSettings(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MERIDIAN_') && e[1] !== undefined));
}

/** NODE_OPTIONS for the service processes from BENCH_SERVICE_NODE_OPTIONS (profiling, GC tracing), or nothing. */
export function serviceNodeOptions(): Record<string, string> {
  const flags = process.env['BENCH_SERVICE_NODE_OPTIONS']?.trim();
  return flags ? { NODE_OPTIONS: flags } : {};
}

/** How the report names the services' settings: "telemetry at its defaults", or what was changed. */
export function describeSettings(settings: Readonly<Record<string, string>>): string {
  const changed = Object.entries(settings);
  const node = serviceNodeOptions()['NODE_OPTIONS'];
  return `telemetry at its defaults${changed.length > 0 ? ` except ${changed.map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}${node ? `; service NODE_OPTIONS ${node}` : ''}`;
}

/**
 * BENCH_AUTH: `on` (default) starts the regions secured, as deployed — a throwaway signing key,
 * every request carrying a bearer token that the region verifies — so the figures include the
 * token checks; `off` runs them open (MERIDIAN_AUTH=off) to measure what the checks cost (one
 * run each, the same machine). The rate limit is off either way (one client writes everything).
 */
export interface BenchAuth {
  readonly auth: LocalAuth | 'off';
  /** The header that carries a role's token (none when off). */
  readonly header: (role: 'admin' | 'writer') => Record<string, string>;
  /** Region settings: no rate limit. */
  readonly env: Record<string, string>;
}

export async function benchAuth(): Promise<BenchAuth> {
  const mode = process.env['BENCH_AUTH'] ?? 'on';
  if (mode !== 'on' && mode !== 'off') throw new Error(`BENCH_AUTH: expected on or off (got ${JSON.stringify(mode)})`);
  const auth = mode === 'off' ? 'off' : await ephemeralAuth();
  return {
    auth,
    header: (role) => (auth === 'off' ? {} : { authorization: `Bearer ${auth.tokens[role]}` }),
    env: { MERIDIAN_RATE_LIMIT_PER_MINUTE: '0' },
  };
}

/**
 * BENCH_KAFKA_SECURITY: `sasl_ssl` starts the brokers SASL_SSL with a SCRAM principal per region
 * and the local cluster's ACLs (docs/security.md), the regions and the raw-Kafka baseline
 * connecting over TLS with SASL; `plaintext` (default: the figures of docs/benchmarks.md before
 * it) runs them plaintext. kafka-security.ts runs both side by side (`mode` given).
 */
export function benchKafkaSecurity(dir: string, regions: readonly string[], mode = process.env['BENCH_KAFKA_SECURITY'] ?? 'plaintext'): KafkaDeploymentSecurity | undefined {
  if (mode !== 'sasl_ssl' && mode !== 'plaintext') throw new Error(`BENCH_KAFKA_SECURITY: expected sasl_ssl or plaintext (got ${JSON.stringify(mode)})`);
  if (mode === 'plaintext') return undefined;
  return ensureKafkaSecurity(join(dir, 'kafka-users'), ensureCertificateAuthority(join(dir, 'tls'), 'Meridian bench CA'), regions);
}

/**
 * Region `region` of a two-region benchmark, replicating from `peer`: on its database, its broker
 * of `brokers` (with its SCRAM user when `security` is given), log level warn, the benchmark's
 * tokens and MERIDIAN_* settings, then `env` (partitions, pool size, profiling).
 */
export function startReplicatingRegion(options: {
  readonly region: string;
  readonly peer: string;
  readonly databaseUrl: string;
  readonly brokers: Readonly<Record<string, KafkaBroker>>;
  readonly security: KafkaDeploymentSecurity | undefined;
  readonly bench: BenchAuth;
  readonly logFile: string;
  readonly env: Readonly<Record<string, string>>;
}): Promise<RegionProcess> {
  const { region, peer, brokers, security } = options;
  return startRegionProcess({
    region,
    databaseUrl: options.databaseUrl,
    auth: options.bench.auth,
    kafkaBrokers: brokers[region]!.bootstrap,
    kafkaSecurity: security ? { caFile: security.ca.caFile, user: security.regions.get(region)! } : 'off',
    peers: { [peer]: brokers[peer]!.bootstrap },
    logLevel: 'warn',
    logFile: options.logFile,
    env: { ...options.bench.env, ...serviceSettings(), ...options.env },
  });
}

/** A progress line on stderr (stdout carries the report). */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * Undo steps for what a benchmark starts (servers, brokers, databases, files): pushed as they are
 * needed, run once, newest first — at the end of the run, or on SIGINT/SIGTERM before the
 * process exits — each failure logged, none stopping the others.
 */
export function cleanupStack(): { readonly cleanups: (() => Promise<void>)[]; readonly cleanup: () => Promise<void> } {
  const cleanups: (() => Promise<void>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const undo of cleanups.reverse()) await undo().catch((error: unknown) => log(`cleanup: ${(error as Error).message}`));
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  return { cleanups, cleanup };
}
