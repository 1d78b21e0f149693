/**
 * The replication side of a region's PostgreSQL: the relay's lease and publish marks, the
 * per-origin applied vectors, the consumer offsets (with owner epochs), conflict records, dead
 * letters and quarantined keys, and the peers' latest heartbeats.
 *
 * Invariants kept here:
 * - the relay marks rows published only while it holds the lease epoch it read (a paused relay
 *   that lost its lease cannot mark anything: `markPublished` answers 'fenced');
 * - a replicator saves offsets only under the owner epoch it claimed for the partition, in the
 *   transaction that applied the messages (so offsets and data never disagree);
 * - a conflict is recorded once per id (the id is a hash of the concurrent dots), whichever
 *   region and however many times it is observed.
 */
import type pg from 'pg';
import { classifyPgError } from './store-error.ts';

export interface AppliedRow {
  readonly origin: string;
  readonly region: string;
  readonly contiguous: bigint;
  readonly contiguousOutboxId: bigint;
  /** Sequences applied above `contiguous`, with their outbox ids, ascending. */
  readonly beyond: readonly (readonly [bigint, bigint])[];
}

export interface ConflictRow {
  readonly id: string;
  readonly namespace: string;
  readonly key: string;
  readonly policy: string;
  readonly kind: string;
  readonly versions: unknown;
  readonly outcome: unknown;
  readonly regions: readonly string[];
  readonly traceIds: readonly string[];
  readonly skewFlagged: boolean;
}

export interface StoredConflict extends ConflictRow {
  readonly seq: bigint;
  readonly observedAt: Date;
}

export interface DeadLetterInput {
  readonly peer: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly messageKey: string | undefined;
  readonly raw: Uint8Array;
  readonly code: string;
  readonly reason: string;
  readonly namespace: string | undefined;
  readonly key: string | undefined;
  readonly origin: string | undefined;
  readonly sequence: bigint | undefined;
}

export interface StoredDeadLetter extends DeadLetterInput {
  readonly id: bigint;
  readonly createdAt: Date;
  readonly redrivenAt: Date | undefined;
}

export interface HeartbeatRow {
  readonly peer: string;
  readonly origin: string;
  readonly wallMs: bigint;
  readonly highWater: bigint;
  readonly applied: Record<string, string>;
  readonly receivedAt: Date;
}

export interface RelayState {
  readonly leaseEpoch: bigint;
  readonly lastOutboxId: bigint;
  readonly lastSequence: bigint;
}

export interface OutboxRow {
  readonly id: bigint;
  readonly messageKey: string;
  readonly envelope: Uint8Array;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

interface AppliedDbRow {
  origin: string;
  region: string;
  contiguous: bigint;
  contiguous_outbox_id: bigint;
  beyond: [string, string][];
}

function toApplied(r: AppliedDbRow): AppliedRow {
  return { origin: r.origin, region: r.region, contiguous: r.contiguous, contiguousOutboxId: r.contiguous_outbox_id, beyond: r.beyond.map(([s, id]) => [BigInt(s), BigInt(id)] as const) };
}

/** What a replicator's apply transaction does besides key state (StoreTx). */
export class ReplicationTx {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  /** Locks the partition's offset row and checks the owner epoch: the stored next offset, or 'fenced'. */
  async lockOffset(peer: string, partition: number, ownerEpoch: bigint): Promise<bigint | 'fenced'> {
    const { rows } = await this.#client.query<{ next_offset: bigint; owner_epoch: bigint }>('SELECT next_offset, owner_epoch FROM meridian_offsets WHERE peer = $1 AND partition = $2 FOR UPDATE', [peer, partition]);
    const row = rows[0];
    if (!row || row.owner_epoch !== ownerEpoch) return 'fenced';
    return row.next_offset;
  }

  async saveOffset(peer: string, partition: number, nextOffset: bigint): Promise<void> {
    await this.#client.query('UPDATE meridian_offsets SET next_offset = $3 WHERE peer = $1 AND partition = $2', [peer, partition, nextOffset]);
  }

