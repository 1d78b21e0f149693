/**
 * The domain side of the wire format: plain, immutable TypeScript records. Nothing generated from
 * the .proto appears here or in any exported signature; `record-codec.ts` is the only place that
 * converts between these and the protobuf messages.
 *
 * Numbers that are 64-bit on the wire (sequences, outbox ids, HLCs) are bigints: they may pass
 * 2^53. The HLC is `(physical ms << 16) | logical`, as @meridian/causality packs it.
 */

/** The schema version this package writes and the newest it reads. */
export const SCHEMA_VERSION = 1;

/** Conflict policies, in wire order (POLICY_LWW = 1, …). */
export const POLICIES = Object.freeze(['lww', 'mv', 'counter', 'set', 'map'] as const);
export type Policy = (typeof POLICIES)[number];

export function isPolicy(value: unknown): value is Policy {
  return typeof value === 'string' && (POLICIES as readonly string[]).includes(value);
}

/**
 * What an update of a namespace carries: registers (`lww`, `mv`) ship the key's whole version set
 * (shipping one version plus the key's clock would delete siblings elsewhere), CRDTs a delta.
 */
export type PayloadKind = 'register' | 'crdt';

export function payloadKindOf(policy: Policy): PayloadKind {
  return policy === 'lww' || policy === 'mv' ? 'register' : 'crdt';
}

/** The actor that wrote a record: a region (/^[a-z][a-z0-9-]{0,31}$/) in an incarnation epoch >= 1. */
export interface Origin {
  readonly region: string;
  readonly epoch: number;
}

export type UpdatePayload =
  /** The key's whole version set after the write: @meridian/causality `DvvSet.encode` bytes, opaque here. */
  | { readonly kind: 'register'; readonly state: Uint8Array }
  /** A CRDT delta as @meridian/crdt encodes it, opaque here. */
  | { readonly kind: 'crdt'; readonly delta: Uint8Array };

/**
 * What updates and namespace declarations share: both are written to the outbox in the write's
 * transaction and numbered by the relay as it publishes them.
 */
export interface SequencedRecordFields {
  /** The schema version the record was (or is to be) written with: 1..SCHEMA_VERSION. */
  readonly schemaVersion: number;
  readonly origin: Origin;
  /** Contiguous per origin, assigned by the relay at publish (`withSequence`); 0n in the outbox. */
  readonly originSequence: bigint;
  /** The outbox row id: known at commit, before the relay numbers the row (session tokens use it). */
  readonly outboxId: bigint;
  /** Non-empty, never contains '/'. */
  readonly namespace: string;
  readonly policy: Policy;
  readonly hlc: bigint;
  /** W3C `traceparent` of the write, or '' when the write was not traced. */
  readonly traceparent: string;
  readonly tracestate?: string;
}

/**
 * The answer the origin gave a write that carried an Idempotency-Key, shipped with the write's
 * update so that every region that applies the update can answer a retry from it.
 */
export interface IdempotentAnswer {
  /** The client's Idempotency-Key: 1-255 characters. */
  readonly idempotencyKey: string;
  /** SHA-256 of the request (namespace, key, body), 64 lower-case hex digits. */
  readonly fingerprint: string;
  /** The answer's HTTP status, 100-599. */
  readonly status: number;
  /** The answer's body as JSON text of an object, without its session token (see the .proto). */
  readonly bodyJson: string;
}

/** One key's change. */
export interface UpdateRecord extends SequencedRecordFields {
  readonly kind: 'update';
  /** Non-empty. */
  readonly key: string;
  /** Its kind follows the policy: see `payloadKindOf`. */
  readonly payload: UpdatePayload;
  /** Present when the write carried an Idempotency-Key. */
  readonly idempotentAnswer?: IdempotentAnswer;
  /**
   * `set` and `map` only: the rows of the collection the delta reaches besides the ones its
   * entries name (elements' canonical JSON texts, fields' names as JSON strings), sorted, without
   * repeats — the rows holding a dot of its context, such as a removed element's. Present means
   * complete: a region storing the collection a row per element reads and writes only these and
   * the entries' rows. Absent (an older writer): the whole collection is joined.
   */
  readonly touchedRows?: readonly string[];
}

/** A namespace created in one region, replicated to all. */
export interface NamespaceRecord extends SequencedRecordFields {
  readonly kind: 'namespace';
}

/** The relay's once-a-second heartbeat; never in the outbox, never sequenced. */
export interface HeartbeatRecord {
  readonly kind: 'heartbeat';
  readonly schemaVersion: number;
  readonly origin: Origin;
  /** The origin's wall clock at publish, ms since the Unix epoch. */
  readonly originWallMs: number;
  /** The highest origin sequence the origin has published. */
  readonly highWaterSequence: bigint;
  /** The origin's applied vector: actor id `"<region>.<epoch>"` → highest contiguous sequence applied. */
  readonly applied: ReadonlyMap<string, bigint>;
  readonly hlc: bigint;
}

export type ReplicationRecord = UpdateRecord | NamespaceRecord | HeartbeatRecord;
/** The records the relay numbers (`withSequence`); heartbeats are never numbered. */
export type SequencedRecord = UpdateRecord | NamespaceRecord;
export type ReplicationRecordKind = ReplicationRecord['kind'];
