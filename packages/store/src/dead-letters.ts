/**
 * Dead letters and quarantined keys (DESIGN §4). A message a replicator cannot apply is kept as a
 * dead letter; when it names a key, the key is quarantined: later updates of that key are held
 * back as dead letters too, until an operator redrives the first one (which releases the key and
 * redrives the held ones). While a key is quarantined, its dead letters are what its session
 * positions must not claim (`heldColumn`).
 */
import { arrayLiteral } from './array-literal.ts';
import { buffer, bytes, type Queryable } from './pg-query.ts';
import type { DeadLetterInput, HeldLetter, LockedDeadLetter, StoredDeadLetter } from './rows.ts';

/**
 * The dead letters holding a key back while it is quarantined, as one JSON column (`heldOf` reads
 * it); the dead letters are scanned only for a quarantined key (the EXISTS is evaluated once).
 */
export function heldColumn(namespace: string, key: string): string {
  return `(SELECT json_agg(json_build_array(d.origin, d.peer, d.sequence::text)) FROM meridian_dead_letters d
            WHERE d.namespace = ${namespace} AND d.key = ${key} AND d.redriven_at IS NULL
              AND EXISTS (SELECT 1 FROM meridian_quarantine q WHERE q.namespace = ${namespace} AND q.key = ${key})) AS held`;
}

export type HeldJson = [string | null, string, string | null][] | null | undefined;

export function heldOf(json: HeldJson): HeldLetter[] {
  return (json ?? []).map(([origin, peer, sequence]) => ({ origin: origin ?? undefined, peer, sequence: sequence === null ? undefined : BigInt(sequence) }));
}

/** The key's held-back dead letters while it is quarantined (empty otherwise), read by this transaction now. */
export async function heldLetters(db: Queryable, namespace: string, key: string): Promise<HeldLetter[]> {
  return heldOf((await db.query<{ held: HeldJson }>(`SELECT ${heldColumn('$1', '$2')}`, [namespace, key])).rows[0]?.held);
}

export async function deadLetter(db: Queryable, d: DeadLetterInput): Promise<bigint> {
  const { rows } = await db.query<{ id: bigint }>(
    `INSERT INTO meridian_dead_letters (peer, partition, kafka_offset, message_key, raw, code, reason, namespace, key, origin, sequence)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
    [d.peer, d.partition, d.offset, d.messageKey ?? null, buffer(d.raw), d.code, d.reason, d.namespace ?? null, d.key ?? null, d.origin ?? null, d.sequence ?? null],
  );
  return rows[0]!.id;
}

export async function quarantine(db: Queryable, namespace: string, key: string, deadLetterId: bigint): Promise<void> {
  await db.query('INSERT INTO meridian_quarantine (namespace, key, dead_letter_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [namespace, key, deadLetterId]);
}

/** Which of these keys are quarantined, in one query (a batch's keys at once). */
export async function quarantinedAmong(db: Queryable, keys: readonly { namespace: string; key: string }[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const { rows } = await db.query<{ namespace: string; key: string }>(
    'SELECT q.namespace, q.key FROM meridian_quarantine q JOIN unnest($1::text[], $2::text[]) AS k(namespace, key) ON q.namespace = k.namespace AND q.key = k.key',
    [arrayLiteral(keys, (k) => k.namespace), arrayLiteral(keys, (k) => k.key)],
  );
  return new Set(rows.map((r) => JSON.stringify([r.namespace, r.key])));
}

export async function releaseQuarantine(db: Queryable, namespace: string, key: string): Promise<void> {
  await db.query('DELETE FROM meridian_quarantine WHERE namespace = $1 AND key = $2', [namespace, key]);
}

/** The dead letter, locked; undefined when absent. */
export async function lockDeadLetter(db: Queryable, id: bigint): Promise<LockedDeadLetter | undefined> {
  const { rows } = await db.query<{ id: bigint; code: string; raw: Buffer; namespace: string | null; key: string | null; redriven_at: Date | null }>('SELECT id, code, raw, namespace, key, redriven_at FROM meridian_dead_letters WHERE id = $1 FOR UPDATE', [id]);
  const r = rows[0];
  return r ? { id: r.id, code: r.code, raw: bytes(r.raw), namespace: r.namespace ?? undefined, key: r.key ?? undefined, redriven: r.redriven_at !== null } : undefined;
}

/** The dead letter quarantining a key, if any. */
export async function quarantinedBy(db: Queryable, namespace: string, key: string): Promise<bigint | undefined> {
  const { rows } = await db.query<{ dead_letter_id: bigint }>('SELECT dead_letter_id FROM meridian_quarantine WHERE namespace = $1 AND key = $2', [namespace, key]);
  return rows[0]?.dead_letter_id;
}

/** Updates held back while a key was quarantined, oldest first, not yet redriven. */
export async function heldFor(db: Queryable, namespace: string, key: string, code: string): Promise<{ id: bigint; raw: Uint8Array }[]> {
  const { rows } = await db.query<{ id: bigint; raw: Buffer }>('SELECT id, raw FROM meridian_dead_letters WHERE namespace = $1 AND key = $2 AND code = $3 AND redriven_at IS NULL ORDER BY id', [namespace, key, code]);
  return rows.map((r) => ({ id: r.id, raw: bytes(r.raw) }));
}

export async function markDeadLetterRedriven(db: Queryable, id: bigint): Promise<void> {
  await db.query('UPDATE meridian_dead_letters SET redriven_at = now() WHERE id = $1', [id]);
}

/** Dead letters, newest first (or the one with `id`). */
export async function deadLetters(db: Queryable, limit: number, id?: bigint): Promise<StoredDeadLetter[]> {
  const { rows } = await db.query<{ id: bigint; peer: string; partition: number; kafka_offset: bigint; message_key: string | null; raw: Buffer; code: string; reason: string; namespace: string | null; key: string | null; origin: string | null; sequence: bigint | null; created_at: Date; redriven_at: Date | null }>(
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
