/**
 * Secrets never reach logs, traces or error bodies (issue 22 item 6; docs/security.md).
 *
 * A real region process is given known secret values — the context secret, a database password
 * in DATABASE_URL, its gRPC private key (a file: its contents are the secret), the public key
 * that verifies bearer tokens beside tokens signed by its private key — logging at `trace`
 * (every line the program can write) and exporting every span to the test Zipkin. The test
 * drives what could echo them: requests without, with garbage, forged, expired-scope and valid
 * tokens, malformed bodies and tampered context tokens, a traced write and read, the admin and
 * metrics routes; and starts the program with bad configurations that contain secrets (an
 * unparsable DATABASE_URL, a too-short context secret, a database that refuses the connection).
 * Then every log line, every answer (status line, headers, body) and every span of the region's
 * traces must be free of every secret, in the forms a leak would take (a token or only its
 * signature, a password raw or URL-encoded, any line of the private key's PEM body).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDatabase, dropDatabase, ensureGrpcCertificate, ephemeralAuth, freePort, NODE_FLAGS, REGION_ENTRY, REPOSITORY_ROOT, startRegionProcess, testCertificateAuthority, testKafkaAccess, type LocalAuth, type RegionProcess, type RegionProcessOptions } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';

const run = promisify(execFile);
const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const REGION = `sec${suffix}`;
const dbName = uniqueName(`secrets_${suffix}`);
const workDir = mkdtempSync(join(tmpdir(), 'meridian-secrets-'));
const logFile = join(workDir, 'region.log');

const CONTEXT_SECRET = `ctx-secret-${randomBytes(12).toString('hex')}`;
const DB_PASSWORD = `pw-${randomBytes(10).toString('hex')}!@`;
/** A bearer token that is not a JWT at all: a client's secret pasted in the wrong place. */
const GARBAGE_TOKEN = `garbage-${randomBytes(16).toString('hex')}`;

let auth: LocalAuth;
/** Tokens signed by another key: refused, and still a client's secret. */
let forged: LocalAuth;
let region: RegionProcess;
let keyPem = '';
let regionDatabaseUrl = '';
/** The region's Kafka security (its password is one more secret on SASL_SSL brokers). */
let kafkaAccess: RegionProcessOptions['kafkaSecurity'];
const answers: string[] = [];
const startFailures: string[] = [];

