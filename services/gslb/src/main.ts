#!/usr/bin/env node
/**
 * The GSLB as a program: configuration from the environment (validated; every problem listed;
 * exit 2), then the prober and the HTTP server. SIGTERM and SIGINT drain: stop accepting,
 * finish requests in flight, stop probing, exit 0 (forced exit after 10 s).
 *
 * Run: node --conditions=meridian-source services/gslb/src/main.ts (or `npm start -w @meridian/gslb`);
 * `--help` lists every setting.
 */
import { loadConfig, describeConfig, configReference, ConfigError } from './config.ts';
import { startGslb } from './gslb.ts';

if (process.argv.includes('--help')) {
  console.log('meridian-gslb: sends clients to the nearest healthy Meridian region. Settings (environment):\n');
  for (const f of configReference()) console.log(`  ${f.env.padEnd(34)} ${f.doc} [${f.default}]`);
  process.exit(0);
}

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`meridian-gslb: ${error.message}\n(run with --help for every setting)`);
    process.exit(2);
  }
  throw error;
}

const gslb = await startGslb(config, { logger: { level: config.logLevel, base: { service: 'meridian-gslb' } } });
gslb.app.log.info({ config: describeConfig(config), url: gslb.url }, 'listening');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  gslb.app.log.info({ signal }, 'draining');
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await gslb.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
