/**
 * Databases that outlive a run: the local cluster keeps each region's data across `down` and
 * `up` (unlike tests, whose `createDatabase` always starts empty). Created when missing, never
 * dropped here; `--fresh` drops them with `dropDatabase`.
 */
import pg from 'pg';
import { databaseUrl } from './postgres.ts';

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** PostgreSQL's duplicate_database: someone created it between our look and our create. */
const DUPLICATE_DATABASE = '42P04';

/** Creates `name` unless it exists; returns its URL and whether it was created now. */
export async function ensureDatabase(name: string, url: string): Promise<{ url: string; created: boolean }> {
  if (!NAME.test(name)) throw new Error(`expected a database name matching ${String(NAME)} (got ${JSON.stringify(name)})`);
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined); // a dropped connection surfaces as the query's error
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name}"`);
        return { url: databaseUrl(url, name), created: true };
      } catch (error) {
        if ((error as { code?: string }).code !== DUPLICATE_DATABASE) throw error;
      }
    }
    return { url: databaseUrl(url, name), created: false };
  } finally {
    await client.end().catch(() => undefined);
  }
}
