/**
 * The region service's REST contract against a real PostgreSQL: every endpoint and error, and
 * that bad input stores nothing (no key row, no outbox row).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { decodeRecord } from '@meridian/protocol';
import { CausalContext } from '@meridian/causality';
import { crdtKind } from '@meridian/crdt';
import { ContextTokens } from './context-token.ts';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { ERRORS } from './errors.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('region_api');
let region: RegionService;
let db: pg.Pool;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_MAX_VALUE_BYTES: '1024', MERIDIAN_BODY_LIMIT_BYTES: '4096', MERIDIAN_PG_POOL_SIZE: '4' }));
  db = new pg.Pool({ connectionString: url, max: 2 });
  // An idle inspection connection closed by the server must not crash the file; a query in use still fails.
  db.on('error', () => undefined);
});
afterAll(async () => {
  await region?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return injectJson(region.app, method, url, body, headers);
}

async function outboxCount(): Promise<number> {
  return Number((await db.query<{ n: string }>('select count(*)::text as n from meridian_outbox')).rows[0]!.n);
}
async function keyRowCount(): Promise<number> {
  return Number((await db.query<{ n: string }>('select count(*)::text as n from meridian_keys')).rows[0]!.n);
}

/** Asserts the call failed with `code` (and the registry's status) and stored nothing. */
async function refused(code: keyof typeof ERRORS, run: () => Promise<{ status: number; json: Record<string, any> }>): Promise<Record<string, any>> {
  const [outbox, keys] = [await outboxCount(), await keyRowCount()];
  const { status, json } = await run();
  expect(json['error']?.code, JSON.stringify(json)).toBe(code);
  expect(status).toBe(ERRORS[code].status);
  expect(typeof json['error']?.message).toBe('string');
  expect(await outboxCount()).toBe(outbox);
  expect(await keyRowCount()).toBe(keys);
  return json;
}

describe('namespaces', () => {
  it('creates (201), accepts the same policy again (200), refuses another policy (409), lists and describes', async () => {
    expect((await call('PUT', '/v1/namespaces/users', { policy: 'lww' })).status).toBe(201);
    const again = await call('PUT', '/v1/namespaces/users', { policy: 'lww' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ name: 'users', policy: 'lww', declaredBy: `eu.${region.epoch}` });
    await refused('MERIDIAN_POLICY_CONFLICT', () => call('PUT', '/v1/namespaces/users', { policy: 'mv' }));
    expect((await call('GET', '/v1/namespaces/users')).json['policy']).toBe('lww');
    expect((await call('GET', '/v1/namespaces')).json['namespaces'].map((n: { name: string }) => n.name)).toContain('users');
    await refused('MERIDIAN_NAMESPACE_NOT_FOUND', () => call('GET', '/v1/namespaces/nope'));
  });

  it('replicates its creation through the outbox', async () => {
    const before = await outboxCount();
    await call('PUT', '/v1/namespaces/replicated-ns', { policy: 'counter' });
    const { rows } = await db.query<{ envelope: Buffer }>('select envelope from meridian_outbox order by id desc limit 1');
    expect(await outboxCount()).toBe(before + 1);
    expect(decodeRecord(rows[0]!.envelope)).toMatchObject({ kind: 'namespace', namespace: 'replicated-ns', policy: 'counter', origin: { region: 'eu' } });
  });

  it('refuses bad names and bad policies', async () => {
    await refused('MERIDIAN_INVALID_NAME', () => call('PUT', '/v1/namespaces/-bad', { policy: 'lww' }));
    await refused('MERIDIAN_VALIDATION', () => call('PUT', '/v1/namespaces/fine', { policy: 'whatever' }));
    await refused('MERIDIAN_VALIDATION', () => call('PUT', '/v1/namespaces/fine', {}));
  });
});

