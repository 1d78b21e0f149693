/**
 * A direct reader of the replication stream's common case: a `Record` holding an `Update`, in the
 * form every encoder writes (each field at most once, of its declared wire type, no unknown
 * fields). It reads the fields straight from the bytes into the shape protobuf-es gives them,
 * without protobuf-es's reflective reader (a message object per record, a closure per field).
 *
 * It never decides anything protobuf-es would decide otherwise: for any input outside that form
 * — another record kind, an unknown or repeated field, a wire type other than the declared one, a
 * varint longer than it reads, a string that is not ASCII and not valid UTF-8, truncated bytes —
 * it answers `undefined` and the caller parses the bytes with protobuf-es, which decodes them or
 * says why not, exactly as before. Where it answers, its fields equal protobuf-es's (a property
 * test holds it to that on arbitrary and mutated records).
 *
 * The generated code stays the schema's source of truth: field numbers come from the generated
 * descriptors, and loading this module fails if a field's type is no longer the one read here.
 */
import { ScalarType, type DescMessage } from '@bufbuild/protobuf';
import { fieldNumber as fieldOf, WIRE_LENGTH_DELIMITED, WIRE_VARINT, wireTypeOf } from './descriptor-fields.ts';
import { RecordSchema, UpdateSchema, type Update } from './generated/meridian/replication/v1/replication_pb.js';

/** An update as protobuf-es decodes it, less the message's own bookkeeping. */
export type UpdateFields = Omit<Update, '$typeName' | '$unknown'>;

const fieldNumber = (schema: DescMessage, name: string, type: ScalarType | 'enum' | 'message'): number => fieldOf('update-reader', schema, name, type);

const RECORD = {
  schemaVersion: fieldNumber(RecordSchema, 'schemaVersion', ScalarType.UINT32),
  update: fieldNumber(RecordSchema, 'update', 'message'),
};


type MutableUpdate = { -readonly [K in keyof UpdateFields]: UpdateFields[K] };
type FieldReader = (into: MutableUpdate, cursor: Cursor) => void;

/** An Update field: its number, its wire type and how it is read (its type checked against the descriptor). */
function updateField(name: string, type: ScalarType | 'enum', read: FieldReader): [number, { readonly wireType: number; readonly read: FieldReader }] {
  return [fieldNumber(UpdateSchema, name, type), { wireType: wireTypeOf(type), read }];
}

/** The payload oneof: a second member (or the same one again) would replace the first, so it is not read here. */
function payload(into: MutableUpdate, value: UpdateFields['payload']): void {
  if (into.payload.case !== undefined) throw NOT_MINE;
  into.payload = value;
}

const UPDATE_FIELDS = new Map([
  updateField('originRegion', ScalarType.STRING, (u, c) => void (u.originRegion = c.string())),
  updateField('originEpoch', ScalarType.UINT32, (u, c) => void (u.originEpoch = c.uint32())),
  updateField('originSequence', ScalarType.UINT64, (u, c) => void (u.originSequence = c.uint64())),
  updateField('outboxId', ScalarType.UINT64, (u, c) => void (u.outboxId = c.uint64())),
  updateField('namespace', ScalarType.STRING, (u, c) => void (u.namespace = c.string())),
  // protobuf-es reads an open enum as an int32: the same number below 2^28 (four varint bytes).
  updateField('policy', 'enum', (u, c) => void (u.policy = c.varint(4))),
  updateField('key', ScalarType.STRING, (u, c) => void (u.key = c.string())),
  updateField('hlc', ScalarType.FIXED64, (u, c) => void (u.hlc = c.fixed64())),
  updateField('traceparent', ScalarType.STRING, (u, c) => void (u.traceparent = c.string())),
  updateField('tracestate', ScalarType.STRING, (u, c) => void (u.tracestate = c.string())),
  updateField('registerState', ScalarType.BYTES, (u, c) => payload(u, { case: 'registerState', value: c.bytes() })),
  updateField('crdtDelta', ScalarType.BYTES, (u, c) => payload(u, { case: 'crdtDelta', value: c.bytes() })),
]);
/** Update fields this reader leaves to protobuf-es (a record that has one is not in its form): the idempotent answer, a collection's touched rows. */
const LEFT_TO_PROTOBUF_ES = [fieldNumber(UpdateSchema, 'idempotentAnswer', 'message'), fieldNumber(UpdateSchema, 'touchedRows', 'message')];
if (UPDATE_FIELDS.size + LEFT_TO_PROTOBUF_ES.length !== UpdateSchema.fields.length) throw new Error('update-reader: Update has fields this reader does not know; update the reader');

