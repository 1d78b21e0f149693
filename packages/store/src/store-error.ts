/**
 * Store errors, classified once at the driver boundary: everything above this module sees a
 * stable `code` and a `retryable` flag, never a raw pg error.
 *
 * - serialization failures and deadlocks (40001, 40P01) are retryable: the transaction is
 *   replayed by `PgStore.transaction`;
 * - a lost or refused connection, or a server shutting down (08*, 57P0*, ECONNREFUSED…) means
 *   the database is unavailable: retryable by the client, answered as 503;
 * - the same loss during a statement that commits (a COMMIT, or a write statement that is its
 *   own transaction) leaves the outcome unknown: the server may have committed before the
 *   connection went, so the write may or may not be durable. It is never replayed here and never
 *   reported as "nothing written". A failure that provably wrote nothing stays `unavailable`: the
 *   connection was refused or lost before the committing statement was sent (PostgreSQL rolls
 *   back an open transaction whose connection drops), or the server answered the statement with
 *   an ERROR (the statement, and its transaction, rolled back);
 * - a unique violation (23505) is a conflict with stored data.
 */

export const StoreErrorCode = {
  unavailable: 'MERIDIAN_STORE_UNAVAILABLE',
  retry: 'MERIDIAN_STORE_RETRY',
  duplicate: 'MERIDIAN_STORE_DUPLICATE',
  failed: 'MERIDIAN_STORE_FAILED',
  integrity: 'MERIDIAN_STORE_INTEGRITY',
  /** The connection was lost after a committing statement was sent: it may or may not have committed. */
  outcomeUnknown: 'MERIDIAN_STORE_OUTCOME_UNKNOWN',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly retryable: boolean;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    this.retryable = code === StoreErrorCode.unavailable || code === StoreErrorCode.retry;
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** Where the failed call was: `committing` when it was a COMMIT or a write statement outside a transaction. */
export interface FailedCall {
  readonly committing: boolean;
}

/**
 * Maps anything the pg driver throws to a StoreError. `call.committing` says the failed call
 * could have committed: a lost connection then leaves the outcome unknown, unless the server
 * answered with an ERROR (it rolled the statement back) or the statement was never sent.
 */
export function classifyPgError(error: unknown, call: FailedCall = { committing: false }): StoreError {
  if (error instanceof StoreError) return error;
  const classified = classifyPlain(error);
  if (!call.committing || classified.code !== StoreErrorCode.unavailable || answeredWithError(error) || neverSent(error)) return classified;
  return new StoreError(
    StoreErrorCode.outcomeUnknown,
    `the connection to PostgreSQL was lost after the write was sent; it may or may not have been committed (${classified.message})`,
    { cause: error },
  );
}

/** The server answered the statement with an ERROR: the statement (and its transaction) rolled back. A FATAL ends the session and proves nothing. */
function answeredWithError(error: unknown): boolean {
  const e = error as { severity?: unknown; name?: unknown };
  return e.name === 'error' && e.severity === 'ERROR';
}

/** No statement left: the connection was refused, or node-postgres refused a query on a client it knew was closed. */
function neverSent(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === 'ECONNREFUSED' || (typeof message === 'string' && /Client was closed and is not queryable|Client has encountered a connection error and is not queryable/.test(message));
}

function classifyPlain(error: unknown): StoreError {
  const e = error as { code?: string; message?: string };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (code === '40001' || code === '40P01') return new StoreError(StoreErrorCode.retry, `transaction conflict (${code}): ${message}`, { cause: error });
  if (code === '23505') return new StoreError(StoreErrorCode.duplicate, message, { cause: error });
  if (
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '53300' ||
    NETWORK_CODES.has(code) ||
    /Connection terminated|Client was closed and is not queryable|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(message)
  ) {
    return new StoreError(StoreErrorCode.unavailable, `PostgreSQL unavailable: ${message}`, { cause: error });
  }
  return new StoreError(StoreErrorCode.failed, message, { cause: error });
}
