/**
 * Golden fixtures: records as released versions wrote them stay decodable, with the same meaning,
 * forever. The expected values are written out by hand here (not imported from the script that
 * wrote the bytes), so that a reader change that misreads an old record fails this test.
 * Never regenerate a fixture to make this test pass.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from './record-codec.ts';
import { caughtProtocolError } from './caught-protocol-error.ts';
import type { ReplicationRecord } from './replication-record.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const read = (path: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, path)));

const hlc = (physicalMs: bigint, logical: bigint): bigint => (physicalMs << 16n) | logical;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const V1: Record<string, ReplicationRecord> = {
  'update-lww.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 42n, outboxId: 1001n, namespace: 'users',
    policy: 'lww', key: 'alice/profile', hlc: hlc(1_763_800_000_000n, 3n), traceparent: TRACEPARENT,
    tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', payload: { kind: 'register', state: Uint8Array.of(0x01, 0x02, 0x00, 0xff, 0x7f) },
  },
  'update-mv-outbox.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'us-east', epoch: 3 }, originSequence: 0n, outboxId: 7n, namespace: 'carts',
    policy: 'mv', key: 'cart-ü-1', hlc: hlc(1_763_800_000_001n, 0n), traceparent: '', payload: { kind: 'register', state: Uint8Array.of(0xaa) },
  },
  'update-counter.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'ap', epoch: 2 }, originSequence: 9_007_199_254_740_993n,
    outboxId: 9_223_372_036_854_775_813n, namespace: 'metrics', policy: 'counter', key: 'visits', hlc: 18_446_744_073_709_551_615n,
    traceparent: TRACEPARENT, payload: { kind: 'crdt', delta: Uint8Array.of(0x10, 0x20, 0x30) },
  },
  'update-set.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 43n, outboxId: 1002n, namespace: 'tags',
    policy: 'set', key: 'post:1', hlc: hlc(1_763_800_000_002n, 0n), traceparent: TRACEPARENT, payload: { kind: 'crdt', delta: new Uint8Array(0) },
  },
  'update-map.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 44n, outboxId: 1003n, namespace: 'profiles',
    policy: 'map', key: 'bob', hlc: hlc(1_763_800_000_003n, 65_535n), traceparent: TRACEPARENT, tracestate: '',
    payload: { kind: 'crdt', delta: Uint8Array.of(0x00) },
  },
  'update-counter-idempotent.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 47n, outboxId: 1006n, namespace: 'metrics',
    policy: 'counter', key: 'visits', hlc: hlc(1_763_800_000_006n, 2n), traceparent: TRACEPARENT, payload: { kind: 'crdt', delta: Uint8Array.of(0x11, 0x22) },
    idempotentAnswer: {
      idempotencyKey: 'order-7f3a-retry', fingerprint: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', status: 200,
      bodyJson: '{"value":6,"context":"c1.abc"}',
    },
  },
  'namespace-declared.bin': {
    kind: 'namespace', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 1n, outboxId: 1n, namespace: 'users',
    policy: 'lww', hlc: hlc(1_763_799_999_000n, 0n), traceparent: TRACEPARENT, tracestate: 'rojo=00f067aa0ba902b7',
  },
  'heartbeat.bin': {
    kind: 'heartbeat', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originWallMs: 1_763_800_000_123, highWaterSequence: 44n,
    applied: new Map([['ap.2', 17n], ['eu.1', 44n], ['us-east.3', 0n]]), hlc: hlc(1_763_800_000_123n, 1n),
  },
  'heartbeat-empty.bin': {
    kind: 'heartbeat', schemaVersion: 1, origin: { region: 'ap', epoch: 2 }, originWallMs: 0, highWaterSequence: 0n, applied: new Map(), hlc: 0n,
  },
};

/** v1 records with fields unknown to v1 (as a compatible later writer adds them): the known part. */
const V1_WITH_UNKNOWN_FIELDS: Record<string, ReplicationRecord> = {
  'update-unknown-fields.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'eu', epoch: 1 }, originSequence: 45n, outboxId: 1004n, namespace: 'users',
    policy: 'lww', key: 'carol', hlc: hlc(1_763_800_000_004n, 0n), traceparent: TRACEPARENT, payload: { kind: 'register', state: Uint8Array.of(0x05) },
  },
};

describe('golden fixtures, schema v1', () => {
  it('every fixture file has its expected value here', () => {
    const files = readdirSync(join(FIXTURES, 'v1')).filter((f) => f.endsWith('.bin')).sort();
    expect(files).toEqual(Object.keys({ ...V1, ...V1_WITH_UNKNOWN_FIELDS }).sort());
  });

  it.each(Object.entries(V1))('%s decodes to its record', (file, expected) => {
    expect(decodeRecord(read(`v1/${file}`))).toStrictEqual(expected);
  });

  it.each(Object.entries(V1))('%s is what this version still writes, byte for byte', (file, expected) => {
    expect(encodeRecord(expected)).toEqual(read(`v1/${file}`));
  });

  it.each(Object.entries(V1_WITH_UNKNOWN_FIELDS))('%s: unknown fields are tolerated (ignored)', (file, expected) => {
    expect(decodeRecord(read(`v1/${file}`))).toStrictEqual(expected);
  });
});

describe('fixtures of a future schema version', () => {
  it.each(['schema-v2-update.bin', 'schema-v2-new-kind.bin'])('%s is refused as MERIDIAN_SCHEMA_TOO_NEW (version 2), not as poison', (file) => {
    const error = caughtProtocolError(() => decodeRecord(read(`future/${file}`)));
    expect(error).toMatchObject({ code: 'MERIDIAN_SCHEMA_TOO_NEW', schemaVersion: 2, retryable: false });
  });
});
