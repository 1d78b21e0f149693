/**
 * The GSLB's error registry: every error its API answers, with the stable code, the HTTP status
 * and whether the client may retry. Errors answer as
 * `{"error": {"code": "MERIDIAN_GSLB_…", "message": "…"}}`. A unit test checks this registry
 * against the table in README.md, so the docs cannot drift from the code.
 */

export const ERRORS = {
  MERIDIAN_GSLB_VALIDATION: { status: 400, retryable: false, doc: 'the request does not match the route\'s schema' },
  MERIDIAN_GSLB_INVALID_HINT: { status: 400, retryable: false, doc: '`near` is not `lat,lon`, `from` names no configured region, or both were given' },
  MERIDIAN_GSLB_INVALID_SESSION: { status: 400, retryable: false, doc: 'the X-Meridian-Session header is not a session token' },
  MERIDIAN_GSLB_NOT_FOUND: { status: 404, retryable: false, doc: 'no such route' },
  MERIDIAN_GSLB_NO_HEALTHY_REGION: { status: 503, retryable: true, doc: 'no region is up (the body still lists every region with its state)' },
  MERIDIAN_GSLB_INTERNAL: { status: 500, retryable: false, doc: 'an unexpected error (a bug); see the logs' },
} as const satisfies Record<string, { status: number; retryable: boolean; doc: string }>;

export type GslbErrorCode = keyof typeof ERRORS;

export class GslbError extends Error {
  readonly code: GslbErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra fields merged into the error body (e.g. the regions when none is healthy). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: GslbErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'GslbError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.retryable = ERRORS[code].retryable;
    this.details = details;
  }
}

export function errorBody(code: GslbErrorCode, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { error: { code, message }, ...details };
}
