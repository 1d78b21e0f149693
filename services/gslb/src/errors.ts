/**
 * The GSLB's error registry: every error its API answers, with the stable code, the HTTP status
 * and whether the client may retry. Errors answer as
 * `{"error": {"code": "MERIDIAN_GSLB_…", "message": "…"}}`. A unit test checks this registry
 * against the table in README.md, so the docs cannot drift from the code. The registry's
 * mechanics are @meridian/service-kit's.
 */
import { ServiceError, type ErrorSpec } from '@meridian/service-kit';

export { errorBody } from '@meridian/service-kit';

export const ERRORS = {
  MERIDIAN_GSLB_VALIDATION: { status: 400, retryable: false, doc: 'the request does not match the route\'s schema' },
  MERIDIAN_GSLB_INVALID_HINT: { status: 400, retryable: false, doc: '`near` is not `lat,lon`, `from` names no configured region, or both were given' },
  MERIDIAN_GSLB_INVALID_SESSION: { status: 400, retryable: false, doc: 'the X-Meridian-Session header is not a session token' },
  MERIDIAN_GSLB_NOT_FOUND: { status: 404, retryable: false, doc: 'no such route' },
  MERIDIAN_GSLB_NO_HEALTHY_REGION: { status: 503, retryable: true, doc: 'no region is up (the body still lists every region with its state)' },
  MERIDIAN_GSLB_INTERNAL: { status: 500, retryable: false, doc: 'an unexpected error (a bug); see the logs' },
} as const satisfies Record<string, ErrorSpec>;

export type GslbErrorCode = keyof typeof ERRORS;

export class GslbError extends ServiceError<GslbErrorCode> {
  constructor(code: GslbErrorCode, message: string, details?: Record<string, unknown>) {
    super(ERRORS, code, message, details);
    this.name = 'GslbError';
  }
}
