/**
 * A direct writer of the replication stream's common case, the counterpart of update-reader.ts:
 * a `Record` holding an `Update`, written straight into one buffer of its exact size, without
 * protobuf-es's reflective writer (a message object per record and per update, a growing
 * buffer, a closure per field). Every region writes one per key write, into its outbox.
 *
 * It writes exactly the bytes protobuf-es's `toBinary` writes for the same record (a property
 * test holds it to that on arbitrary records): fields in number order, proto3 fields left out
 * when they hold their default (0, '', 0n), the optional `tracestate` and the payload oneof
 * written whenever they are set. Field numbers come from the generated descriptors, and loading
 * this module fails if a field's type is no longer the one written here.
 */
import { ScalarType, type DescMessage } from '@bufbuild/protobuf';
import { fieldNumber as fieldOf, wireTypeOf } from './descriptor-fields.ts';
import { RecordSchema, UpdateSchema } from './generated/meridian/replication/v1/replication_pb.js';
import type { UpdateRecord } from './replication-record.ts';

const fieldNumber = (schema: DescMessage, name: string, type: ScalarType | 'enum' | 'message'): number => fieldOf('update-writer', schema, name, type);

/** A field's tag: its number (checked against the descriptor) and its wire type. */
const tag = (schema: DescMessage, name: string, type: ScalarType | 'enum' | 'message'): number => (fieldNumber(schema, name, type) << 3) | wireTypeOf(type);

const RECORD_SCHEMA_VERSION = tag(RecordSchema, 'schemaVersion', ScalarType.UINT32);
const RECORD_UPDATE = tag(RecordSchema, 'update', 'message');
const U = {
  originRegion: tag(UpdateSchema, 'originRegion', ScalarType.STRING),
  originEpoch: tag(UpdateSchema, 'originEpoch', ScalarType.UINT32),
  originSequence: tag(UpdateSchema, 'originSequence', ScalarType.UINT64),
  outboxId: tag(UpdateSchema, 'outboxId', ScalarType.UINT64),
  namespace: tag(UpdateSchema, 'namespace', ScalarType.STRING),
  policy: tag(UpdateSchema, 'policy', 'enum'),
  key: tag(UpdateSchema, 'key', ScalarType.STRING),
  hlc: tag(UpdateSchema, 'hlc', ScalarType.FIXED64),
  traceparent: tag(UpdateSchema, 'traceparent', ScalarType.STRING),
  tracestate: tag(UpdateSchema, 'tracestate', ScalarType.STRING),
  registerState: tag(UpdateSchema, 'registerState', ScalarType.BYTES),
  crdtDelta: tag(UpdateSchema, 'crdtDelta', ScalarType.BYTES),
};
// Every tag is one varint byte (field numbers below 16), which the sizes below count on.
for (const t of [RECORD_SCHEMA_VERSION, RECORD_UPDATE, ...Object.values(U)]) if (t >= 0x80) throw new Error('update-writer: a field number above 15; update the writer');
/** Update fields this writer leaves to protobuf-es (encodeRecord sends it records without them): the idempotent answer, a collection's touched rows. */
const LEFT_TO_PROTOBUF_ES = [fieldNumber(UpdateSchema, 'idempotentAnswer', 'message'), fieldNumber(UpdateSchema, 'touchedRows', 'message')];
if (Object.keys(U).length + LEFT_TO_PROTOBUF_ES.length !== UpdateSchema.fields.length) throw new Error('update-writer: Update has fields this writer does not know; update the writer');

const utf8 = new TextEncoder();

/** A string's UTF-8 bytes, or undefined when it is ASCII (then its length is its byte length). */
function nonAscii(text: string): Uint8Array | undefined {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return utf8.encode(text);
  return undefined;
}

function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

function varint64Size(value: bigint): number {
  let size = 1;
  for (let rest = value; rest >= 0x80n; rest >>= 7n) size++;
  return size;
}