describe('lww registers', () => {
  beforeAll(async () => {
    await call('PUT', '/v1/namespaces/profiles', { policy: 'lww' });
  });

  it('writes and reads a value with a context and a session token', async () => {
    const w = await call('PUT', '/v1/ns/profiles/keys/alice', { value: { name: 'Alice', n: 1 } });
    expect(w.status).toBe(200);
    expect(w.json).toMatchObject({ value: { name: 'Alice', n: 1 } });
    expect(typeof w.json['context']).toBe('string');
    expect(w.json['session']).toMatch(/^eu\.\d+:\d+$/);
    const r = await call('GET', '/v1/ns/profiles/keys/alice');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ value: { name: 'Alice', n: 1 }, context: w.json['context'] });
    expect(r.json['session']).toMatch(/^eu\.\d+:\d+$/);
  });

  it('the last write wins, with or without a context', async () => {
    await call('PUT', '/v1/ns/profiles/keys/bob', { value: 1 });
    await call('PUT', '/v1/ns/profiles/keys/bob', { value: 2 });
    expect((await call('GET', '/v1/ns/profiles/keys/bob')).json['value']).toBe(2);
  });

  it('keys may hold slashes and unicode (percent-encoded in the path)', async () => {
    const key = encodeURIComponent('a/b/ünï');
    expect((await call('PUT', `/v1/ns/profiles/keys/${key}`, { value: 'x' })).status).toBe(200);
    expect((await call('GET', `/v1/ns/profiles/keys/${key}`)).json['value']).toBe('x');
  });

  it('a deleted key answers 404 with its context; the next write with it is not blind', async () => {
    await call('PUT', '/v1/ns/profiles/keys/carol', { value: 'here' });
    const d = await call('DELETE', '/v1/ns/profiles/keys/carol');
    expect(d.status).toBe(200);
    expect(d.json['deleted']).toBe(true);
    const r = await call('GET', '/v1/ns/profiles/keys/carol');
    expect(r.status).toBe(404);
    expect(r.json['error'].code).toBe('MERIDIAN_KEY_NOT_FOUND');
    expect(typeof r.json['context']).toBe('string');
    const again = await call('PUT', '/v1/ns/profiles/keys/carol', { value: 'back', context: r.json['context'] });
    expect(again.json['value']).toBe('back');
  });

  it('an absent key answers 404 without a context', async () => {
    const r = await call('GET', '/v1/ns/profiles/keys/nobody');
    expect(r.status).toBe(404);
    expect(r.json['context']).toBeUndefined();
  });
});

describe('mv registers', () => {
  beforeAll(async () => {
    await call('PUT', '/v1/namespaces/carts', { policy: 'mv' });
  });

  it('blind writes are concurrent: both stay as siblings; a write with the context read supersedes them', async () => {
    await call('PUT', '/v1/ns/carts/keys/c1', { value: ['apple'] });
    await call('PUT', '/v1/ns/carts/keys/c1', { value: ['pear'] });
    const r = await call('GET', '/v1/ns/carts/keys/c1');
    expect(r.json['values']).toEqual([['apple'], ['pear']]);
    const merged = await call('PUT', '/v1/ns/carts/keys/c1', { value: ['apple', 'pear'], context: r.json['context'] });
    expect(merged.json['values']).toEqual([['apple', 'pear']]);
  });

  it('a write with an old context keeps the versions it did not see', async () => {
    const first = await call('PUT', '/v1/ns/carts/keys/c2', { value: 'v1' });
    const seen = first.json['context'] as string;
    await call('PUT', '/v1/ns/carts/keys/c2', { value: 'v2', context: seen }); // supersedes v1
    await call('PUT', '/v1/ns/carts/keys/c2', { value: 'v3', context: seen }); // also saw only v1: concurrent with v2
    expect((await call('GET', '/v1/ns/carts/keys/c2')).json['values']).toEqual(['v2', 'v3']);
  });

  it('delete with the context removes what it saw; a concurrent sibling survives', async () => {
    const a = await call('PUT', '/v1/ns/carts/keys/c3', { value: 'a' });
    await call('PUT', '/v1/ns/carts/keys/c3', { value: 'b' }); // blind: concurrent with a
    await call('DELETE', `/v1/ns/carts/keys/c3?context=${encodeURIComponent(a.json['context'] as string)}`);
    expect((await call('GET', '/v1/ns/carts/keys/c3')).json['values']).toEqual(['b']);
  });
});

