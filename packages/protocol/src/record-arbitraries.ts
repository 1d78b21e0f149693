/**
 * fast-check arbitraries of valid replication records, for this package's property tests. Every
 * value they generate satisfies the rules in `record-rules.ts`; the tests rely on that.
 */
import fc from 'fast-check';
import {
  POLICIES,
  SCHEMA_VERSION,
  payloadKindOf,
  type HeartbeatRecord,
  type IdempotentAnswer,
  type NamespaceRecord,
  type Origin,
  type Policy,
  type ReplicationRecord,
  type SequencedRecordFields,
  type UpdateRecord,
} from './replication-record.ts';

const MAX_UINT64 = (1n << 64n) - 1n;

export const regionArb: fc.Arbitrary<string> = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);
export const epochArb: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 0xffff_ffff }));
export const originArb: fc.Arbitrary<Origin> = fc.tuple(regionArb, epochArb).map(([region, epoch]) => ({ region, epoch }));
/** Small values often (the common case), the full range too (bigint edge cases beyond 2^53). */
export const uint64Arb: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: 1000n }),
  fc.bigInt({ min: 0n, max: MAX_UINT64 }),
  fc.constantFrom(0n, 2n ** 53n + 1n, MAX_UINT64),
);
export const policyArb: fc.Arbitrary<Policy> = fc.constantFrom(...POLICIES);
/** Any well-formed Unicode, '/' excluded from namespaces. */
export const namespaceArb: fc.Arbitrary<string> = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('/') && !s.includes('\u0000'));
export const keyArb: fc.Arbitrary<string> = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\u0000'));

const hex = (length: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length }).filter((s) => /[^0]/.test(s));
export const traceparentArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.tuple(hex(32), hex(16), fc.constantFrom('00', '01')).map(([trace, parent, flags]) => `00-${trace}-${parent}-${flags}`),
);
export const tracestateArb: fc.Arbitrary<string | undefined> = fc.option(fc.string({ unit: 'grapheme', maxLength: 30 }), { nil: undefined });
/** The fields updates and namespace declarations share (a tracestate only when present). */
export const sequencedFieldsArb: fc.Arbitrary<SequencedRecordFields> = fc
  .record({
    origin: originArb,
    originSequence: uint64Arb,
    outboxId: uint64Arb,
    namespace: namespaceArb,
    policy: policyArb,
    hlc: uint64Arb,
    traceparent: traceparentArb,
    tracestate: tracestateArb,
  })
  .map(({ tracestate, ...fields }) => ({ schemaVersion: SCHEMA_VERSION, ...fields, ...(tracestate === undefined ? {} : { tracestate }) }));

export const updateRecordArb: fc.Arbitrary<UpdateRecord> = fc
  .tuple(sequencedFieldsArb, keyArb, fc.uint8Array({ maxLength: 64 }))
  .map(([fields, key, bytes]): UpdateRecord => ({
    kind: 'update',
    ...fields,
    key,
    payload: payloadKindOf(fields.policy) === 'register' ? { kind: 'register', state: bytes } : { kind: 'crdt', delta: bytes },
  }));

export const idempotentAnswerArb: fc.Arbitrary<IdempotentAnswer> = fc.record({
  idempotencyKey: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((k) => k.length <= 255 && !k.includes('\u0000')),
  fingerprint: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
  status: fc.integer({ min: 100, max: 599 }),
  bodyJson: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })).map((o) => JSON.stringify(o)),
});

/** Updates of writes that carried an Idempotency-Key (encoded by protobuf-es, not update-writer.ts). */
export const idempotentUpdateRecordArb: fc.Arbitrary<UpdateRecord> = fc.tuple(updateRecordArb, idempotentAnswerArb).map(([record, idempotentAnswer]) => ({ ...record, idempotentAnswer }));

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Updates of set and map writes that name the rows their delta reaches (encoded by protobuf-es); empty lists included. */
export const touchedRowsUpdateRecordArb: fc.Arbitrary<UpdateRecord> = fc
  .tuple(updateRecordArb, fc.constantFrom('set' as const, 'map' as const), fc.uniqueArray(fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => JSON.stringify(s)), { maxLength: 5 }))
  .map(([record, policy, names]): UpdateRecord => ({ ...record, policy, payload: record.payload.kind === 'crdt' ? record.payload : { kind: 'crdt', delta: record.payload.state }, touchedRows: names.sort(byCodeUnit) }));

export const namespaceRecordArb: fc.Arbitrary<NamespaceRecord> = sequencedFieldsArb.map((fields): NamespaceRecord => ({ kind: 'namespace', ...fields }));

export const actorIdArb: fc.Arbitrary<string> = fc.tuple(regionArb, epochArb).map(([region, epoch]) => `${region}.${epoch}`);

export const heartbeatRecordArb: fc.Arbitrary<HeartbeatRecord> = fc
  .record({
    origin: originArb,
    originWallMs: fc.oneof(fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }), fc.maxSafeNat()),
    highWaterSequence: uint64Arb,
    applied: fc.uniqueArray(fc.tuple(actorIdArb, uint64Arb), { selector: ([actor]) => actor, maxLength: 6 }),
    hlc: uint64Arb,
  })
  .map(({ applied, ...r }): HeartbeatRecord => ({ kind: 'heartbeat', schemaVersion: SCHEMA_VERSION, ...r, applied: new Map(applied) }));

export const replicationRecordArb: fc.Arbitrary<ReplicationRecord> = fc.oneof(updateRecordArb, idempotentUpdateRecordArb, touchedRowsUpdateRecordArb, namespaceRecordArb, heartbeatRecordArb);
