/**
 * Reads of part of a set or map against a real PostgreSQL: pages in canonical order that walk to
 * the whole value, one element or field read directly, and a 400 (or the policy's 409) for every
 * malformed request, none of which stores anything.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { ERRORS } from './errors.ts';
import { MAX_PAGE_LIMIT } from './collection-read.ts';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('region_collection_reads');
let region: RegionService;
let db: pg.Pool;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  region = await startRegion(loadConfig({ MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '2' }));
  db = new pg.Pool({ connectionString: url, max: 1 });
  db.on('error', () => undefined);
  for (const [ns, policy] of [['tags', 'set'], ['profiles', 'map'], ['hits', 'counter'], ['names', 'lww']] as const) {
    expect((await call('PUT', `/v1/namespaces/${ns}`, { policy })).status).toBe(201);
  }
});
afterAll(async () => {
  await region?.close();
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<Answer> {
  return injectJson(region.app, method, url, body);
}

async function counts(): Promise<string> {
  return (await db.query<{ n: string }>('select (select count(*) from meridian_outbox) || \'/\' || (select count(*) from meridian_keys) as n')).rows[0]!.n;
}

async function refused(code: keyof typeof ERRORS, url: string): Promise<Record<string, any>> {
  const before = await counts();
  const { status, json } = await call('GET', url);
  expect([url, json['error']?.code]).toEqual([url, code]);
  expect(status).toBe(ERRORS[code].status);
  expect(await counts()).toBe(before);
  return json;
}

/** Every page of a key's value, following `next`. */
async function walk(url: string, limit: number): Promise<{ pages: Record<string, any>[] }> {
  const pages: Record<string, any>[] = [];
  let cursor: string | undefined;
  do {
    const { status, json } = await call('GET', `${url}?limit=${limit}${cursor === undefined ? '' : `&cursor=${cursor}`}`);
    expect(status, JSON.stringify(json)).toBe(200);
    pages.push(json);
    cursor = json['next'] as string | undefined;
  } while (cursor !== undefined && pages.length < 100);
  return { pages };
}

const ELEMENTS = ['b', 'a', 10, 2, { k: 'v' }, [1, 2], 'Ä', 'z', null, true];

describe('set reads', () => {
  beforeAll(async () => {
    expect((await call('POST', '/v1/ns/tags/keys/s/ops', { add: ELEMENTS })).status).toBe(200);
  });

  it('pages walk the whole set in canonical order, and only the last page has no `next`', async () => {
    const whole = await call('GET', '/v1/ns/tags/keys/s');
    expect(whole.json['next']).toBeUndefined();
    for (const limit of [1, 3, 10, 11]) {
      const { pages } = await walk('/v1/ns/tags/keys/s', limit);
      expect(pages.flatMap((p) => p['value'] as unknown[])).toEqual(whole.json['value']);
      expect(pages.length).toBe(Math.ceil(ELEMENTS.length / limit));
      expect(pages.slice(0, -1).every((p) => typeof p['next'] === 'string')).toBe(true);
      // Every page carries the key's context and a session token, as a whole read does.
      expect(pages.every((p) => p['context'] === whole.json['context'] && typeof p['session'] === 'string')).toBe(true);
    }
  });

  it('a cursor stays valid across writes: the next page starts after it', async () => {
    expect((await call('POST', '/v1/ns/tags/keys/w/ops', { add: ['a', 'b', 'c', 'd'] })).status).toBe(200);
    const first = await call('GET', '/v1/ns/tags/keys/w?limit=2');
    expect(first.json['value']).toEqual(['a', 'b']);
    expect((await call('POST', '/v1/ns/tags/keys/w/ops', { remove: ['b'] })).status).toBe(200);
    expect((await call('POST', '/v1/ns/tags/keys/w/ops', { add: ['a1', 'e'] })).status).toBe(200);
    const second = await call('GET', `/v1/ns/tags/keys/w?limit=2&cursor=${first.json['next']}`);
    expect(second.json).toMatchObject({ value: ['c', 'd'] });
    const third = await call('GET', `/v1/ns/tags/keys/w?cursor=${second.json['next']}`);
    expect(third.json['value']).toEqual(['e']);
    expect(third.json['next']).toBeUndefined();
  });

  it('reads one element by its JSON text: 200 when present, 404 with the context when not', async () => {
    const whole = await call('GET', '/v1/ns/tags/keys/s');
    for (const element of ['a', 10, { k: 'v' }, [1, 2], null, 'Ä']) {
      const { status, json } = await call('GET', `/v1/ns/tags/keys/s/elements/${encodeURIComponent(JSON.stringify(element))}`);
      expect([element, status, json['value']]).toEqual([element, 200, element]);
      expect(json['context']).toBe(whole.json['context']);
    }
    // Spacing does not matter: elements compare by canonical text.
    expect((await call('GET', `/v1/ns/tags/keys/s/elements/${encodeURIComponent('{ "k" : "v" }')}`)).status).toBe(200);
    const absent = await refused('MERIDIAN_ELEMENT_NOT_FOUND', `/v1/ns/tags/keys/s/elements/${encodeURIComponent('"nope"')}`);
    expect(absent['context']).toBe(whole.json['context']);
    expect(typeof absent['session']).toBe('string');
    // The string "1" is not the number 1.
    await refused('MERIDIAN_ELEMENT_NOT_FOUND', `/v1/ns/tags/keys/s/elements/${encodeURIComponent('"1"')}`);
  });

  it('a write answers as before: no `next` on a write', async () => {
    const { json } = await call('POST', '/v1/ns/tags/keys/s/ops', { add: ['extra'] });
    expect(json['next']).toBeUndefined();
    expect(json['value']).toContain('extra');
  });
});

