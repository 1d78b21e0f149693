/**
 * What a region may forget (migration 7; the decisions are @meridian/retention's, the design is
 * decision 0012): the tombstone GC's evidence (each region's stream samples) and its last
 * decision, the scan that finds deleted registers and purges them, the expiry of idempotency
 * and conflict records, and the size of each table.
 *
 * A purge is conditional, like every write of key state: a row is deleted only if it still holds
 * exactly the state the GC decided on, and no dead letter of the key waits (quarantine). Deleting
 * the row takes it out of the anti-entropy tree (the delete trigger XORs its hash out), so a
 * purged key hashes exactly as a key never written.
 */
import type pg from 'pg';
import { classifyPgError } from './store-error.ts';
import { buffer, bytes, type Queryable } from './pg-query.ts';

/**
 * The GC's last purge cutoff (ms, HLC wall time), read inside a caller's transaction: anti-entropy
 * does not copy back a tombstone this region has purged or would purge now.
 */
export async function purgeCutoff(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ purge_before_ms: bigint | null }>('SELECT purge_before_ms FROM meridian_gc');
  const cutoff = rows[0]?.purge_before_ms;
  return cutoff == null ? undefined : Number(cutoff);
}

/** One region's samples of its own stream, oldest first. */
export interface GcSamples {
  readonly actor: string;
  readonly samples: readonly { readonly wallMs: number; readonly highWater: bigint; readonly appliedBeforeMs?: number }[];
}

/** The GC's last decision, as every process of the region reads it (for its metrics). */
export interface GcState {
  readonly purgeBeforeMs: number | undefined;
  readonly blocking: readonly string[];
  /** Tombstone-only keys the last full pass of the scan counted; undefined until one finished. */
  readonly tombstones: number | undefined;
  readonly scanFrom: { readonly namespace: string; readonly key: string } | undefined;
  readonly passTombstones: number;
  readonly samples: ReadonlyMap<string, GcSamples>;
}

export interface GcDecisionRow {
  readonly purgeBeforeMs: number | undefined;
  readonly frontier: ReadonlyMap<string, bigint>;
  readonly blocking: readonly string[];
  readonly samples: ReadonlyMap<string, GcSamples>;
}

/** A register key the scan read. */
export interface ScannedKey {
  readonly namespace: string;
  readonly key: string;
  readonly state: Uint8Array;
  readonly maxHlc: bigint;
  readonly quarantined: boolean;
}

export interface PurgeKey {
  readonly namespace: string;
  readonly key: string;
  /** The state the decision was made on: a row that holds anything else stays. */
  readonly state: Uint8Array;
}

