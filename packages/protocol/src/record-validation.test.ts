/**
 * Every refusal, each with its code: on decode (bytes crafted with the generated code, as a buggy
 * or hostile peer could send them) and on encode (a record this region must never publish).
 */
import { describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  HeartbeatSchema,
  IdempotentAnswerSchema,
  NamespaceDeclaredSchema,
  RecordSchema,
  TouchedRowsSchema,
  UpdateSchema,
  Policy as WirePolicy,
  type Heartbeat,
  type Update,
} from './generated/meridian/replication/v1/replication_pb.js';
import { decodeRecord, encodeRecord } from './record-codec.ts';
import { type ProtocolError, type ProtocolErrorCode } from './protocol-error.ts';
import { caughtProtocolError } from './caught-protocol-error.ts';
import { SCHEMA_VERSION, type HeartbeatRecord, type NamespaceRecord, type ReplicationRecord, type UpdateRecord } from './replication-record.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

type UpdateInit = Omit<Update, '$typeName' | '$unknown'>;
type HeartbeatInit = Omit<Heartbeat, '$typeName' | '$unknown'>;

const validUpdate: UpdateInit = {
  originRegion: 'eu',
  originEpoch: 1,
  originSequence: 4n,
  outboxId: 9n,
  namespace: 'users',
  policy: WirePolicy.LWW,
  key: 'alice',
  hlc: 77n,
  traceparent: TRACEPARENT,
  payload: { case: 'registerState', value: Uint8Array.of(1) },
};
const validHeartbeat: HeartbeatInit = { originRegion: 'eu', originEpoch: 1, originWallMs: 5n, highWaterSequence: 4n, applied: { 'us.1': 3n }, hlc: 1n };

function updateBytes(patch: Partial<UpdateInit>, schemaVersion = SCHEMA_VERSION): Uint8Array {
  return toBinary(RecordSchema, create(RecordSchema, { schemaVersion, kind: { case: 'update', value: create(UpdateSchema, { ...validUpdate, ...patch }) } }));
}
function heartbeatBytes(patch: Partial<HeartbeatInit>): Uint8Array {
  return toBinary(RecordSchema, create(RecordSchema, { schemaVersion: SCHEMA_VERSION, kind: { case: 'heartbeat', value: create(HeartbeatSchema, { ...validHeartbeat, ...patch }) } }));
}

function expectRefused(fn: () => unknown, code: ProtocolErrorCode, message?: RegExp): ProtocolError {
  const error = caughtProtocolError(fn);
  expect(error.code).toBe(code);
  expect(error.retryable).toBe(false);
  expect(error.name).toBe('ProtocolError');
  if (message) expect(error.message).toMatch(message);
  return error;
}

describe('decode: the baseline is valid', () => {
  it('accepts the valid update and heartbeat the cases below break', () => {
    expect(decodeRecord(updateBytes({})).kind).toBe('update');
    expect(decodeRecord(heartbeatBytes({})).kind).toBe('heartbeat');
  });
});

