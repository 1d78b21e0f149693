/**
 * Idempotency records: a client's Idempotency-Key, the fingerprint of the request it came with,
 * and the answer given. Claimed by the write's transaction (a concurrent claim waits on the
 * unique index), answered in it, and replicated with the update so a retry in another region
 * gets the same answer.
 */
import { createHash } from 'node:crypto';
import { StoreError, StoreErrorCode } from './store-error.ts';
import type { Queryable } from './pg-query.ts';
import type { IdempotencyClaim, IdempotencyScope, ReplicatedAnswer } from './rows.ts';

/**
 * The stored record's key: the client's Idempotency-Key scoped by the data key it writes, so two
 * clients that pick the same Idempotency-Key for different keys (in one region or in two, whose
 * records meet once they replicate) never see each other's answer. The scope is a hash, so the
 * record key stays short whatever the key's length; the client's key stays readable after it.
 */
function idempotencyRecordKey(scope: IdempotencyScope, idempotencyKey: string): string {
  return `${createHash('sha256').update(JSON.stringify([scope.namespace, scope.key])).digest('hex').slice(0, 32)}/${idempotencyKey}`;
}

/**
 * Claims an idempotency key of a data key for this transaction. A concurrent claim of the same
 * key waits on the unique index until this transaction ends, then sees the stored answer (one
 * written here, or one a replicator stored with the update of the first attempt elsewhere).
 */
export async function claimIdempotencyKey(db: Queryable, scope: IdempotencyScope, idempotencyKey: string, fingerprint: string): Promise<IdempotencyClaim> {
  const recordKey = idempotencyRecordKey(scope, idempotencyKey);
  const inserted = await db.query('INSERT INTO meridian_idempotency (idempotency_key, fingerprint) VALUES ($1, $2) ON CONFLICT DO NOTHING', [recordKey, fingerprint]);
  if (inserted.rowCount === 1) return { claimed: true };
  const { rows } = await db.query<{ fingerprint: string; status: number | null; response: unknown }>('SELECT fingerprint, status, response FROM meridian_idempotency WHERE idempotency_key = $1', [recordKey]);
  const row = rows[0];
  if (!row) throw new StoreError(StoreErrorCode.retry, 'idempotency record vanished; retry');
  return { claimed: false, fingerprint: row.fingerprint, status: row.status ?? undefined, response: row.response };
}

export async function recordIdempotentAnswer(db: Queryable, scope: IdempotencyScope, idempotencyKey: string, status: number, response: unknown): Promise<void> {
  await db.query('UPDATE meridian_idempotency SET status = $2, response = $3 WHERE idempotency_key = $1', [idempotencyRecordKey(scope, idempotencyKey), status, JSON.stringify(response)]);
}

/**
 * Stores the answers that replicated updates carried, in the apply transaction. A record this
 * region already holds for the same scoped key is kept (ON CONFLICT DO NOTHING): its own
 * clients were answered from it, and the two can differ only if the key was reused.
 */
export async function storeReplicatedAnswers(db: Queryable, answers: readonly ReplicatedAnswer[]): Promise<void> {
  if (answers.length === 0) return;
  await db.query(
    `INSERT INTO meridian_idempotency (idempotency_key, fingerprint, status, response)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::json[]) ON CONFLICT DO NOTHING`,
    [answers.map((a) => idempotencyRecordKey(a, a.idempotencyKey)), answers.map((a) => a.fingerprint), answers.map((a) => a.status), answers.map((a) => JSON.stringify(a.response))],
  );
}
