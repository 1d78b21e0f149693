/**
 * Encode and decode replication records: the only module that touches the generated protobuf
 * code. Generated messages never leave it; callers see `ReplicationRecord`s and bytes.
 *
 * Decoding order matters:
 * 1. bytes that protobuf cannot parse → MERIDIAN_ENVELOPE_UNDECODABLE (poison);
 * 2. a schema version newer than ours → MERIDIAN_SCHEMA_TOO_NEW, before anything else is read:
 *    a newer writer may use record kinds, payloads or policies this reader would misjudge as
 *    invalid, and such a record must pause the link, not be dead-lettered;
 * 3. any rule broken → MERIDIAN_ENVELOPE_INVALID (poison).
 * Unknown fields of a known version are ignored: fields are only ever added (see README.md).
 *
 * Encoding checks the same rules first, so a record this package encodes is one every peer of
 * the same schema version decodes. Encoding is deterministic (fields in number order, the
 * applied vector sorted by actor id), so equal records give equal bytes.
 */
import { describeValue } from '@meridian/causality';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  HeartbeatSchema,
  IdempotentAnswerSchema,
  NamespaceDeclaredSchema,
  Policy as WirePolicy,
  RecordSchema,
  TouchedRowsSchema,
  UpdateSchema,
  type NamespaceDeclared,
  type Record as WireRecord,
} from './generated/meridian/replication/v1/replication_pb.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.ts';
import { assertValidRecord } from './record-rules.ts';
import { readUpdateRecord, type UpdateFields } from './update-reader.ts';
import { writeUpdateRecord } from './update-writer.ts';
import {
  SCHEMA_VERSION,
  type HeartbeatRecord,
  type IdempotentAnswer,
  type NamespaceRecord,
  type Origin,
  type Policy,
  type ReplicationRecord,
  type SequencedRecordFields,
  type UpdatePayload,
  type UpdateRecord,
} from './replication-record.ts';

const POLICY_TO_WIRE = {
  lww: WirePolicy.LWW,
  mv: WirePolicy.MV,
  counter: WirePolicy.COUNTER,
  set: WirePolicy.SET,
  map: WirePolicy.MAP,
} as const satisfies { readonly [P in Policy]: WirePolicy };

const WIRE_TO_POLICY: ReadonlyMap<number, Policy> = new Map(
  Object.entries(POLICY_TO_WIRE).map(([policy, wire]) => [wire as number, policy as Policy]),
);

/** Encodes a record; throws MERIDIAN_ENVELOPE_INVALID if it breaks a rule (nothing is written then). */
export function encodeRecord(record: ReplicationRecord): Uint8Array {
  assertValidRecord(record);
  // An update (one per key write) is written directly, byte for byte as protobuf-es would; one
  // that carries an idempotent answer or a collection's touched rows by protobuf-es.
  if (record.kind === 'update' && record.idempotentAnswer === undefined && record.touchedRows === undefined) return writeUpdateRecord(record, POLICY_TO_WIRE[record.policy]);
  return toBinary(RecordSchema, toWire(record));
}

/** `encodeRecord` with protobuf-es writing every record (what it does for all but updates): for tests. */
export function encodeRecordReflective(record: ReplicationRecord): Uint8Array {
  assertValidRecord(record);
  return toBinary(RecordSchema, toWire(record));
}

/** How `decodeRecord` hands out an update's payload bytes. */
export interface DecodeOptions {
  /**
   * 'copy' (the default): the payload is a copy, the record does not alias `bytes`. 'view': the
   * payload is a plain Uint8Array over `bytes`' own memory, for a caller that leaves `bytes`
   * unchanged while it uses the record (no allocation of a buffer per record).
   */
  readonly payload?: 'copy' | 'view';
}

/**
 * Decodes one record. Throws a ProtocolError: MERIDIAN_ENVELOPE_UNDECODABLE,
 * MERIDIAN_SCHEMA_TOO_NEW (with `schemaVersion`) or MERIDIAN_ENVELOPE_INVALID.
 * The returned payload bytes are copies (unless `options.payload` is 'view').
 */
export function decodeRecord(bytes: Uint8Array, options: DecodeOptions = {}): ReplicationRecord {
  // An update in the form every encoder writes is read directly (update-reader.ts); anything
  // else — and whatever that reader is unsure of — is parsed by protobuf-es.
  const direct = bytes instanceof Uint8Array ? readUpdateRecord(bytes) : undefined;
  return recordFrom(direct ? { schemaVersion: direct.schemaVersion, kind: { case: 'update', value: direct.update } } : parse(bytes), options);
}