describe('decode: MERIDIAN_ENVELOPE_INVALID', () => {
  it.each<[string, Partial<UpdateInit>, RegExp]>([
    ['missing payload', { payload: { case: undefined } }, /payload: missing/],
    ['unknown policy (a wire value no version defines)', { policy: 9 as WirePolicy }, /policy.*wire value 9/],
    ['unspecified policy', { policy: WirePolicy.UNSPECIFIED }, /policy.*wire value 0/],
    ['empty namespace', { namespace: '' }, /namespace/],
    ["namespace containing '/'", { namespace: 'a/b' }, /namespace.*without '\/'/],
    ['empty key', { key: '' }, /key/],
    // PostgreSQL's text holds no NUL: such a record is poison (dead-lettered), never an apply that fails forever.
    ['key containing NUL', { key: 'a\u0000b' }, /key.*without NUL/],
    ['namespace containing NUL', { namespace: 'a\u0000' }, /namespace.*NUL/],
    ['empty region', { originRegion: '' }, /region/],
    ['upper-case region', { originRegion: 'EU' }, /region/],
    ['region starting with a digit', { originRegion: '1eu' }, /region/],
    ['region with a dot (it would make actor ids ambiguous)', { originRegion: 'eu.west' }, /region/],
    ['region longer than 32 characters', { originRegion: `a${'b'.repeat(32)}` }, /region/],
    ['epoch 0', { originEpoch: 0 }, /epoch/],
    ['traceparent not W3C-shaped', { traceparent: 'not-a-traceparent' }, /traceparent/],
    ['traceparent with upper-case hex', { traceparent: TRACEPARENT.toUpperCase() }, /traceparent/],
    ['traceparent of another version', { traceparent: `01${TRACEPARENT.slice(2)}` }, /traceparent/],
    ['traceparent with a short parent id', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902-01' }, /traceparent/],
    ['traceparent with an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }, /traceparent/],
    ['traceparent with an all-zero parent id', { traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01` }, /traceparent/],
    ['traceparent with a trailing character', { traceparent: `${TRACEPARENT}0` }, /traceparent/],
    ['register state for a counter', { policy: WirePolicy.COUNTER }, /counter namespace ships crdt_delta \(got register_state\)/],
    ['register state for a set', { policy: WirePolicy.SET }, /set namespace ships crdt_delta/],
    ['register state for a map', { policy: WirePolicy.MAP }, /map namespace ships crdt_delta/],
    ['crdt delta for lww', { payload: { case: 'crdtDelta', value: Uint8Array.of(1) } }, /lww namespace ships register_state \(got crdt_delta\)/],
    ['crdt delta for mv', { policy: WirePolicy.MV, payload: { case: 'crdtDelta', value: Uint8Array.of(1) } }, /mv namespace ships register_state/],
  ])('update with %s', (_case, patch, message) => {
    expectRefused(() => decodeRecord(updateBytes(patch)), 'MERIDIAN_ENVELOPE_INVALID', message);
  });

  it('namespace declaration with an unknown policy, an empty namespace, a bad region', () => {
    const declared = (patch: object): Uint8Array =>
      toBinary(RecordSchema, create(RecordSchema, {
        schemaVersion: 1,
        kind: { case: 'namespaceDeclared', value: create(NamespaceDeclaredSchema, { originRegion: 'eu', originEpoch: 1, namespace: 'users', policy: WirePolicy.SET, hlc: 1n, ...patch }) },
      }));
    expect(decodeRecord(declared({})).kind).toBe('namespace');
    expectRefused(() => decodeRecord(declared({ policy: 6 })), 'MERIDIAN_ENVELOPE_INVALID', /policy/);
    expectRefused(() => decodeRecord(declared({ namespace: '' })), 'MERIDIAN_ENVELOPE_INVALID', /namespace/);
    expectRefused(() => decodeRecord(declared({ originRegion: 'EU' })), 'MERIDIAN_ENVELOPE_INVALID', /region/);
    expectRefused(() => decodeRecord(declared({ originEpoch: 0 })), 'MERIDIAN_ENVELOPE_INVALID', /epoch/);
    expectRefused(() => decodeRecord(declared({ traceparent: 'x' })), 'MERIDIAN_ENVELOPE_INVALID', /traceparent/);
  });

  it.each<[string, Partial<HeartbeatInit>, RegExp]>([
    ['an applied entry that is not an actor id', { applied: { eu: 1n } }, /actor id/],
    ['an applied actor with epoch 0', { applied: { 'eu.0': 1n } }, /actor id/],
    ['an applied actor with a non-canonical epoch', { applied: { 'eu.01': 1n } }, /actor id/],
    ['a wall time beyond 2^53 ms', { originWallMs: 1n << 60n }, /wall time/],
    ['epoch 0', { originEpoch: 0 }, /epoch/],
    ['a bad region', { originRegion: '-eu' }, /region/],
  ])('heartbeat with %s', (_case, patch, message) => {
    expectRefused(() => decodeRecord(heartbeatBytes(patch)), 'MERIDIAN_ENVELOPE_INVALID', message);
  });

  it('a record with no kind (also: empty input, which protobuf reads as an empty message)', () => {
    expectRefused(() => decodeRecord(toBinary(RecordSchema, create(RecordSchema, { schemaVersion: 1 }))), 'MERIDIAN_ENVELOPE_INVALID', /no record kind/);
    expectRefused(() => decodeRecord(new Uint8Array(0)), 'MERIDIAN_ENVELOPE_INVALID', /schema version: missing/);
  });

  it('a record without a schema version', () => {
    expectRefused(() => decodeRecord(updateBytes({}, 0)), 'MERIDIAN_ENVELOPE_INVALID', /schema version: missing/);
  });
});

describe('decode: MERIDIAN_ENVELOPE_UNDECODABLE', () => {
  it.each<[string, Uint8Array]>([
    ['garbage', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff)],
    ['a truncated record', updateBytes({}).subarray(0, 20)],
    ['a field with an invalid wire type', Uint8Array.of((1 << 3) | 7, 0)],
    ['a length past the end', Uint8Array.of((2 << 3) | 2, 0x7f, 1, 2)],
    ['a known field with the wrong wire type (schema_version as bytes)', Uint8Array.of((1 << 3) | 2, 1, 1)],
    ['a string that is not UTF-8', (() => {
      const update = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(Uint8Array.of(0xc3, 0x28)).finish();
      return new BinaryWriter().tag(1, WireType.Varint).uint32(1).tag(2, WireType.LengthDelimited).bytes(update).finish();
    })()],
  ])('%s', (_case, bytes) => {
    expectRefused(() => decodeRecord(bytes), 'MERIDIAN_ENVELOPE_UNDECODABLE', /undecodable record/);
  });

  it('something that is not bytes at all', () => {
    expectRefused(() => decodeRecord('hello' as unknown as Uint8Array), 'MERIDIAN_ENVELOPE_UNDECODABLE');
  });

  it('keeps the parser error as the cause', () => {
    expect(caughtProtocolError(() => decodeRecord(Uint8Array.of(0xff))).cause).toBeInstanceOf(Error);
  });
});

describe('decode: MERIDIAN_SCHEMA_TOO_NEW', () => {
  it('carries the version seen, and is checked before any other rule', () => {
    const newer = SCHEMA_VERSION + 1;
    for (const bytes of [
      updateBytes({}, newer),
      updateBytes({ policy: 9 as WirePolicy, payload: { case: undefined } }, newer), // invalid under v1 rules: still not poison
      toBinary(RecordSchema, create(RecordSchema, { schemaVersion: 0xffff_ffff })),
    ]) {
      const error = expectRefused(() => decodeRecord(bytes), 'MERIDIAN_SCHEMA_TOO_NEW', /newer than this reader's/);
      expect(error.schemaVersion).toBeGreaterThan(SCHEMA_VERSION);
    }
    expect(caughtProtocolError(() => decodeRecord(updateBytes({}, newer))).schemaVersion).toBe(newer);
  });
});

describe('encode refuses what decode would refuse: MERIDIAN_ENVELOPE_INVALID', () => {
  const update: UpdateRecord = {
    kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 0n, outboxId: 1n, namespace: 'users',
    policy: 'lww', key: 'alice', hlc: 1n, traceparent: TRACEPARENT, payload: { kind: 'register', state: Uint8Array.of(1) },
  };
  const declared: NamespaceRecord = {
    kind: 'namespace', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 0n, outboxId: 1n, namespace: 'users',
    policy: 'counter', hlc: 1n, traceparent: '',
  };
  const heartbeat: HeartbeatRecord = {
    kind: 'heartbeat', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originWallMs: 1, highWaterSequence: 0n, applied: new Map([['eu.1', 0n]]), hlc: 1n,
  };

  it('accepts the baselines', () => {
    for (const r of [update, declared, heartbeat]) expect(decodeRecord(encodeRecord(r))).toStrictEqual(r);
  });

  it.each<[string, ReplicationRecord, RegExp]>([
    ['a schema version newer than this package', { ...update, schemaVersion: SCHEMA_VERSION + 1 }, /schema version/],
    ['schema version 0', { ...update, schemaVersion: 0 }, /schema version/],
    ['a bad region', { ...update, origin: { region: 'Eu', epoch: 1 } }, /region/],
    ['epoch 0', { ...update, origin: { region: 'eu', epoch: 0 } }, /epoch/],
    ['epoch 2^32', { ...update, origin: { region: 'eu', epoch: 2 ** 32 } }, /epoch/],
    ['a fractional epoch', { ...update, origin: { region: 'eu', epoch: 1.5 } }, /epoch/],
    ['a negative sequence', { ...update, originSequence: -1n }, /origin sequence/],
    ['a sequence of 2^64', { ...update, originSequence: 1n << 64n }, /origin sequence/],
    ['a negative outbox id', { ...update, outboxId: -1n }, /outbox id/],
    ['an HLC of 2^64', { ...update, hlc: 1n << 64n }, /hlc/],
    ['an empty namespace', { ...update, namespace: '' }, /namespace/],
    ["a namespace containing '/'", { ...update, namespace: 'a/b' }, /namespace/],
    ['a namespace with a lone surrogate', { ...update, namespace: 'a\uD800' }, /namespace/],
    ['an empty key', { ...update, key: '' }, /key/],
    ['a key with a lone surrogate', { ...update, key: '\uDC00' }, /key/],
    ['an unknown policy', { ...update, policy: 'custom' as 'lww' }, /policy/],
    ['a bad traceparent', { ...update, traceparent: '00-abc' }, /traceparent/],
    ['a tracestate with a lone surrogate', { ...update, tracestate: '\uD800' }, /tracestate/],
    ['a crdt delta for lww', { ...update, payload: { kind: 'crdt', delta: Uint8Array.of(1) } }, /ships register_state/],
    ['a register state for a counter', { ...update, policy: 'counter' }, /ships crdt_delta/],
    ['a missing payload', { ...update, payload: undefined as unknown as UpdateRecord['payload'] }, /payload: missing/],
    ['a payload without bytes', { ...update, payload: { kind: 'register', state: [1] as unknown as Uint8Array } }, /payload/],
    ['a namespace declaration with an empty namespace', { ...declared, namespace: '' }, /namespace/],
    ['a namespace declaration with an unknown policy', { ...declared, policy: 'custom' as 'lww' }, /policy/],
    ['a heartbeat with a bad actor id', { ...heartbeat, applied: new Map([['eu', 1n]]) }, /actor id/],
    ['a heartbeat with a negative applied sequence', { ...heartbeat, applied: new Map([['eu.1', -1n]]) }, /applied sequence/],
    ['a heartbeat with a negative wall time', { ...heartbeat, originWallMs: -1 }, /wall time/],
    ['a heartbeat with an applied object instead of a Map', { ...heartbeat, applied: { 'eu.1': 1n } as unknown as Map<string, bigint> }, /applied vector/],
    ['an unknown kind', { ...heartbeat, kind: 'gossip' as 'heartbeat' }, /record kind/],
  ])('%s', (_case, record, message) => {
    expectRefused(() => encodeRecord(record), 'MERIDIAN_ENVELOPE_INVALID', message);
  });
});

describe('an idempotent answer', () => {
  const answer = { idempotencyKey: 'k-1', fingerprint: 'a'.repeat(64), status: 200, bodyJson: '{"value":1}' };
  it('decodes when valid, and every broken field is refused on decode and on encode', () => {
    const decoded = decodeRecord(updateBytes({ idempotentAnswer: create(IdempotentAnswerSchema, answer) }));
    expect(decoded.kind === 'update' && decoded.idempotentAnswer).toEqual(answer);
    for (const [patch, message] of [
      [{ idempotencyKey: '' }, /invalid idempotency key/],
      [{ idempotencyKey: 'k'.repeat(256) }, /invalid idempotency key/],
      // An HTTP header never holds NUL, and PostgreSQL's text cannot: a record with one is poison, not a stalled link.
      [{ idempotencyKey: 'k\u0000' }, /invalid idempotency key/],
      [{ fingerprint: 'A'.repeat(64) }, /invalid idempotency fingerprint/],
      [{ status: 99 }, /invalid idempotent answer status/],
      [{ status: 600 }, /invalid idempotent answer status/],
      [{ bodyJson: '[1]' }, /invalid idempotent answer body/],
      [{ bodyJson: '{"value":' }, /invalid idempotent answer body/],
    ] as const) {
      const broken = { ...answer, ...patch };
      expectRefused(() => decodeRecord(updateBytes({ idempotentAnswer: create(IdempotentAnswerSchema, broken) })), 'MERIDIAN_ENVELOPE_INVALID', message);
      const record = decodeRecord(updateBytes({})) as UpdateRecord;
      expectRefused(() => encodeRecord({ ...record, idempotentAnswer: broken }), 'MERIDIAN_ENVELOPE_INVALID', message);
    }
  });
});

describe("a set or map update's touched rows", () => {
  const setUpdate = { policy: WirePolicy.SET, payload: { case: 'crdtDelta' as const, value: Uint8Array.of(1) } };
  it('decode when valid — an empty list stays present, an absent one absent — and every broken list is refused on decode and on encode', () => {
    const named = decodeRecord(updateBytes({ ...setUpdate, touchedRows: create(TouchedRowsSchema, { names: ['"a"', '"b"'] }) }));
    expect(named.kind === 'update' && named.touchedRows).toEqual(['"a"', '"b"']);
    const empty = decodeRecord(updateBytes({ ...setUpdate, touchedRows: create(TouchedRowsSchema, { names: [] }) })) as UpdateRecord;
    expect(empty.touchedRows).toEqual([]);
    expect(decodeRecord(encodeRecord(empty))).toEqual(empty);
    expect((decodeRecord(updateBytes(setUpdate)) as UpdateRecord).touchedRows).toBeUndefined();
    for (const [patch, names, message] of [
      [{}, ['"b"', '"a"'], /sorted without repeats/],
      [{}, ['"a"', '"a"'], /sorted without repeats/],
      [{ policy: WirePolicy.COUNTER }, ['"a"'], /only a set or map update names rows/],
      // A raw NUL could never be a stored row's name (PostgreSQL's text refuses it: the apply would fail forever).
      [{}, ['\u0000'], /an element's JSON text/],
      [{}, ['{"a":'], /an element's JSON text/],
      [{ policy: WirePolicy.MAP }, ['1'], /a field's name as a JSON string/],
    ] as const) {
      const wire = { ...setUpdate, ...patch };
      expectRefused(() => decodeRecord(updateBytes({ ...wire, touchedRows: create(TouchedRowsSchema, { names: [...names] }) })), 'MERIDIAN_ENVELOPE_INVALID', message);
      const record = decodeRecord(updateBytes(wire)) as UpdateRecord;
      expectRefused(() => encodeRecord({ ...record, touchedRows: names }), 'MERIDIAN_ENVELOPE_INVALID', message);
    }
    const record = decodeRecord(updateBytes(setUpdate)) as UpdateRecord;
    expectRefused(() => encodeRecord({ ...record, touchedRows: ['\uD800'] }), 'MERIDIAN_ENVELOPE_INVALID', /well-formed/);
  });
});
