/**
 * The direct update reader against protobuf-es: wherever it reads a record, it reads what
 * protobuf-es reads; everything else it leaves to protobuf-es, so `decodeRecord` decodes (or
 * refuses, with the same error) exactly as protobuf-es alone does — on valid records of every
 * kind and on records taken apart field by field and put together wrong.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { RecordSchema } from './generated/meridian/replication/v1/replication_pb.js';
import { decodeRecord, decodeRecordReflective, encodeRecord } from './record-codec.ts';
import { heartbeatRecordArb, namespaceRecordArb, replicationRecordArb, updateRecordArb } from './record-arbitraries.ts';
import { readUpdateRecord } from './update-reader.ts';

/** A message's fields as they are on the wire: number, wire type, and the bytes after the tag. */
interface RawField {
  readonly no: number;
  readonly wireType: WireType;
  readonly data: Uint8Array;
}

function fieldsOf(bytes: Uint8Array): RawField[] {
  const reader = new BinaryReader(bytes);
  const fields: RawField[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    fields.push({ no, wireType, data: reader.skip(wireType, no).slice() });
  }
  return fields;
}

function join(fields: readonly RawField[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const f of fields) writer.tag(f.no, f.wireType).raw(f.data);
  return writer.finish();
}

const lengthDelimited = (content: Uint8Array): Uint8Array => new BinaryWriter().bytes(content).finish();
const contentOf = (data: Uint8Array): Uint8Array => new BinaryReader(data).bytes();

/** Ways to put a message's fields together wrong (or differently right). */
type Edit =
  | { op: 'swap'; i: number; j: number }
  | { op: 'duplicate'; i: number }
  | { op: 'drop'; i: number }
  | { op: 'unknown'; no: number; wireType: WireType; data: Uint8Array }
  | { op: 'pad-varint'; i: number; extra: number }
  | { op: 'wire-type'; i: number; wireType: WireType }
  | { op: 'text'; i: number; bytes: Uint8Array }
  | { op: 'byte'; at: number; value: number }
  | { op: 'truncate'; at: number };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('drop' as const), i: fc.nat() }),
  fc.record({
    op: fc.constant('unknown' as const),
    no: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 536_870_911 })),
    wireType: fc.constantFrom(WireType.Varint, WireType.Bit64, WireType.LengthDelimited, WireType.Bit32),
    data: fc.uint8Array({ maxLength: 12 }),
  }),
  fc.record({ op: fc.constant('pad-varint' as const), i: fc.nat(), extra: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('wire-type' as const), i: fc.nat(), wireType: fc.constantFrom(WireType.Varint, WireType.Bit64, WireType.LengthDelimited, WireType.Bit32, WireType.StartGroup) }),
  fc.record({
    op: fc.constant('text' as const),
    i: fc.nat(),
    // invalid UTF-8, a byte-order mark, non-ASCII text, long ASCII text
    bytes: fc.oneof(fc.constant(Uint8Array.of(0x61, 0xff)), fc.constant(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)), fc.constant(new TextEncoder().encode('é/ü')), fc.constant(new TextEncoder().encode('k'.repeat(70))), fc.uint8Array({ maxLength: 6 })),
  }),
  fc.record({ op: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function applyEdit(fields: RawField[], edit: Edit): RawField[] {
  const n = fields.length;
  const at = (i: number): number => i % Math.max(n, 1);
  const out = [...fields];
  switch (edit.op) {
    case 'swap':
      if (n > 1) [out[at(edit.i)], out[at(edit.j)]] = [out[at(edit.j)]!, out[at(edit.i)]!];
      return out;
    case 'duplicate':
      if (n > 0) out.splice(at(edit.i), 0, out[at(edit.i)]!);
      return out;
    case 'drop':
      if (n > 0) out.splice(at(edit.i), 1);
      return out;
    case 'unknown':
      out.push({ no: edit.no, wireType: edit.wireType, data: edit.wireType === WireType.LengthDelimited ? lengthDelimited(edit.data) : edit.data });
      return out;
    case 'pad-varint': {
      const f = out[at(edit.i)];
      if (!f || f.wireType !== WireType.Varint) return out;
      // The same value with redundant continuation groups (still at most 10 bytes, or not: both are tried).
      const padded = [...f.data];
      padded[padded.length - 1]! |= 0x80;
      for (let k = 1; k < edit.extra; k++) padded.push(0x80);
      padded.push(0);
      out[at(edit.i)] = { ...f, data: Uint8Array.from(padded) };
      return out;
    }
    case 'wire-type': {
      const f = out[at(edit.i)];
      if (f) out[at(edit.i)] = { ...f, wireType: edit.wireType };
      return out;
    }
    case 'text': {
      const f = out[at(edit.i)];
      if (f && f.wireType === WireType.LengthDelimited) out[at(edit.i)] = { ...f, data: lengthDelimited(edit.bytes) };
      return out;
    }
    case 'byte': {
      const f = out[at(edit.at)];
      if (!f || f.data.length === 0) return out;
      const data = f.data.slice();
      data[edit.at % data.length] = edit.value;
      out[at(edit.at)] = { ...f, data };
      return out;
    }
    case 'truncate': {
      const f = out[n - 1];
      if (f && f.data.length > 0) out[n - 1] = { ...f, data: f.data.slice(0, edit.at % f.data.length) };
      return out;
    }
  }
}

/** A record whose update (or, less often, the record itself) was taken apart and put together with these edits. */
const editedRecordArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.oneof({ arbitrary: updateRecordArb, weight: 4 }, { arbitrary: replicationRecordArb, weight: 1 }), fc.array(editArb, { maxLength: 3 }), fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: fc.array(editArb, { maxLength: 2 }), weight: 1 }))
  .map(([record, innerEdits, outerEdits]) => {
    let outer = fieldsOf(encodeRecord(record));
    outer = outer.map((f) => (f.no === 2 && f.wireType === WireType.LengthDelimited ? { ...f, data: lengthDelimited(join(innerEdits.reduce(applyEdit, fieldsOf(contentOf(f.data))))) } : f));
    return join(outerEdits.reduce(applyEdit, outer));
  });