  /** The applied rows of these origins, locked (sorted, so concurrent batches never deadlock). */
  async lockApplied(origins: readonly { origin: string; region: string }[]): Promise<Map<string, AppliedRow>> {
    const sorted = [...new Map(origins.map((o) => [o.origin, o])).values()].sort((a, b) => (a.origin < b.origin ? -1 : 1));
    for (const o of sorted) await this.#client.query('INSERT INTO meridian_applied (origin, region) VALUES ($1, $2) ON CONFLICT DO NOTHING', [o.origin, o.region]);
    const { rows } = await this.#client.query<AppliedDbRow>('SELECT * FROM meridian_applied WHERE origin = ANY($1) ORDER BY origin FOR UPDATE', [sorted.map((o) => o.origin)]);
    return new Map(rows.map((r) => [r.origin, toApplied(r)]));
  }

  async saveApplied(row: AppliedRow): Promise<void> {
    await this.#client.query('UPDATE meridian_applied SET contiguous = $2, contiguous_outbox_id = $3, beyond = $4 WHERE origin = $1', [
      row.origin,
      row.contiguous,
      row.contiguousOutboxId,
      JSON.stringify(row.beyond.map(([s, id]) => [s.toString(), id.toString()])),
    ]);
  }

  /** Records a conflict unless one with its id exists; true when this call recorded it. */
  async recordConflict(c: ConflictRow): Promise<boolean> {
    const r = await this.#client.query(
      `INSERT INTO meridian_conflicts (id, namespace, key, policy, kind, versions, outcome, regions, trace_ids, skew_flagged)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
      [c.id, c.namespace, c.key, c.policy, c.kind, JSON.stringify(c.versions), JSON.stringify(c.outcome), c.regions, c.traceIds, c.skewFlagged],
    );
    return r.rowCount === 1;
  }

  async deadLetter(d: DeadLetterInput): Promise<bigint> {
    const { rows } = await this.#client.query<{ id: bigint }>(
      `INSERT INTO meridian_dead_letters (peer, partition, kafka_offset, message_key, raw, code, reason, namespace, key, origin, sequence)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
      [d.peer, d.partition, d.offset, d.messageKey ?? null, buffer(d.raw), d.code, d.reason, d.namespace ?? null, d.key ?? null, d.origin ?? null, d.sequence ?? null],
    );
    return rows[0]!.id;
  }

  async quarantine(namespace: string, key: string, deadLetterId: bigint): Promise<void> {
    await this.#client.query('INSERT INTO meridian_quarantine (namespace, key, dead_letter_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [namespace, key, deadLetterId]);
  }

  /** Which of these keys are quarantined, in one query (a batch's keys at once). */
  async quarantinedAmong(keys: readonly { namespace: string; key: string }[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const { rows } = await this.#client.query<{ namespace: string; key: string }>(
      'SELECT q.namespace, q.key FROM meridian_quarantine q JOIN unnest($1::text[], $2::text[]) AS k(namespace, key) ON q.namespace = k.namespace AND q.key = k.key',
      [keys.map((k) => k.namespace), keys.map((k) => k.key)],
    );
    return new Set(rows.map((r) => JSON.stringify([r.namespace, r.key])));
  }

  async releaseQuarantine(namespace: string, key: string): Promise<void> {
    await this.#client.query('DELETE FROM meridian_quarantine WHERE namespace = $1 AND key = $2', [namespace, key]);
  }

  async saveHeartbeat(peer: string, origin: string, wallMs: bigint, highWater: bigint, applied: Record<string, string>): Promise<void> {
    await this.#client.query(
      `INSERT INTO meridian_peer_heartbeats (peer, origin, wall_ms, high_water, applied, received_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (peer) DO UPDATE SET origin = excluded.origin, wall_ms = excluded.wall_ms, high_water = excluded.high_water, applied = excluded.applied, received_at = now()
       WHERE meridian_peer_heartbeats.wall_ms <= excluded.wall_ms`,
      [peer, origin, wallMs, highWater, JSON.stringify(applied)],
    );
  }

  /** Replaces a namespace's policy (the deterministic winner of concurrent declarations). */
  async replaceNamespacePolicy(name: string, policy: string, declaredBy: string, declaredHlc: bigint): Promise<void> {
    await this.#client.query('UPDATE meridian_namespaces SET policy = $2, declared_by = $3, declared_hlc = $4 WHERE name = $1', [name, policy, declaredBy, declaredHlc]);
  }

  /** Removes every key of a namespace, returning their states (they go into a conflict record). */
  async takeNamespaceKeys(name: string): Promise<{ key: string; state: Uint8Array }[]> {
    const { rows } = await this.#client.query<{ key: string; state: Buffer | null }>('DELETE FROM meridian_keys WHERE namespace = $1 RETURNING key, state', [name]);
    return rows.flatMap((r) => (r.state ? [{ key: r.key, state: bytes(r.state) }] : []));
  }

  /** The dead letter, locked; undefined when absent. */
  async lockDeadLetter(id: bigint): Promise<{ id: bigint; code: string; raw: Uint8Array; namespace: string | undefined; key: string | undefined; redriven: boolean } | undefined> {
    const { rows } = await this.#client.query<{ id: bigint; code: string; raw: Buffer; namespace: string | null; key: string | null; redriven_at: Date | null }>('SELECT id, code, raw, namespace, key, redriven_at FROM meridian_dead_letters WHERE id = $1 FOR UPDATE', [id]);
    const r = rows[0];
    return r ? { id: r.id, code: r.code, raw: bytes(r.raw), namespace: r.namespace ?? undefined, key: r.key ?? undefined, redriven: r.redriven_at !== null } : undefined;
  }

  /** The dead letter quarantining a key, if any. */
  async quarantinedBy(namespace: string, key: string): Promise<bigint | undefined> {
    const { rows } = await this.#client.query<{ dead_letter_id: bigint }>('SELECT dead_letter_id FROM meridian_quarantine WHERE namespace = $1 AND key = $2', [namespace, key]);
    return rows[0]?.dead_letter_id;
  }

  /** Updates held back while a key was quarantined, oldest first, not yet redriven. */
  async heldFor(namespace: string, key: string, code: string): Promise<{ id: bigint; raw: Uint8Array }[]> {
    const { rows } = await this.#client.query<{ id: bigint; raw: Buffer }>('SELECT id, raw FROM meridian_dead_letters WHERE namespace = $1 AND key = $2 AND code = $3 AND redriven_at IS NULL ORDER BY id', [namespace, key, code]);
    return rows.map((r) => ({ id: r.id, raw: bytes(r.raw) }));
  }

  async markDeadLetterRedriven(id: bigint): Promise<void> {
    await this.#client.query('UPDATE meridian_dead_letters SET redriven_at = now() WHERE id = $1', [id]);
  }
}