describe('map reads', () => {
  beforeAll(async () => {
    const op = { set: { name: 'Ada', 'a b': 1 }, increment: { visits: 3 }, add: { tags: ['x', 'y'] } };
    expect((await call('POST', '/v1/ns/profiles/keys/m/ops', op)).status).toBe(200);
  });

  it('pages walk the whole map in field-name order', async () => {
    const whole = await call('GET', '/v1/ns/profiles/keys/m');
    for (const limit of [1, 2, 4, 5]) {
      const { pages } = await walk('/v1/ns/profiles/keys/m', limit);
      expect(pages.flatMap((p) => Object.keys(p['value'] as object))).toEqual(['a b', 'name', 'tags', 'visits']);
      expect(Object.assign({}, ...pages.map((p) => p['value'] as object))).toEqual(whole.json['value']);
    }
  });

  it('reads one field: a register, a counter, a set; 404 with the context for an absent field', async () => {
    expect((await call('GET', '/v1/ns/profiles/keys/m/fields/name')).json['value']).toBe('Ada');
    expect((await call('GET', '/v1/ns/profiles/keys/m/fields/visits')).json['value']).toBe(3);
    expect((await call('GET', '/v1/ns/profiles/keys/m/fields/tags')).json['value']).toEqual(['x', 'y']);
    expect((await call('GET', `/v1/ns/profiles/keys/m/fields/${encodeURIComponent('a b')}`)).json['value']).toBe(1);
    const absent = await refused('MERIDIAN_FIELD_NOT_FOUND', '/v1/ns/profiles/keys/m/fields/age');
    expect(absent['context']).toBe((await call('GET', '/v1/ns/profiles/keys/m')).json['context']);
  });
});

describe('bad part reads', () => {
  it('answers 400 for a bad limit, cursor or element', async () => {
    for (const limit of ['0', '-1', '1.5', 'x', String(MAX_PAGE_LIMIT + 1), '']) await refused('MERIDIAN_VALIDATION', `/v1/ns/tags/keys/s?limit=${encodeURIComponent(limit)}`);
    for (const cursor of ['%21%21', 'YQ=', 'YR', '_w', '']) await refused('MERIDIAN_INVALID_CURSOR', `/v1/ns/tags/keys/s?cursor=${cursor}`);
    for (const element of ['apple', '{"a":', '[1,]']) await refused('MERIDIAN_INVALID_ELEMENT', `/v1/ns/tags/keys/s/elements/${encodeURIComponent(element)}`);
    await refused('MERIDIAN_VALUE_TOO_DEEP', `/v1/ns/tags/keys/s/elements/${encodeURIComponent('['.repeat(70) + ']'.repeat(70))}`);
    await refused('MERIDIAN_VALIDATION', '/v1/ns/tags/keys/s?offset=3');
  });

  it('answers 409 for a part the namespace\'s policy does not have, 404 for an absent key or namespace', async () => {
    expect((await call('POST', '/v1/ns/hits/keys/c/ops', { increment: 1 })).status).toBe(200);
    expect((await call('PUT', '/v1/ns/names/keys/n', { value: 'v' })).status).toBe(200);
    await refused('MERIDIAN_WRONG_POLICY', '/v1/ns/hits/keys/c?limit=5');
    await refused('MERIDIAN_WRONG_POLICY', '/v1/ns/names/keys/n?limit=5');
    await refused('MERIDIAN_WRONG_POLICY', '/v1/ns/profiles/keys/m/elements/%22x%22');
    await refused('MERIDIAN_WRONG_POLICY', '/v1/ns/tags/keys/s/fields/name');
    await refused('MERIDIAN_WRONG_POLICY', '/v1/ns/hits/keys/absent?limit=5');
    await refused('MERIDIAN_KEY_NOT_FOUND', '/v1/ns/tags/keys/absent?limit=5');
    await refused('MERIDIAN_KEY_NOT_FOUND', '/v1/ns/tags/keys/absent/elements/1');
    await refused('MERIDIAN_NAMESPACE_NOT_FOUND', '/v1/ns/nowhere/keys/k/fields/f');
  });
});