describe('CRDT operations', () => {
  beforeAll(async () => {
    await call('PUT', '/v1/namespaces/hits', { policy: 'counter' });
    await call('PUT', '/v1/namespaces/tags', { policy: 'set' });
    await call('PUT', '/v1/namespaces/docs', { policy: 'map' });
  });

  it('counter: increments (negative too) and reads the sum', async () => {
    expect((await call('POST', '/v1/ns/hits/keys/page/ops', { increment: 5 })).json['value']).toBe(5);
    const w = await call('POST', '/v1/ns/hits/keys/page/ops', { increment: -2 });
    expect(w.status).toBe(200);
    expect(w.json['value']).toBe(3);
    expect(w.json['session']).toMatch(/^eu\.\d+:\d+$/);
    expect((await call('GET', '/v1/ns/hits/keys/page')).json['value']).toBe(3);
  });

  it('set: add and remove; a remove with an old context keeps adds it did not see (add wins)', async () => {
    await call('POST', '/v1/ns/tags/keys/t/ops', { add: ['a', 'b'] });
    const seen = await call('GET', '/v1/ns/tags/keys/t');
    expect([...(seen.json['value'] as string[])].sort()).toEqual(['a', 'b']);
    await call('POST', '/v1/ns/tags/keys/t/ops', { add: ['a'] }); // a new add of 'a', after the read
    const removed = await call('POST', '/v1/ns/tags/keys/t/ops', { remove: ['a', 'b'], context: seen.json['context'] });
    expect(removed.json['value']).toEqual(['a']);
    const all = await call('POST', '/v1/ns/tags/keys/t/ops', { remove: ['a'] });
    expect(all.json['value']).toEqual([]);
  });

  it('map: registers, counters and sets in fields, and field deletion', async () => {
    await call('POST', '/v1/ns/docs/keys/d/ops', { set: { title: 'Hello' }, increment: { views: 2 }, add: { tags: ['x'] } });
    const r = await call('GET', '/v1/ns/docs/keys/d');
    expect(r.json['value']).toEqual({ title: 'Hello', views: 2, tags: ['x'] });
    const d = await call('POST', '/v1/ns/docs/keys/d/ops', { delete: ['views'] });
    expect(d.json['value']).toEqual({ title: 'Hello', tags: ['x'] });
  });

  it('refuses a malformed op, a field of another type, and ops on registers — storing nothing', async () => {
    await refused('MERIDIAN_INVALID_OPERATION', () => call('POST', '/v1/ns/hits/keys/page/ops', { increment: 'lots' }));
    await refused('MERIDIAN_INVALID_OPERATION', () => call('POST', '/v1/ns/hits/keys/page/ops', { add: [1] }));
    await refused('MERIDIAN_INVALID_OPERATION', () => call('POST', '/v1/ns/tags/keys/t2/ops', { add: ['a'], remove: ['b'] }));
    await refused('MERIDIAN_OPERATION_CONFLICT', () => call('POST', '/v1/ns/docs/keys/d/ops', { increment: { title: 1 } }));
    await refused('MERIDIAN_WRONG_POLICY', () => call('POST', '/v1/ns/profiles/keys/alice/ops', { increment: 1 }));
    await refused('MERIDIAN_INVALID_CONTEXT', () => call('POST', '/v1/ns/tags/keys/t/ops', { remove: ['a'], context: 'forged.token' }));
    expect((await call('GET', '/v1/ns/hits/keys/page')).json['value']).toBe(3);
  });

  it('a no-op (removing an absent element of a new key) stores no row and ships nothing', async () => {
    await refused('MERIDIAN_KEY_NOT_FOUND', async () => {
      const noop = await call('POST', '/v1/ns/tags/keys/never/ops', { remove: ['ghost'] });
      expect(noop.status).toBe(200);
      return call('GET', '/v1/ns/tags/keys/never');
    });
  });

  it('an idempotent retry does not add a second increment', async () => {
    const first = await call('POST', '/v1/ns/hits/keys/once/ops', { increment: 10 }, { 'idempotency-key': 'inc-1' });
    const retry = await call('POST', '/v1/ns/hits/keys/once/ops', { increment: 10 }, { 'idempotency-key': 'inc-1' });
    expect(retry.json).toEqual(first.json);
    expect((await call('GET', '/v1/ns/hits/keys/once')).json['value']).toBe(10);
  });
});

