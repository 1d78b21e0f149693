/**
 * The one error class of @meridian/crdt. Operations reach this package from REST clients and
 * states reach it from peers (replication envelopes) and from the database, so bad input is
 * expected and must be told apart from bugs: every refusal is a `CrdtError` with a stable `code`,
 * never a stray `TypeError`. The region service maps the codes to HTTP statuses (invalid op and
 * field type: 400/409) and dead-letter reasons (invalid encoding). Nothing here is retryable: the
 * same input fails the same way every time.
 */

export const CrdtErrorCode = {
  /** A REST operation does not have the shape its kind accepts (see README, "Operations"). */
  InvalidOp: 'MERIDIAN_CRDT_INVALID_OP',
  /** A value is not plain JSON (undefined, NaN, a Date, a cycle, too deep, ...). */
  InvalidValue: 'MERIDIAN_CRDT_INVALID_VALUE',
  /** A map operation treats a field as another type than the one it holds (a register as a set, ...). */
  FieldTypeClash: 'MERIDIAN_CRDT_FIELD_TYPE_CLASH',
  /** An increment would take one actor's counter entry beyond Number.MAX_SAFE_INTEGER. */
  CounterOverflow: 'MERIDIAN_CRDT_COUNTER_OVERFLOW',
  /** `apply` was called without what the operation needs (a map `set` without an HLC). */
  MissingApplyContext: 'MERIDIAN_CRDT_MISSING_APPLY_CONTEXT',
  /** Bytes or JSON of a state are truncated, non-canonical, of another type or violate an invariant. */
  InvalidEncoding: 'MERIDIAN_CRDT_INVALID_ENCODING',
} as const;
export type CrdtErrorCode = (typeof CrdtErrorCode)[keyof typeof CrdtErrorCode];

export class CrdtError extends Error {
  readonly code: CrdtErrorCode;
  readonly retryable = false;
  constructor(code: CrdtErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CrdtError';
    this.code = code;
  }
}

export function invalidOp(message: string): CrdtError {
  return new CrdtError(CrdtErrorCode.InvalidOp, message);
}

export function invalidEncoding(message: string, cause?: unknown): CrdtError {
  return new CrdtError(CrdtErrorCode.InvalidEncoding, message, cause === undefined ? undefined : { cause });
}
