/**
 * The region service's error registry: every error the API can answer, with its stable code,
 * HTTP status and whether a client may retry. Errors answer as
 * `{"error": {"code": "MERIDIAN_…", "message": "…"}}`. A test checks this registry against the
 * table in the service's README. The registry's mechanics are @meridian/service-kit's.
 */
import { ServiceError, type ErrorSpec } from '@meridian/service-kit';

export { errorBody } from '@meridian/service-kit';

export const ERRORS = {
  MERIDIAN_VALIDATION: { status: 400, retryable: false, doc: 'the request does not match the route\'s schema' },
  MERIDIAN_MALFORMED_JSON: { status: 400, retryable: false, doc: 'the body is not valid JSON' },
  MERIDIAN_INVALID_NAME: { status: 400, retryable: false, doc: 'a namespace or key name breaks the naming rules (too long, control characters, a path segment that is not valid percent-encoding)' },
  MERIDIAN_INVALID_CONTEXT: { status: 400, retryable: false, doc: 'a causal-context token is malformed, forged, or belongs to another key' },
  MERIDIAN_INVALID_SESSION: { status: 400, retryable: false, doc: 'an X-Meridian-Session token is malformed' },
  MERIDIAN_INVALID_OPERATION: { status: 400, retryable: false, doc: 'a CRDT operation is malformed' },
  MERIDIAN_INVALID_CURSOR: { status: 400, retryable: false, doc: 'a `cursor` is not one the API gave out (pass the previous page\'s `next` unchanged)' },
  MERIDIAN_INVALID_ELEMENT: { status: 400, retryable: false, doc: 'an element in a path is not JSON text (a string element keeps its quotes: `%22apple%22`)' },
  MERIDIAN_VALUE_TOO_DEEP: { status: 400, retryable: false, doc: 'a JSON value nests arrays and objects more than 64 levels deep' },
  MERIDIAN_BAD_REQUEST: { status: 400, retryable: false, doc: 'the HTTP request is malformed (e.g. a body that does not match its Content-Length)' },
  MERIDIAN_UNAUTHENTICATED: { status: 401, retryable: false, doc: 'no bearer token, or one that is malformed, expired, or not signed by a trusted key (WWW-Authenticate says which); nothing was done' },
  MERIDIAN_FORBIDDEN: { status: 403, retryable: false, doc: 'the token is valid but its scopes or namespaces do not allow this route; nothing was done' },
  MERIDIAN_NOT_FOUND: { status: 404, retryable: false, doc: 'no such route' },
  MERIDIAN_NAMESPACE_NOT_FOUND: { status: 404, retryable: false, doc: 'the namespace does not exist in this region' },
  MERIDIAN_KEY_NOT_FOUND: { status: 404, retryable: false, doc: 'the key is absent or deleted (a deleted key\'s answer still carries its context)' },
  MERIDIAN_ELEMENT_NOT_FOUND: { status: 404, retryable: false, doc: 'the set does not hold the element (the answer carries the key\'s context and a session token)' },
  MERIDIAN_FIELD_NOT_FOUND: { status: 404, retryable: false, doc: 'the map has no such field (the answer carries the key\'s context and a session token)' },
  MERIDIAN_POLICY_CONFLICT: { status: 409, retryable: false, doc: 'the namespace exists with another policy' },
  MERIDIAN_WRONG_POLICY: { status: 409, retryable: false, doc: 'the operation does not fit the namespace\'s policy (e.g. PUT on a counter)' },
  MERIDIAN_OPERATION_CONFLICT: { status: 409, retryable: false, doc: 'the operation clashes with the stored value (a map field of another type, a counter beyond 2^53)' },
  MERIDIAN_REDRIVE_FAILED: { status: 409, retryable: false, doc: 'a dead letter still cannot be applied (or was already redriven); nothing changed' },
  MERIDIAN_LINK_NOT_DRAINED: { status: 409, retryable: true, doc: 'a region cannot be removed yet: the link from it has not applied everything it published (or is failed); nothing changed. Wait, or remove it with `force=true`' },
  MERIDIAN_REGION_REMOVED: { status: 409, retryable: false, doc: 'a removed region cannot be added back as it is: it may still hold values deleted and purged here since. Wipe its database, start it with `MERIDIAN_JOIN=on`, then add it with `fresh=true`; nothing changed' },
  MERIDIAN_IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false, doc: 'an Idempotency-Key was reused with a different request' },
  MERIDIAN_BODY_TOO_LARGE: { status: 413, retryable: false, doc: 'the request body exceeds the body limit' },
  MERIDIAN_VALUE_TOO_LARGE: { status: 413, retryable: false, doc: 'the value exceeds the value size limit' },
  MERIDIAN_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, doc: 'the body is not application/json' },
  MERIDIAN_RATE_LIMITED: { status: 429, retryable: true, doc: 'this client (token subject, else address) sent more requests than the per-minute limit; retry after Retry-After seconds' },
  MERIDIAN_SESSION_NOT_COVERED: { status: 503, retryable: true, doc: 'the read\'s session is not yet applied in this region (wait timed out, or no region to fall back to)' },
  MERIDIAN_STORE_UNAVAILABLE: { status: 503, retryable: true, doc: 'the region\'s PostgreSQL is unavailable; nothing was written' },
  MERIDIAN_BUSY: { status: 503, retryable: true, doc: 'the write could not be serialised after several attempts; nothing was written' },
  MERIDIAN_OUTCOME_UNKNOWN: { status: 503, retryable: true, doc: 'the connection to PostgreSQL was lost after the write was sent: it may or may not have taken effect. Retry with the same Idempotency-Key (answered from the first attempt if it took effect, applied once if not); a write sent without one may apply twice' },
  MERIDIAN_INTERNAL: { status: 500, retryable: false, doc: 'an unexpected error (a bug); see the logs' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class MeridianError extends ServiceError<ErrorCode> {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(ERRORS, code, message, details);
    this.name = 'MeridianError';
  }
}

/**
 * Thrown by a CRDT write's plan when the context it was sent with names dots the key's state here
 * does not hold (`missing`, as `actor:counter`): the write stored nothing. Coverage only grows
 * (a key's context never shrinks), so the write may be tried again once they arrive.
 */
export class ContextNotCoveredError extends MeridianError {
  readonly missing: readonly string[];

  constructor(missing: readonly string[]) {
    super('MERIDIAN_SESSION_NOT_COVERED', `the context names ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}, not yet applied in this region`);
    this.name = 'ContextNotCoveredError';
    this.missing = missing;
  }

  /** The origin actors of the missing dots. */
  get origins(): string[] {
    return [...new Set(this.missing.map((d) => d.slice(0, d.lastIndexOf(':'))))];
  }
}
