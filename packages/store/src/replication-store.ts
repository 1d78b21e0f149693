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
import type { NamespaceRow } from './pg-store.ts';
import { arrayLiteral } from './array-literal.ts';
import { classifyPgError, StoreError, StoreErrorCode } from './store-error.ts';

/** How far an origin is applied: every sequence up to `contiguous` (its outbox id `contiguousOutboxId`). */
export interface AppliedPosition {
  readonly origin: string;
  readonly region: string;
  readonly contiguous: bigint;
  readonly contiguousOutboxId: bigint;
}

export interface AppliedRow extends AppliedPosition {
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

/** A key a replicator's batch touches. */
export interface KeyRef {
  readonly namespace: string;
  readonly key: string;
}

/** A key row locked by an apply transaction. */
export interface LockedKey extends KeyRef {
  /** undefined: the key was never written (this transaction inserted its row). */
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
}

/** A key's new state, to be stored by `saveKeys`. */
export interface KeyWrite extends KeyRef {
  readonly state: Uint8Array;
  readonly maxHlc: bigint;
}

/** A partition's consumer offset row, locked: the stored next offset, or 'fenced' (another owner epoch, or no row). */
export type LockedOffset = { readonly nextOffset: bigint } | 'fenced';

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

/**
 * A replicator's set-based statements: a constant number per apply transaction, however many
 * updates it carries. Named, so each pooled connection parses and plans them once.
 */
const APPLY_SQL = {
  lockOffsets: { name: 'meridian_apply_lock_offsets', text: 'SELECT partition, next_offset, owner_epoch FROM meridian_offsets WHERE peer = $1 AND partition = ANY($2::int[]) ORDER BY partition FOR UPDATE' },
  saveOffsets: {
    name: 'meridian_apply_save_offsets',
    text: 'UPDATE meridian_offsets AS o SET next_offset = u.next_offset FROM unnest($2::int[], $3::bigint[]) AS u(partition, next_offset) WHERE o.peer = $1 AND o.partition = u.partition',
  },
  lockApplied: { name: 'meridian_apply_lock_applied', text: 'SELECT * FROM meridian_applied WHERE origin = ANY($1::text[]) ORDER BY origin FOR UPDATE' },
  insertApplied: { name: 'meridian_apply_insert_applied', text: 'INSERT INTO meridian_applied (origin, region) SELECT * FROM unnest($1::text[], $2::text[]) AS u(origin, region) ORDER BY origin ON CONFLICT DO NOTHING' },
  saveApplied: {
    name: 'meridian_apply_save_applied',
    text: `UPDATE meridian_applied AS a SET contiguous = u.contiguous, contiguous_outbox_id = u.contiguous_outbox_id, beyond = u.beyond
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::jsonb[]) AS u(origin, contiguous, contiguous_outbox_id, beyond) WHERE a.origin = u.origin`,
  },
  namespacesAmong: {
    name: 'meridian_apply_namespaces',
    text: 'SELECT name, policy, declared_by AS "declaredBy", declared_hlc AS "declaredHlc", created_at AS "createdAt" FROM meridian_namespaces WHERE name = ANY($1::text[])',
  },
  lockKeys: {
    name: 'meridian_apply_lock_keys',
    text: `SELECT namespace, key, state, max_hlc FROM meridian_keys
            WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY namespace, key FOR UPDATE`,
  },
  insertKeys: {
    name: 'meridian_apply_insert_keys',
    text: 'INSERT INTO meridian_keys (namespace, key) SELECT * FROM unnest($1::text[], $2::text[]) AS u(namespace, key) ORDER BY namespace, key ON CONFLICT DO NOTHING RETURNING namespace, key',
  },
  // The states travel as one binary parameter (their concatenation) cut by offsets, not as a
  // bytea[] (which node-postgres sends as hex text). The IN (… unnest …) condition beside the join
  // makes PostgreSQL reach the rows through the primary key (as lockKeys does) rather than hash
  // the whole table, which its cost model prefers for a plain UPDATE … FROM unnest of a large batch.
  saveKeys: {
    name: 'meridian_apply_save_keys',
    text: `UPDATE meridian_keys AS k SET state = substring($3::bytea FROM u.start FOR u.length), max_hlc = u.max_hlc, updated_at = now()
             FROM unnest($1::text[], $2::text[], $4::int[], $5::int[], $6::bigint[]) AS u(namespace, key, start, length, max_hlc)
            WHERE (k.namespace, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND k.namespace = u.namespace AND k.key = u.key`,
  },
  // Not named: rare, and its one parameter is the whole list as JSON (text[] columns cannot come
  // out of unnest, which flattens arrays of arrays).
  recordConflicts: {
    text: `INSERT INTO meridian_conflicts (id, namespace, key, policy, kind, versions, outcome, regions, trace_ids, skew_flagged)
           SELECT c->>'id', c->>'namespace', c->>'key', c->>'policy', c->>'kind', c->'versions', c->'outcome',
                  ARRAY(SELECT jsonb_array_elements_text(c->'regions')), ARRAY(SELECT jsonb_array_elements_text(c->'traceIds')), (c->>'skewFlagged')::boolean
             FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(c, ord) ORDER BY ord
           ON CONFLICT (id) DO NOTHING RETURNING id`,
  },
} as const;

/** What a replicator's apply transaction does besides key state (StoreTx). */
export class ReplicationTx {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  /**
   * Locks the offset rows of these partitions (ascending, so concurrent appliers never deadlock)
   * and checks each one's owner epoch: per partition, the stored next offset or 'fenced'.
   */
  async lockOffsets(peer: string, owners: readonly { readonly partition: number; readonly epoch: bigint }[]): Promise<Map<number, LockedOffset>> {
    const { rows } = await this.#client.query<{ partition: number; next_offset: bigint; owner_epoch: bigint }>({ ...APPLY_SQL.lockOffsets, values: [peer, owners.map((o) => o.partition)] });
    const stored = new Map(rows.map((r) => [r.partition, r]));
    return new Map(
      owners.map((o): [number, LockedOffset] => {
        const row = stored.get(o.partition);
        return [o.partition, row && row.owner_epoch === o.epoch ? { nextOffset: row.next_offset } : 'fenced'];
      }),
    );
  }

