/**
 * The PostgreSQL adapter of a region: one pool, migrations at open, and transactions that
 * replay themselves on serialization failures and deadlocks.
 *
 * The write path's invariant lives here. A write's new state is a function of the key's stored
 * state and highest HLC alone, so it may be computed from a snapshot and stored only if the row
 * still holds exactly that snapshot: `compareAndWrite` updates the row (or inserts the missing
 * row) under that condition and appends the outbox row in the same single statement; a write
 * that lost the race stores nothing and is redone under the row lock (`transaction` +
 * `lockKey`). There a key's row is inserted-or-locked before its state is read: a missing row
 * cannot be locked, so the first write of a new key inserts an empty row (ON CONFLICT DO
 * NOTHING) and then locks it. Either way two replicas writing one key never mint the same dot or
 * lose an update, and no durable write can miss replication (docs/decisions/0003).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { classifyPgError, StoreError, StoreErrorCode } from './store-error.ts';
import { arrayLiteral } from './array-literal.ts';
import { migrate } from './migrations.ts';
import { ReplicationReads } from './replication-store.ts';
import { TreeReads } from './tree-store.ts';

// int8 (bigint) columns come back as strings by default; Meridian's HLCs and outbox ids are bigints.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => BigInt(v));

export type NamespacePolicy = 'lww' | 'mv' | 'counter' | 'set' | 'map';

export interface NamespaceRow {
  readonly name: string;
  readonly policy: NamespacePolicy;
  readonly declaredBy: string;
  readonly declaredHlc: bigint;
  readonly createdAt: Date;
}

export interface KeyRow {
  readonly namespace: string;
  readonly key: string;
  /** The encoded state; undefined for a key whose row was just inserted by this transaction. */
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
}

/** What a region's database knows of its own stream (`PgStore.ownStream`). */
export interface OwnStream {
  readonly epoch: number;
  readonly lastSequence: bigint;
  readonly lastOutboxId: bigint;
  readonly unpublished: bigint;
  readonly maxOutboxId: bigint;
}

export interface Incarnation {
  readonly epoch: number;
  readonly reason: string;
  /** The highest outbox id allocated when it began. */
  readonly outboxId: bigint;
  readonly startedAt: Date;
}

/**
 * Switches the database to epoch `to`, in the caller's transaction: the new actor's stream starts
 * at sequence 1 from where the relay left off in the outbox (rows not yet published go out under
 * the new actor), and the relay lease moves on, so a relay of the earlier incarnation can mark
 * nothing more (and cannot take the lease again: its epoch is not the database's).
 */
async function switchIncarnation(client: pg.PoolClient, to: number, reason: string): Promise<void> {
  await client.query('UPDATE meridian_region SET epoch = $1', [to]);
  await client.query('UPDATE meridian_relay SET last_sequence = 0, lease_epoch = lease_epoch + 1, lease_owner = NULL, lease_expires_at = NULL');
  await client.query(
    `INSERT INTO meridian_incarnations (epoch, reason, outbox_id)
     SELECT $1, $2, GREATEST((SELECT last_outbox_id FROM meridian_relay), (SELECT max(id) FROM meridian_outbox), pg_sequence_last_value('meridian_outbox_id_seq'), 0)
     ON CONFLICT (epoch) DO NOTHING`,
    [to, reason],
  );
}

export interface RegionIdentity {
  readonly region: string;
  readonly epoch: number;
}

/** A key's namespace and stored state, read in one statement before an optimistic write. */
export interface WriteSnapshot {
  readonly namespace: NamespaceRow | undefined;
  /** The key's row; undefined when it has none (never written, or the namespace is missing). */
  readonly key: KeyRow | undefined;
}

/** What `compareAndWrite` stores: the new state, conditional on the row still being `expected`. */
export interface ConditionalWrite {
  readonly namespace: string;
  /** The policy the write was planned under: the namespace must still have it. */
  readonly policy: NamespacePolicy;
  readonly key: string;
  /** The row the new state was computed from (undefined: the key had no row). */
  readonly expected: KeyRow | undefined;
  readonly state: Uint8Array;
  readonly maxHlc: bigint;
  readonly messageKey: string;
  readonly envelope: Uint8Array;
}

/**
 * A compare-and-write's outcome: saved with its outbox id, or not saved and a new snapshot to plan
 * from. A saved write carries the applied positions (per origin actor, the outbox id up to which
 * its updates are applied here) read by the same statement, so they cover every replicated update
 * the written state reflects (session tokens, DESIGN §6), and the key's held-back dead letters
 * (a token claims nothing the key does not reflect).
 */
export type ConditionalWriteResult =
  | { readonly saved: true; readonly outboxId: bigint; readonly applied: AppliedPositions; readonly held: readonly HeldLetter[] }
  | { readonly saved: false; readonly snapshot: WriteSnapshot };

/** Per origin actor, the outbox id up to which every update of that origin is applied here. */
export type AppliedPositions = ReadonlyMap<string, bigint>;

