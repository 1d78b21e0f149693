/**
 * Hostile input a client can send, against a real PostgreSQL: a JSON value nested 5,000 deep
 * (which overflowed the stack of every recursive walk), names longer than the router takes, path
 * segments that are not valid percent-encoding, HTTP-level malformations. Each answers a 4xx in
 * Meridian's envelope with a Meridian code and the registry's status (never fastify's own
 * `{"statusCode", "code": "FST_ERR_…"}` body, never a 500), and stores nothing.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { ERRORS, type ErrorCode } from './errors.ts';

const infra = inject('infra');
const dbName = uniqueName('region_bad_input');
let region: RegionService;
let db: pg.Pool;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '3' }));
  db = new pg.Pool({ connectionString: url, max: 1 });
  db.on('error', () => undefined);
  for (const [ns, policy] of [['r', 'lww'], ['s', 'set'], ['m', 'map']]) expect((await send('PUT', `/v1/namespaces/${ns}`, { body: JSON.stringify({ policy }) })).status).toBe(201);
});
afterAll(async () => {
  await region?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function send(method: 'GET' | 'PUT' | 'POST', url: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; json: Record<string, any> }> {
  const r = await region.app.inject({ method, url, headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers }, ...(options.body !== undefined ? { payload: options.body } : {}) });
  return { status: r.statusCode, json: JSON.parse(r.body) as Record<string, any> };
}

/** Rows written so far: key rows, outbox rows, idempotency records. */
async function stored(): Promise<number[]> {
  const { rows } = await db.query<{ k: string; o: string; i: string }>('SELECT (SELECT count(*) FROM meridian_keys) AS k, (SELECT count(*) FROM meridian_outbox) AS o, (SELECT count(*) FROM meridian_idempotency) AS i');
  return [Number(rows[0]!.k), Number(rows[0]!.o), Number(rows[0]!.i)];
}

/** Asserts the request is answered with `code` in Meridian's envelope, at the registry's status, and stores nothing. */
async function refused(code: ErrorCode, method: 'GET' | 'PUT' | 'POST', url: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<void> {
  const before = await stored();
  const { status, json } = await send(method, url, options);
  expect(json, `${method} ${url.slice(0, 80)}`).toEqual({ error: { code, message: expect.any(String) as string } });
  expect(status).toBe(ERRORS[code].status);
  expect(await stored()).toEqual(before);
}

/** Arrays and objects nested `depth` deep around `leaf`, as JSON text (built without recursion). */
function nestedJson(depth: number, leaf = '1'): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += i % 2 === 0 ? '[' : '{"k":';
    close = (i % 2 === 0 ? ']' : '}') + close;
  }
  return `${open}${leaf}${close}`;
}

const DEEP = nestedJson(5000);

describe('a JSON value nested 5,000 deep', () => {
  it('is refused with 400 MERIDIAN_VALUE_TOO_DEEP on every path that takes a value, with or without an Idempotency-Key, storing nothing', async () => {
    for (const headers of [{}, { 'idempotency-key': 'deep-1' }]) {
      await refused('MERIDIAN_VALUE_TOO_DEEP', 'PUT', '/v1/ns/r/keys/deep', { body: `{"value":${DEEP}}`, headers });
      await refused('MERIDIAN_VALUE_TOO_DEEP', 'POST', '/v1/ns/s/keys/deep/ops', { body: `{"add":[${DEEP}]}`, headers });
      await refused('MERIDIAN_VALUE_TOO_DEEP', 'POST', '/v1/ns/s/keys/deep/ops', { body: `{"remove":[${DEEP}]}`, headers });
      await refused('MERIDIAN_VALUE_TOO_DEEP', 'POST', '/v1/ns/m/keys/deep/ops', { body: `{"set":{"f":${DEEP}}}`, headers });
    }
  });

  it('values nest up to 64 levels, the same bound for registers and CRDT elements', async () => {
    expect((await send('PUT', '/v1/ns/r/keys/at-limit', { body: `{"value":${nestedJson(64)}}` })).status).toBe(200);
    expect((await send('POST', '/v1/ns/s/keys/at-limit/ops', { body: `{"add":[${nestedJson(64)}]}` })).status).toBe(200);
    await refused('MERIDIAN_VALUE_TOO_DEEP', 'PUT', '/v1/ns/r/keys/beyond', { body: `{"value":${nestedJson(65)}}` });
  });
});

describe("fastify's own errors answer in Meridian's envelope", () => {
  it('a key of up to 1,024 characters is served; a longer one (5,000) is MERIDIAN_INVALID_NAME', async () => {
    for (const length of [101, 1024]) {
      const key = 'k'.repeat(length);
      expect((await send('PUT', `/v1/ns/r/keys/${key}`, { body: '{"value":1}' })).status, `a key of ${length}`).toBe(200);
      expect((await send('GET', `/v1/ns/r/keys/${key}`)).json['value']).toBe(1);
    }
    await refused('MERIDIAN_INVALID_NAME', 'PUT', `/v1/ns/r/keys/${'k'.repeat(5000)}`, { body: '{"value":1}' });
    await refused('MERIDIAN_INVALID_NAME', 'GET', `/v1/ns/r/keys/${'k'.repeat(5000)}`);
    await refused('MERIDIAN_INVALID_NAME', 'PUT', `/v1/namespaces/${'n'.repeat(5000)}`, { body: '{"policy":"lww"}' });
  });

  it('a path segment that is not valid percent-encoding is MERIDIAN_INVALID_NAME', async () => {
    await refused('MERIDIAN_INVALID_NAME', 'PUT', '/v1/ns/r/keys/%E0%A4%A', { body: '{"value":1}' });
    await refused('MERIDIAN_INVALID_NAME', 'GET', '/v1/ns/%ZZ/keys/k');
  });

  it('a body that does not match its Content-Length is MERIDIAN_BAD_REQUEST; a poisoned or broken body MERIDIAN_MALFORMED_JSON', async () => {
    await refused('MERIDIAN_BAD_REQUEST', 'PUT', '/v1/ns/r/keys/short', { body: '{"value":1}', headers: { 'content-length': '100' } });
    await refused('MERIDIAN_MALFORMED_JSON', 'PUT', '/v1/ns/r/keys/proto', { body: '{"value":1,"__proto__":{"x":1}}' });
    await refused('MERIDIAN_MALFORMED_JSON', 'PUT', '/v1/ns/r/keys/broken', { body: '{"value":' });
    await refused('MERIDIAN_UNSUPPORTED_MEDIA_TYPE', 'PUT', '/v1/ns/r/keys/text', { body: 'x', headers: { 'content-type': 'text/plain' } });
  });
});
