/**
 * The rules every record obeys, checked on encode and on decode alike: a record this package
 * encodes is one that every peer of the same schema version decodes, and a peer's record that
 * breaks a rule is refused (MERIDIAN_ENVELOPE_INVALID, dead-lettered) before any of it is applied.
 *
 * Each `check…` returns the problem as "invalid X: expected Y (got Z)", or undefined.
 *
 * Strings must be well-formed UTF-16 (no lone surrogates): protobuf strings are UTF-8, and a lone
 * surrogate would silently become U+FFFD on the wire, so a key would arrive under another name.
 */
import { describeValue } from '@meridian/causality';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.ts';
import {
  SCHEMA_VERSION,
  isPolicy,
  payloadKindOf,
  type Origin,
  type ReplicationRecord,
  type SequencedRecordFields,
  type UpdatePayload,
  type Policy,
  type IdempotentAnswer,
} from './replication-record.ts';

/** Region names, as @meridian/causality defines them (no '.', so actor ids split unambiguously). */
const REGION = /^[a-z][a-z0-9-]{0,31}$/;
/** An actor id: `<region>.<epoch>`, epoch in canonical decimal (no leading zero), 1..2^32-1. */
const ACTOR = /^[a-z][a-z0-9-]{0,31}\.([1-9][0-9]{0,9})$/;
/** W3C trace context level 1: version 00, 16-byte trace id, 8-byte parent id, flags; lower-case hex. */
/** The trace id is at 3..35 and the parent id at 36..52 (checked without capturing: this runs for every replicated record). */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_PARENT_ID = '0'.repeat(16);

const MAX_UINT32 = 0xffff_ffff;
const MAX_UINT64 = (1n << 64n) - 1n;

export function checkRegion(region: unknown): string | undefined {
  if (typeof region === 'string' && REGION.test(region)) return undefined;
  return `invalid region: expected 1-32 characters matching /^[a-z][a-z0-9-]{0,31}$/ (got ${describeValue(region)})`;
}

export function checkEpoch(epoch: unknown): string | undefined {
  if (typeof epoch === 'number' && Number.isInteger(epoch) && epoch >= 1 && epoch <= MAX_UINT32) return undefined;
  return `invalid epoch: expected an integer in [1, 2^32) (got ${describeValue(epoch)})`;
}

export function checkActorId(actor: unknown): string | undefined {
  const match = typeof actor === 'string' ? ACTOR.exec(actor) : null;
  if (match && Number(match[1]) <= MAX_UINT32) return undefined;
  return `invalid actor id: expected "<region>.<epoch>" such as "eu.1" (got ${describeValue(actor)})`;
}

export function checkNamespace(namespace: unknown): string | undefined {
  if (typeof namespace === 'string' && namespace.length > 0 && !namespace.includes('/') && !namespace.includes('\u0000') && namespace.isWellFormed()) return undefined;
  return `invalid namespace: expected a non-empty, well-formed string without '/' or NUL (got ${describeValue(namespace)})`;
}

export function checkKey(key: unknown): string | undefined {
  // PostgreSQL's text holds no NUL: a key with one could never be stored, and its apply would fail forever.
  if (typeof key === 'string' && key.length > 0 && !key.includes('\u0000') && key.isWellFormed()) return undefined;
  return `invalid key: expected a non-empty, well-formed string without NUL (got ${describeValue(key)})`;
}

export function checkPolicy(policy: unknown): string | undefined {
  if (isPolicy(policy)) return undefined;
  return `invalid policy: expected one of lww, mv, counter, set, map (got ${describeValue(policy)})`;
}

/** '' (not traced) or a W3C traceparent; all-zero trace and parent ids are invalid by the W3C spec. */
export function checkTraceparent(traceparent: unknown): string | undefined {
  if (traceparent === '') return undefined;
  if (typeof traceparent === 'string' && TRACEPARENT.test(traceparent) && !traceparent.startsWith(ZERO_TRACE_ID, 3) && !traceparent.startsWith(ZERO_PARENT_ID, 36)) return undefined;
  return `invalid traceparent: expected "00-<32 hex>-<16 hex>-<2 hex>" with non-zero ids, or '' (got ${describeValue(traceparent)})`;
}

function checkUint64(what: string, value: unknown, min = 0n): string | undefined {
  if (typeof value === 'bigint' && value >= min && value <= MAX_UINT64) return undefined;
  return `invalid ${what}: expected a bigint in [${min}, 2^64) (got ${describeValue(value)})`;
}

function checkSchemaVersion(version: unknown): string | undefined {
  if (typeof version === 'number' && Number.isInteger(version) && version >= 1 && version <= SCHEMA_VERSION) return undefined;
  return `invalid schema version: expected an integer in [1, ${SCHEMA_VERSION}] (got ${describeValue(version)})`;
}

function checkOrigin(origin: Origin | undefined): string | undefined {
  if (typeof origin !== 'object' || origin === null) return `invalid origin: expected { region, epoch } (got ${describeValue(origin)})`;
  return checkRegion(origin.region) ?? checkEpoch(origin.epoch);
}

function checkPayload(policy: Policy, payload: UpdatePayload | undefined): string | undefined {
  if (typeof payload !== 'object' || payload === null) return 'invalid payload: missing (expected register_state or crdt_delta)';
  const bytes = payload.kind === 'register' ? payload.state : payload.kind === 'crdt' ? payload.delta : undefined;
  if (!(bytes instanceof Uint8Array)) {
    return `invalid payload: expected { kind: 'register', state } or { kind: 'crdt', delta } with bytes (got ${describeValue(payload)})`;
  }
  const expected = payloadKindOf(policy);
  if (payload.kind !== expected) {
    return `invalid payload: a ${policy} namespace ships ${expected === 'register' ? 'register_state' : 'crdt_delta'} (got ${payload.kind === 'register' ? 'register_state' : 'crdt_delta'})`;
  }
  return undefined;
}