export class RetentionStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async #q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(sql, params);
    } catch (error) {
      throw classifyPgError(error);
    }
  }

  async state(): Promise<GcState> {
    const [gc, samples] = await Promise.all([
      this.#q<{ purge_before_ms: bigint | null; blocking: string[]; tombstones: bigint | null; scan_namespace: string | null; scan_key: string | null; pass_tombstones: bigint }>('SELECT * FROM meridian_gc'),
      this.#q<{ region: string; actor: string; wall_ms: bigint; high_water: bigint; applied_before_ms: bigint | null }>('SELECT region, actor, wall_ms, high_water, applied_before_ms FROM meridian_gc_samples ORDER BY region, wall_ms'),
    ]);
    const row = gc.rows[0];
    const byRegion = new Map<string, { actor: string; samples: { wallMs: number; highWater: bigint; appliedBeforeMs?: number }[] }>();
    for (const s of samples.rows) {
      const entry = byRegion.get(s.region) ?? { actor: s.actor, samples: [] };
      entry.samples.push({ wallMs: Number(s.wall_ms), highWater: s.high_water, ...(s.applied_before_ms === null ? {} : { appliedBeforeMs: Number(s.applied_before_ms) }) });
      byRegion.set(s.region, entry);
    }
    return {
      purgeBeforeMs: row?.purge_before_ms == null ? undefined : Number(row.purge_before_ms),
      blocking: row?.blocking ?? [],
      tombstones: row?.tombstones == null ? undefined : Number(row.tombstones),
      scanFrom: row?.scan_namespace == null || row.scan_key == null ? undefined : { namespace: row.scan_namespace, key: row.scan_key },
      passTombstones: Number(row?.pass_tombstones ?? 0n),
      samples: byRegion,
    };
  }

  /** Stores a decision and the samples kept, replacing the previous ones; one transaction. */
  async saveDecision(decision: GcDecisionRow): Promise<void> {
    const regions: string[] = [];
    const actors: string[] = [];
    const walls: string[] = [];
    const highs: string[] = [];
    const appliedBefore: (string | null)[] = [];
    for (const [region, { actor, samples }] of decision.samples) {
      for (const s of samples) {
        regions.push(region);
        actors.push(actor);
        walls.push(String(s.wallMs));
        highs.push(String(s.highWater));
        appliedBefore.push(s.appliedBeforeMs === undefined ? null : String(s.appliedBeforeMs));
      }
    }
    const client = await this.#pool.connect().catch((error: unknown) => {
      throw classifyPgError(error);
    });
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM meridian_gc_samples');
      await client.query(
        'INSERT INTO meridian_gc_samples (region, actor, wall_ms, high_water, applied_before_ms) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])',
        [regions, actors, walls, highs, appliedBefore],
      );
      await client.query(
        'UPDATE meridian_gc SET purge_before_ms = $1, frontier = $2, blocking = $3, decided_at = now()',
        [decision.purgeBeforeMs ?? null, JSON.stringify(Object.fromEntries([...decision.frontier].map(([a, n]) => [a, String(n)]))), [...decision.blocking]],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw classifyPgError(error);
    } finally {
      client.release();
    }
  }

  /** Up to `limit` register keys after `after` in (namespace, key) order, with whether a dead letter holds each. */
  async scanRegisters(after: { namespace: string; key: string } | undefined, limit: number): Promise<ScannedKey[]> {
    const { rows } = await this.#q<{ namespace: string; key: string; state: Buffer; max_hlc: bigint; quarantined: boolean }>(
      `SELECT k.namespace, k.key, k.state, k.max_hlc, q.key IS NOT NULL AS quarantined
         FROM meridian_keys k JOIN meridian_namespaces n ON n.name = k.namespace AND n.policy IN ('lww', 'mv')
         LEFT JOIN meridian_quarantine q ON q.namespace = k.namespace AND q.key = k.key
        WHERE k.state IS NOT NULL AND ($1::text IS NULL OR (k.namespace, k.key) > ($1, $2))
        ORDER BY k.namespace, k.key LIMIT $3`,
      [after?.namespace ?? null, after?.key ?? null, limit],
    );
    return rows.map((r) => ({ namespace: r.namespace, key: r.key, state: bytes(r.state), maxHlc: r.max_hlc, quarantined: r.quarantined }));
  }

  /**
   * Deletes each key whose row still holds exactly the given state and whose key no dead letter
   * holds; returns how many went. One statement.
   */
  async purge(keys: readonly PurgeKey[]): Promise<number> {
    if (keys.length === 0) return 0;
    const { rowCount } = await this.#q(
      `DELETE FROM meridian_keys k USING unnest($1::text[], $2::text[], $3::bytea[]) AS p(namespace, key, state)
        WHERE (k.namespace, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
          AND k.namespace = p.namespace AND k.key = p.key AND k.state = p.state
          AND NOT EXISTS (SELECT 1 FROM meridian_quarantine q WHERE q.namespace = k.namespace AND q.key = k.key)`,
      [keys.map((k) => k.namespace), keys.map((k) => k.key), keys.map((k) => buffer(k.state))],
    );
    return rowCount ?? 0;
  }

  /** Where the scan goes on, and the tombstones counted so far in this pass; a finished pass (`next` undefined) publishes its count. */
  async saveScan(next: { namespace: string; key: string } | undefined, passTombstones: number): Promise<void> {
    await this.#q(
      next === undefined
        ? 'UPDATE meridian_gc SET scan_namespace = NULL, scan_key = NULL, tombstones = $1, pass_tombstones = 0'
        : 'UPDATE meridian_gc SET scan_namespace = $2, scan_key = $3, pass_tombstones = $1',
      next === undefined ? [passTombstones] : [passTombstones, next.namespace, next.key],
    );
  }

  /** Deletes up to `limit` idempotency records created before `before`; returns how many. */
  async expireIdempotency(before: Date, limit: number): Promise<number> {
    const { rowCount } = await this.#q(
      `DELETE FROM meridian_idempotency WHERE idempotency_key IN
         (SELECT idempotency_key FROM meridian_idempotency WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
      [before, limit],
    );
    return rowCount ?? 0;
  }

  /** Deletes up to `limit` of the oldest conflict records observed before `before`; returns how many. */
  async expireConflicts(before: Date, limit: number): Promise<number> {
    const { rowCount } = await this.#q(
      `DELETE FROM meridian_conflicts WHERE seq IN (SELECT seq FROM meridian_conflicts ORDER BY seq LIMIT $2) AND observed_at < $1`,
      [before, limit],
    );
    return rowCount ?? 0;
  }

  /** Bytes on disk of each of the region's tables (with their indexes and TOAST). */
  async tableSizes(): Promise<Map<string, number>> {
    const { rows } = await this.#q<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid)::text AS bytes FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE c.relkind = 'r' AND c.relname LIKE 'meridian\\_%' AND s.nspname = current_schema() ORDER BY 1`,
    );
    return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
  }
}