/**
 * A dead letter that holds a quarantined key's updates back (DESIGN §4): the key reflects nothing
 * of `origin` (undefined: unknown, then any actor of `peer`'s region) from origin sequence
 * `sequence` on (undefined: from its first). A sequence is at most its outbox id (the relay numbers
 * outbox rows in id order from 1), so it is a lower bound of the first position not reflected.
 */
export interface HeldLetter {
  readonly origin: string | undefined;
  readonly peer: string;
  readonly sequence: bigint | undefined;
}

/** What a read answers from: the namespace, the key's committed row, and positions read in the same statement. */
export interface ReadView {
  readonly namespace: NamespaceRow | undefined;
  readonly key: KeyRow | undefined;
  /** The highest committed outbox id: this region's own session position. */
  readonly highWater: bigint;
  readonly applied: AppliedPositions;
  /** The key's dead letters while it is quarantined (empty otherwise). */
  readonly held: readonly HeldLetter[];
}

/** The applied positions as one JSON object (`positionsOf` reads it), for a statement's column. */
const APPLIED_COLUMN = '(SELECT json_object_agg(origin, contiguous_outbox_id::text) FROM meridian_applied) AS applied';

function positionsOf(json: Record<string, string> | null | undefined): AppliedPositions {
  return new Map(Object.entries(json ?? {}).map(([origin, id]) => [origin, BigInt(id)]));
}

/**
 * The dead letters holding a key back while it is quarantined, as one JSON column (`heldOf` reads
 * it); the dead letters are scanned only for a quarantined key (the EXISTS is evaluated once).
 */
function heldColumn(namespace: string, key: string): string {
  return `(SELECT json_agg(json_build_array(d.origin, d.peer, d.sequence::text)) FROM meridian_dead_letters d
            WHERE d.namespace = ${namespace} AND d.key = ${key} AND d.redriven_at IS NULL
              AND EXISTS (SELECT 1 FROM meridian_quarantine q WHERE q.namespace = ${namespace} AND q.key = ${key})) AS held`;
}

type HeldJson = [string | null, string, string | null][] | null | undefined;

function heldOf(json: HeldJson): HeldLetter[] {
  return (json ?? []).map(([origin, peer, sequence]) => ({ origin: origin ?? undefined, peer, sequence: sequence === null ? undefined : BigInt(sequence) }));
}

export type IdempotencyClaim =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly fingerprint: string; readonly status: number | undefined; readonly response: unknown };

/** What an idempotency record belongs to: Idempotency-Keys are scoped by the data key they write. */
export interface IdempotencyScope {
  readonly namespace: string;
  readonly key: string;
}

/** An answer a replicated update carried, to store where the update is applied. */
export interface ReplicatedAnswer extends IdempotencyScope {
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  readonly status: number;
  readonly response: unknown;
}

/**
 * The stored record's key: the client's Idempotency-Key scoped by the data key it writes, so two
 * clients that pick the same Idempotency-Key for different keys (in one region or in two, whose
 * records meet once they replicate) never see each other's answer. The scope is a hash, so the
 * record key stays short whatever the key's length; the client's key stays readable after it.
 */
function idempotencyRecordKey(scope: IdempotencyScope, idempotencyKey: string): string {
  return `${createHash('sha256').update(JSON.stringify([scope.namespace, scope.key])).digest('hex').slice(0, 32)}/${idempotencyKey}`;
}

export interface StoreOptions {
  readonly connectionString: string;
  readonly poolSize?: number;
  readonly applicationName?: string;
  readonly connectionTimeoutMs?: number;
  /** Called when an idle pooled connection fails (e.g. the server restarted); the pool replaces it. */
  readonly onIdleError?: (error: Error) => void;
}

interface NamespaceDbRow {
  name: string;
  policy: NamespacePolicy;
  declared_by: string;
  declared_hlc: bigint;
  created_at: Date;
}

function toNamespace(r: NamespaceDbRow): NamespaceRow {
  return { name: r.name, policy: r.policy, declaredBy: r.declared_by, declaredHlc: r.declared_hlc, createdAt: r.created_at };
}

type SnapshotDbRow = NamespaceDbRow & { has_row: boolean; state: Buffer | null; max_hlc: bigint | null };

