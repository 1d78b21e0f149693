/**
 * Versioned schema migrations, applied at start by every replica of the region service.
 *
 * Safe when several replicas start at once: the runner holds a session advisory lock while it
 * reads the applied versions and applies the missing ones, each in its own transaction with its
 * version row, so a migration is applied exactly once. Migrations are append-only: a released
 * migration is never edited (a test pins their checksums).
 */
import type pg from 'pg';
import { createHash } from 'node:crypto';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'region, namespaces, keys, outbox, idempotency',
    sql: `
      -- The region this database belongs to, and its incarnation epoch (bumped after a restore
      -- from backup, so the region never mints the same dot twice).
      CREATE TABLE meridian_region (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        region text NOT NULL,
        epoch integer NOT NULL CHECK (epoch > 0)
      );
      CREATE TABLE meridian_namespaces (
        name text PRIMARY KEY,
        policy text NOT NULL CHECK (policy IN ('lww', 'mv', 'counter', 'set', 'map')),
        declared_by text NOT NULL,
        declared_hlc bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      -- One row per key: the encoded causal state (a DVV set of versions for registers, a CRDT
      -- state otherwise). state IS NULL only inside the transaction that inserts-and-locks a new key.
      CREATE TABLE meridian_keys (
        namespace text NOT NULL REFERENCES meridian_namespaces (name),
        key text NOT NULL,
        state bytea,
        max_hlc bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, key)
      );
      -- The transactional outbox: one row per acknowledged write, in the write's transaction.
      -- The relay numbers rows (sequence) as it publishes them.
      CREATE TABLE meridian_outbox (
        id bigserial PRIMARY KEY,
        message_key text NOT NULL,
        envelope bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        sequence bigint UNIQUE,
        published_at timestamptz
      );
      CREATE INDEX meridian_outbox_unpublished ON meridian_outbox (id) WHERE sequence IS NULL;
      -- Answers to writes that carried an Idempotency-Key: a retry gets the first answer.
      CREATE TABLE meridian_idempotency (
        idempotency_key text PRIMARY KEY,
        fingerprint text NOT NULL,
        status integer,
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 2,
    name: 'replication: relay lease, applied vectors, offsets, conflicts, dead letters, heartbeats',
    sql: `
      -- One active relay per region, by lease: a paused relay cannot hold it forever, and every
      -- publish is checked against the lease epoch (a fenced relay's marks are refused).
      CREATE TABLE meridian_relay (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        lease_epoch bigint NOT NULL DEFAULT 0,
        lease_owner text,
        lease_expires_at timestamptz,
        last_outbox_id bigint NOT NULL DEFAULT 0,
        last_sequence bigint NOT NULL DEFAULT 0
      );
      INSERT INTO meridian_relay DEFAULT VALUES;
      -- Per origin actor: every sequence <= contiguous has been applied here; beyond holds the
      -- sequences applied above it ([sequence, outboxId] pairs), so arrival order never matters.
      CREATE TABLE meridian_applied (
        origin text PRIMARY KEY,
        region text NOT NULL,
        contiguous bigint NOT NULL DEFAULT 0,
        contiguous_outbox_id bigint NOT NULL DEFAULT 0,
        beyond jsonb NOT NULL DEFAULT '[]'
      );
      -- The only consumer offsets that count (Kafka's auto-commit is off), with the owner epoch
      -- that fences a paused old consumer of the partition.
      CREATE TABLE meridian_offsets (
        peer text NOT NULL,
        partition integer NOT NULL,
        next_offset bigint NOT NULL DEFAULT 0,
        owner_epoch bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (peer, partition)
      );
      CREATE TABLE meridian_conflicts (
        id text PRIMARY KEY,
        seq bigserial UNIQUE,
        namespace text NOT NULL,
        key text NOT NULL,
        policy text NOT NULL,
        kind text NOT NULL,
        versions jsonb NOT NULL,
        outcome jsonb NOT NULL,
        regions text[] NOT NULL,
        trace_ids text[] NOT NULL,
        skew_flagged boolean NOT NULL DEFAULT false,
        observed_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX meridian_conflicts_by_key ON meridian_conflicts (namespace, key, seq);
      CREATE TABLE meridian_dead_letters (
        id bigserial PRIMARY KEY,
        peer text NOT NULL,
        partition integer NOT NULL,
        kafka_offset bigint NOT NULL,
        message_key text,
        raw bytea NOT NULL,
        code text NOT NULL,
        reason text NOT NULL,
        namespace text,
        key text,
        origin text,
        sequence bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        redriven_at timestamptz
      );
      -- A key with a dead-lettered update takes no later update until the dead letter is redriven.
      CREATE TABLE meridian_quarantine (
        namespace text NOT NULL,
        key text NOT NULL,
        dead_letter_id bigint NOT NULL,
        PRIMARY KEY (namespace, key)
      );
      CREATE TABLE meridian_peer_heartbeats (
        peer text PRIMARY KEY,
        origin text NOT NULL,
        wall_ms bigint NOT NULL,
        high_water bigint NOT NULL,
        applied jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 3,
    name: 'outbox: the sequence is unique among numbered rows only (a new row adds no index entry for its NULL)',
    sql: `
      -- A row is numbered once, when the relay publishes it; until then its sequence is NULL, and
      -- the UNIQUE constraint's index held an entry for every NULL: an index insert, and its WAL
      -- (about 70 bytes), in every write's transaction, for no guarantee (NULLs never conflict).
      -- A partial unique index keeps the guarantee for numbered rows and leaves new rows alone.
      ALTER TABLE meridian_outbox DROP CONSTRAINT meridian_outbox_sequence_key;
      CREATE UNIQUE INDEX meridian_outbox_sequence ON meridian_outbox (sequence) WHERE sequence IS NOT NULL;
    `,
  },
  {
    version: 4,
    name: 'replication: operators\' pauses of peer links',
    sql: `
      -- A peer link an operator paused: Meridian's own state, not the Kafka consumer's, so the
      -- pause holds while the consumer is between runs and across consumer, broker and region
      -- restarts, and every replica of the region follows it. No row: the link runs.
      CREATE TABLE meridian_link_pauses (
        peer text PRIMARY KEY,
        reason text NOT NULL,
        paused_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 5,
    name: 'incarnations: each epoch\'s stream starts at sequence 1',
    sql: `
      -- A new incarnation (epoch) is a new actor whose stream starts at sequence 1: sequences are
      -- unique per incarnation, no longer per database (rows of an earlier one may still wait to
      -- be pruned), so the outbox's unique index goes.
      DROP INDEX meridian_outbox_sequence;
      -- Every incarnation this database has started, and why. outbox_id: the highest outbox id
      -- allocated when it began: the earlier actor's session positions up to it are this database's.
      CREATE TABLE meridian_incarnations (
        epoch integer PRIMARY KEY,
        reason text NOT NULL,
        outbox_id bigint NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 6,
    name: 'anti-entropy: each key\'s segment and hash, per-segment hashes kept by a trigger, repairs',
    sql: `
      -- A key's identity as bytes: u32 length of the namespace (UTF-8) ‖ namespace ‖ u32 length of
      -- the key ‖ key. Declared IMMUTABLE: convert_to to UTF-8 is deterministic for a given text.
      -- @meridian/anti-entropy computes the same bytes, segment and hash (a test holds them equal).
      CREATE FUNCTION meridian_key_ident(ns text, k text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT int4send(octet_length(convert_to(ns, 'UTF8'))) || convert_to(ns, 'UTF8') || int4send(octet_length(convert_to(k, 'UTF8'))) || convert_to(k, 'UTF8') $$;
      -- The segment: the first 20 bits of SHA-256 of the identity, a function of (namespace, key)
      -- alone, so a key never moves between segments and is counted in exactly one.
      CREATE FUNCTION meridian_key_segment(ns text, k text) RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT (('x' || encode(substr(sha256(meridian_key_ident(ns, k)), 1, 3), 'hex'))::bit(24)::integer) >> 4 $$;
      -- The key's hash: the first 64 bits of SHA-256(identity ‖ SHA-256(state)); NULL for a row
      -- whose state is NULL (only inside the transaction that inserts-and-locks a new key).
      CREATE FUNCTION meridian_key_hash(ns text, k text, state bytea) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT ('x' || encode(substr(sha256(meridian_key_ident(ns, k) || sha256(state)), 1, 8), 'hex'))::bit(64)::bigint $$;
      -- Generated columns: recomputed by PostgreSQL on every insert and update, whoever writes
      -- (the write path, an apply, a repair, a hand edit), so they cannot drift from the state.
      -- Only (namespace, segment) is indexed: segment never changes for a row, so updates stay HOT.
      ALTER TABLE meridian_keys
        ADD COLUMN segment integer GENERATED ALWAYS AS (meridian_key_segment(namespace, key)) STORED,
        ADD COLUMN key_hash bigint GENERATED ALWAYS AS (meridian_key_hash(namespace, key, state)) STORED;
      CREATE INDEX meridian_keys_segment ON meridian_keys (namespace, segment);
      -- Per (namespace, segment): the XOR of its keys' hashes and their count. Kept current by the
      -- statement triggers below, in the transaction that changes the keys.
      CREATE TABLE meridian_tree_segments (
        namespace text NOT NULL,
        segment integer NOT NULL,
        hash bigint NOT NULL,
        keys integer NOT NULL,
        PRIMARY KEY (namespace, segment)
      );
      INSERT INTO meridian_tree_segments (namespace, segment, hash, keys)
        SELECT namespace, segment, bit_xor(key_hash), count(*) FROM meridian_keys WHERE key_hash IS NOT NULL GROUP BY 1, 2;
      -- One statement-level trigger per event, over the statement's transition tables: a
      -- statement's changes are folded per segment (old hashes out, new in: XOR both) and the
      -- segment rows are updated in (namespace, segment) order, so two statements never lock
      -- segment rows in opposite orders. A segment whose hash and count do not change is not touched.
      CREATE FUNCTION meridian_tree_fold() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO meridian_tree_segments AS t (namespace, segment, hash, keys)
            SELECT namespace, segment, bit_xor(key_hash), count(*) FROM new_rows WHERE key_hash IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (namespace, segment) DO UPDATE SET hash = t.hash # excluded.hash, keys = t.keys + excluded.keys;
        ELSIF TG_OP = 'UPDATE' THEN
          INSERT INTO meridian_tree_segments AS t (namespace, segment, hash, keys)
            SELECT namespace, segment, bit_xor(key_hash), sum(n)::integer
              FROM (SELECT namespace, segment, key_hash, -1 AS n FROM old_rows WHERE key_hash IS NOT NULL
                    UNION ALL SELECT namespace, segment, key_hash, 1 FROM new_rows WHERE key_hash IS NOT NULL) AS c
             GROUP BY 1, 2 HAVING bit_xor(key_hash) <> 0 OR sum(n) <> 0 ORDER BY 1, 2
            ON CONFLICT (namespace, segment) DO UPDATE SET hash = t.hash # excluded.hash, keys = t.keys + excluded.keys;
        ELSE
          INSERT INTO meridian_tree_segments AS t (namespace, segment, hash, keys)
            SELECT namespace, segment, bit_xor(key_hash), -count(*) FROM old_rows WHERE key_hash IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (namespace, segment) DO UPDATE SET hash = t.hash # excluded.hash, keys = t.keys + excluded.keys;
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER meridian_tree_on_insert AFTER INSERT ON meridian_keys REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meridian_tree_fold();
      CREATE TRIGGER meridian_tree_on_update AFTER UPDATE ON meridian_keys REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meridian_tree_fold();
      CREATE TRIGGER meridian_tree_on_delete AFTER DELETE ON meridian_keys REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION meridian_tree_fold();
      -- Every key anti-entropy changed: what it held before and after, and where the state came from.
      CREATE TABLE meridian_repairs (
        id bigserial PRIMARY KEY,
        namespace text NOT NULL,
        key text NOT NULL,
        peer text NOT NULL,
        before_digest text,
        after_digest text NOT NULL,
        trace_id text,
        repaired_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 7,
    name: 'retention: tombstone GC state and stream samples, idempotency records by age',
    sql: `
      -- What each region of the deployment said of its own stream (heartbeats; this region's own
      -- relay position), kept from the newest sample every region has applied on: the tombstone
      -- GC's evidence (@meridian/retention, decision 0012).
      CREATE TABLE meridian_gc_samples (
        region text NOT NULL,
        actor text NOT NULL,
        wall_ms bigint NOT NULL,
        high_water bigint NOT NULL,
        PRIMARY KEY (region, wall_ms)
      );
      -- The GC's last decision and where its scan of the keys goes on, for every process of the
      -- region (one of them, the relay's lease holder, purges).
      CREATE TABLE meridian_gc (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        purge_before_ms bigint,
        frontier jsonb NOT NULL DEFAULT '{}',
        blocking text[] NOT NULL DEFAULT '{}',
        scan_namespace text,
        scan_key text,
        pass_tombstones bigint NOT NULL DEFAULT 0,
        tombstones bigint,
        decided_at timestamptz
      );
      INSERT INTO meridian_gc DEFAULT VALUES;
      -- Idempotency records expire (MERIDIAN_IDEMPOTENCY_TTL): found by age, oldest first.
      CREATE INDEX meridian_idempotency_created ON meridian_idempotency (created_at);
    `,
  },
  {
    version: 8,
    name: 'membership: the peer regions this region replicates with, stored',
    sql: `
      -- The regions this region consumes and compares with (docs/decisions/0014): seeded from
      -- MERIDIAN_PEERS at start, changed at run time through /v1/members, followed by every
      -- replica of the region. A removed region keeps its row (state 'removed'): its removal
      -- holds across restarts even while MERIDIAN_PEERS still names it.
      CREATE TABLE meridian_members (
        region text PRIMARY KEY,
        kafka text NOT NULL,
        url text,
        grpc text,
        state text NOT NULL CHECK (state IN ('member', 'removed')),
        reason text,
        changed_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 9,
    name: 'retention: what each stream sample shows its region had applied',
    sql: `
      -- By wall_ms the region had applied every update written before applied_before_ms (from the
      -- applied vector of that heartbeat): the first of the GC's two rounds (decision 0012).
      ALTER TABLE meridian_gc_samples ADD COLUMN applied_before_ms bigint;
    `,
  },
  {
    version: 10,
    name: 'replication: peer links that need a reseed, stored',
    sql: `
      -- A peer link that found records it needs gone from the peer's Kafka (an offset below the
      -- log start or beyond the end, a gap in an origin's sequences) needs a reseed until one
      -- completes: stored, so a restart, a rebalance or an operator's resume does not clear it
      -- and stream over the hole. The gap columns: the sequence gap it failed on (every
      -- partition then restarts at its log start). Deleted by the reseed's commit.
      CREATE TABLE meridian_link_reseeds (
        peer text PRIMARY KEY,
        reason text NOT NULL,
        gap_origin text,
        gap_sequence bigint,
        gap_floor bigint,
        failed_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 11,
    name: 'replication: the highest sequence of each origin consumed per partition',
    sql: `
      -- Per peer link, partition and origin actor: the highest sequence the link consumed from the
      -- partition since its offset was last rewritten (a reseed or a join deletes the rows of the
      -- partitions it restarts), stored by the transaction that stores the partition's next offset.
      -- The sequence-gap check (DESIGN §4) reads it with the offsets and the applied vectors, from
      -- any replica of the region, whichever replica consumed the partition.
      CREATE TABLE meridian_offset_sequences (
        peer text NOT NULL,
        partition integer NOT NULL,
        origin text NOT NULL,
        highest bigint NOT NULL,
        PRIMARY KEY (peer, partition, origin)
      );
    `,
  },
  {
    version: 12,
    name: 'anti-entropy: key segment and hash functions in PL/pgSQL, planned once per session',
    sql: `
      -- The generated columns segment and key_hash call these functions. PostgreSQL sets up a
      -- table's generated-column expressions at the start of every statement that writes it: a
      -- LANGUAGE sql body is parsed and planned again each time (inlined, or run by the SQL
      -- function executor: meridian_key_ident cannot be inlined, convert_to being only STABLE),
      -- which was most of what the columns cost a one-row write (docs/decisions/0011). A
      -- PL/pgSQL function is never inlined and keeps its compiled expression for the session:
      -- the statement only looks the function up. Same bytes, same results (the stored values
      -- stay valid: nothing is rewritten); each function computes the identity itself, so a
      -- write makes one function call per column.
      CREATE OR REPLACE FUNCTION meridian_key_segment(ns text, k text) RETURNS integer LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
        AS $f$ BEGIN
          RETURN (('x' || encode(substr(sha256(int4send(octet_length(convert_to(ns, 'UTF8'))) || convert_to(ns, 'UTF8') || int4send(octet_length(convert_to(k, 'UTF8'))) || convert_to(k, 'UTF8')), 1, 3), 'hex'))::bit(24)::integer) >> 4;
        END $f$;
      CREATE OR REPLACE FUNCTION meridian_key_hash(ns text, k text, state bytea) RETURNS bigint LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
        AS $f$ BEGIN
          RETURN ('x' || encode(substr(sha256(int4send(octet_length(convert_to(ns, 'UTF8'))) || convert_to(ns, 'UTF8') || int4send(octet_length(convert_to(k, 'UTF8'))) || convert_to(k, 'UTF8') || sha256(state)), 1, 8), 'hex'))::bit(64)::bigint;
        END $f$;
    `,
  },
  {
    version: 13,
    name: 'replication: the high-water of each origin actor of a peer',
    sql: `
      -- Per peer and origin actor: the highest sequence any heartbeat of that actor said its relay
      -- had published (acknowledged by Kafka). meridian_peer_heartbeats keeps the latest heartbeat
      -- only, of one actor: after a peer's new incarnation, the earlier actor's high-water would
      -- be gone, and with it the evidence that the sequence-gap check (DESIGN §4) judges the
      -- earlier actor's tail on (a topic recreated after a restore holds none of it any more).
      CREATE TABLE meridian_peer_high_waters (
        peer text NOT NULL,
        origin text NOT NULL,
        high_water bigint NOT NULL,
        PRIMARY KEY (peer, origin)
      );
      -- Only the peer's own actors: another region's heartbeat on a peer's topic was stored as the
      -- peer's before it was dead-lettered, and counted as an earlier actor of the peer, a reseed
      -- would cover that region's real sequences (its updates then dropped as duplicates).
      DELETE FROM meridian_peer_heartbeats WHERE left(origin, length(peer) + 1) <> peer || '.';
      INSERT INTO meridian_peer_high_waters (peer, origin, high_water) SELECT peer, origin, high_water FROM meridian_peer_heartbeats;
    `,
  },
  {
    version: 14,
    name: 'big sets and maps: a row per element or field (decision 0013)',
    sql: `
      -- A set or map with more than @meridian/crdt's COLLECTION_SPLIT_ROWS elements or fields is
      -- split: its key row's state holds a header (type and causal context), elements its row
      -- count, and meridian_elements a row per element or field. elements is NULL for a key
      -- stored whole. generation is bumped by every write of a split key (and never reset), so
      -- a write planned from a split key's header and some of its rows is stored only if none of
      -- its rows changed meanwhile (a remove can change rows without changing the context).
      ALTER TABLE meridian_keys ADD COLUMN elements integer, ADD COLUMN generation bigint;
      -- An element row's share of its key's hash: the first 64 bits of SHA-256(identity ‖ u32
      -- length of the name ‖ name ‖ SHA-256(row)). PL/pgSQL, as migration 12's.
      CREATE FUNCTION meridian_element_hash(ns text, k text, name text, r bytea) RETURNS bigint LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
        AS $f$ BEGIN
          RETURN ('x' || encode(substr(sha256(int4send(octet_length(convert_to(ns, 'UTF8'))) || convert_to(ns, 'UTF8') || int4send(octet_length(convert_to(k, 'UTF8'))) || convert_to(k, 'UTF8') || int4send(octet_length(convert_to(name, 'UTF8'))) || convert_to(name, 'UTF8') || sha256(r)), 1, 8), 'hex'))::bit(64)::bigint;
        END $f$;
      -- A row is found by SHA-256 of its name: an element's canonical text may be far longer than
      -- a B-tree index entry can hold (about 2.7 kB).
      CREATE FUNCTION meridian_name_hash(name text) RETURNS bytea LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
        AS $f$ BEGIN RETURN sha256(convert_to(name, 'UTF8')); END $f$;
      -- Rows live in their key's segment, so a split key's hash (its header's XOR its rows') is
      -- folded into the one segment it belongs to; they add no key to the segment's count.
      CREATE TABLE meridian_elements (
        namespace text NOT NULL,
        key text NOT NULL,
        name text NOT NULL,
        row bytea NOT NULL,
        name_hash bytea GENERATED ALWAYS AS (meridian_name_hash(name)) STORED,
        segment integer GENERATED ALWAYS AS (meridian_key_segment(namespace, key)) STORED,
        key_hash bigint GENERATED ALWAYS AS (meridian_element_hash(namespace, key, name, row)) STORED,
        PRIMARY KEY (namespace, key, name_hash)
      );
      CREATE FUNCTION meridian_tree_fold_elements() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO meridian_tree_segments AS t (namespace, segment, hash, keys)
              SELECT namespace, segment, bit_xor(key_hash), 0 FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
              ON CONFLICT (namespace, segment) DO UPDATE SET hash = t.hash # excluded.hash;
          ELSIF TG_OP = 'UPDATE' THEN
            INSERT INTO meridian_tree_segments AS t (namespace, segment, hash, keys)
              SELECT namespace, segment, bit_xor(key_hash), 0
                FROM (SELECT namespace, segment, key_hash FROM old_rows UNION ALL SELECT namespace, segment, key_hash FROM new_rows) AS c
               GROUP BY 1, 2 HAVING bit_xor(key_hash) <> 0 ORDER BY 1, 2
              ON CONFLICT (namespace, segment) DO UPDATE SET hash = t.hash # excluded.hash;
          ELSE
            INSERT INTO meridian_tree_segments AS t (namespace, segment, hash, keys)
              SELECT namespace, segment, bit_xor(key_hash), 0 FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
              ON CONFLICT (namespace, segment) DO UPDATE SET hash = t.hash # excluded.hash;
          END IF;
          RETURN NULL;
        END $$;
      CREATE TRIGGER meridian_elements_tree_on_insert AFTER INSERT ON meridian_elements REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meridian_tree_fold_elements();
      CREATE TRIGGER meridian_elements_tree_on_update AFTER UPDATE ON meridian_elements REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meridian_tree_fold_elements();
      CREATE TRIGGER meridian_elements_tree_on_delete AFTER DELETE ON meridian_elements REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION meridian_tree_fold_elements();
    `,
  },
  {
    version: 15,
    name: 'idempotent answers kept as json text, which may hold \\u0000',
    sql: `
      -- jsonb refuses the escape \\u0000, which a value may hold ("a\\u0000b" is valid JSON and a
      -- valid value): with it, every write carrying an Idempotency-Key whose answer held such a value
      -- failed, and so did the apply of a peer's update carrying that answer (the link stalled).
      -- json keeps the text as written; the answers are only stored and given back whole.
      ALTER TABLE meridian_idempotency ALTER COLUMN response TYPE json USING response::json;
    `,
  },
];

/** A checksum of a migration's SQL, so that an edited released migration is caught. */
export function migrationChecksum(m: Migration): string {
  return createHash('sha256').update(m.sql).digest('hex').slice(0, 16);
}

const LOCK_KEY = 0x6d657269; // 'meri'

export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS meridian_schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM meridian_schema_migrations');
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const m of migrations) {
      const seen = done.get(m.version);
      if (seen !== undefined) {
        if (seen !== migrationChecksum(m)) {
          throw new Error(`migration ${m.version} (${m.name}) was changed after it was applied (checksum ${seen}, now ${migrationChecksum(m)})`);
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO meridian_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, migrationChecksum(m)]);
        await client.query('COMMIT');
        applied.push(m.version);
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
