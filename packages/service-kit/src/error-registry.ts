/**
 * The base of each program's error registry: every error its API can answer has a stable code,
 * an HTTP status, whether a client may retry, and a doc line (each program tests its registry
 * against its README). Errors answer as `{"error": {"code": "MERIDIAN_…", "message": "…"}}`.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly retryable: boolean;
  readonly doc: string;
}

/** An error of a program's registry: its status and retryability come from the registry, never from the thrower. */
export class ServiceError<Code extends string> extends Error {
  readonly code: Code;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra fields merged into the error body (e.g. the context of a deleted key). */
  readonly details: Record<string, unknown> | undefined;

  constructor(registry: Readonly<Record<Code, ErrorSpec>>, code: Code, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.status = registry[code].status;
    this.retryable = registry[code].retryable;
    this.details = details;
  }
}

export function errorBody<Code extends string>(code: Code, message: string, details?: Record<string, unknown>): { error: { code: Code; message: string } } & Record<string, unknown> {
  return { error: { code, message }, ...details };
}
