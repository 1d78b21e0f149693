/**
 * What every concept module of the store runs its statements on: a pooled connection inside a
 * transaction, or the pool itself (one statement, its own transaction). Also the conversions
 * between node-postgres's Buffers and the Uint8Arrays the rest of Meridian uses.
 */
import type pg from 'pg';
import { classifyPgError } from './store-error.ts';

/** Something statements run on: `pg.Pool` and `pg.PoolClient` both are. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * The pool, with every statement's error classified (`StoreError`): reads and statements outside
 * a transaction (inside one, `PgStore.transaction` classifies).
 */
export function classifying(pool: Queryable): Queryable {
  return {
    async query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>> {
      try {
        return await pool.query<R>(config, values);
      } catch (error) {
        throw classifyPgError(error);
      }
    },
  };
}

export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
export const buffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