/** Reads and relay operations outside apply transactions. */
export class ReplicationReads {
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

  // ---- relay ----------------------------------------------------------------------------------

  /** Takes the relay lease if it is free or expired (or already ours); the new epoch, or undefined. */
  async acquireRelayLease(owner: string, leaseMs: number): Promise<RelayState | undefined> {
    const { rows } = await this.#q<{ lease_epoch: bigint; last_outbox_id: bigint; last_sequence: bigint }>(
      `UPDATE meridian_relay SET lease_epoch = lease_epoch + 1, lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2::double precision / 1000)
       WHERE lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = $1 RETURNING lease_epoch, last_outbox_id, last_sequence`,
      [owner, leaseMs],
    );
    const r = rows[0];
    return r ? { leaseEpoch: r.lease_epoch, lastOutboxId: r.last_outbox_id, lastSequence: r.last_sequence } : undefined;
  }

  /** Extends the lease; false when another relay took it (this one is fenced). */
  async renewRelayLease(epoch: bigint, leaseMs: number): Promise<boolean> {
    const r = await this.#q('UPDATE meridian_relay SET lease_expires_at = now() + make_interval(secs => $2::double precision / 1000) WHERE lease_epoch = $1', [epoch, leaseMs]);
    return r.rowCount === 1;
  }

  async releaseRelayLease(epoch: bigint): Promise<void> {
    await this.#q('UPDATE meridian_relay SET lease_expires_at = NULL, lease_owner = NULL WHERE lease_epoch = $1', [epoch]);
  }

  async relayState(): Promise<RelayState> {
    const { rows } = await this.#q<{ lease_epoch: bigint; last_outbox_id: bigint; last_sequence: bigint }>('SELECT lease_epoch, last_outbox_id, last_sequence FROM meridian_relay');
    const r = rows[0]!;
    return { leaseEpoch: r.lease_epoch, lastOutboxId: r.last_outbox_id, lastSequence: r.last_sequence };
  }

  /**
   * The publish horizon: the highest committed outbox id, and the transaction-id bound that every
   * transaction running now is below. Once the server's xmin passes that bound, no row at or
   * below the id can still appear: the transactions that drew lower ids have all ended.
   */
  async outboxHorizon(): Promise<{ maxId: bigint; xmax: bigint }> {
    const { rows } = await this.#q<{ max_id: bigint | null; xmax: string }>('SELECT (SELECT max(id) FROM meridian_outbox) AS max_id, pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
    return { maxId: rows[0]?.max_id ?? 0n, xmax: BigInt(rows[0]!.xmax) };
  }

  async transactionsEndedBelow(xmax: bigint): Promise<boolean> {
    const { rows } = await this.#q<{ done: boolean }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text::numeric >= $1::numeric AS done', [xmax.toString()]);
    return rows[0]?.done === true;
  }

  async outboxAfter(afterId: bigint, upToId: bigint, limit: number): Promise<OutboxRow[]> {
    const { rows } = await this.#q<{ id: bigint; message_key: string; envelope: Buffer }>('SELECT id, message_key, envelope FROM meridian_outbox WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3', [afterId, upToId, limit]);
    return rows.map((r) => ({ id: r.id, messageKey: r.message_key, envelope: bytes(r.envelope) }));
  }

  /** Marks rows published with their sequences, under the lease: 'fenced' when the lease moved on. */
  async markPublished(epoch: bigint, rows: readonly { id: bigint; sequence: bigint }[]): Promise<'ok' | 'fenced'> {
    const client = await this.#pool.connect().catch((e: unknown) => {
      throw classifyPgError(e);
    });
    try {
      await client.query('BEGIN');
      const last = rows.at(-1);
      if (!last) {
        await client.query('ROLLBACK');
        return 'ok';
      }
      const lease = await client.query('UPDATE meridian_relay SET last_outbox_id = $2, last_sequence = $3 WHERE lease_epoch = $1', [epoch, last.id, last.sequence]);
      if (lease.rowCount !== 1) {
        await client.query('ROLLBACK');
        return 'fenced';
      }
      await client.query('UPDATE meridian_outbox AS o SET sequence = m.seq, published_at = now() FROM unnest($1::bigint[], $2::bigint[]) AS m(id, seq) WHERE o.id = m.id', [
        rows.map((r) => r.id.toString()),
        rows.map((r) => r.sequence.toString()),
      ]);
      await client.query('COMMIT');
      return 'ok';
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw classifyPgError(error);
    } finally {
      client.release();
    }
  }

  async pruneOutbox(olderThanSeconds: number): Promise<number> {
    const r = await this.#q(`DELETE FROM meridian_outbox WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1::double precision)`, [olderThanSeconds]);
    return r.rowCount ?? 0;
  }

  async outboxBacklog(): Promise<number> {
    const { rows } = await this.#q<{ n: string }>('SELECT count(*)::text AS n FROM meridian_outbox WHERE sequence IS NULL');
    return Number(rows[0]?.n ?? 0);
  }

  // ---- replicators --------------------------------------------------------------------------

  /** Claims partitions of a peer topic for this consumer: bumps each owner epoch, returns offsets and epochs. */
  async claimPartitions(peer: string, partitions: readonly number[]): Promise<Map<number, { nextOffset: bigint; epoch: bigint; known: boolean }>> {
    const out = new Map<number, { nextOffset: bigint; epoch: bigint; known: boolean }>();
    for (const partition of [...partitions].sort((a, b) => a - b)) {
      const { rows } = await this.#q<{ next_offset: bigint; owner_epoch: bigint; inserted: boolean }>(
        `INSERT INTO meridian_offsets (peer, partition, next_offset, owner_epoch) VALUES ($1, $2, 0, 1)
         ON CONFLICT (peer, partition) DO UPDATE SET owner_epoch = meridian_offsets.owner_epoch + 1
         RETURNING next_offset, owner_epoch, (xmax = 0) AS inserted`,
        [peer, partition],
      );
      const r = rows[0]!;
      out.set(partition, { nextOffset: r.next_offset, epoch: r.owner_epoch, known: !r.inserted });
    }
    return out;
  }

  async applied(): Promise<AppliedRow[]> {
    return (await this.#q<AppliedDbRow>('SELECT * FROM meridian_applied ORDER BY origin')).rows.map(toApplied);
  }

  async heartbeats(): Promise<HeartbeatRow[]> {
    const { rows } = await this.#q<{ peer: string; origin: string; wall_ms: bigint; high_water: bigint; applied: Record<string, string>; received_at: Date }>('SELECT * FROM meridian_peer_heartbeats ORDER BY peer');
    return rows.map((r) => ({ peer: r.peer, origin: r.origin, wallMs: r.wall_ms, highWater: r.high_water, applied: r.applied, receivedAt: r.received_at }));
  }

  async conflicts(filter: { namespace?: string | undefined; key?: string | undefined; limit: number; before?: bigint | undefined }): Promise<StoredConflict[]> {
    const { rows } = await this.#q<{ id: string; seq: bigint; namespace: string; key: string; policy: string; kind: string; versions: unknown; outcome: unknown; regions: string[]; trace_ids: string[]; skew_flagged: boolean; observed_at: Date }>(
      `SELECT * FROM meridian_conflicts WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR key = $2) AND ($3::bigint IS NULL OR seq < $3)
       ORDER BY seq DESC LIMIT $4`,
      [filter.namespace ?? null, filter.key ?? null, filter.before ?? null, filter.limit],
    );
    return rows.map((r) => ({ id: r.id, seq: r.seq, namespace: r.namespace, key: r.key, policy: r.policy, kind: r.kind, versions: r.versions, outcome: r.outcome, regions: r.regions, traceIds: r.trace_ids, skewFlagged: r.skew_flagged, observedAt: r.observed_at }));
  }

  async deadLetters(limit: number, id?: bigint): Promise<StoredDeadLetter[]> {
    const { rows } = await this.#q<{ id: bigint; peer: string; partition: number; kafka_offset: bigint; message_key: string | null; raw: Buffer; code: string; reason: string; namespace: string | null; key: string | null; origin: string | null; sequence: bigint | null; created_at: Date; redriven_at: Date | null }>(
      'SELECT * FROM meridian_dead_letters WHERE ($2::bigint IS NULL OR id = $2) ORDER BY id DESC LIMIT $1',
      [limit, id ?? null],
    );
    return rows.map((r) => ({
      id: r.id,
      peer: r.peer,
      partition: r.partition,
      offset: r.kafka_offset,
      messageKey: r.message_key ?? undefined,
      raw: bytes(r.raw),
      code: r.code,
      reason: r.reason,
      namespace: r.namespace ?? undefined,
      key: r.key ?? undefined,
      origin: r.origin ?? undefined,
      sequence: r.sequence ?? undefined,
      createdAt: r.created_at,
      redrivenAt: r.redriven_at ?? undefined,
    }));
  }

  /** Every key's state of a namespace, for digests. */
  async namespaceStates(namespace: string): Promise<{ key: string; state: Uint8Array }[]> {
    const { rows } = await this.#q<{ key: string; state: Buffer }>('SELECT key, state FROM meridian_keys WHERE namespace = $1 AND state IS NOT NULL ORDER BY key', [namespace]);
    return rows.map((r) => ({ key: r.key, state: bytes(r.state) }));
  }
}