class Out {
  readonly bytes: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  varint(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.bytes[this.pos++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.bytes[this.pos++] = rest;
  }

  varint64(value: bigint): void {
    if (value <= BigInt(Number.MAX_SAFE_INTEGER)) return this.varint(Number(value));
    let rest = value;
    while (rest >= 0x80n) {
      this.bytes[this.pos++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.bytes[this.pos++] = Number(rest);
  }

  fixed64(value: bigint): void {
    new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).setBigUint64(0, value, true);
    this.pos += 8;
  }

  /** A string field's length and bytes (`encoded`: its UTF-8 when not ASCII). */
  string(text: string, encoded: Uint8Array | undefined): void {
    if (encoded !== undefined) return this.raw(encoded);
    this.varint(text.length);
    for (let i = 0; i < text.length; i++) this.bytes[this.pos++] = text.charCodeAt(i);
  }

  raw(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/** A string field: its tag, and its length and bytes; nothing for '' unless `present`. */
interface StringField {
  readonly text: string;
  readonly encoded: Uint8Array | undefined;
  readonly size: number;
}

function stringField(text: string, present = false): StringField | undefined {
  if (text === '' && !present) return undefined;
  const encoded = nonAscii(text);
  const length = encoded?.length ?? text.length;
  return { text, encoded, size: 1 + varintSize(length) + length };
}

/**
 * The bytes `toBinary(RecordSchema, …)` writes for this update record, whose policy is
 * `wirePolicy` on the wire. The record must already satisfy record-rules.ts (encodeRecord checks)
 * and carry no idempotent answer or touched rows (encodeRecord writes those with protobuf-es).
 */
export function writeUpdateRecord(record: UpdateRecord, wirePolicy: number): Uint8Array {
  const originRegion = stringField(record.origin.region);
  const namespace = stringField(record.namespace);
  const key = stringField(record.key);
  const traceparent = stringField(record.traceparent);
  const tracestate = record.tracestate === undefined ? undefined : stringField(record.tracestate, true);
  const payload = record.payload.kind === 'register' ? record.payload.state : record.payload.delta;
  const payloadTag = record.payload.kind === 'register' ? U.registerState : U.crdtDelta;

  let updateSize = 1 + varintSize(payload.length) + payload.length;
  for (const field of [originRegion, namespace, key, traceparent, tracestate]) updateSize += field?.size ?? 0;
  if (record.origin.epoch !== 0) updateSize += 1 + varintSize(record.origin.epoch);
  if (record.originSequence !== 0n) updateSize += 1 + varint64Size(record.originSequence);
  if (record.outboxId !== 0n) updateSize += 1 + varint64Size(record.outboxId);
  if (wirePolicy !== 0) updateSize += 1 + varintSize(wirePolicy);
  if (record.hlc !== 0n) updateSize += 1 + 8;
  const size = (record.schemaVersion === 0 ? 0 : 1 + varintSize(record.schemaVersion)) + 1 + varintSize(updateSize) + updateSize;

  const out = new Out(size);
  if (record.schemaVersion !== 0) {
    out.varint(RECORD_SCHEMA_VERSION);
    out.varint(record.schemaVersion);
  }
  out.varint(RECORD_UPDATE);
  out.varint(updateSize);
  const string = (fieldTag: number, field: StringField | undefined): void => {
    if (field === undefined) return;
    out.varint(fieldTag);
    out.string(field.text, field.encoded);
  };
  string(U.originRegion, originRegion);
  if (record.origin.epoch !== 0) {
    out.varint(U.originEpoch);
    out.varint(record.origin.epoch);
  }
  if (record.originSequence !== 0n) {
    out.varint(U.originSequence);
    out.varint64(record.originSequence);
  }
  if (record.outboxId !== 0n) {
    out.varint(U.outboxId);
    out.varint64(record.outboxId);
  }
  string(U.namespace, namespace);
  if (wirePolicy !== 0) {
    out.varint(U.policy);
    out.varint(wirePolicy);
  }
  string(U.key, key);
  if (record.hlc !== 0n) {
    out.varint(U.hlc);
    out.fixed64(record.hlc);
  }
  string(U.traceparent, traceparent);
  string(U.tracestate, tracestate);
  out.varint(payloadTag);
  out.raw(payload);
  if (out.pos !== size) throw new Error(`update-writer: wrote ${out.pos} bytes of ${size}`);
  return out.bytes;
}