type Outcome = { record: unknown } | { error: string };

function outcome(decode: () => unknown): Outcome {
  try {
    return { record: decode() };
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { error: `${e.code ?? 'no code'}: ${e.message}` };
  }
}

describe('the direct update reader', () => {
  it('reads every update any encoder writes, to the record protobuf-es decodes', () => {
    fc.assert(
      fc.property(updateRecordArb, (record) => {
        const bytes = encodeRecord(record);
        expect(readUpdateRecord(bytes)).toBeDefined();
        expect(readUpdateRecord(Buffer.from(bytes))).toBeDefined();
        expect(decodeRecord(bytes)).toStrictEqual(decodeRecordReflective(bytes));
        expect(decodeRecord(Buffer.from(bytes))).toStrictEqual(record);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves namespace declarations and heartbeats to protobuf-es', () => {
    fc.assert(
      fc.property(fc.oneof(namespaceRecordArb, heartbeatRecordArb), (record) => {
        expect(readUpdateRecord(encodeRecord(record))).toBeUndefined();
      }),
    );
  });

  it('where it reads a record, reads the fields protobuf-es reads; decodeRecord decodes or refuses exactly as protobuf-es alone does', () => {
    let read = 0;
    let left = 0;
    fc.assert(
      fc.property(fc.oneof(editedRecordArb, fc.uint8Array({ maxLength: 120 })), (bytes) => {
        const direct = readUpdateRecord(bytes);
        if (direct) {
          read++;
          const wire = fromBinary(RecordSchema, bytes);
          expect(wire.kind.case).toBe('update');
          const { $typeName: _name, $unknown: _unknown, ...fields } = wire.kind.value!;
          expect(_unknown).toBeUndefined();
          expect(direct).toEqual({ schemaVersion: wire.schemaVersion, update: fields });
        } else left++;
        expect(outcome(() => decodeRecord(bytes))).toStrictEqual(outcome(() => decodeRecordReflective(bytes)));
        expect(outcome(() => decodeRecord(bytes, { payload: 'view' }))).toStrictEqual(outcome(() => decodeRecordReflective(bytes, { payload: 'view' })));
      }),
      { numRuns: 3000 },
    );
    // Both sides of the reader were exercised.
    expect(read).toBeGreaterThan(300);
    expect(left).toBeGreaterThan(300);
  });

  it('reads a varint of any length and any bits in any varint field as protobuf-es does, or leaves it to protobuf-es', () => {
    // 1 to 11 groups of 7 bits, the last one without the continuation bit (unless it is the 11th)
    const varintArb = fc.array(fc.integer({ min: 0, max: 0x7f }), { minLength: 1, maxLength: 11 }).map((groups) => Uint8Array.from(groups.map((g, i) => (i < groups.length - 1 || groups.length === 11 ? g | 0x80 : g))));
    fc.assert(
      fc.property(updateRecordArb, fc.constantFrom(1, 2, 3, 4, 6), fc.boolean(), varintArb, (record, no, outer, varint) => {
        const fields = fieldsOf(encodeRecord(record));
        const replace = (list: RawField[], n: number): RawField[] => [...list.filter((f) => f.no !== n), { no: n, wireType: WireType.Varint, data: varint }];
        const bytes = outer
          ? join(replace(fields, 1))
          : join(fields.map((f) => (f.no === 2 ? { ...f, data: lengthDelimited(join(replace(fieldsOf(contentOf(f.data)), no))) } : f)));
        const direct = readUpdateRecord(bytes);
        if (direct) {
          const wire = fromBinary(RecordSchema, bytes);
          const { $typeName: _name, ...fields } = wire.kind.value as Exclude<typeof wire.kind.value, undefined>;
          expect(direct).toEqual({ schemaVersion: wire.schemaVersion, update: fields });
        }
        expect(outcome(() => decodeRecord(bytes))).toStrictEqual(outcome(() => decodeRecordReflective(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads redundant varint groups as protobuf-es does, and leaves longer varints, repeated fields, a second payload and non-UTF-8 text to it', () => {
    const update = fc.sample(updateRecordArb, { numRuns: 1, seed: 7 })[0]!;
    const fields = fieldsOf(encodeRecord(update));
    const inner = fieldsOf(contentOf(fields.find((f) => f.no === 2)!.data));
    const rebuilt = (updateFields: RawField[], outer: RawField[] = fields): Uint8Array => join(outer.map((f) => (f.no === 2 ? { ...f, data: lengthDelimited(join(updateFields)) } : f)));
    // schema_version 1 written as 0x81 0x00: the same number
    const padded = join(fields.map((f) => (f.no === 1 ? { ...f, data: Uint8Array.of(0x81, 0x00) } : f)));
    expect(readUpdateRecord(padded)?.schemaVersion).toBe(1);
    expect(decodeRecord(padded)).toStrictEqual(decodeRecordReflective(padded));
    // a 10-byte varint: protobuf-es's business
    expect(readUpdateRecord(join(fields.map((f) => (f.no === 1 ? { ...f, data: Uint8Array.of(0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00) } : f))))).toBeUndefined();
    // a field twice (protobuf-es keeps the last), the other payload member after the first, an unknown field
    const payload = inner.find((f) => f.no === 11 || f.no === 12)!;
    expect(readUpdateRecord(rebuilt([...inner, inner[0]!]))).toBeUndefined();
    expect(readUpdateRecord(rebuilt([...inner, { ...payload, no: payload.no === 11 ? 12 : 11 }]))).toBeUndefined();
    expect(readUpdateRecord(rebuilt([...inner, { no: 40, wireType: WireType.Varint, data: Uint8Array.of(1) }]))).toBeUndefined();
    // the update twice in the record (protobuf-es merges them)
    expect(readUpdateRecord(join([...fields, fields.find((f) => f.no === 2)!]))).toBeUndefined();
    // a key that is not UTF-8
    const notUtf8 = rebuilt(inner.map((f) => (f.no === 7 ? { ...f, data: lengthDelimited(Uint8Array.of(0x6b, 0xc3)) } : f)));
    expect(readUpdateRecord(notUtf8)).toBeUndefined();
    expect(outcome(() => decodeRecord(notUtf8))).toMatchObject({ error: expect.stringMatching(/^MERIDIAN_ENVELOPE_UNDECODABLE: /) as unknown });
  });
});
