/** Proves PostgreSQL is real: a database per test file, a row written and read back, dropped after; and a private server that can be stopped. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { uniqueName } from '@meridian/testkit';
import { createDatabase, dropDatabase, startPrivatePostgres } from './postgres.ts';

const infra = inject('infra');

describe('shared PostgreSQL, one database per test file', () => {
  const name = uniqueName('pgsmoke');
  let url = '';
  beforeAll(async () => {
    url = await createDatabase(name, infra.postgresUrl);
  });
  afterAll(async () => {
    await dropDatabase(name, infra.postgresUrl);
    const client = new pg.Client({ connectionString: infra.postgresUrl });
    await client.connect();
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    await client.end();
    expect(rowCount).toBe(0);
  });

  it('writes a row and reads it back', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect((await client.query<{ db: string }>('select current_database() as db')).rows[0]?.db).toBe(name);
      await client.query('create table t (id int primary key, v text)');
      await client.query('insert into t values (1, $1)', ['hello']);
      const { rows } = await client.query<{ v: string }>('select v from t where id = 1');
      expect(rows).toEqual([{ v: 'hello' }]);
    } finally {
      await client.end();
    }
  });

  it('refuses a database name that is not a plain identifier', async () => {
    await expect(createDatabase('x"; drop', infra.postgresUrl)).rejects.toThrow(/expected a database name/);
  });
});

describe('dropping a database right after a pool on it ended', () => {
  it('does not terminate the pool\'s connections while they close (their error would reach the pool uncaught)', async () => {
    const errors: Error[] = [];
    for (let round = 0; round < 10; round++) {
      const name = uniqueName('pgdrop');
      const pool = new pg.Pool({ connectionString: await createDatabase(name, infra.postgresUrl), max: 3 });
      pool.on('error', (error) => errors.push(error)); // a test's pool often has none: then the error is uncaught
      await Promise.all([1, 2, 3].map(() => pool.query('select pg_sleep(0.01)')));
      await pool.end(); // resolves before its connections have closed
      await dropDatabase(name, infra.postgresUrl);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});

describe('private PostgreSQL server', () => {
  it('starts with its own settings, stops (connections fail) and starts again with its data', async () => {
    const server = await startPrivatePostgres({ settings: { wal_level: 'logical' } });
    try {
      const c1 = new pg.Client({ connectionString: server.url });
      await c1.connect();
      expect((await c1.query<{ wal_level: string }>('show wal_level')).rows[0]?.wal_level).toBe('logical');
      await c1.query('create table kept (v int)');
      await c1.query('insert into kept values (42)');
      await c1.end().catch(() => undefined);

      await server.stop();
      const down = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 });
      await expect(down.connect()).rejects.toThrow();
      await server.start();
      const c2 = new pg.Client({ connectionString: server.url });
      await c2.connect();
      expect((await c2.query<{ v: number }>('select v from kept')).rows).toEqual([{ v: 42 }]);
      await c2.end();
    } finally {
      await server.destroy();
    }
  });
});