  /** Stores the next offsets of partitions locked by `lockOffsets`, in one statement. */
  async saveOffsets(peer: string, offsets: readonly { readonly partition: number; readonly nextOffset: bigint }[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.#client.query({ ...APPLY_SQL.saveOffsets, values: [peer, offsets.map((o) => o.partition), offsets.map((o) => o.nextOffset.toString())] });
  }

  /**
   * A reseed of the link from `peer`: takes the peer's reseed lock for this transaction (replicas
   * of this region reseeding at once take turns) and locks the peer's stored offsets.
   */
  async lockPeerOffsetsForReseed(peer: string): Promise<Map<number, bigint>> {
    await this.#client.query("SELECT pg_advisory_xact_lock(hashtext('meridian.reseed.' || $1))", [peer]);
    const { rows } = await this.#client.query<{ partition: number; next_offset: bigint }>('SELECT partition, next_offset FROM meridian_offsets WHERE peer = $1 ORDER BY partition FOR UPDATE', [peer]);
    return new Map(rows.map((r) => [r.partition, r.next_offset]));
  }

  /**
   * Stores a reseed's restart offsets: each partition's next offset, its owner epoch bumped (a
   * consumer that claimed the old offset is fenced; the next claim seeks to the new one).
   */
  async restartPeerOffsets(peer: string, offsets: readonly { readonly partition: number; readonly nextOffset: bigint }[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.#client.query(
      `INSERT INTO meridian_offsets (peer, partition, next_offset, owner_epoch) SELECT $1, u.partition, u.next_offset, 1 FROM unnest($2::int[], $3::bigint[]) AS u(partition, next_offset)
       ON CONFLICT (peer, partition) DO UPDATE SET next_offset = excluded.next_offset, owner_epoch = meridian_offsets.owner_epoch + 1`,
      [peer, offsets.map((o) => o.partition), offsets.map((o) => o.nextOffset.toString())],
    );
  }

  /** The applied rows of these origins, inserted if missing and locked (sorted, so concurrent batches never deadlock). */
  async lockApplied(origins: readonly { origin: string; region: string }[]): Promise<Map<string, AppliedRow>> {
    const wanted = [...new Map(origins.map((o) => [o.origin, o])).values()].sort((a, b) => (a.origin < b.origin ? -1 : 1));
    if (wanted.length === 0) return new Map();
    const lock = async (): Promise<Map<string, AppliedRow>> => {
      const { rows } = await this.#client.query<AppliedDbRow>({ ...APPLY_SQL.lockApplied, values: [wanted.map((o) => o.origin)] });
      return new Map(rows.map((r) => [r.origin, toApplied(r)]));
    };
    // Lock first: an origin's row exists after its first batch. A missing row cannot be locked:
    // insert the missing ones, then lock them all.
    const locked = await lock();
    if (locked.size === wanted.length) return locked;
    const missing = wanted.filter((o) => !locked.has(o.origin));
    await this.#client.query({ ...APPLY_SQL.insertApplied, values: [missing.map((o) => o.origin), missing.map((o) => o.region)] });
    return lock();
  }

  /** Stores applied rows (several origins in one statement). */
  async saveApplied(rows: readonly AppliedRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#client.query({
      ...APPLY_SQL.saveApplied,
      values: [rows.map((r) => r.origin), rows.map((r) => r.contiguous.toString()), rows.map((r) => r.contiguousOutboxId.toString()), rows.map((r) => JSON.stringify(r.beyond.map(([s, id]) => [s.toString(), id.toString()])))],
    });
  }