/** The first rule `record` breaks, or undefined. The policy is checked before the payload that depends on it. */
export function findProblem(record: ReplicationRecord): string | undefined {
  const common = checkSchemaVersion(record.schemaVersion) ?? checkOrigin(record.origin) ?? checkUint64('hlc', record.hlc);
  if (common !== undefined) return common;
  switch (record.kind) {
    case 'update':
      return checkSequenced(record) ?? checkKey(record.key) ?? checkPayload(record.policy, record.payload) ?? checkIdempotentAnswer(record.idempotentAnswer) ?? checkTouchedRows(record.policy, record.touchedRows);
    case 'namespace':
      return checkSequenced(record);
    case 'heartbeat':
      return checkWallMs(record.originWallMs) ?? checkUint64('high-water sequence', record.highWaterSequence) ?? checkApplied(record.applied);
    default:
      return `invalid record kind: expected update, namespace or heartbeat (got ${describeValue((record as { kind?: unknown }).kind)})`;
  }
}

function checkSequenced(record: SequencedRecordFields): string | undefined {
  return (
    checkUint64('origin sequence', record.originSequence) ??
    checkUint64('outbox id', record.outboxId) ??
    checkNamespace(record.namespace) ??
    checkPolicy(record.policy) ??
    checkTraceparent(record.traceparent) ??
    checkTracestate(record.tracestate)
  );
}

/** Throws MERIDIAN_ENVELOPE_INVALID with the first rule `record` breaks. */
export function assertValidRecord(record: ReplicationRecord): void {
  const problem = findProblem(record);
  if (problem !== undefined) throw new ProtocolError(ProtocolErrorCode.EnvelopeInvalid, problem, { schemaVersion: record.schemaVersion });
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

/** Absent, or an Idempotency-Key of 1-255 well-formed characters, a SHA-256 hex fingerprint, a status 100-599 and a JSON object. */
export function checkIdempotentAnswer(answer: IdempotentAnswer | undefined): string | undefined {
  if (answer === undefined) return undefined;
  const { idempotencyKey: key, fingerprint, status, bodyJson } = answer;
  if (typeof key !== 'string' || key.length === 0 || key.length > 255 || key.includes('\u0000') || !key.isWellFormed()) return `invalid idempotency key: expected 1-255 well-formed characters, no NUL (got ${describeValue(key)})`;
  if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) return `invalid idempotency fingerprint: expected 64 lower-case hex digits (got ${describeValue(fingerprint)})`;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return `invalid idempotent answer status: expected an integer in [100, 599] (got ${describeValue(status)})`;
  if (typeof bodyJson !== 'string' || !isJsonObject(bodyJson)) return `invalid idempotent answer body: expected the JSON text of an object (got ${describeValue(bodyJson)})`;
  return undefined;
}

/**
 * Absent, or (a set or map update only) row names as stored — a set's JSON texts of elements, a
 * map's field names as JSON strings (never a raw NUL, which PostgreSQL's text cannot hold) —
 * sorted by code unit, without repeats.
 */
export function checkTouchedRows(policy: string, rows: readonly string[] | undefined): string | undefined {
  if (rows === undefined) return undefined;
  if (policy !== 'set' && policy !== 'map') return `invalid touched rows: only a set or map update names rows (policy ${policy})`;
  if (!Array.isArray(rows)) return `invalid touched rows: expected an array of strings (got ${describeValue(rows)})`;
  let previous: string | undefined;
  for (let i = 0; i < rows.length; i++) {
    const name: unknown = rows[i];
    if (typeof name !== 'string' || !name.isWellFormed()) return `invalid touched row ${i}: expected a well-formed string (got ${describeValue(name)})`;
    if (!isRowName(policy, name)) return `invalid touched row ${i}: expected ${policy === 'set' ? "an element's JSON text" : "a field's name as a JSON string"} (got ${describeValue(name.slice(0, 40))})`;
    if (previous !== undefined && !(previous < name)) return `invalid touched rows: expected names sorted without repeats (${JSON.stringify(previous.slice(0, 40))} then ${JSON.stringify(name.slice(0, 40))})`;
    previous = name;
  }
  return undefined;
}

function isRowName(policy: 'set' | 'map', name: string): boolean {
  try {
    const value: unknown = JSON.parse(name);
    return policy === 'set' || typeof value === 'string';
  } catch {
    return false;
  }
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function checkTracestate(tracestate: unknown): string | undefined {
  if (tracestate === undefined || (typeof tracestate === 'string' && tracestate.isWellFormed())) return undefined;
  return `invalid tracestate: expected a well-formed string or absent (got ${describeValue(tracestate)})`;
}

function checkWallMs(ms: unknown): string | undefined {
  if (typeof ms === 'number' && Number.isSafeInteger(ms) && ms >= 0) return undefined;
  return `invalid origin wall time: expected a safe integer of ms >= 0 (got ${describeValue(ms)})`;
}

function checkApplied(applied: unknown): string | undefined {
  if (!(applied instanceof Map)) return `invalid applied vector: expected a Map of actor id to sequence (got ${describeValue(applied)})`;
  for (const [actor, sequence] of applied as Map<unknown, unknown>) {
    const problem = checkActorId(actor) ?? checkUint64(`applied sequence of ${String(actor)}`, sequence);
    if (problem !== undefined) return problem;
  }
  return undefined;
}