describe('bad input is refused and stores nothing', () => {
  beforeAll(async () => {
    await call('PUT', '/v1/namespaces/strict', { policy: 'mv' });
    await call('PUT', '/v1/namespaces/counts', { policy: 'counter' });
    await call('PUT', '/v1/ns/strict/keys/existing', { value: 1 });
  });

  it('malformed JSON', async () => {
    await refused('MERIDIAN_MALFORMED_JSON', () => call('PUT', '/v1/ns/strict/keys/k', '{"value": '));
  });
  it('a body over the limit', async () => {
    await refused('MERIDIAN_BODY_TOO_LARGE', () => call('PUT', '/v1/ns/strict/keys/k', { value: 'x'.repeat(5000) }));
  });
  it('a value over the limit', async () => {
    await refused('MERIDIAN_VALUE_TOO_LARGE', () => call('PUT', '/v1/ns/strict/keys/k', { value: 'x'.repeat(2000) }));
  });
  it('a body without a value, or with unknown fields', async () => {
    await refused('MERIDIAN_VALIDATION', () => call('PUT', '/v1/ns/strict/keys/k', { context: 'x' }));
    await refused('MERIDIAN_VALIDATION', () => call('PUT', '/v1/ns/strict/keys/k', { value: 1, extra: true }));
  });
  it('a body that is not JSON', async () => {
    await refused('MERIDIAN_UNSUPPORTED_MEDIA_TYPE', () => call('PUT', '/v1/ns/strict/keys/k', 'value=1', { 'content-type': 'text/plain' }));
  });
  it('a forged, altered or foreign context token', async () => {
    const genuine = (await call('GET', '/v1/ns/strict/keys/existing')).json['context'] as string;
    const [payload, mac] = genuine.split('.') as [string, string];
    const altered = `${payload.slice(0, -2)}${payload.endsWith('AA') ? 'AB' : 'AA'}.${mac}`;
    await refused('MERIDIAN_INVALID_CONTEXT', () => call('PUT', '/v1/ns/strict/keys/existing', { value: 2, context: altered }));
    await refused('MERIDIAN_INVALID_CONTEXT', () => call('PUT', '/v1/ns/strict/keys/existing', { value: 2, context: 'garbage' }));
    // A genuine token of another key must not supersede this key's versions.
    await refused('MERIDIAN_INVALID_CONTEXT', () => call('PUT', '/v1/ns/strict/keys/other', { value: 2, context: genuine }));
    expect((await call('GET', '/v1/ns/strict/keys/existing')).json['values']).toEqual([1]);
  });
  it('an unknown namespace, a bad key, an operation that does not fit the policy', async () => {
    await refused('MERIDIAN_NAMESPACE_NOT_FOUND', () => call('PUT', '/v1/ns/missing/keys/k', { value: 1 }));
    await refused('MERIDIAN_INVALID_NAME', () => call('PUT', `/v1/ns/strict/keys/${encodeURIComponent('bad\u0001key')}`, { value: 1 }));
    await refused('MERIDIAN_WRONG_POLICY', () => call('PUT', '/v1/ns/counts/keys/k', { value: 1 }));
    await refused('MERIDIAN_WRONG_POLICY', () => call('POST', '/v1/ns/strict/keys/k/ops', { increment: 1 }));
    await refused('MERIDIAN_WRONG_POLICY', () => call('DELETE', '/v1/ns/counts/keys/k'));
  });
  it('an unknown route', async () => {
    await refused('MERIDIAN_NOT_FOUND', () => call('GET', '/v2/nothing'));
  });
});

describe('idempotency', () => {
  beforeAll(async () => {
    await call('PUT', '/v1/namespaces/idem', { policy: 'mv' });
  });

  it('a retry with the same Idempotency-Key returns the first answer and writes nothing more', async () => {
    const before = await outboxCount();
    const first = await call('PUT', '/v1/ns/idem/keys/k', { value: 'once' }, { 'idempotency-key': 'req-1' });
    const second = await call('PUT', '/v1/ns/idem/keys/k', { value: 'once' }, { 'idempotency-key': 'req-1' });
    expect({ status: second.status, json: second.json }).toEqual({ status: first.status, json: first.json });
    expect(await outboxCount()).toBe(before + 1);
    expect((await call('GET', '/v1/ns/idem/keys/k')).json['values']).toEqual(['once']);
  });

  it('concurrent retries of one request apply it once', async () => {
    const before = await outboxCount();
    const answers = await Promise.all(Array.from({ length: 8 }, () => call('PUT', '/v1/ns/idem/keys/k2', { value: 'x' }, { 'idempotency-key': 'req-2' })));
    // The answers, not the transport: a Date header can tick between two of them.
    expect(new Set(answers.map((a) => JSON.stringify({ status: a.status, json: a.json }))).size).toBe(1);
    expect(await outboxCount()).toBe(before + 1);
  });

  it('a value holding \\u0000 (valid JSON) is answered and replayed under an Idempotency-Key', async () => {
    const first = await call('PUT', '/v1/ns/idem/keys/nul', { value: 'a\u0000b' }, { 'idempotency-key': 'req-nul' });
    expect(first.status).toBe(200);
    const retry = await call('PUT', '/v1/ns/idem/keys/nul', { value: 'a\u0000b' }, { 'idempotency-key': 'req-nul' });
    expect({ status: retry.status, json: retry.json }).toEqual({ status: first.status, json: first.json });
    expect((await call('GET', '/v1/ns/idem/keys/nul')).json['values']).toEqual(['a\u0000b']);
  });

  it('the same key with a different request is refused', async () => {
    await call('PUT', '/v1/ns/idem/keys/k3', { value: 'a' }, { 'idempotency-key': 'req-3' });
    await refused('MERIDIAN_IDEMPOTENCY_KEY_REUSED', () => call('PUT', '/v1/ns/idem/keys/k3', { value: 'b' }, { 'idempotency-key': 'req-3' }));
  });
});