  /** The stored rows of these namespaces, in one query (unlocked, like `StoreTx.getNamespace`). */
  async namespacesAmong(names: readonly string[]): Promise<Map<string, NamespaceRow>> {
    if (names.length === 0) return new Map();
    const { rows } = await this.#client.query<NamespaceRow>({ ...APPLY_SQL.namespacesAmong, values: [names] });
    return new Map(rows.map((r) => [r.name, r]));
  }

  /**
   * Insert-or-lock of many keys (a batch's): after this call every key's row exists and is held
   * by this transaction. Existing rows are locked first, with one statement, in (namespace, key)
   * order — the order every apply takes its locks in. A missing row cannot be locked: the missing
   * keys are inserted with one statement (sorted, ON CONFLICT DO NOTHING); a row this
   * transaction inserted is its own until commit (nobody else can see, lock or insert it), so it
   * needs no lock; a key a concurrent transaction inserted first (the insert waited for it) is
   * locked by one more statement. Rows come back keyed by `JSON.stringify([namespace, key])`.
   */
  async lockKeys(keys: readonly KeyRef[]): Promise<Map<string, LockedKey>> {
    const out = new Map<string, LockedKey>();
    if (keys.length === 0) return out;
    const idOf = (k: KeyRef): string => JSON.stringify([k.namespace, k.key]);
    const lock = async (wanted: readonly KeyRef[]): Promise<void> => {
      const { rows } = await this.#client.query<{ namespace: string; key: string; state: Buffer | null; max_hlc: bigint }>({ ...APPLY_SQL.lockKeys, values: [arrayLiteral(wanted, (k) => k.namespace), arrayLiteral(wanted, (k) => k.key)] });
      for (const r of rows) out.set(idOf(r), { namespace: r.namespace, key: r.key, state: r.state ? bytes(r.state) : undefined, maxHlc: r.max_hlc });
    };
    await lock(keys);
    if (out.size === keys.length) return out;
    let missing = keys.filter((k) => !out.has(idOf(k)));
    const { rows } = await this.#client.query<{ namespace: string; key: string }>({ ...APPLY_SQL.insertKeys, values: [arrayLiteral(missing, (k) => k.namespace), arrayLiteral(missing, (k) => k.key)] });
    for (const r of rows) out.set(idOf(r), { namespace: r.namespace, key: r.key, state: undefined, maxHlc: 0n });
    if (out.size === keys.length) return out;
    missing = missing.filter((k) => !out.has(idOf(k)));
    await lock(missing);
    const lost = missing.find((k) => !out.has(idOf(k)));
    if (lost) throw new StoreError(StoreErrorCode.integrity, `key ${lost.namespace}/${lost.key} has no row after insert-or-lock`);
    return out;
  }