/** The snapshot statement's row (none: the namespace does not exist). */
function toSnapshot(r: SnapshotDbRow | undefined, namespace: string, key: string): WriteSnapshot {
  if (!r) return { namespace: undefined, key: undefined };
  return { namespace: toNamespace(r), key: r.has_row ? { namespace, key, state: r.state ? bytes(r.state) : undefined, maxHlc: r.max_hlc ?? 0n } : undefined };
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A write snapshot's columns (`toSnapshot` reads them): the namespace row, then the key's row. */
const SNAPSHOT_COLUMNS = 'n.name, n.policy, n.declared_by, n.declared_hlc, n.created_at, k.key IS NOT NULL AS has_row, k.state, k.max_hlc';
/** The same columns, empty: the rows of saved writes, which carry an outbox id instead. */
const NO_SNAPSHOT_COLUMNS = `NULL AS name, NULL AS policy, NULL AS declared_by, NULL::bigint AS declared_hlc,
                  NULL::timestamptz AS created_at, NULL::boolean AS has_row, NULL::bytea AS state, NULL::bigint AS max_hlc`;

/**
 * The tail of both compare-and-write statements: the new outbox id when the write was saved;
 * otherwise (the CTE `saved` is empty) the snapshot statement's columns, read in the same
 * statement. No row at all: the namespace does not exist.
 */
const SNAPSHOT_ON_MISS = `SELECT id AS outbox_id, ${NO_SNAPSHOT_COLUMNS}, ${APPLIED_COLUMN}, ${heldColumn('$1', '$2')}
             FROM queued
           UNION ALL
           SELECT NULL, ${SNAPSHOT_COLUMNS}, NULL, NULL
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1 AND NOT EXISTS (SELECT 1 FROM saved)`;

/**
 * This region's own session position, as one SQL expression: the highest committed outbox id.
 * The relay prunes published rows, so an idle outbox is empty and max(id) alone falls to 0; every
 * pruned row was published first, and the relay's published position (`last_outbox_id`) is at
 * least its id. Not the id sequence's last value: that counts ids drawn by transactions that
 * rolled back or are still running, which no peer will ever report as applied.
 */
const OUTBOX_HIGH_WATER = 'GREATEST((SELECT max(id) FROM meridian_outbox), (SELECT last_outbox_id FROM meridian_relay))';

/**
 * The write path's statements, named so that each pooled connection parses and plans them once
 * (node-postgres prepares a named statement on its first use per connection).
 */
const SQL = {
  snapshot: {
    name: 'meridian_write_snapshot',
    text: `SELECT ${SNAPSHOT_COLUMNS}
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1`,
  },
  readView: {
    name: 'meridian_read_view',
    // The positions come from the statement's snapshot, the key's row too: a token built from them
    // covers every replicated update the row reflects (never positions read before the row).
    text: `SELECT n.*, k.state, k.max_hlc, ${OUTBOX_HIGH_WATER} AS high_water, ${APPLIED_COLUMN}, ${heldColumn('$1', '$2')}
             FROM meridian_namespaces n LEFT JOIN meridian_keys k ON k.namespace = n.name AND k.key = $2
            WHERE n.name = $1`,
  },
  // The outbox row is drawn after the key row is written (the CTE's row feeds the INSERT), so the
  // transaction owns its id before the outbox id exists; pg_current_xact_id() says so explicitly
  // (the relay's horizon relies on it). The write also requires the namespace to still have the
  // policy the write was planned under (a replicated declaration can replace it). When nothing
  // was saved (the row or the policy changed), the same statement answers with a new snapshot
  // instead — the namespace row and the key's row, as `snapshot` reads them — so the write can
  // be planned again without another round trip.
  updateIfUnchanged: {
    name: 'meridian_write_update_if_unchanged',
    text: `WITH saved AS (
             UPDATE meridian_keys SET state = $3, max_hlc = $4, updated_at = now()
              WHERE namespace = $1 AND key = $2 AND state IS NOT DISTINCT FROM $5::bytea AND max_hlc = $6
                AND EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = $1 AND policy = $9)
             RETURNING pg_current_xact_id()),
           queued AS (INSERT INTO meridian_outbox (message_key, envelope) SELECT $7, $8 FROM saved RETURNING id)
           ${SNAPSHOT_ON_MISS}`,
  },
  insertIfMissing: {
    name: 'meridian_write_insert_if_missing',
    text: `WITH saved AS (
             INSERT INTO meridian_keys (namespace, key, state, max_hlc)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = $1 AND policy = $7)
             ON CONFLICT DO NOTHING RETURNING pg_current_xact_id()),
           queued AS (INSERT INTO meridian_outbox (message_key, envelope) SELECT $5, $6 FROM saved RETURNING id)
           ${SNAPSHOT_ON_MISS}`,
  },
  // Several compare-and-writes of existing rows (distinct keys) in one statement, so one commit:
  // the write path's group commit. The rows are locked in key order first (as every statement
  // that locks several keys does, so two of them never deadlock); each write is saved only if its
  // row still holds its snapshot and its namespace its policy, as in updateIfUnchanged. The
  // states, snapshots and envelopes travel as one binary parameter cut by offsets (a bytea[]
  // would go as hex text). Each write answers with its outbox id (found by its message key,
  // unique in the batch), or with the snapshot to plan it again from.
  updateManyIfUnchanged: {
    name: 'meridian_write_update_many_if_unchanged',
    text: `WITH input AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::int[], $11::bigint[], $12::bigint[])
               WITH ORDINALITY AS i(namespace, key, policy, message_key, state_at, state_length, expected_at, expected_length, envelope_at, envelope_length, max_hlc, expected_hlc, n)),
           locked AS (
             SELECT k.namespace, k.key FROM meridian_keys k
              WHERE (k.namespace, k.key) IN (SELECT namespace, key FROM input)
              ORDER BY k.namespace, k.key FOR UPDATE),
           saved AS (
             UPDATE meridian_keys k SET state = substring($13::bytea FROM i.state_at FOR i.state_length), max_hlc = i.max_hlc, updated_at = now()
               FROM input i, locked l
              WHERE k.namespace = i.namespace AND k.key = i.key AND l.namespace = i.namespace AND l.key = i.key
                AND k.state IS NOT DISTINCT FROM (CASE WHEN i.expected_length < 0 THEN NULL ELSE substring($13::bytea FROM i.expected_at FOR i.expected_length) END)
                AND k.max_hlc = i.expected_hlc
                AND EXISTS (SELECT 1 FROM meridian_namespaces WHERE name = i.namespace AND policy = i.policy)
             RETURNING i.n, pg_current_xact_id()),
           queued AS (
             INSERT INTO meridian_outbox (message_key, envelope)
             SELECT i.message_key, substring($13::bytea FROM i.envelope_at FOR i.envelope_length) FROM saved s JOIN input i ON i.n = s.n ORDER BY i.n
             RETURNING id, message_key)
           SELECT i.n, q.id AS outbox_id, ${NO_SNAPSHOT_COLUMNS}, ${APPLIED_COLUMN}, ${heldColumn('i.namespace', 'i.key')}
             FROM queued q JOIN input i ON i.message_key = q.message_key
           UNION ALL
           SELECT i.n, NULL, ${SNAPSHOT_COLUMNS}, NULL, NULL
             FROM input i LEFT JOIN meridian_namespaces n ON n.name = i.namespace LEFT JOIN meridian_keys k ON k.namespace = i.namespace AND k.key = i.key
            WHERE i.n NOT IN (SELECT n FROM saved)`,
  },
  lockKey: { name: 'meridian_lock_key', text: 'SELECT state, max_hlc FROM meridian_keys WHERE namespace = $1 AND key = $2 FOR UPDATE' },
  insertEmptyKey: { name: 'meridian_insert_empty_key', text: 'INSERT INTO meridian_keys (namespace, key) VALUES ($1, $2) ON CONFLICT DO NOTHING' },
  saveKey: { name: 'meridian_save_key', text: 'UPDATE meridian_keys SET state = $3, max_hlc = $4, updated_at = now() WHERE namespace = $1 AND key = $2' },
  appendOutbox: { name: 'meridian_append_outbox', text: 'INSERT INTO meridian_outbox (message_key, envelope) SELECT $1, $2 FROM (SELECT pg_current_xact_id()) AS x RETURNING id' },
  getNamespace: { name: 'meridian_get_namespace', text: 'SELECT * FROM meridian_namespaces WHERE name = $1' },
} as const;

/** What a write transaction can do. Obtained only inside `PgStore.transaction`. */
export class StoreTx {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  async getNamespace(name: string): Promise<NamespaceRow | undefined> {
    const { rows } = await this.#client.query<NamespaceDbRow>({ ...SQL.getNamespace, values: [name] });
    return rows[0] ? toNamespace(rows[0]) : undefined;
  }

  /** Inserts the namespace unless it exists; returns the row that is stored either way, locked. */
  async declareNamespace(name: string, policy: NamespacePolicy, declaredBy: string, declaredHlc: bigint): Promise<{ created: boolean; row: NamespaceRow }> {
    const inserted = await this.#client.query<NamespaceDbRow>(
      `INSERT INTO meridian_namespaces (name, policy, declared_by, declared_hlc) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING *`,
      [name, policy, declaredBy, declaredHlc],
    );
    if (inserted.rows[0]) return { created: true, row: toNamespace(inserted.rows[0]) };
    const { rows } = await this.#client.query<NamespaceDbRow>('SELECT * FROM meridian_namespaces WHERE name = $1 FOR UPDATE', [name]);
    if (!rows[0]) throw new StoreError(StoreErrorCode.integrity, `namespace ${name} vanished while it was being declared`);
    return { created: false, row: toNamespace(rows[0]) };
  }

  /**
   * Insert-or-lock: after this call the key's row exists and is locked by this transaction.
   * Returns its stored state (undefined when the key was never written).
   */
  async lockKey(namespace: string, key: string): Promise<KeyRow> {
    const lock = (): Promise<pg.QueryResult<{ state: Buffer | null; max_hlc: bigint }>> =>
      this.#client.query<{ state: Buffer | null; max_hlc: bigint }>({ ...SQL.lockKey, values: [namespace, key] });
    // Lock first: an existing key (every write but its first) costs one round trip. Only a
    // missing row is inserted (a concurrent inserter wins or waits on the unique index) and then
    // locked — never read unlocked.
    let { rows } = await lock();
    if (!rows[0]) {
      await this.#client.query({ ...SQL.insertEmptyKey, values: [namespace, key] });
      ({ rows } = await lock());
    }
    const row = rows[0];
    if (!row) throw new StoreError(StoreErrorCode.integrity, `key ${namespace}/${key} has no row after insert-or-lock`);
    return { namespace, key, state: row.state ? bytes(row.state) : undefined, maxHlc: row.max_hlc };
  }

  async saveKey(namespace: string, key: string, state: Uint8Array, maxHlc: bigint): Promise<void> {
    await this.#client.query({ ...SQL.saveKey, values: [namespace, key, buffer(state), maxHlc] });
  }

  /** Removes a key row this transaction inserted but never wrote (a no-op operation on a new key). */
  async deleteEmptyKey(namespace: string, key: string): Promise<void> {
    await this.#client.query('DELETE FROM meridian_keys WHERE namespace = $1 AND key = $2 AND state IS NULL', [namespace, key]);
  }

  async outboxHighWater(): Promise<bigint> {
    return (await this.#client.query<{ id: bigint | null }>(`SELECT ${OUTBOX_HIGH_WATER} AS id`)).rows[0]?.id ?? 0n;
  }

  /**
   * The applied positions, read by this transaction now. Read after the key's row is locked, they
   * cover every replicated update the row reflects (an apply that changed it has committed).
   */
  async appliedPositions(): Promise<AppliedPositions> {
    return positionsOf((await this.#client.query<{ applied: Record<string, string> | null }>(`SELECT ${APPLIED_COLUMN}`)).rows[0]?.applied);
  }

  /** The key's held-back dead letters while it is quarantined (empty otherwise), read by this transaction now. */
  async heldLetters(namespace: string, key: string): Promise<HeldLetter[]> {
    return heldOf((await this.#client.query<{ held: HeldJson }>(`SELECT ${heldColumn('$1', '$2')}`, [namespace, key])).rows[0]?.held);
  }

  /**
   * Appends the replication envelope of this transaction's write and returns its outbox id.
   * The transaction must already have written (lockKey / declareNamespace) — it then owns a
   * transaction id before the outbox id is drawn, which the relay's horizon relies on.
   */
  async appendOutbox(messageKey: string, envelope: Uint8Array): Promise<bigint> {
    // pg_current_xact_id() makes sure this transaction owns a transaction id before the outbox
    // id is drawn (the default runs after the SELECT): the relay's horizon relies on it.
    const { rows } = await this.#client.query<{ id: bigint }>({ ...SQL.appendOutbox, values: [messageKey, buffer(envelope)] });
    return rows[0]!.id;
  }

  /**
   * Claims an idempotency key of a data key for this transaction. A concurrent claim of the same
   * key waits on the unique index until this transaction ends, then sees the stored answer (one
   * written here, or one a replicator stored with the update of the first attempt elsewhere).
   */
  async claimIdempotencyKey(scope: IdempotencyScope, idempotencyKey: string, fingerprint: string): Promise<IdempotencyClaim> {
    const recordKey = idempotencyRecordKey(scope, idempotencyKey);
    const inserted = await this.#client.query('INSERT INTO meridian_idempotency (idempotency_key, fingerprint) VALUES ($1, $2) ON CONFLICT DO NOTHING', [recordKey, fingerprint]);
    if (inserted.rowCount === 1) return { claimed: true };
    const { rows } = await this.#client.query<{ fingerprint: string; status: number | null; response: unknown }>(
      'SELECT fingerprint, status, response FROM meridian_idempotency WHERE idempotency_key = $1',
      [recordKey],
    );
    const row = rows[0];
    if (!row) throw new StoreError(StoreErrorCode.retry, 'idempotency record vanished; retry');
    return { claimed: false, fingerprint: row.fingerprint, status: row.status ?? undefined, response: row.response };
  }

  async recordIdempotentAnswer(scope: IdempotencyScope, idempotencyKey: string, status: number, response: unknown): Promise<void> {
    await this.#client.query('UPDATE meridian_idempotency SET status = $2, response = $3 WHERE idempotency_key = $1', [idempotencyRecordKey(scope, idempotencyKey), status, JSON.stringify(response)]);
  }

  /**
   * Stores the answers that replicated updates carried, in the apply transaction. A record this
   * region already holds for the same scoped key is kept (ON CONFLICT DO NOTHING): its own
   * clients were answered from it, and the two can differ only if the key was reused.
   */
  async storeReplicatedAnswers(answers: readonly ReplicatedAnswer[]): Promise<void> {
    if (answers.length === 0) return;
    await this.#client.query(
      `INSERT INTO meridian_idempotency (idempotency_key, fingerprint, status, response)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[]) ON CONFLICT DO NOTHING`,
      [answers.map((a) => idempotencyRecordKey(a, a.idempotencyKey)), answers.map((a) => a.fingerprint), answers.map((a) => a.status), answers.map((a) => JSON.stringify(a.response))],
    );
  }
}

export class PgStore {
  readonly pool: pg.Pool;
  readonly replication: ReplicationReads;
  /** Anti-entropy: the hash tree, key states, positions and repairs. */
  readonly tree: TreeReads;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
    this.replication = new ReplicationReads(pool);
    this.tree = new TreeReads(pool);
  }

  /** Opens the pool and applies the migrations. */
  static async open(options: StoreOptions): Promise<PgStore> {
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'meridian',
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
      // Connections stay open once made (the pool is small and bounded): closing idle ones made
      // the first burst after a quiet spell pay for new backends (a fork, a cold catalog cache,
      // every prepared statement parsed again), a latency spike the write benchmark showed at
      // the start of its phases. A connection the server closes is dropped on its error.
      idleTimeoutMillis: 0,
    });
    // Without a listener, an idle client's error (server restart) would crash the process.
    pool.on('error', (error) => options.onIdleError?.(error));
    const store = new PgStore(pool);
    try {
      await migrate(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw classifyPgError(error);
    }
    return store;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** One round trip; throws a classified StoreError when the database does not answer. */
  async ping(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      throw classifyPgError(error);
    }
  }

  /**
   * Binds this database to a region. The first start records the region and its epoch; later
   * starts must name the same region. A configured epoch above the stored one replaces it (the
   * operator's move after restoring a backup); one below it is refused.
   */
  async bindRegion(region: string, configuredEpoch: number | undefined): Promise<RegionIdentity> {
    return this.transaction(async (_tx, client) => {
      await client.query('INSERT INTO meridian_region (region, epoch) VALUES ($1, $2) ON CONFLICT DO NOTHING', [region, configuredEpoch ?? 1]);
      const { rows } = await client.query<{ region: string; epoch: number }>('SELECT region, epoch FROM meridian_region FOR UPDATE');
      const stored = rows[0]!;
      if (stored.region !== region) {
        throw new StoreError(StoreErrorCode.integrity, `this database belongs to region ${stored.region}, not ${region}: give each region its own database`);
      }
      if (configuredEpoch !== undefined && configuredEpoch < stored.epoch) {
        throw new StoreError(StoreErrorCode.integrity, `expected an epoch of at least ${stored.epoch} for region ${region} (got ${configuredEpoch}): epochs never go back; unset MERIDIAN_EPOCH (the database keeps its epoch) or set it to ${stored.epoch} or more`);
      }
      if (configuredEpoch !== undefined && configuredEpoch > stored.epoch) {
        await switchIncarnation(client, configuredEpoch, `MERIDIAN_EPOCH raised from ${stored.epoch} to ${configuredEpoch}`);
        return { region, epoch: configuredEpoch };
      }
      return { region, epoch: stored.epoch };
    });
  }

  /**
   * What this database knows of its own stream: the current epoch, the relay's published position
   * (sequence and outbox id, under the current epoch's actor), how many outbox rows still wait to
   * be published, and the highest outbox id ever allocated. Compared at start with what the
   * region's topic and its peers hold of the stream (incarnation.ts).
   */
  async ownStream(): Promise<OwnStream> {
    const { rows } = await this.pool.query<{ epoch: number; last_sequence: bigint; last_outbox_id: bigint; unpublished: bigint; max_outbox_id: bigint }>(
      `SELECT g.epoch, r.last_sequence, r.last_outbox_id,
              (SELECT count(*) FROM meridian_outbox WHERE id > r.last_outbox_id) AS unpublished,
              GREATEST(r.last_outbox_id, (SELECT max(id) FROM meridian_outbox), pg_sequence_last_value('meridian_outbox_id_seq'), 0) AS max_outbox_id
         FROM meridian_region AS g, meridian_relay AS r`,
    );
    const r = rows[0];
    if (!r) throw new StoreError(StoreErrorCode.integrity, 'this database is not bound to a region yet');
    return { epoch: r.epoch, lastSequence: BigInt(r.last_sequence), lastOutboxId: BigInt(r.last_outbox_id), unpublished: BigInt(r.unpublished), maxOutboxId: BigInt(r.max_outbox_id) };
  }

  /**
   * Starts incarnation `to` if the database is still at `from` (another replica may have started
   * one first: then its epoch is kept). Returns the epoch now in force.
   */
  async startIncarnation(from: number, to: number, reason: string): Promise<number> {
    return this.transaction(async (_tx, client) => {
      const { rows } = await client.query<{ epoch: number }>('SELECT epoch FROM meridian_region FOR UPDATE');
      const current = rows[0]!.epoch;
      if (current !== from || to <= current) return current;
      await switchIncarnation(client, to, reason);
      return to;
    });
  }

  /** The incarnations this database started, oldest first. */
  async incarnations(): Promise<Incarnation[]> {
    const { rows } = await this.pool.query<{ epoch: number; reason: string; outbox_id: bigint; started_at: Date }>('SELECT epoch, reason, outbox_id, started_at FROM meridian_incarnations ORDER BY epoch');
    return rows.map((r) => ({ epoch: r.epoch, reason: r.reason, outboxId: BigInt(r.outbox_id), startedAt: r.started_at }));
  }

  /**
   * Runs `fn` in a transaction. Serialization failures and deadlocks replay it (up to
   * `retries` times, with jittered backoff); every other error is classified and thrown.
   */
  async transaction<T>(fn: (tx: StoreTx, client: pg.PoolClient) => Promise<T>, options: { retries?: number } = {}): Promise<T> {
    const retries = options.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      const replay = Symbol('replay');
      const result = await this.#withConnection<T | typeof replay>(async (client, connection) => {
        // Until COMMIT is sent, a lost connection rolls the transaction back (the server aborts an
        // open transaction whose connection drops); once it is sent, the outcome is unknown.
        let committing = false;
        try {
          await client.query('BEGIN');
          const value = await fn(new StoreTx(client), client);
          committing = true;
          await client.query('COMMIT');
          return value;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {
            connection.broken = true;
          });
          const classified = classifyPgError(error, { committing });
          if (classified.code === StoreErrorCode.unavailable || classified.code === StoreErrorCode.outcomeUnknown) connection.broken = true;
          if (classified.code === StoreErrorCode.retry && attempt < retries) return replay;
          // Errors thrown by `fn` itself (domain errors) pass through unchanged.
          if (classified.code === StoreErrorCode.failed && !(error instanceof pg.DatabaseError)) throw error;
          throw classified;
        }
      });
      if (result !== replay) return result;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** attempt));
    }
  }

  /**
   * Runs `fn` on a pooled connection of its own. A connection that cannot be had is classified
   * (nothing was sent on it). A connection lost meanwhile also surfaces as the query's rejection;
   * without a listener the client's 'error' event would crash the process. A broken connection
   * (lost, or marked by `fn`) is discarded, not returned to the pool.
   */
  async #withConnection<T>(fn: (client: pg.PoolClient, connection: { broken: boolean }) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw classifyPgError(error);
    }
    const connection = { broken: false };
    const onError = (): void => {
      connection.broken = true;
    };
    client.on('error', onError);
    try {
      return await fn(client, connection);
    } finally {
      client.off('error', onError);
      client.release(connection.broken);
    }
  }

  async listNamespaces(): Promise<NamespaceRow[]> {
    return this.#read(async () => (await this.pool.query<NamespaceDbRow>('SELECT * FROM meridian_namespaces ORDER BY name')).rows.map(toNamespace));
  }

  async getNamespace(name: string): Promise<NamespaceRow | undefined> {
    return this.#read(async () => {
      const { rows } = await this.pool.query<NamespaceDbRow>('SELECT * FROM meridian_namespaces WHERE name = $1', [name]);
      return rows[0] ? toNamespace(rows[0]) : undefined;
    });
  }

  /** One statement: the namespace and the key's row (the snapshot an optimistic write computes from). */
  async writeSnapshot(namespace: string, key: string): Promise<WriteSnapshot> {
    return this.#read(async () => toSnapshot((await this.pool.query<SnapshotDbRow>({ ...SQL.snapshot, values: [namespace, key] })).rows[0], namespace, key));
  }

  /**
   * One statement, its own transaction: stores `write.state` if the key's row still holds exactly
   * `write.expected` (or, with no expected row, if the key still has none) and the namespace still
   * has `write.policy`, and appends the outbox row. Returns the outbox id; or, when the row or the
   * policy changed, nothing was stored and the answer is a new snapshot, read by the same
   * statement, to plan the write from again.
   */
  async compareAndWrite(write: ConditionalWrite): Promise<ConditionalWriteResult> {
    return this.#commit(async (client) => {
      const { namespace, key, expected } = write;
      const { rows } = expected
        ? await client.query<SnapshotDbRow & { outbox_id: bigint | null; applied: Record<string, string> | null; held: HeldJson }>({
            ...SQL.updateIfUnchanged,
            values: [namespace, key, buffer(write.state), write.maxHlc, expected.state ? buffer(expected.state) : null, expected.maxHlc, write.messageKey, buffer(write.envelope), write.policy],
          })
        : await client.query<SnapshotDbRow & { outbox_id: bigint | null; applied: Record<string, string> | null; held: HeldJson }>({
            ...SQL.insertIfMissing,
            values: [namespace, key, buffer(write.state), write.maxHlc, write.messageKey, buffer(write.envelope), write.policy],
          });
      const outboxId = rows[0]?.outbox_id;
      if (outboxId !== undefined && outboxId !== null) return { saved: true, outboxId, applied: positionsOf(rows[0]?.applied), held: heldOf(rows[0]?.held) };
      return { saved: false, snapshot: toSnapshot(rows[0], namespace, key) };
    });
  }

  /**
   * Several compare-and-writes in one statement (one transaction, one commit), each with the
   * semantics of `compareAndWrite`: a write whose row or policy changed stores nothing and
   * answers with a new snapshot; the others are saved. Every write must have an expected row
   * (a key's first write goes through `compareAndWrite`), and their keys must be distinct.
   * Answers in the writes' order.
   */
  async compareAndWriteMany(writes: readonly ConditionalWrite[]): Promise<ConditionalWriteResult[]> {
    const seen = new Set<string>();
    const blob: Uint8Array[] = [];
    let at = 1;
    const put = (b: Uint8Array): number => {
      const start = at;
      blob.push(b);
      at += b.byteLength;
      return start;
    };
    const cols = { namespace: [] as string[], key: [] as string[], policy: [] as string[], messageKey: [] as string[], stateAt: [] as number[], stateLength: [] as number[], expectedAt: [] as number[], expectedLength: [] as number[], envelopeAt: [] as number[], envelopeLength: [] as number[], maxHlc: [] as string[], expectedHlc: [] as string[] };
    for (const w of writes) {
      if (!w.expected) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${w.namespace}/${w.key} has no expected row`);
      if (seen.has(w.messageKey)) throw new StoreError(StoreErrorCode.failed, `compareAndWriteMany: ${w.messageKey} twice in one batch`);
      seen.add(w.messageKey);
      cols.namespace.push(w.namespace);
      cols.key.push(w.key);
      cols.policy.push(w.policy);
      cols.messageKey.push(w.messageKey);
      cols.stateAt.push(put(w.state));
      cols.stateLength.push(w.state.byteLength);
      const expected = w.expected.state;
      cols.expectedAt.push(expected ? put(expected) : 1);
      cols.expectedLength.push(expected ? expected.byteLength : -1);
      cols.envelopeAt.push(put(w.envelope));
      cols.envelopeLength.push(w.envelope.byteLength);
      cols.maxHlc.push(w.maxHlc.toString());
      cols.expectedHlc.push(w.expected.maxHlc.toString());
    }
    return this.#commit(async (client) => {
      const { rows } = await client.query<SnapshotDbRow & { n: bigint; outbox_id: bigint | null; applied: Record<string, string> | null; held: HeldJson }>({
        ...SQL.updateManyIfUnchanged,
        values: [
          ...[cols.namespace, cols.key, cols.policy, cols.messageKey, cols.stateAt, cols.stateLength, cols.expectedAt, cols.expectedLength, cols.envelopeAt, cols.envelopeLength, cols.maxHlc, cols.expectedHlc].map((column: readonly (string | number)[]) => arrayLiteral(column, (v) => v)),
          Buffer.concat(blob),
        ],
      });
      const out: (ConditionalWriteResult | undefined)[] = writes.map(() => undefined);
      let applied: AppliedPositions | undefined;
      for (const r of rows) {
        const i = Number(r.n) - 1;
        const w = writes[i]!;
        out[i] = r.outbox_id !== null ? { saved: true, outboxId: r.outbox_id, applied: (applied ??= positionsOf(r.applied)), held: heldOf(r.held) } : { saved: false, snapshot: toSnapshot(r.name === null ? undefined : r, w.namespace, w.key) };
      }
      return out.map((r, i) => {
        if (r === undefined) throw new StoreError(StoreErrorCode.integrity, `compareAndWriteMany: no answer for ${writes[i]!.messageKey}`);
        return r;
      });
    });
  }

  /**
   * One statement: a key's namespace, committed state (unlocked), the outbox high-water, the
   * applied positions and the key's held-back dead letters, for reads.
   */
  async readView(namespace: string, key: string): Promise<ReadView> {
    return this.#read(async () => {
      const { rows } = await this.pool.query<NamespaceDbRow & { state: Buffer | null; max_hlc: bigint | null; high_water: bigint | null; applied: Record<string, string> | null; held: HeldJson }>({ ...SQL.readView, values: [namespace, key] });
      const r = rows[0];
      if (!r) return { namespace: undefined, key: undefined, highWater: 0n, applied: new Map(), held: [] };
      return {
        namespace: toNamespace(r),
        key: r.state ? { namespace, key, state: bytes(r.state), maxHlc: r.max_hlc ?? 0n } : undefined,
        highWater: r.high_water ?? 0n,
        applied: positionsOf(r.applied),
        held: heldOf(r.held),
      };
    });
  }

  /** Reads a key's committed state without locking it. */
  async readKey(namespace: string, key: string): Promise<KeyRow | undefined> {
    return this.#read(async () => {
      const { rows } = await this.pool.query<{ state: Buffer | null; max_hlc: bigint }>('SELECT state, max_hlc FROM meridian_keys WHERE namespace = $1 AND key = $2', [namespace, key]);
      const row = rows[0];
      if (!row?.state) return undefined;
      return { namespace, key, state: bytes(row.state), maxHlc: row.max_hlc };
    });
  }

  /** The highest outbox id committed so far: this region's own position in its session tokens. */
  async outboxHighWater(): Promise<bigint> {
    return this.#read(async () => (await this.pool.query<{ id: bigint | null }>(`SELECT ${OUTBOX_HIGH_WATER} AS id`)).rows[0]?.id ?? 0n);
  }

  /**
   * Runs one statement that is its own transaction and may commit a write. A connection that
   * cannot be had wrote nothing (unavailable); one lost once the statement was sent leaves the
   * outcome unknown (store-error.ts), and the connection is discarded.
   */
  async #commit<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#withConnection(async (client, connection) => {
      try {
        return await fn(client);
      } catch (error) {
        const classified = classifyPgError(error, { committing: true });
        if (classified.code === StoreErrorCode.unavailable || classified.code === StoreErrorCode.outcomeUnknown) connection.broken = true;
        throw classified;
      }
    });
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw classifyPgError(error);
    }
  }
}
