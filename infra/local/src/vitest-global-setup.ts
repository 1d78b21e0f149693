/**
 * Vitest global setup for the integration and scenario projects: the real infrastructure is
 * started once per test run — three independent single-node Kafka clusters (one per region of
 * the scenarios), a Zipkin server, and the shared PostgreSQL made sure of — and stopped at the
 * end. Tests read the addresses with `inject('infra')`.
 *
 * Both projects name this file; their setups run in the same main process, so the first one
 * starts the infrastructure and the last teardown stops it (a reference count on globalThis).
 *
 * MERIDIAN_TEST_KAFKA=host:port,host:port,host:port and MERIDIAN_TEST_ZIPKIN=http://… use
 * already-running servers instead.
 */
import type { TestProject } from 'vitest/node';
import type { TestInfra } from './test-infra.ts';
import { startKafkaBroker, type KafkaBroker } from './kafka.ts';
import { startZipkin, type ZipkinServer } from './zipkin.ts';
import { adminUrl, ensurePostgres } from './postgres.ts';

interface Shared {
  refs: number;
  ready: Promise<{ infra: TestInfra; brokers: KafkaBroker[]; zipkin: ZipkinServer | undefined }>;
}

const KEY = Symbol.for('meridian.test-infra');
const holder = globalThis as unknown as Record<symbol, Shared | undefined>;

async function startAll(): Promise<Awaited<Shared['ready']>> {
  const started = Date.now();
  const postgresUrl = await ensurePostgres(adminUrl());
  const external = process.env['MERIDIAN_TEST_KAFKA']?.split(',').filter(Boolean);
  const brokerStarts = external ? [] : ['eu', 'us', 'ap'].map((name) => startKafkaBroker({ name: `test-${name}`, heapMb: 320 }));
  const zipkinStart = process.env['MERIDIAN_TEST_ZIPKIN'] ? Promise.resolve(undefined) : startZipkin();
  const [zipkinResult, ...brokerResults] = await Promise.allSettled([zipkinStart, ...brokerStarts]);
  const brokers = brokerResults.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const zipkin = zipkinResult?.status === 'fulfilled' ? (zipkinResult.value) : undefined;
  const failed = [zipkinResult, ...brokerResults].find((r) => r?.status === 'rejected');
  if (failed) {
    // Stop whatever did start before reporting the failure: no process may outlive the run.
    await Promise.all([...brokers.map((b) => b.destroy()), zipkin?.stop()]);
    throw failed.reason;
  }
  const kafka = external ?? brokers.map((b) => b.bootstrap);
  if (kafka.length !== 3) throw new Error(`expected three Kafka clusters (got ${kafka.length}: ${kafka.join(',')})`);
  const infra: TestInfra = {
    kafka: [kafka[0]!, kafka[1]!, kafka[2]!],
    zipkinUrl: process.env['MERIDIAN_TEST_ZIPKIN'] ?? zipkin!.url,
    postgresUrl,
  };
  console.log(`[meridian] test infrastructure up in ${Date.now() - started} ms: kafka ${infra.kafka.join(' ')}, zipkin ${infra.zipkinUrl}`);
  return { infra, brokers, zipkin };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let shared = holder[KEY];
  if (!shared) {
    shared = { refs: 0, ready: startAll() };
    holder[KEY] = shared;
  }
  shared.refs += 1;
  const { infra } = await shared.ready;
  project.provide('infra', infra);
  return async () => {
    const s = holder[KEY];
    if (!s) return;
    s.refs -= 1;
    if (s.refs > 0) return;
    holder[KEY] = undefined;
    const { brokers, zipkin } = await s.ready;
    await Promise.all([...brokers.map((b) => b.destroy()), zipkin?.stop()]);
  };
}