  /** Stores the new states of keys locked by `lockKeys`, in one statement. */
  async saveKeys(writes: readonly KeyWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const starts: number[] = [];
    let start = 1; // substring() counts from 1
    for (const w of writes) {
      starts.push(start);
      start += w.state.byteLength;
    }
    await this.#client.query({
      ...APPLY_SQL.saveKeys,
      values: [arrayLiteral(writes, (w) => w.namespace), arrayLiteral(writes, (w) => w.key), Buffer.concat(writes.map((w) => w.state)), arrayLiteral(starts, (n) => n), arrayLiteral(writes, (w) => w.state.byteLength), arrayLiteral(writes, (w) => w.maxHlc)],
    });
  }

  /**
   * Records conflicts, in order, each unless one with its id exists (in the table or earlier in
   * the list): the ids this call recorded. One statement.
   */
  async recordConflicts(conflicts: readonly ConflictRow[]): Promise<Set<string>> {
    const unique = [...new Map(conflicts.map((c) => [c.id, c])).values()];
    if (unique.length === 0) return new Set();
    const { rows } = await this.#client.query<{ id: string }>(APPLY_SQL.recordConflicts.text, [JSON.stringify(unique)]);
    return new Set(rows.map((r) => r.id));
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
      [arrayLiteral(keys, (k) => k.namespace), arrayLiteral(keys, (k) => k.key)],
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

  /**
   * Takes the relay lease if it is free or expired (or already ours); the new epoch, or undefined.
   * Only a relay of the region's current incarnation (`regionEpoch`) may take it: a relay of an
   * earlier one would number rows in a stream that has ended.
   */
  async acquireRelayLease(owner: string, leaseMs: number, regionEpoch: number): Promise<RelayState | undefined> {
    const { rows } = await this.#q<{ lease_epoch: bigint; last_outbox_id: bigint; last_sequence: bigint }>(
      `UPDATE meridian_relay SET lease_epoch = lease_epoch + 1, lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2::double precision / 1000)
       WHERE (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = $1) AND COALESCE((SELECT epoch FROM meridian_region), $3) = $3
       RETURNING lease_epoch, last_outbox_id, last_sequence`,
      [owner, leaseMs, regionEpoch],
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
   * One probe of the publish horizon, from one snapshot: the highest committed outbox id, the
   * transaction-id bound that every transaction running now is below (`xmax`), and the oldest
   * transaction still running (`xmin`; equal to `xmax` when none is). Rows at or below `maxId`
   * are safe to publish once a probe's `xmin` reaches this probe's `xmax` — at once, when this
   * probe's own `xmin` does: the transactions that drew lower ids have all ended.
   */
  async outboxHorizon(): Promise<{ maxId: bigint; xmax: bigint; xmin: bigint }> {
    const { rows } = await this.#q<{ max_id: bigint | null; xmax: string; xmin: string }>(
      'SELECT (SELECT max(id) FROM meridian_outbox) AS max_id, pg_snapshot_xmax(s)::text AS xmax, pg_snapshot_xmin(s)::text AS xmin FROM pg_current_snapshot() AS s',
    );
    return { maxId: rows[0]?.max_id ?? 0n, xmax: BigInt(rows[0]!.xmax), xmin: BigInt(rows[0]!.xmin) };
  }

  /**
   * The next rows to publish under the lease `epoch`, read in one statement with the lease's
   * published position: rows after the position's outbox id up to `upToId`, in id order. 'fenced'
   * when another relay holds the lease. Sequences are assigned from the returned position, never
   * from a relay's memory, so every relay assigns each row the same sequence: a relay that was
   * paused after this read publishes exactly the sequences its successor assigns to these rows.
   */
  async outboxForLease(epoch: bigint, upToId: bigint, limit: number): Promise<'fenced' | { lastOutboxId: bigint; lastSequence: bigint; rows: OutboxRow[] }> {
    const { rows } = await this.#q<{ last_outbox_id: bigint; last_sequence: bigint; id: bigint | null; message_key: string | null; envelope: Buffer | null }>(
      `SELECT r.last_outbox_id, r.last_sequence, o.id, o.message_key, o.envelope
         FROM meridian_relay AS r
         LEFT JOIN LATERAL (SELECT id, message_key, envelope FROM meridian_outbox WHERE id > r.last_outbox_id AND id <= $2 ORDER BY id LIMIT $3) AS o ON true
        WHERE r.lease_epoch = $1
        ORDER BY o.id`,
      [epoch, upToId, limit],
    );
    const first = rows[0];
    if (!first) return 'fenced';
    return {
      lastOutboxId: first.last_outbox_id,
      lastSequence: first.last_sequence,
      rows: rows.flatMap((r) => (r.id === null ? [] : [{ id: r.id, messageKey: r.message_key!, envelope: bytes(r.envelope!) }])),
    };
  }

  /**
   * Marks rows published with their sequences, under the lease, in one statement: the lease row's
   * position moves only if this relay still holds the lease epoch, and the outbox rows are marked
   * only together with it. 'fenced' when the lease moved on (nothing changed).
   */
  async markPublished(epoch: bigint, rows: readonly { id: bigint; sequence: bigint }[]): Promise<'ok' | 'fenced'> {
    const last = rows.at(-1);
    if (!last) return 'ok';
    const { rows: marked } = await this.#q<{ n: string }>(
      `WITH lease AS (UPDATE meridian_relay SET last_outbox_id = $2, last_sequence = $3 WHERE lease_epoch = $1 RETURNING 1),
            marked AS (UPDATE meridian_outbox AS o SET sequence = m.seq, published_at = now()
                         FROM unnest($4::bigint[], $5::bigint[]) AS m(id, seq), lease WHERE o.id = m.id RETURNING 1)
       SELECT (SELECT count(*) FROM lease)::text AS n`,
      [epoch, last.id, last.sequence, rows.map((r) => r.id.toString()), rows.map((r) => r.sequence.toString())],
    );
    return marked[0]?.n === '1' ? 'ok' : 'fenced';
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

  /** A peer's stored next offsets, per partition. */
  async peerOffsets(peer: string): Promise<Map<number, bigint>> {
    const { rows } = await this.#q<{ partition: number; next_offset: bigint }>('SELECT partition, next_offset FROM meridian_offsets WHERE peer = $1', [peer]);
    return new Map(rows.map((r) => [r.partition, r.next_offset]));
  }

  async applied(): Promise<AppliedRow[]> {
    return (await this.#q<AppliedDbRow>('SELECT * FROM meridian_applied ORDER BY origin')).rows.map(toApplied);
  }

  /** `applied()` without the sequences beyond each prefix (during a catch-up they are thousands, read and parsed for nothing). */
  async appliedPositions(): Promise<AppliedPosition[]> {
    const { rows } = await this.#q<Omit<AppliedDbRow, 'beyond'>>('SELECT origin, region, contiguous, contiguous_outbox_id FROM meridian_applied ORDER BY origin');
    return rows.map((r) => ({ origin: r.origin, region: r.region, contiguous: r.contiguous, contiguousOutboxId: r.contiguous_outbox_id }));
  }

  /** The peer links an operator paused, with the reason given. */
  async linkPauses(): Promise<Map<string, string>> {
    const { rows } = await this.#q<{ peer: string; reason: string }>('SELECT peer, reason FROM meridian_link_pauses');
    return new Map(rows.map((r) => [r.peer, r.reason]));
  }

  /** Stores an operator's pause of a peer link (a reason), or its resume (undefined). */
  async setLinkPause(peer: string, reason: string | undefined): Promise<void> {
    if (reason === undefined) await this.#q('DELETE FROM meridian_link_pauses WHERE peer = $1', [peer]);
    else await this.#q('INSERT INTO meridian_link_pauses (peer, reason) VALUES ($1, $2) ON CONFLICT (peer) DO UPDATE SET reason = excluded.reason, paused_at = now()', [peer, reason]);
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
