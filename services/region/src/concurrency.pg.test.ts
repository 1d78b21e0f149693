/**
 * Two instances of the region service on one database, 50 concurrent writers on one key: the
 * row lock (insert-or-lock for a new key) serialises them, so no acknowledged write is lost, no
 * dot is minted twice, `mv` keeps exactly the concurrent siblings, and `lww` keeps the write
 * with the highest HLC. The outbox holds exactly one row per acknowledged write. And writes to
 * many keys at once, which share group-committed statements, lose nothing either.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, dropDatabase } from '@meridian/infra-local';
import { uniqueName } from '@meridian/testkit';
import { decodeRecord, type UpdateRecord } from '@meridian/protocol';
import { dotKey } from '@meridian/causality';
import { MIGRATIONS } from '@meridian/store';
import { loadConfig } from './config.ts';
import { startRegion, type RegionService } from './region.ts';
import { decodeRegisterSet } from '@meridian/crdt';
import { injectJson, type Answer } from './inject.fixture.ts';

const infra = inject('infra');
const dbName = uniqueName('region_conc');
let a: RegionService;
let b: RegionService;
let db: pg.Pool;
const WRITERS = 50;

beforeAll(async () => {
  const url = await createDatabase(dbName, infra.postgresUrl);
  const env = { MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '6' };
  // Both start at once: migrations must be applied exactly once.
  [a, b] = await Promise.all([startRegion(loadConfig(env)), startRegion(loadConfig(env))]);
  db = new pg.Pool({ connectionString: url, max: 2 });
  // An idle inspection connection closed by the server must not crash the file; a query in use still fails.
  db.on('error', () => undefined);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.end();
  await dropDatabase(dbName, infra.postgresUrl);
});

async function call(via: RegionService, method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown): Promise<Answer> {
  return injectJson(via.app, method, url, body);
}

async function outboxFor(ns: string, key: string): Promise<UpdateRecord[]> {
  const { rows } = await db.query<{ envelope: Buffer }>('select envelope from meridian_outbox where message_key = $1 order by id', [`${ns}/${key}`]);
  return rows.map((r) => decodeRecord(r.envelope) as UpdateRecord);
}

function lastState(records: UpdateRecord[]): ReturnType<typeof decodeRegisterSet> {
  const last = records.at(-1)!;
  if (last.payload.kind !== 'register') throw new Error('expected a register payload');
  return decodeRegisterSet(last.payload.state);
}

describe('50 concurrent writers through two instances', () => {
  beforeAll(async () => {
    await call(a, 'PUT', '/v1/namespaces/mvc', { policy: 'mv' });
    await call(a, 'PUT', '/v1/namespaces/lwwc', { policy: 'lww' });
    await call(a, 'PUT', '/v1/namespaces/cnt', { policy: 'counter' });
    await call(a, 'PUT', '/v1/namespaces/setc', { policy: 'set' });
  });

  it('counter: the value is exactly the sum of acknowledged increments', async () => {
    // Increments from -20 to 30, skipping 0 (a zero increment is refused: it would ship nothing).
    const increments = Array.from({ length: WRITERS }, (_, i) => (i < 20 ? i - 20 : i - 19));
    const answers = await Promise.all(increments.map((n, i) => call(i % 2 ? a : b, 'POST', '/v1/ns/cnt/keys/k/ops', { increment: n })));
    expect(answers.filter((x) => x.status === 200)).toHaveLength(WRITERS);
    const sum = increments.reduce((x, y) => x + y, 0);
    expect((await call(a, 'GET', '/v1/ns/cnt/keys/k')).json['value']).toBe(sum);
    expect(await outboxFor('cnt', 'k')).toHaveLength(WRITERS);
  });

  it('set: no acknowledged add is lost', async () => {
    const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => call(i % 2 ? a : b, 'POST', '/v1/ns/setc/keys/k/ops', { add: [`e${i}`] })));
    expect(answers.every((x) => x.status === 200)).toBe(true);
    const value = (await call(b, 'GET', '/v1/ns/setc/keys/k')).json['value'] as string[];
    expect([...value].sort()).toEqual(Array.from({ length: WRITERS }, (_, i) => `e${i}`).sort());
  });

  it('schema migrations ran once', async () => {
    const { rows } = await db.query<{ n: string }>('select count(*)::text as n from meridian_schema_migrations');
    expect(Number(rows[0]!.n)).toBe(MIGRATIONS.length);
  });

  it('an unnumbered outbox row adds no index entry: sequences restart per incarnation, fenced by the relay lease, not by an index', async () => {
    // Migration 5: a new incarnation's stream starts at sequence 1 while an earlier one's rows may
    // still wait to be pruned, so a sequence may number two rows of two incarnations; one relay per
    // incarnation numbers rows (outbox-relay.kafka.test.ts — a relay whose lease moved on publishes nothing more).
    const index = await db.query<{ indexdef: string }>("select indexdef from pg_indexes where tablename = 'meridian_outbox' and indexdef like '%(sequence)%'");
    expect(index.rows).toEqual([]);
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>('select id::text from meridian_outbox order by id limit 2');
      expect(rows).toHaveLength(2);
      await client.query('update meridian_outbox set sequence = 1 where id = any($1::bigint[])', [rows.map((r) => r.id)]);
      expect((await client.query('select count(*)::int as n from meridian_outbox where sequence = 1')).rows[0]).toEqual({ n: 2 });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  });

  it('mv, blind writes on a new key: every write is a sibling, every dot distinct, one outbox row each', async () => {
    const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => call(i % 2 ? a : b, 'PUT', '/v1/ns/mvc/keys/fresh', { value: i })));
    expect(answers.every((x) => x.status === 200)).toBe(true);
    const read = await call(a, 'GET', '/v1/ns/mvc/keys/fresh');
    expect([...(read.json['values'] as number[])].sort((x, y) => x - y)).toEqual(Array.from({ length: WRITERS }, (_, i) => i));
    const records = await outboxFor('mvc', 'fresh');
    expect(records).toHaveLength(WRITERS);
    const dots = lastState(records).versions().map((v) => dotKey(v.dot));
    expect(new Set(dots).size).toBe(WRITERS);
  });

  it('mv, read-modify-write: siblings are exactly the writes no other write had seen', async () => {
    await call(a, 'PUT', '/v1/ns/mvc/keys/rmw', { value: 'seed' });
    const results = await Promise.all(
      Array.from({ length: WRITERS }, async (_, i) => {
        const via = i % 2 ? a : b;
        const seen = await call(via, 'GET', '/v1/ns/mvc/keys/rmw');
        const w = await call(via, 'PUT', '/v1/ns/mvc/keys/rmw', { value: `w${i}`, context: seen.json['context'] });
        return { value: `w${i}`, ok: w.status === 200, saw: seen.json['values'] as string[] };
      }),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    const superseded = new Set(results.flatMap((r) => r.saw));
    const expected = ['seed', ...results.map((r) => r.value)].filter((v) => !superseded.has(v)).sort();
    const final = ((await call(a, 'GET', '/v1/ns/mvc/keys/rmw')).json['values'] as string[]).sort();
    expect(final).toEqual(expected);
    expect(final.length).toBeGreaterThan(0);
    expect(final.length).toBeLessThanOrEqual(WRITERS);
    expect(await outboxFor('mvc', 'rmw')).toHaveLength(WRITERS + 1);
  });

  it('lww: the stored value is the write with the highest HLC; HLCs rise in commit order', async () => {
    const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => call(i % 2 ? a : b, 'PUT', '/v1/ns/lwwc/keys/k', { value: i })));
    expect(answers.every((x) => x.status === 200)).toBe(true);
    const records = await outboxFor('lwwc', 'k');
    expect(records).toHaveLength(WRITERS);
    for (let i = 1; i < records.length; i++) expect(records[i]!.hlc).toBeGreaterThan(records[i - 1]!.hlc);
    const highest = lastState(records).versions();
    expect(highest).toHaveLength(1); // an lww write supersedes every local version
    const winner = highest[0]!.value;
    expect(winner.hlc).toBe(records.at(-1)!.hlc);
    expect((await call(b, 'GET', '/v1/ns/lwwc/keys/k')).json['value']).toBe(winner.value);
  });

  it('many keys at once: group-committed statements carry several writes, and every key sums exactly', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `g${i}`);
    for (const k of keys) expect((await call(a, 'POST', `/v1/ns/cnt/keys/${k}/ops`, { increment: 1 })).status).toBe(200);
    const batches: number[] = [];
    const spies = [a, b].map((r) => {
      const real = r.store.compareAndWriteMany.bind(r.store);
      r.store.compareAndWriteMany = async (writes) => (batches.push(writes.length), real(writes));
      return () => (r.store.compareAndWriteMany = real);
    });
    try {
      const writes = Array.from({ length: 200 }, (_, i) => ({ key: keys[i % keys.length]!, by: (i % 7) + 1 }));
      const answers = await Promise.all(writes.map((w, i) => call(i % 2 ? a : b, 'POST', `/v1/ns/cnt/keys/${w.key}/ops`, { increment: w.by })));
      expect(answers.every((x) => x.status === 200)).toBe(true);
      for (const k of keys) {
        const sum = 1 + writes.filter((w) => w.key === k).reduce((n, w) => n + w.by, 0);
        expect((await call(b, 'GET', `/v1/ns/cnt/keys/${k}`)).json['value']).toBe(sum);
        expect(await outboxFor('cnt', k)).toHaveLength(1 + writes.filter((w) => w.key === k).length);
      }
    } finally {
      for (const restore of spies) restore();
    }
    expect(Math.max(...batches)).toBeGreaterThan(1);
  });

  it('a remove that looks like a no-op against a cached snapshot is checked against the row: what another instance added is removed', async () => {
    expect((await call(a, 'POST', '/v1/ns/setc/keys/cached/ops', { add: ['x'] })).status).toBe(200);
    // b adds y; a's cached snapshot of the key does not show it.
    expect((await call(b, 'POST', '/v1/ns/setc/keys/cached/ops', { add: ['y'] })).status).toBe(200);
    expect((await call(a, 'POST', '/v1/ns/setc/keys/cached/ops', { remove: ['y'] })).status).toBe(200);
    expect((await call(b, 'GET', '/v1/ns/setc/keys/cached')).json['value']).toEqual(['x']);
  });
});
