/**
 * The one error class of @meridian/causality. Causal metadata reaches this package from clients
 * (signed context tokens) and from peers (replication envelopes), so bad input is expected and
 * must be told apart from bugs: every refusal is a `CausalityError` with a stable `code`, never
 * a stray `RangeError` or `TypeError`. The replicator uses the code as the dead-letter reason.
 * Nothing here is retryable: the same bytes fail the same way every time.
 */

export const CausalityErrorCode = {
  /** An actor id or its parts (region, epoch) is malformed. */
  InvalidActor: 'MERIDIAN_CAUSALITY_INVALID_ACTOR',
  /** A dot or vector counter is not a safe integer in range. */
  InvalidCounter: 'MERIDIAN_CAUSALITY_INVALID_COUNTER',
  /** A JSON form does not have the expected shape. */
  InvalidJson: 'MERIDIAN_CAUSALITY_INVALID_JSON',
  /** Encoded bytes are truncated, non-canonical, of another kind or of an unknown format version. */
  InvalidEncoding: 'MERIDIAN_CAUSALITY_INVALID_ENCODING',
  /** A hybrid logical clock value or reading is outside the 64-bit range. */
  InvalidHlc: 'MERIDIAN_CAUSALITY_INVALID_HLC',
} as const;
export type CausalityErrorCode = (typeof CausalityErrorCode)[keyof typeof CausalityErrorCode];

export class CausalityError extends Error {
  readonly code: CausalityErrorCode;
  readonly retryable = false;
  constructor(code: CausalityErrorCode, message: string) {
    super(message);
    this.name = 'CausalityError';
    this.code = code;
  }
}

/**
 * A short, bounded rendering of an offending value for error messages (never the whole input:
 * values may come from clients or peers). Every Meridian package renders values with this one.
 */
export function describeValue(value: unknown): string {
  let text: string;
  if (typeof value === 'bigint') text = `${value}n`;
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  else if (typeof value === 'function' || typeof value === 'symbol') text = typeof value;
  else if (value instanceof Uint8Array) text = `Uint8Array(${value.length})`;
  else {
    try {
      text = JSON.stringify(value) ?? typeof value;
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