/** `decodeRecord` with protobuf-es parsing every record (what it does for those update-reader.ts does not read): for tests. */
export function decodeRecordReflective(bytes: Uint8Array, options: DecodeOptions = {}): ReplicationRecord {
  return recordFrom(parse(bytes), options);
}

/** What `fromWire` reads of a record: protobuf-es's message, or the fields update-reader.ts read. */
type RecordView = Pick<WireRecord, 'schemaVersion'> & { readonly kind: Exclude<WireRecord['kind'], { case: 'update' }> | { readonly case: 'update'; readonly value: UpdateFields } };

function recordFrom(wire: RecordView, options: DecodeOptions): ReplicationRecord {
  refuseNewerSchema(wire);
  const record = fromWire(wire, options.payload === 'view' ? view : copy);
  assertValidRecord(record);
  return record;
}

/**
 * Stamps the origin sequence on an encoded update or namespace record from the outbox (the relay
 * numbers records as it publishes them). Every other byte's meaning is kept, unknown fields
 * included, so a relay stamps records written by a newer replica of its own region in a rolling
 * upgrade as long as it knows the record's kind. A sequence is assigned once: re-stamping a
 * record with the sequence it already has is a no-op, with another one an error (the stream of
 * an origin must stay contiguous; two numbers for one record means two relays publishing).
 */
export function withSequence(bytes: Uint8Array, originSequence: bigint): Uint8Array {
  if (typeof originSequence !== 'bigint' || originSequence < 1n || originSequence >= 1n << 64n) {
    throw invalid(`invalid origin sequence: expected a bigint in [1, 2^64) (got ${describeValue(originSequence)})`);
  }
  const wire = parse(bytes);
  const { kind } = wire;
  if (kind.case === 'update' || kind.case === 'namespaceDeclared') {
    const current = kind.value.originSequence;
    if (current !== 0n && current !== originSequence) {
      throw invalid(`cannot stamp origin sequence ${originSequence}: the record already has sequence ${current}`, wire.schemaVersion);
    }
    kind.value.originSequence = originSequence;
    return toBinary(RecordSchema, wire);
  }
  if (kind.case === 'heartbeat') throw invalid('cannot stamp an origin sequence on a heartbeat: heartbeats are not sequenced', wire.schemaVersion);
  refuseNewerSchema(wire);
  throw invalid('cannot stamp an origin sequence: the record has no update or namespace_declared', wire.schemaVersion);
}

function parse(bytes: Uint8Array): WireRecord {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError(ProtocolErrorCode.EnvelopeUndecodable, `undecodable record: expected bytes (got ${describeValue(bytes)})`);
  }
  try {
    return fromBinary(RecordSchema, bytes);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ProtocolError(ProtocolErrorCode.EnvelopeUndecodable, `undecodable record (${bytes.length} bytes): ${reason}`, { cause });
  }
}

function refuseNewerSchema(wire: Pick<WireRecord, 'schemaVersion'>): void {
  if (wire.schemaVersion > SCHEMA_VERSION) {
    throw new ProtocolError(
      ProtocolErrorCode.SchemaTooNew,
      `record written with schema version ${wire.schemaVersion}, newer than this reader's ${SCHEMA_VERSION}: upgrade this region`,
      { schemaVersion: wire.schemaVersion },
    );
  }
}

function invalid(message: string, schemaVersion?: number): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.EnvelopeInvalid, message, schemaVersion === undefined ? {} : { schemaVersion });
}

function toWire(record: ReplicationRecord): WireRecord {
  const { schemaVersion } = record;
  switch (record.kind) {
    case 'update': {
      const { payload } = record;
      const update = create(UpdateSchema, {
        ...sequencedToWire(record),
        key: record.key,
        payload: payload.kind === 'register' ? { case: 'registerState', value: payload.state } : { case: 'crdtDelta', value: payload.delta },
        ...(record.idempotentAnswer === undefined ? {} : { idempotentAnswer: create(IdempotentAnswerSchema, record.idempotentAnswer) }),
        ...(record.touchedRows === undefined ? {} : { touchedRows: create(TouchedRowsSchema, { names: [...record.touchedRows] }) }),
      });
      return create(RecordSchema, { schemaVersion, kind: { case: 'update', value: update } });
    }
    case 'namespace': {
      const declared = create(NamespaceDeclaredSchema, sequencedToWire(record));
      return create(RecordSchema, { schemaVersion, kind: { case: 'namespaceDeclared', value: declared } });
    }
    case 'heartbeat': {
      const applied: { [actor: string]: bigint } = {};
      for (const actor of [...record.applied.keys()].sort()) applied[actor] = record.applied.get(actor) ?? 0n;
      const heartbeat = create(HeartbeatSchema, {
        originRegion: record.origin.region,
        originEpoch: record.origin.epoch,
        originWallMs: BigInt(record.originWallMs),
        highWaterSequence: record.highWaterSequence,
        applied,
        hlc: record.hlc,
      });
      return create(RecordSchema, { schemaVersion, kind: { case: 'heartbeat', value: heartbeat } });
    }
  }
}

