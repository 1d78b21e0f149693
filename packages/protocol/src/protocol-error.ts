/**
 * The one error class of @meridian/protocol. Records reach this package from peers' Kafka topics,
 * so bad input is expected and must be told apart from bugs: every refusal is a `ProtocolError`
 * with a stable `code`, never a stray `RangeError` or `TypeError`.
 *
 * How the replicator treats the codes:
 * - MERIDIAN_ENVELOPE_UNDECODABLE, MERIDIAN_ENVELOPE_INVALID: poison. The record goes to the
 *   dead-letter table with its raw bytes and the message as the reason; the stream goes on.
 * - MERIDIAN_SCHEMA_TOO_NEW: not poison. The writer runs a newer schema than this reader (an
 *   upgrade in progress); the link pauses and reports `schemaVersion` until this region is
 *   upgraded. Dead-lettering it would lose data that a newer reader can apply.
 * None is retryable: the same bytes fail the same way every time, in this version of the code.
 */

export const ProtocolErrorCode = {
  /** The bytes are not a protobuf `Record` at all (truncated, wrong wire types, bad UTF-8). */
  EnvelopeUndecodable: 'MERIDIAN_ENVELOPE_UNDECODABLE',
  /** A well-formed protobuf `Record` that breaks a rule of the schema (or a record refused on encode). */
  EnvelopeInvalid: 'MERIDIAN_ENVELOPE_INVALID',
  /** The record was written with a schema version newer than this package's `SCHEMA_VERSION`. */
  SchemaTooNew: 'MERIDIAN_SCHEMA_TOO_NEW',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export interface ProtocolErrorOptions {
  readonly cause?: unknown;
  /** The schema version seen in the record, where it was read. */
  readonly schemaVersion?: number;
}

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly retryable = false as const;
  /** The schema version seen in the record; always set for MERIDIAN_SCHEMA_TOO_NEW. */
  readonly schemaVersion: number | undefined;
  constructor(code: ProtocolErrorCode, message: string, options: ProtocolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProtocolError';
    this.code = code;
    this.schemaVersion = options.schemaVersion;
  }
}