/** protobuf-es reads proto3 strings like this (invalid UTF-8 refused, a leading U+FEFF kept). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Thrown inside the reader when the bytes leave the form it reads (one instance: nothing is allocated then); never escapes it. */
const NOT_MINE = new Error('not in the form update-reader.ts reads');

class Cursor {
  pos: number;
  readonly end: number;
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.#bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /** A varint of at most `maxBytes` bytes (at most 7: below 2^49, exact as a number). */
  varint(maxBytes: number): number {
    const bytes = this.#bytes;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      if (this.pos >= this.end) throw NOT_MINE;
      const byte = bytes[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    throw NOT_MINE;
  }

  /** A varint that protobuf-es reads as this very uint32 (at most 5 bytes, none of its bits beyond 32). */
  uint32(): number {
    const value = this.varint(5);
    if (value > 0xffff_ffff) throw NOT_MINE;
    return value;
  }

  /** A uint64: up to 10 varint bytes, none of their bits beyond 64 (protobuf-es would drop those). */
  uint64(): bigint {
    let low = 0; // the first 7 groups: below 2^49, exact as a number
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw NOT_MINE;
      const byte = this.#bytes[this.pos++]!;
      low += (byte & 0x7f) * scale;
      if (byte < 0x80) return BigInt(low);
      scale *= 0x80;
    }
    const high = this.varint(3); // 3 more groups: bits 49 to 69
    if (high >= 2 ** 15) throw NOT_MINE;
    return (BigInt(high) << 49n) | BigInt(low);
  }

  fixed64(): bigint {
    if (this.end - this.pos < 8) throw NOT_MINE;
    const bytes = this.#bytes;
    const view = new DataView(bytes.buffer, bytes.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getBigUint64(0, true);
  }

  /** A length-delimited field's bounds. */
  delimited(): { start: number; end: number } {
    const length = this.varint(5);
    const start = this.pos;
    if (length > this.end - start) throw NOT_MINE;
    this.pos = start + length;
    return { start, end: this.pos };
  }

  string(): string {
    const { start, end } = this.delimited();
    const bytes = this.#bytes;
    let text = '';
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) {
        try {
          return utf8.decode(bytes.subarray(start, end));
        } catch {
          throw NOT_MINE;
        }
      }
      text += String.fromCharCode(byte);
    }
    return text;
  }

  /** A view of a bytes field (the caller copies what it keeps). */
  bytes(): Uint8Array {
    const { start, end } = this.delimited();
    return this.#bytes.subarray(start, end);
  }
}

/**
 * A record holding an update, read directly: its schema version and the update's fields as
 * protobuf-es gives them (payload bytes are views into `bytes`). `undefined`: not in the form
 * read here — parse it with protobuf-es.
 */
export function readUpdateRecord(bytes: Uint8Array): { schemaVersion: number; update: UpdateFields } | undefined {
  try {
    const record = new Cursor(bytes, 0, bytes.length);
    let schemaVersion: number | undefined;
    let update: UpdateFields | undefined;
    while (record.pos < record.end) {
      const tag = record.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === RECORD.schemaVersion && wireType === WIRE_VARINT && schemaVersion === undefined) schemaVersion = record.uint32();
      else if (field === RECORD.update && wireType === WIRE_LENGTH_DELIMITED && update === undefined) {
        const { start, end } = record.delimited();
        update = readUpdate(new Cursor(bytes, start, end));
      } else return undefined;
    }
    return update === undefined ? undefined : { schemaVersion: schemaVersion ?? 0, update };
  } catch (error) {
    if (error === NOT_MINE) return undefined;
    throw error;
  }
}

function readUpdate(cursor: Cursor): UpdateFields {
  const fields: MutableUpdate = {
    originRegion: '',
    originEpoch: 0,
    originSequence: 0n,
    outboxId: 0n,
    namespace: '',
    policy: 0,
    key: '',
    hlc: 0n,
    traceparent: '',
    payload: { case: undefined },
  };
  let seen = 0; // a bit per field number (they are below 32)
  while (cursor.pos < cursor.end) {
    const tag = cursor.uint32();
    const number = tag >>> 3;
    const field = UPDATE_FIELDS.get(number);
    if (field === undefined || (tag & 7) !== field.wireType || number >= 32 || (seen & (1 << number)) !== 0) throw NOT_MINE;
    seen |= 1 << number;
    field.read(fields, cursor);
  }
  return fields;
}
