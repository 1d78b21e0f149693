/**
 * Store errors, classified once at the driver boundary: everything above this module sees a
 * stable `code` and a `retryable` flag, never a raw pg error.
 *
 * - serialization failures and deadlocks (40001, 40P01) are retryable: the transaction is
 *   replayed by `PgStore.transaction`;
 * - a lost or refused connection, or a server shutting down (08*, 57P0*, ECONNREFUSED…) means
 *   the database is unavailable: retryable by the client, answered as 503;
 * - a unique violation (23505) is a conflict with stored data.
 */

export const StoreErrorCode = {
  unavailable: 'MERIDIAN_STORE_UNAVAILABLE',
  retry: 'MERIDIAN_STORE_RETRY',
  duplicate: 'MERIDIAN_STORE_DUPLICATE',
  failed: 'MERIDIAN_STORE_FAILED',
  integrity: 'MERIDIAN_STORE_INTEGRITY',
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

/** Maps anything the pg driver throws to a StoreError. */
export function classifyPgError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
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
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(message)
  ) {
    return new StoreError(StoreErrorCode.unavailable, `PostgreSQL unavailable: ${message}`, { cause: error });
  }
  return new StoreError(StoreErrorCode.failed, message, { cause: error });
}
