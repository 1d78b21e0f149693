#!/usr/bin/env node
/**
 * The region service as a program: configuration from the environment (validated; every
 * problem listed), telemetry started before the app and its drivers are imported (the
 * instrumentations patch fastify, pg and kafkajs as they load), then the HTTP server. SIGTERM
 * and SIGINT drain: stop accepting, finish requests, close the pool, flush telemetry.
 *
 * Run: node --conditions=meridian-source services/region/src/main.ts (see `npm start -w @meridian/region`).
 */
import { loadConfig, describeConfig, configReference, ConfigError, INSTRUMENTATIONS } from './config.ts';
import { startTelemetry, loggerOptions } from '@meridian/telemetry';
import { LinkStates } from '@meridian/replication-link';
import { telemetryHooks } from './telemetry-hooks.ts';

if (process.argv.includes('--help')) {
  console.log('meridian-region: one region of Meridian. Settings (environment):\n');
  for (const f of configReference()) console.log(`  ${f.env.padEnd(30)} ${f.doc} [${f.default}]`);
  process.exit(0);
}

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`meridian-region: ${error.message}\n(run with --help for every setting)`);
    process.exit(2);
  }
  throw error;
}

const telemetry = startTelemetry({
  serviceName: 'meridian-region',
  region: config.region,
  instrumentations: Object.fromEntries(INSTRUMENTATIONS.map((name) => [name, config.instrumentations.has(name)])),
  traces: { exporter: config.tracesExporter, ...(config.tracesEndpoint ? { endpoint: config.tracesEndpoint } : {}), sampleRatio: config.traceSampleRatio },
});
const { startRegion } = await import('./region.ts');

const { default: pino } = await import('pino');
const logOptions = loggerOptions({ level: config.logLevel, serviceName: 'meridian-region', region: config.region });
const log = pino(logOptions);
const metrics = telemetry.metrics;
// TEST ONLY (the fault suite): a skewed clock for this region's HLC; never set in a deployment.
const clockOffsetMs = config.testClockOffsetMs;
if (clockOffsetMs !== 0) log.warn({ clockOffsetMs }, 'MERIDIAN_TEST_CLOCK_OFFSET_MS is set: this region stamps writes with a skewed clock (a test-only setting)');
const region = await startRegion(config, {
  ...(clockOffsetMs !== 0 ? { now: () => Date.now() + clockOffsetMs } : {}),
  logger: log,
  log,
  ...telemetryHooks(telemetry, log),
});
metrics.observeWriteCache(() => region.cache.stats());
metrics.observeRetention(() => region.retention.view);
if (region.replication) {
  const replication = region.replication;
  metrics.observeOutboxBacklog(() => region.store.replication.outboxBacklog());
  metrics.observeReplicationLag(
    () => Object.entries(replication.status().peers).map(([peer, s]) => ({ peer, seconds: s.lagSeconds ?? Number.NaN, sequence: s.lagSequence ?? Number.NaN, state: s.state, reseedNeeded: s.needsReseed })),
    LinkStates,
  );
}
region.app.log.info({ config: describeConfig(config), epoch: region.epoch }, 'starting');
await region.app.listen({ host: config.host, port: config.port });

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  region.app.log.info({ signal }, 'draining');
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await region.close();
  await telemetry.shutdown();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
