/**
 * Round trips, determinism, the relay's sequence stamp, and robustness against arbitrary bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { UpdateSchema, Policy as WirePolicy } from './generated/meridian/replication/v1/replication_pb.js';
import { decodeRecord, encodeRecord, withSequence } from './record-codec.ts';
import { ProtocolError } from './protocol-error.ts';
import { caughtProtocolError } from './caught-protocol-error.ts';
import { heartbeatRecordArb, namespaceRecordArb, replicationRecordArb, uint64Arb, updateRecordArb } from './record-arbitraries.ts';
import { SCHEMA_VERSION, type UpdateRecord, type NamespaceRecord, type HeartbeatRecord } from './replication-record.ts';

const update: UpdateRecord = {
  kind: 'update',
  schemaVersion: SCHEMA_VERSION,
  origin: { region: 'eu', epoch: 1 },
  originSequence: 0n,
  outboxId: 17n,
  namespace: 'users',
  policy: 'mv',
  key: 'alice',
  hlc: 0x1234_5678_0001n,
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  payload: { kind: 'register', state: Uint8Array.of(1, 2, 3) },
};

describe('round trip', () => {
  it.each([
    ['update', updateRecordArb],
    ['namespace', namespaceRecordArb],
    ['heartbeat', heartbeatRecordArb],
  ] as const)('decode(encode(r)) equals r for every %s record', (_kind, arb: fc.Arbitrary<UpdateRecord | NamespaceRecord | HeartbeatRecord>) => {
    fc.assert(
      fc.property(arb, (record) => {
        expect(decodeRecord(encodeRecord(record))).toStrictEqual(record);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes deterministically: equal records give equal bytes, whatever the applied map order', () => {
    fc.assert(
      fc.property(replicationRecordArb, (record) => {
        const copy =
          record.kind === 'heartbeat' ? { ...record, applied: new Map([...record.applied].reverse()) } : structuredClone(record);
        expect(encodeRecord(copy)).toEqual(encodeRecord(record));
      }),
    );
  });

  it('re-encoding a decoded record gives the same bytes', () => {
    fc.assert(
      fc.property(replicationRecordArb, (record) => {
        const bytes = encodeRecord(record);
        expect(encodeRecord(decodeRecord(bytes))).toEqual(bytes);
      }),
    );
  });

  it('decoded payloads are copies: changing the input buffer afterwards changes nothing', () => {
    const bytes = encodeRecord(update);
    const decoded = decodeRecord(bytes);
    bytes.fill(0);
    expect(decoded.kind === 'update' && decoded.payload.kind === 'register' ? [...decoded.payload.state] : null).toEqual([1, 2, 3]);
  });

  it('decodes from a Node Buffer (as kafkajs delivers values) into plain Uint8Arrays', () => {
    const decoded = decodeRecord(Buffer.from(encodeRecord(update)));
    expect(decoded).toStrictEqual(update);
  });

  it('omits tracestate when absent and keeps an empty one', () => {
    expect('tracestate' in decodeRecord(encodeRecord(update))).toBe(false);
    expect(decodeRecord(encodeRecord({ ...update, tracestate: '' }))).toMatchObject({ tracestate: '' });
  });
});

describe('unknown fields of a known schema version', () => {
  it('are ignored on decode', () => {
    const inner = new BinaryWriter();
    inner.raw(toBinary(UpdateSchema, create(UpdateSchema, {
      originRegion: 'eu', originEpoch: 1, namespace: 'users', policy: WirePolicy.LWW, key: 'k', hlc: 5n,
      payload: { case: 'registerState', value: Uint8Array.of(9) },
    })));
    inner.tag(40, WireType.LengthDelimited).string('added in a later, compatible change');
    inner.tag(41, WireType.Varint).uint64(7n);
    const outer = new BinaryWriter();
    outer.tag(1, WireType.Varint).uint32(1);
    outer.tag(2, WireType.LengthDelimited).bytes(inner.finish());
    outer.tag(30, WireType.Bit64).fixed64(1n);
    expect(decodeRecord(outer.finish())).toStrictEqual({
      kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 0n, outboxId: 0n,
      namespace: 'users', policy: 'lww', key: 'k', hlc: 5n, traceparent: '', payload: { kind: 'register', state: Uint8Array.of(9) },
    });
  });
});

describe('withSequence', () => {
  it('stamps the sequence and changes nothing else', () => {
    const unstamped = fc.oneof(updateRecordArb, namespaceRecordArb).map((r) => ({ ...r, originSequence: 0n }));
    fc.assert(
      fc.property(unstamped, uint64Arb.filter((s) => s > 0n), (record, sequence) => {
        const stamped = withSequence(encodeRecord(record), sequence);
        expect(decodeRecord(stamped)).toStrictEqual({ ...record, originSequence: sequence });
        expect(stamped).toEqual(encodeRecord({ ...record, originSequence: sequence }));
      }),
    );
  });

  it('is idempotent for the same sequence and refuses another one', () => {
    const once = withSequence(encodeRecord(update), 5n);
    expect(withSequence(once, 5n)).toEqual(once);
    const error = caughtProtocolError(() => withSequence(once, 6n));
    expect(error.code).toBe('MERIDIAN_ENVELOPE_INVALID');
    expect(error.message).toMatch(/already has sequence 5/);
  });

  it('refuses sequence 0, negative and 2^64', () => {
    for (const bad of [0n, -1n, 1n << 64n]) {
      expect(caughtProtocolError(() => withSequence(encodeRecord(update), bad)).code).toBe('MERIDIAN_ENVELOPE_INVALID');
    }
  });

  it('refuses heartbeats, which are never sequenced', () => {
    const heartbeat: HeartbeatRecord = {
      kind: 'heartbeat', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originWallMs: 1, highWaterSequence: 0n, applied: new Map(), hlc: 1n,
    };
    expect(caughtProtocolError(() => withSequence(encodeRecord(heartbeat), 1n)).code).toBe('MERIDIAN_ENVELOPE_INVALID');
  });

  it('refuses garbage as undecodable', () => {
    expect(caughtProtocolError(() => withSequence(Uint8Array.of(0xff, 0xff, 0xff), 1n)).code).toBe('MERIDIAN_ENVELOPE_UNDECODABLE');
  });

  it('keeps unknown fields, so it can stamp a newer replica\'s update during a rolling upgrade', () => {
    const writer = new BinaryWriter();
    writer.raw(encodeRecord(update));
    writer.tag(30, WireType.LengthDelimited).string('future');
    const stamped = withSequence(writer.finish(), 3n);
    const expected = new BinaryWriter();
    expected.raw(encodeRecord({ ...update, originSequence: 3n }));
    expected.tag(30, WireType.LengthDelimited).string('future');
    expect(stamped).toEqual(expected.finish());
  });

  it('says MERIDIAN_SCHEMA_TOO_NEW for a newer record kind it cannot know', () => {
    const writer = new BinaryWriter();
    writer.tag(1, WireType.Varint).uint32(SCHEMA_VERSION + 1);
    writer.tag(60, WireType.LengthDelimited).bytes(Uint8Array.of(8, 1));
    const error = caughtProtocolError(() => withSequence(writer.finish(), 1n));
    expect(error.code).toBe('MERIDIAN_SCHEMA_TOO_NEW');
    expect(error.schemaVersion).toBe(SCHEMA_VERSION + 1);
  });
});

describe('arbitrary bytes', () => {
  it('decode either returns a valid record or throws a ProtocolError, never anything else', () => {
    const mutated = fc
      .tuple(replicationRecordArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
      .map(([record, edits]) => {
        const bytes = encodeRecord(record);
        for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated), (bytes) => {
        let record;
        try {
          record = decodeRecord(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          return;
        }
        // Whatever decodes is valid: it encodes again, and to a fixed point.
        const again = encodeRecord(record);
        expect(decodeRecord(again)).toStrictEqual(record);
      }),
      { numRuns: 2000 },
    );
  });

});