describe('outbox', () => {
  it('holds one envelope per acknowledged write: the key\'s whole version set, with origin and HLC', async () => {
    await call('PUT', '/v1/namespaces/ob', { policy: 'mv' });
    const before = await outboxCount();
    await call('PUT', '/v1/ns/ob/keys/k', { value: 'a' });
    await call('PUT', '/v1/ns/ob/keys/k', { value: 'b' });
    expect(await outboxCount()).toBe(before + 2);
    const { rows } = await db.query<{ envelope: Buffer; message_key: string }>('select envelope, message_key from meridian_outbox order by id desc limit 1');
    const record = decodeRecord(rows[0]!.envelope);
    expect(rows[0]!.message_key).toBe('ob/k');
    expect(record).toMatchObject({ kind: 'update', namespace: 'ob', key: 'k', policy: 'mv', origin: { region: 'eu' }, payload: { kind: 'register' } });
  });
});

describe('health and docs', () => {
  it('is live and ready, with the reasons', async () => {
    expect((await call('GET', '/health/live')).json).toMatchObject({ status: 'ok', region: 'eu' });
    const ready = await call('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.json['checks']['postgres']).toMatchObject({ ok: true });
  });

  it('serves an OpenAPI document listing every route', async () => {
    const doc = (await call('GET', '/docs/json')).json;
    const paths = Object.keys(doc['paths'] as object);
    for (const p of ['/v1/namespaces/{ns}', '/v1/namespaces', '/v1/ns/{ns}/keys/{key}', '/v1/ns/{ns}/keys/{key}/ops']) expect(paths).toContain(p);
    expect(Object.keys(doc['paths']['/v1/ns/{ns}/keys/{key}'] as object).sort()).toEqual(['delete', 'get', 'put']);
  });
});

describe('sessions and causal writes (DESIGN §6)', () => {
  const tokens = new ContextTokens('test-secret-0123456789');
  const set = crdtKind('set')!;
  /** Marks us.1's updates applied up to outbox id `position` here, as a replicator would. */
  const appliedUpTo = async (position: number): Promise<void> => {
    await db.query(`INSERT INTO meridian_applied (origin, region, contiguous, contiguous_outbox_id) VALUES ('us.1', 'us', $1, $1)
                    ON CONFLICT (origin) DO UPDATE SET contiguous = EXCLUDED.contiguous, contiguous_outbox_id = EXCLUDED.contiguous_outbox_id`, [position]);
  };
  beforeAll(async () => {
    await call('PUT', '/v1/namespaces/causal-tags', { policy: 'set' });
    await call('PUT', '/v1/namespaces/causal-reg', { policy: 'lww' });
    await appliedUpTo(42);
  });
  afterAll(async () => {
    await db.query(`DELETE FROM meridian_applied WHERE origin = 'us.1'`);
  });

  it('a read\'s and a write\'s session tokens carry the applied positions read with the key', async () => {
    const w = await call('PUT', '/v1/ns/causal-reg/keys/k', { value: 1 });
    expect(w.json['session']).toMatch(/^eu\.\d+:\d+;us\.1:42$/);
    const r = await call('GET', '/v1/ns/causal-reg/keys/k');
    expect(r.json['session']).toMatch(/^eu\.\d+:\d+;us\.1:42$/);
    await appliedUpTo(43);
    expect((await call('GET', '/v1/ns/causal-reg/keys/k')).json['session']).toMatch(/;us\.1:43$/);
    expect((await call('POST', '/v1/ns/causal-tags/keys/tok/ops', { add: ['a'] })).json['session']).toMatch(/;us\.1:43$/);
    await appliedUpTo(42);
  });

  it('a read of a key whose updates are held behind a quarantine is behind for a session naming them', async () => {
    await call('PUT', '/v1/ns/causal-reg/keys/held', { value: 'before the held update' });
    const { rows } = await db.query<{ id: string }>(`INSERT INTO meridian_dead_letters (peer, partition, kafka_offset, raw, code, reason, namespace, key, origin, sequence)
      VALUES ('us', 0, 7, '\\x00', 'MERIDIAN_PAYLOAD_INVALID', 'test', 'causal-reg', 'held', 'us.1', 40) RETURNING id::text`);
    await db.query(`INSERT INTO meridian_quarantine (namespace, key, dead_letter_id) VALUES ('causal-reg', 'held', $1)`, [rows[0]!.id]);
    try {
      // Before the held update: covered.
      const before = await call('GET', '/v1/ns/causal-reg/keys/held', undefined, { 'x-meridian-session': 'us.1:39' });
      expect(before.status).toBe(200);
      // At or after it: applied positions passed it (42), but the key does not reflect it.
      const stale = await region.app.inject({ method: 'GET', url: '/v1/ns/causal-reg/keys/held', headers: { 'x-meridian-session': 'us.1:41', 'x-meridian-consistency': 'stale' } });
      expect(stale.statusCode).toBe(200);
      expect(stale.headers['x-meridian-behind']).toBe('us.1:41');
      const wait = await call('GET', '/v1/ns/causal-reg/keys/held', undefined, { 'x-meridian-session': 'us.1:41', 'x-meridian-wait-ms': '100' });
      expect(wait.status).toBe(503);
      expect(wait.json['error'].code).toBe('MERIDIAN_SESSION_NOT_COVERED');
      // Another key is not held back.
      expect((await call('GET', '/v1/ns/causal-reg/keys/k', undefined, { 'x-meridian-session': 'us.1:41' })).status).toBe(200);
      // The key's own token claims us.1 only up to before the held update: the next read with it is covered.
      const own = (await call('GET', '/v1/ns/causal-reg/keys/held')).json['session'] as string;
      expect(own).toMatch(/;us\.1:39$/);
      expect((await call('GET', '/v1/ns/causal-reg/keys/held', undefined, { 'x-meridian-session': own, 'x-meridian-wait-ms': '100' })).status).toBe(200);
    } finally {
      await db.query(`DELETE FROM meridian_quarantine WHERE namespace = 'causal-reg' AND key = 'held'`);
    }
    expect((await call('GET', '/v1/ns/causal-reg/keys/held', undefined, { 'x-meridian-session': 'us.1:41' })).status).toBe(200);
  });

  /** Quarantines `ns`/`key` behind a dead letter of us.1 from sequence 40 (us.1 is applied up to 42); returns the lift. */
  const quarantine = async (ns: string, key: string): Promise<() => Promise<void>> => {
    const { rows } = await db.query<{ id: string }>(`INSERT INTO meridian_dead_letters (peer, partition, kafka_offset, raw, code, reason, namespace, key, origin, sequence)
      VALUES ('us', 0, 8, '\\x00', 'MERIDIAN_PAYLOAD_INVALID', 'test', $1, $2, 'us.1', 40) RETURNING id::text`, [ns, key]);
    await db.query(`INSERT INTO meridian_quarantine (namespace, key, dead_letter_id) VALUES ($1, $2, $3)`, [ns, key, rows[0]!.id]);
    return async () => {
      await db.query(`DELETE FROM meridian_quarantine WHERE namespace = $1 AND key = $2`, [ns, key]);
    };
  };

  it('a write to a quarantined key answers a token that claims only what the key reflects: its own next read is covered', async () => {
    await call('PUT', '/v1/ns/causal-reg/keys/held-w', { value: 'before' });
    await call('POST', '/v1/ns/causal-tags/keys/held-w/ops', { add: ['a'] });
    const lift = await quarantine('causal-reg', 'held-w');
    const liftSet = await quarantine('causal-tags', 'held-w');
    try {
      const writes = [
        { read: '/v1/ns/causal-reg/keys/held-w', write: () => call('PUT', '/v1/ns/causal-reg/keys/held-w', { value: 'optimistic' }) },
        { read: '/v1/ns/causal-reg/keys/held-w', write: () => call('PUT', '/v1/ns/causal-reg/keys/held-w', { value: 'locked' }, { 'idempotency-key': 'held-w-locked' }) },
        { read: '/v1/ns/causal-tags/keys/held-w', write: () => call('POST', '/v1/ns/causal-tags/keys/held-w/ops', { add: ['b'] }) },
        // Changes nothing (no row written): answered from positions read after the snapshot.
        { read: '/v1/ns/causal-tags/keys/held-w', write: () => call('POST', '/v1/ns/causal-tags/keys/held-w/ops', { remove: ['absent'] }) },
        { read: '/v1/ns/causal-tags/keys/held-w', write: () => call('POST', '/v1/ns/causal-tags/keys/held-w/ops', { remove: ['absent'] }, { 'idempotency-key': 'held-w-noop' }) },
      ];
      for (const { read, write } of writes) {
        const w = await write();
        expect(w.status, JSON.stringify(w.json)).toBe(200);
        expect(w.json['session']).toMatch(/;us\.1:39$/);
        expect((await call('GET', read, undefined, { 'x-meridian-session': w.json['session'] as string, 'x-meridian-wait-ms': '100' })).status).toBe(200);
      }
    } finally {
      await lift();
      await liftSet();
    }
  });

  it('a write whose session names an update of the key held behind a quarantine is not acknowledged: a remove would be undone by the redrive', async () => {
    await call('POST', '/v1/ns/causal-tags/keys/held-s/ops', { add: ['local'] });
    await call('PUT', '/v1/ns/causal-reg/keys/held-s', { value: 'before' });
    const lift = await quarantine('causal-tags', 'held-s');
    const liftReg = await quarantine('causal-reg', 'held-s');
    try {
      // The client added 'x' in us (us.1:41, the held update) and removes it here without a context.
      await refused('MERIDIAN_SESSION_NOT_COVERED', () => call('POST', '/v1/ns/causal-tags/keys/held-s/ops', { remove: ['x'] }, { 'x-meridian-session': 'us.1:41', 'x-meridian-wait-ms': '100' }));
      await refused('MERIDIAN_SESSION_NOT_COVERED', () => call('PUT', '/v1/ns/causal-reg/keys/held-s', { value: 'after' }, { 'x-meridian-session': 'us.1:41', 'x-meridian-consistency': 'fallback', 'x-meridian-wait-ms': '100' }));
      // Before the held update: covered.
      expect((await call('POST', '/v1/ns/causal-tags/keys/held-s/ops', { remove: ['x'] }, { 'x-meridian-session': 'us.1:39', 'x-meridian-wait-ms': '100' })).status).toBe(200);
      // `stale` writes and says what is missing, as for a session not applied.
      const stale = await region.app.inject({ method: 'PUT', url: '/v1/ns/causal-reg/keys/held-s', headers: { 'content-type': 'application/json', 'x-meridian-session': 'us.1:41', 'x-meridian-consistency': 'stale' }, payload: JSON.stringify({ value: 'stale' }) });
      expect(stale.statusCode).toBe(200);
      expect(stale.headers['x-meridian-behind']).toBe('us.1:41');
    } finally {
      await lift();
      await liftReg();
    }
  });

  it('an idempotent write\'s answer travels with the other origins\' positions it reflects (a replayed answer elsewhere claims them)', async () => {
    const w = await call('POST', '/v1/ns/causal-tags/keys/idem-session/ops', { add: ['a'] }, { 'idempotency-key': 'idem-session-1' });
    expect(w.json['session']).toMatch(/;us\.1:42$/);
    const { rows } = await db.query<{ envelope: Buffer }>(`SELECT envelope FROM meridian_outbox WHERE message_key = 'causal-tags/idem-session' ORDER BY id DESC LIMIT 1`);
    const record = decodeRecord(new Uint8Array(rows[0]!.envelope));
    expect(record.kind === 'update' && JSON.parse(record.idempotentAnswer!.bodyJson)).toEqual({ ...w.json, session: 'us.1:42' });
  });

  it('a write with a session this region has not applied: `wait` and `fallback` store nothing and answer 503, `stale` writes and says what is missing', async () => {
    await call('PUT', '/v1/ns/causal-reg/keys/w', { value: 'first' });
    for (const mode of ['wait', 'fallback'] as const) {
      const json = await refused('MERIDIAN_SESSION_NOT_COVERED', () => call('PUT', '/v1/ns/causal-reg/keys/w', { value: 'refused' }, { 'x-meridian-session': 'us.1:100', 'x-meridian-consistency': mode, 'x-meridian-wait-ms': '100' }));
      expect(json['error'].message).toMatch(/us\.1:100/);
    }
    await refused('MERIDIAN_SESSION_NOT_COVERED', () => call('POST', '/v1/ns/causal-tags/keys/w/ops', { add: ['refused'] }, { 'x-meridian-session': 'us.1:100', 'x-meridian-wait-ms': '50' }));
    expect((await call('GET', '/v1/ns/causal-reg/keys/w')).json['value']).toBe('first');
    const stale = await region.app.inject({ method: 'PUT', url: '/v1/ns/causal-reg/keys/w', headers: { 'content-type': 'application/json', 'x-meridian-session': 'us.1:100', 'x-meridian-consistency': 'stale' }, payload: JSON.stringify({ value: 'stale' }) });
    expect(stale.statusCode).toBe(200);
    expect(stale.headers['x-meridian-behind']).toBe('us.1:100');
    // Covered once applied: a waiting write goes through.
    const waiting = call('PUT', '/v1/ns/causal-reg/keys/w', { value: 'waited' }, { 'x-meridian-session': 'us.1:100', 'x-meridian-wait-ms': '10000' });
    await new Promise((r) => setTimeout(r, 200));
    await appliedUpTo(100);
    expect((await waiting).status).toBe(200);
    expect((await call('GET', '/v1/ns/causal-reg/keys/w')).json['value']).toBe('waited');
    await appliedUpTo(42);
  });

  it('a remove whose context names an add not applied here is never acknowledged (any mode); once it arrives, the remove waits for it and removes it', async () => {
    await call('POST', '/v1/ns/causal-tags/keys/remote/ops', { add: ['local'] });
    // The client read the key in us, where us.1's add of 'x' is (dot us.1:1); eu has not applied it.
    const read = CausalContext.fromDots([{ actor: 'us.1', counter: 1 }]).join(tokens.verifyContext('causal-tags', 'remote', (await call('GET', '/v1/ns/causal-tags/keys/remote')).json['context'] as string));
    const context = tokens.signContext('causal-tags', 'remote', read);
    for (const mode of ['wait', 'fallback', 'stale'] as const) {
      const json = await refused('MERIDIAN_SESSION_NOT_COVERED', () => call('POST', '/v1/ns/causal-tags/keys/remote/ops', { remove: ['x', 'local'], context }, { 'x-meridian-consistency': mode, 'x-meridian-wait-ms': '100' }));
      expect(json['error'].message).toMatch(/us\.1:1/);
    }
    expect((await call('GET', '/v1/ns/causal-tags/keys/remote')).json['value']).toEqual(['local']);
    // The remove waits; us.1's add is applied meanwhile (behind the write path's cached snapshot).
    const removing = call('POST', '/v1/ns/causal-tags/keys/remote/ops', { remove: ['x', 'local'], context }, { 'x-meridian-wait-ms': '10000' });
    await new Promise((r) => setTimeout(r, 200));
    const { rows } = await db.query<{ state: Buffer }>(`SELECT state FROM meridian_keys WHERE namespace = 'causal-tags' AND key = 'remote'`);
    const add = set.apply(set.empty(), set.validateOp({ add: ['x'] }), { actor: 'us.1', hlc: 1n }).delta;
    await db.query(`UPDATE meridian_keys SET state = $1 WHERE namespace = 'causal-tags' AND key = 'remote'`, [Buffer.from(set.encode(set.join(set.decode(new Uint8Array(rows[0]!.state)), add)))]);
    const removed = await removing;
    expect(removed.status).toBe(200);
    expect(removed.json['value']).toEqual([]);
    // The remove covered the add: joining it again (a duplicate delivery) does not bring it back.
    const { rows: after } = await db.query<{ state: Buffer }>(`SELECT state FROM meridian_keys WHERE namespace = 'causal-tags' AND key = 'remote'`);
    expect(set.value(set.join(set.decode(new Uint8Array(after[0]!.state)), add))).toEqual([]);
  });
});