/** The fields Update and NamespaceDeclared share: same names in both messages (not all the same numbers). */
function sequencedToWire(record: SequencedRecordFields) {
  return {
    originRegion: record.origin.region,
    originEpoch: record.origin.epoch,
    originSequence: record.originSequence,
    outboxId: record.outboxId,
    namespace: record.namespace,
    policy: POLICY_TO_WIRE[record.policy],
    hlc: record.hlc,
    traceparent: record.traceparent,
    ...(record.tracestate === undefined ? {} : { tracestate: record.tracestate }),
  };
}

function sequencedFromWire(wire: UpdateFields | NamespaceDeclared, schemaVersion: number): SequencedRecordFields {
  return {
    schemaVersion,
    origin: originOf(wire.originRegion, wire.originEpoch),
    originSequence: wire.originSequence,
    outboxId: wire.outboxId,
    namespace: wire.namespace,
    policy: policyFromWire(wire.policy, schemaVersion),
    hlc: wire.hlc,
    traceparent: wire.traceparent,
    ...(wire.tracestate === undefined ? {} : { tracestate: wire.tracestate }),
  };
}

const copy = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);
const view = (bytes: Uint8Array): Uint8Array => (bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));

function fromWire(wire: RecordView, payloadBytes: (bytes: Uint8Array) => Uint8Array): ReplicationRecord {
  const { schemaVersion, kind } = wire;
  if (schemaVersion === 0) throw invalid('invalid schema version: missing (0)');
  switch (kind.case) {
    case 'update': {
      const u = kind.value;
      let payload: UpdatePayload;
      if (u.payload.case === 'registerState') payload = { kind: 'register', state: payloadBytes(u.payload.value) };
      else if (u.payload.case === 'crdtDelta') payload = { kind: 'crdt', delta: payloadBytes(u.payload.value) };
      else throw invalid('invalid payload: missing (expected register_state or crdt_delta)', schemaVersion);
      // Spelled out rather than spread from sequencedFromWire: this runs once per replicated update.
      const record: UpdateRecord =
        u.tracestate === undefined
          ? { kind: 'update', schemaVersion, origin: originOf(u.originRegion, u.originEpoch), originSequence: u.originSequence, outboxId: u.outboxId, namespace: u.namespace, policy: policyFromWire(u.policy, schemaVersion), hlc: u.hlc, traceparent: u.traceparent, key: u.key, payload }
          : { kind: 'update', ...sequencedFromWire(u, schemaVersion), key: u.key, payload };
      if (u.idempotentAnswer === undefined && u.touchedRows === undefined) return record;
      return {
        ...record,
        ...(u.idempotentAnswer === undefined ? {} : { idempotentAnswer: idempotentAnswerFromWire(u.idempotentAnswer) }),
        ...(u.touchedRows === undefined ? {} : { touchedRows: [...u.touchedRows.names] }),
      };
    }
    case 'namespaceDeclared': {
      const record: NamespaceRecord = { kind: 'namespace', ...sequencedFromWire(kind.value, schemaVersion) };
      return record;
    }
    case 'heartbeat': {
      const h = kind.value;
      const applied = new Map<string, bigint>();
      for (const actor of Object.keys(h.applied).sort()) applied.set(actor, h.applied[actor] ?? 0n);
      const record: HeartbeatRecord = {
        kind: 'heartbeat',
        schemaVersion,
        origin: originOf(h.originRegion, h.originEpoch),
        originWallMs: Number(h.originWallMs),
        highWaterSequence: h.highWaterSequence,
        applied,
        hlc: h.hlc,
      };
      return record;
    }
    default:
      throw invalid('invalid record: no record kind (expected update, namespace_declared or heartbeat)', schemaVersion);
  }
}

function idempotentAnswerFromWire(a: IdempotentAnswer): IdempotentAnswer {
  return { idempotencyKey: a.idempotencyKey, fingerprint: a.fingerprint, status: a.status, bodyJson: a.bodyJson };
}

function originOf(region: string, epoch: number): Origin {
  return { region, epoch };
}

function policyFromWire(wire: WirePolicy, schemaVersion: number): Policy {
  const policy = WIRE_TO_POLICY.get(wire);
  if (policy === undefined) {
    throw invalid(`invalid policy: expected one of lww, mv, counter, set, map (got wire value ${wire})`, schemaVersion);
  }
  return policy;
}
