/** The driver boundary's one classification: retryable, unavailable, unknown outcome, conflict. */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { StoreErrorCode, classifyPgError } from './store-error.ts';

/** An error the server sent (ErrorResponse), as node-postgres hands it out. */
function serverError(code: string, severity: 'ERROR' | 'FATAL'): pg.DatabaseError {
  const e = new pg.DatabaseError(`server said ${code}`, 0, 'error');
  e.code = code;
  e.severity = severity;
  return e;
}
const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
const terminated = new Error('Connection terminated unexpectedly');
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('classifyPgError', () => {
  it('a connection lost outside a committing statement is unavailable: nothing was committed', () => {
    for (const e of [reset, terminated, refused, serverError('57P01', 'FATAL')]) expect(classifyPgError(e).code).toBe(StoreErrorCode.unavailable);
  });

  it('a connection lost during a committing statement leaves the outcome unknown (and not retryable by the store)', () => {
    for (const e of [reset, terminated, serverError('57P01', 'FATAL'), serverError('08006', 'FATAL')]) {
      const classified = classifyPgError(e, { committing: true });
      expect(classified.code).toBe(StoreErrorCode.outcomeUnknown);
      expect(classified.retryable).toBe(false);
      expect(classified.cause).toBe(e);
    }
  });

  it('a committing statement that provably did not commit keeps its class: refused, never sent, or answered with an ERROR', () => {
    expect(classifyPgError(serverError('40001', 'ERROR'), { committing: true }).code).toBe(StoreErrorCode.retry);
    expect(classifyPgError(serverError('23505', 'ERROR'), { committing: true }).code).toBe(StoreErrorCode.duplicate);
    expect(classifyPgError(serverError('57P03', 'ERROR'), { committing: true }).code).toBe(StoreErrorCode.unavailable);
    expect(classifyPgError(refused, { committing: true }).code).toBe(StoreErrorCode.unavailable);
    expect(classifyPgError(new Error('Client was closed and is not queryable'), { committing: true }).code).toBe(StoreErrorCode.unavailable);
    expect(classifyPgError(new Error('Client has encountered a connection error and is not queryable'), { committing: true }).code).toBe(StoreErrorCode.unavailable);
  });

  it('an error that is not about the connection is the same whether committing or not', () => {
    const e = serverError('22P02', 'ERROR');
    expect(classifyPgError(e, { committing: true }).code).toBe(StoreErrorCode.failed);
    expect(classifyPgError(e).code).toBe(StoreErrorCode.failed);
  });
});