/** Every form in which a secret would show: the whole value and its distinctive parts. */
function secretForms(): Map<string, string> {
  const forms = new Map<string, string>([
    ['context secret', CONTEXT_SECRET],
    ['database password', DB_PASSWORD],
    ['database password (URL-encoded)', encodeURIComponent(DB_PASSWORD)],
    ['garbage bearer token', GARBAGE_TOKEN],
  ]);
  for (const [who, a] of [['', auth], ['forged ', forged]] as const) {
    for (const [role, token] of Object.entries(a.tokens)) {
      forms.set(`${who}${role} token`, token);
      forms.set(`${who}${role} token's signature`, token.split('.')[2]);
    }
    for (const line of a.keys.privateKeyPem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) forms.set(`${who}signing private key`, line);
  }
  for (const [i, line] of keyPem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')).entries()) forms.set(`gRPC private key line ${i + 1}`, line);
  // On SASL_SSL brokers (MERIDIAN_TEST_KAFKA_SECURITY=sasl_ssl) the region holds its Kafka password too.
  if (kafkaAccess !== undefined && kafkaAccess !== 'off') forms.set('Kafka SASL password', kafkaAccess.user.password);
  return forms;
}

function leaks(what: string, text: string): string[] {
  return [...secretForms()].filter(([, value]) => text.includes(value)).map(([name]) => `${what} holds the ${name}`);
}

async function call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  const res = await fetch(`${region.url}${path}`, { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  answers.push(`${method} ${path} → ${res.status} ${JSON.stringify([...res.headers])} ${text}`);
  return res.status;
}

/** The region program started with `env` (beside this test's secrets) that must exit: its whole output. */
async function failedStart(env: Record<string, string>): Promise<string> {
  const base = { PATH: process.env['PATH'] ?? '', MERIDIAN_REGION: REGION, MERIDIAN_AUTH: 'off', MERIDIAN_LOG_LEVEL: 'trace', MERIDIAN_CONTEXT_SECRET: CONTEXT_SECRET };
  try {
    const { stdout, stderr } = await run(process.execPath, [...NODE_FLAGS, REGION_ENTRY], { cwd: REPOSITORY_ROOT, env: { ...base, ...env }, timeout: 60_000 });
    throw new Error(`the region started with a bad configuration: ${stdout}${stderr}`);
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: unknown };
    if (e.stdout === undefined) throw error;
    return `exit ${String(e.code)}\n${e.stdout}${e.stderr ?? ''}`;
  }
}

beforeAll(async () => {
  auth = await ephemeralAuth();
  forged = await ephemeralAuth();
  const tls = ensureGrpcCertificate(testCertificateAuthority(), { kind: 'region', region: REGION });
  keyPem = readFileSync(tls.keyFile, 'utf8');
  const url = new URL(await createDatabase(dbName, infra.postgresUrl));
  // The shared server trusts local connections: the password is sent nowhere, but the region holds it.
  url.password = encodeURIComponent(DB_PASSWORD);
  regionDatabaseUrl = url.toString();
  kafkaAccess = (await testKafkaAccess(infra, { [REGION]: 0 }))[REGION];
  region = await startRegionProcess({
    region: REGION,
    databaseUrl: url.toString(),
    auth,
    contextSecret: CONTEXT_SECRET,
    kafkaBrokers: infra.kafka[0],
    kafkaSecurity: kafkaAccess,
    grpcPort: await freePort(),
    grpcTls: tls,
    zipkinSpansUrl: `${infra.zipkinUrl}/api/v2/spans`,
    logLevel: 'trace',
    logFile,
    env: { MERIDIAN_TOPIC_PARTITIONS: '1' },
  });
}, 180_000);

afterAll(async () => {
  await region?.stop();
  await dropDatabase(dbName, infra.postgresUrl);
  rmSync(workDir, { recursive: true, force: true });
});

describe('secrets', () => {
  it('reach no answer, log line or span while the region refuses, fails and serves requests', async () => {
    const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
    const write = (token: string): Promise<number> => call('PUT', `/v1/ns/kv/keys/k-${suffix}`, bearer(token), JSON.stringify({ value: { n: 1 } }));
    // Refused: no token, a garbage one, tokens of another key, a reader writing, an admin route for a writer.
    expect(await call('PUT', `/v1/ns/kv/keys/k-${suffix}`, {}, '{"value":1}')).toBe(401);
    expect(await write(GARBAGE_TOKEN)).toBe(401);
    expect(await call('GET', '/v1/replication', { authorization: GARBAGE_TOKEN })).toBe(401);
    expect(await write(forged.tokens.admin)).toBe(401);
    expect(await write(auth.tokens.reader)).toBe(403);
    expect(await call('GET', '/v1/dead-letters', bearer(auth.tokens.writer))).toBe(403);
    // Served, traced end to end.
    expect(await call('PUT', '/v1/namespaces/kv', bearer(auth.tokens.admin), JSON.stringify({ policy: 'lww' }))).toBe(201);
    const traceId = randomBytes(16).toString('hex');
    expect(await call('PUT', `/v1/ns/kv/keys/k-${suffix}`, { ...bearer(auth.tokens.writer), traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` }, JSON.stringify({ value: { n: 1 } }))).toBe(200);
    expect(await call('GET', `/v1/ns/kv/keys/k-${suffix}`, bearer(auth.tokens.reader))).toBe(200);
    // Errors: a malformed body, a tampered context token, an unknown key and route, a bad policy.
    expect(await call('PUT', `/v1/ns/kv/keys/k-${suffix}`, bearer(auth.tokens.writer), '{"value":')).toBe(400);
    expect(await call('PUT', `/v1/ns/kv/keys/k-${suffix}`, bearer(auth.tokens.writer), JSON.stringify({ value: 2, context: `${CONTEXT_SECRET}.tampered` }))).toBe(400);
    expect(await call('GET', `/v1/ns/kv/keys/missing-${suffix}`, bearer(auth.tokens.reader))).toBe(404);
    expect(await call('GET', '/v1/nowhere', bearer(auth.tokens.admin))).toBe(404);
    expect(await call('PUT', '/v1/namespaces/kv', bearer(auth.tokens.admin), JSON.stringify({ policy: 'nonsense' }))).toBe(400);
    expect(await call('GET', '/v1/replication', bearer(auth.tokens.admin))).toBe(200);
    expect(await call('GET', '/metrics', bearer(auth.tokens.admin))).toBe(200);
    expect(await call('GET', '/health/ready', {})).toBe(200);

    // Bad configurations holding secrets: each refused, with output to scan.
    const dbUrl = `postgres://meridian:${encodeURIComponent(DB_PASSWORD)}@127.0.0.1`;
    startFailures.push(await failedStart({ DATABASE_URL: `${dbUrl}:not-a-port/x` }));
    startFailures.push(await failedStart({ DATABASE_URL: `${dbUrl}:5432/x`, MERIDIAN_CONTEXT_SECRET: CONTEXT_SECRET.slice(0, 15) }));
    startFailures.push(await failedStart({ DATABASE_URL: `${dbUrl}:${await freePort()}/x` }));
    // A private key pasted where its file's path belongs (the region's own database, so that start gets that far).
    startFailures.push(await failedStart({ DATABASE_URL: regionDatabaseUrl, MERIDIAN_GRPC_PORT: String(await freePort()), MERIDIAN_GRPC_TLS_CA: keyPem, MERIDIAN_GRPC_TLS_CERT: keyPem, MERIDIAN_GRPC_TLS_KEY: keyPem }));
    expect(startFailures.every((f) => !f.startsWith('exit 0'))).toBe(true);

    // The spans, once the region has flushed them (it exports on shutdown too).
    await region.stop();
    const spans = await waitFor(
      async () => (await (await fetch(`${infra.zipkinUrl}/api/v2/trace/${traceId}`)).text()),
      (text) => text.includes(`k-${suffix}`),
      { timeoutMs: 30_000, intervalMs: 500, what: 'the traced write in Zipkin' },
    );
    const recent = await (await fetch(`${infra.zipkinUrl}/api/v2/traces?serviceName=meridian-region&lookback=600000&limit=1000`)).text();
    const log = readFileSync(logFile, 'utf8');
    // Request lines were logged (at trace, everything the program can log is written).
    expect(log.match(/"msg":"incoming request"/g)?.length).toBeGreaterThanOrEqual(answers.length - 1);

    const found = [
      ...answers.flatMap((a, i) => leaks(`answer ${i + 1} (${a.slice(0, 60)}…)`, a)),
      ...log.split('\n').flatMap((line, i) => leaks(`log line ${i + 1}`, line)),
      ...startFailures.flatMap((f, i) => leaks(`failed start ${i + 1}`, f)),
      ...leaks('the traced write\'s spans', spans),
      ...leaks('the region\'s recent spans', recent),
    ];
    expect(found).toEqual([]);
  }, 240_000);
});
