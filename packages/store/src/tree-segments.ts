/**
 * The anti-entropy side of a region's PostgreSQL (DESIGN §8): reads of the hash tree that
 * migration 4's triggers keep current (per-segment XOR hashes and counts; branches and roots are
 * aggregated from them on read, so no single row is written by every write of a namespace), the
 * keys of some segments (an index range scan on (namespace, segment)), full key states, this
 * region's applied positions, and the repairs table.
 *
 * Hashes are stored as PostgreSQL bigints (signed); they leave this module unsigned.
 */
import type pg from 'pg';
import { classifyPgError } from './store-error.ts';
import { ELEMENT_ROWS_COLUMNS, wholeState, type ElementRowsColumns } from './collections.ts';
import type { KeyStateRow, NamespaceRootRow, RepairInput, StoredRepair, TreeNodeRow } from './rows.ts';

const unsigned = (v: bigint): bigint => BigInt.asUintN(64, v);

/** Bits of a segment below its branch (20 segment bits, 10 branch bits: @meridian/anti-entropy's layout). */
const SEGMENT_BITS_BELOW_BRANCH = 10;

export class TreeReads {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async #q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.#pool.query<R>(sql, params)).rows;
    } catch (error) {
      throw classifyPgError(error);
    }
  }

  /** Every namespace with its root (the XOR of all its segments) and key count; empty namespaces too. */
  async roots(): Promise<NamespaceRootRow[]> {
    const rows = await this.#q<{ name: string; policy: string; hash: bigint | null; keys: string | null }>(
      `SELECT n.name, n.policy, t.hash, t.keys::text FROM meridian_namespaces n
         LEFT JOIN (SELECT namespace, bit_xor(hash) AS hash, sum(keys) AS keys FROM meridian_tree_segments GROUP BY namespace) t ON t.namespace = n.name
        ORDER BY n.name`,
    );
    return rows.map((r) => ({ name: r.name, policy: r.policy, hash: unsigned(r.hash ?? 0n), keys: Number(r.keys ?? 0) }));
  }

  /** A namespace's non-empty branches. */
  async branches(namespace: string): Promise<TreeNodeRow[]> {
    const rows = await this.#q<{ index: number; hash: bigint; keys: string }>(
      `SELECT segment >> ${SEGMENT_BITS_BELOW_BRANCH} AS index, bit_xor(hash) AS hash, sum(keys)::text AS keys FROM meridian_tree_segments
        WHERE namespace = $1 AND keys <> 0 GROUP BY 1 ORDER BY 1`,
      [namespace],
    );
    return rows.map((r) => ({ index: r.index, hash: unsigned(r.hash), keys: Number(r.keys) }));
  }

  /** The non-empty segments under these branches. */
  async segments(namespace: string, branches: readonly number[]): Promise<TreeNodeRow[]> {
    const rows = await this.#q<{ segment: number; hash: bigint; keys: number }>(
      `SELECT segment, hash, keys FROM meridian_tree_segments
        WHERE namespace = $1 AND segment >> ${SEGMENT_BITS_BELOW_BRANCH} = ANY($2::int[]) AND keys <> 0 ORDER BY segment`,
      [namespace, [...branches]],
    );
    return rows.map((r) => ({ index: r.segment, hash: unsigned(r.hash), keys: r.keys }));
  }

  /**
   * The keys of these segments with their hashes (keys whose row holds a state). A split key's
   * hash is its header's XOR its rows' (collections.ts), as the segment folds them.
   */
  async keyHashes(namespace: string, segments: readonly number[]): Promise<{ key: string; hash: bigint }[]> {
    const rows = await this.#q<{ key: string; key_hash: bigint }>(
      `SELECT k.key, CASE WHEN k.elements IS NULL THEN k.key_hash
                          ELSE k.key_hash # coalesce((SELECT bit_xor(e.key_hash) FROM meridian_elements e WHERE e.namespace = k.namespace AND e.key = k.key), 0) END AS key_hash
         FROM meridian_keys k WHERE k.namespace = $1 AND k.segment = ANY($2::int[]) AND k.key_hash IS NOT NULL`,
      [namespace, [...segments]],
    );
    return rows.map((r) => ({ key: r.key, hash: unsigned(r.key_hash) }));
  }

  /** These keys' full states (split keys assembled in the same snapshot), in the order asked (state undefined: no row, or no state yet). */
  async states(namespace: string, keys: readonly string[]): Promise<KeyStateRow[]> {
    const rows = await this.#q<{ key: string; state: Buffer | null; max_hlc: bigint } & ElementRowsColumns>(`SELECT k.key, k.state, k.max_hlc, k.elements, ${ELEMENT_ROWS_COLUMNS('k')} FROM meridian_keys k WHERE k.namespace = $1 AND k.key = ANY($2::text[])`, [namespace, [...keys]]);
    const found = new Map(rows.map((r) => [r.key, r]));
    return keys.map((key) => {
      const r = found.get(key);
      return { key, state: r ? wholeState(r.state, r) : undefined, maxHlc: r?.max_hlc ?? 0n };
    });
  }

  /**
   * This region's own published position, from the relay's marks: its current origin actor, the
   * last sequence published in it and that row's outbox id. Every outbox row up to that id is
   * published (the relay publishes in id order) and committed, so in this region's key states.
   */
  async published(): Promise<{ origin: string; sequence: bigint; outboxId: bigint }> {
    const rows = await this.#q<{ origin: string; sequence: bigint; outbox_id: bigint }>(
      `SELECT g.region || '.' || g.epoch AS origin, r.last_sequence AS sequence, r.last_outbox_id AS outbox_id FROM meridian_region AS g, meridian_relay AS r`,
    );
    const r = rows[0]!;
    return { origin: r.origin, sequence: r.sequence, outboxId: r.outbox_id };
  }

  /**
   * Per origin actor, the outbox id up to which this region has applied — its own actor's entry
   * is its committed high-water — read in one snapshot.
   */
  async positions(): Promise<Map<string, bigint>> {
    const rows = await this.#q<{ origin: string; position: bigint }>(
      `SELECT r.region || '.' || r.epoch AS origin, coalesce((SELECT max(id) FROM meridian_outbox), 0) AS position FROM meridian_region r
       UNION ALL SELECT origin, contiguous_outbox_id FROM meridian_applied`,
    );
    return new Map(rows.map((r) => [r.origin, r.position]));
  }

  /** Repairs, newest first, paged by id. */
  async repairs(filter: { namespace?: string | undefined; key?: string | undefined; limit: number; before?: bigint | undefined }): Promise<StoredRepair[]> {
    const rows = await this.#q<{ id: bigint; namespace: string; key: string; peer: string; before_digest: string | null; after_digest: string; trace_id: string | null; repaired_at: Date }>(
      `SELECT * FROM meridian_repairs WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR key = $2) AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [filter.namespace ?? null, filter.key ?? null, filter.before ?? null, filter.limit],
    );
    return rows.map((r) => ({ id: r.id, namespace: r.namespace, key: r.key, peer: r.peer, before: r.before_digest ?? undefined, after: r.after_digest, traceId: r.trace_id ?? undefined, repairedAt: r.repaired_at }));
  }
}

/** Records repairs inside the transaction that made them (the repair applier's). */
export async function recordRepairs(client: pg.PoolClient, repairs: readonly RepairInput[]): Promise<void> {
  if (repairs.length === 0) return;
  await client.query(
    `INSERT INTO meridian_repairs (namespace, key, peer, before_digest, after_digest, trace_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
    [repairs.map((r) => r.namespace), repairs.map((r) => r.key), repairs.map((r) => r.peer), repairs.map((r) => r.before ?? null), repairs.map((r) => r.after), repairs.map((r) => r.traceId ?? null)],
  );
}
