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
 *
 * MERIDIAN_TEST_KAFKA_SECURITY=sasl_ssl starts the three brokers SASL_SSL instead (a throwaway
 * CA, a SCRAM principal per cluster, ACLs made per test region: test-kafka.ts); already-running
 * brokers are plaintext, so it cannot be combined with MERIDIAN_TEST_KAFKA.
 */
import type { TestProject } from 'vitest/node';
import type { TestInfra } from './test-infra.ts';
import { startKafkaBroker, type KafkaBroker } from './kafka.ts';
import { startZipkin, type ZipkinServer } from './zipkin.ts';
import { adminUrl, ensurePostgres } from './postgres.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCertificateAuthority } from './certificates.ts';
import { brokerSecurity, ensureKafkaSecurity, type KafkaDeploymentSecurity } from './kafka-security.ts';
import type { TestKafkaSecurity } from './test-infra.ts';

interface Shared {
  refs: number;
  ready: Promise<{ infra: TestInfra; brokers: KafkaBroker[]; zipkin: ZipkinServer | undefined; securityDir: string | undefined }>;
}

const KEY = Symbol.for('meridian.test-infra');
const holder = globalThis as unknown as Record<symbol, Shared | undefined>;

async function startAll(): Promise<Awaited<Shared['ready']>> {
  const started = Date.now();
  const postgresUrl = await ensurePostgres(adminUrl());
  // Empty (MERIDIAN_TEST_KAFKA=) counts as unset: start brokers.
  const listed = process.env['MERIDIAN_TEST_KAFKA']?.split(',').filter(Boolean) ?? [];
  const external = listed.length > 0 ? listed : undefined;
  const mode = process.env['MERIDIAN_TEST_KAFKA_SECURITY'] ?? 'plaintext';
  if (mode !== 'plaintext' && mode !== 'sasl_ssl') throw new Error(`MERIDIAN_TEST_KAFKA_SECURITY: expected sasl_ssl or plaintext (got ${mode})`);
  if (mode === 'sasl_ssl' && external) throw new Error('MERIDIAN_TEST_KAFKA_SECURITY=sasl_ssl starts its own secured brokers: unset MERIDIAN_TEST_KAFKA (already-running brokers are plaintext)');
  const securityDir = mode === 'sasl_ssl' ? mkdtempSync(join(tmpdir(), 'meridian-test-kafka-security-')) : undefined;
  const clusters = ['eu', 'us', 'ap'];
  // One principal per cluster (test-infra.ts): the "regions" of this deployment are the clusters.
  const security: KafkaDeploymentSecurity | undefined = securityDir ? ensureKafkaSecurity(join(securityDir, 'users'), ensureCertificateAuthority(join(securityDir, 'tls'), 'Meridian test CA'), clusters.map((_, i) => `test-${i}`)) : undefined;
  const brokerStarts = external ? [] : clusters.map((name) => startKafkaBroker({ name: `test-${name}`, heapMb: 320, ...(security ? { security: brokerSecurity(security, name) } : {}) }));
  const zipkinStart = process.env['MERIDIAN_TEST_ZIPKIN'] ? Promise.resolve(undefined) : startZipkin();
  const [zipkinResult, ...brokerResults] = await Promise.allSettled([zipkinStart, ...brokerStarts]);
  const brokers = brokerResults.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const zipkin = zipkinResult?.status === 'fulfilled' ? (zipkinResult.value) : undefined;
  const failed = [zipkinResult, ...brokerResults].find((r) => r?.status === 'rejected');
  if (failed) {
    // Stop whatever did start before reporting the failure: no process may outlive the run.
    await Promise.all([...brokers.map((b) => b.destroy()), zipkin?.stop()]);
    if (securityDir) rmSync(securityDir, { recursive: true, force: true });
    throw failed.reason;
  }
  const kafka = external ?? brokers.map((b) => b.bootstrap);
  if (kafka.length !== 3) throw new Error(`expected three Kafka clusters (got ${kafka.length}: ${kafka.join(',')})`);
  const infra: TestInfra = {
    kafka: [kafka[0]!, kafka[1]!, kafka[2]!],
    zipkinUrl: process.env['MERIDIAN_TEST_ZIPKIN'] ?? zipkin!.url,
    postgresUrl,
    ...(security ? { kafkaSecurity: testKafkaSecurity(security) } : {}),
  };
  console.log(`[meridian] test infrastructure up in ${Date.now() - started} ms: kafka ${infra.kafka.join(' ')}${security ? ' (SASL_SSL)' : ''}, zipkin ${infra.zipkinUrl}`);
  return { infra, brokers, zipkin, securityDir };
}

function testKafkaSecurity(security: KafkaDeploymentSecurity): TestKafkaSecurity {
  const [a, b, c] = [...security.regions.values()];
  return { caFile: security.ca.caFile, admin: security.admin, principals: [a!, b!, c!] };
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
    const { brokers, zipkin, securityDir } = await s.ready;
    await Promise.all([...brokers.map((b) => b.destroy()), zipkin?.stop()]);
    if (securityDir) rmSync(securityDir, { recursive: true, force: true });
  };
}
