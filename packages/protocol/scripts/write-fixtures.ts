/**
 * One-off: writes the golden fixtures of this schema version. Run by hand when a schema version
 * is released, never by tests:
 *
 *   node --conditions=meridian-source packages/protocol/scripts/write-fixtures.ts [output dir]
 *
 * A fixture, once committed, is frozen: this script writes only the files that do not exist yet,
 * and never rewrites one (a reader that stops decoding an old fixture is a compatibility bug, not a
 * fixture to refresh). The decoded values are asserted, written out by hand, in
 * src/golden-fixtures.test.ts.
 *
 * It also freezes the schema itself (fixtures/v1/schema-image.json, a buf image without source
 * info): `buf breaking` checks the current .proto against it in the tests, so no field of v1 is
 * ever removed, renumbered or retyped.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { encodeRecord, type ReplicationRecord } from '@meridian/protocol';
import { UpdateSchema, Policy as WirePolicy } from '../src/generated/meridian/replication/v1/replication_pb.js';

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = process.argv[2] ?? join(PACKAGE, 'fixtures');

const hlc = (physicalMs: bigint, logical: bigint): bigint => (physicalMs << 16n) | logical;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ORIGIN = { region: 'eu', epoch: 1 };

const v1: Record<string, ReplicationRecord> = {
  'update-lww.bin': {
    kind: 'update', schemaVersion: 1, origin: ORIGIN, originSequence: 42n, outboxId: 1001n, namespace: 'users', policy: 'lww',
    key: 'alice/profile', hlc: hlc(1_763_800_000_000n, 3n), traceparent: TRACEPARENT, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    payload: { kind: 'register', state: Uint8Array.of(0x01, 0x02, 0x00, 0xff, 0x7f) },
  },
  'update-mv-outbox.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'us-east', epoch: 3 }, originSequence: 0n, outboxId: 7n, namespace: 'carts', policy: 'mv',
    key: 'cart-ü-1', hlc: hlc(1_763_800_000_001n, 0n), traceparent: '', payload: { kind: 'register', state: Uint8Array.of(0xaa) },
  },
  'update-counter.bin': {
    kind: 'update', schemaVersion: 1, origin: { region: 'ap', epoch: 2 }, originSequence: 9_007_199_254_740_993n, outboxId: (1n << 63n) + 5n,
    namespace: 'metrics', policy: 'counter', key: 'visits', hlc: (1n << 64n) - 1n, traceparent: TRACEPARENT,
    payload: { kind: 'crdt', delta: Uint8Array.of(0x10, 0x20, 0x30) },
  },
  'update-set.bin': {
    kind: 'update', schemaVersion: 1, origin: ORIGIN, originSequence: 43n, outboxId: 1002n, namespace: 'tags', policy: 'set', key: 'post:1',
    hlc: hlc(1_763_800_000_002n, 0n), traceparent: TRACEPARENT, payload: { kind: 'crdt', delta: new Uint8Array(0) },
  },
  'update-map.bin': {
    kind: 'update', schemaVersion: 1, origin: ORIGIN, originSequence: 44n, outboxId: 1003n, namespace: 'profiles', policy: 'map', key: 'bob',
    hlc: hlc(1_763_800_000_003n, 65_535n), traceparent: TRACEPARENT, tracestate: '', payload: { kind: 'crdt', delta: Uint8Array.of(0x00) },
  },
  // Added to v1 later (a field an older reader may ignore): a write that carried an Idempotency-Key.
  'update-counter-idempotent.bin': {
    kind: 'update', schemaVersion: 1, origin: ORIGIN, originSequence: 47n, outboxId: 1006n, namespace: 'metrics', policy: 'counter', key: 'visits',
    hlc: hlc(1_763_800_000_006n, 2n), traceparent: TRACEPARENT, payload: { kind: 'crdt', delta: Uint8Array.of(0x11, 0x22) },
    idempotentAnswer: {
      idempotencyKey: 'order-7f3a-retry', fingerprint: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', status: 200,
      bodyJson: '{"value":6,"context":"c1.abc"}',
    },
  },
  'namespace-declared.bin': {
    kind: 'namespace', schemaVersion: 1, origin: ORIGIN, originSequence: 1n, outboxId: 1n, namespace: 'users', policy: 'lww',
    hlc: hlc(1_763_799_999_000n, 0n), traceparent: TRACEPARENT, tracestate: 'rojo=00f067aa0ba902b7',
  },
  'heartbeat.bin': {
    kind: 'heartbeat', schemaVersion: 1, origin: ORIGIN, originWallMs: 1_763_800_000_123, highWaterSequence: 44n,
    applied: new Map([['ap.2', 17n], ['eu.1', 44n], ['us-east.3', 0n]]), hlc: hlc(1_763_800_000_123n, 1n),
  },
  'heartbeat-empty.bin': {
    kind: 'heartbeat', schemaVersion: 1, origin: { region: 'ap', epoch: 2 }, originWallMs: 0, highWaterSequence: 0n, applied: new Map(), hlc: 0n,
  },
};

/** A v1 update as a v1-compatible later writer could send it: unknown fields in the update and in the envelope. */
function updateWithUnknownFields(): Uint8Array {
  const update = new BinaryWriter();
  update.raw(toBinary(UpdateSchema, create(UpdateSchema, {
    originRegion: 'eu', originEpoch: 1, originSequence: 45n, outboxId: 1004n, namespace: 'users', policy: WirePolicy.LWW, key: 'carol',
    hlc: hlc(1_763_800_000_004n, 0n), traceparent: TRACEPARENT, payload: { case: 'registerState', value: Uint8Array.of(0x05) },
  })));
  update.tag(100, WireType.LengthDelimited).string('a field added later');
  update.tag(101, WireType.Varint).uint64(12_345n);
  update.tag(102, WireType.Bit32).fixed32(7);
  const record = new BinaryWriter();
  record.tag(1, WireType.Varint).uint32(1);
  record.tag(2, WireType.LengthDelimited).bytes(update.finish());
  record.tag(100, WireType.LengthDelimited).bytes(Uint8Array.of(0x08, 0x01));
  return record.finish();
}

/** A record of schema version 2 (which does not exist yet): an update with a field v1 does not know. */
function schemaV2Update(): Uint8Array {
  const update = new BinaryWriter();
  update.raw(toBinary(UpdateSchema, create(UpdateSchema, {
    originRegion: 'eu', originEpoch: 1, originSequence: 46n, outboxId: 1005n, namespace: 'users', policy: WirePolicy.LWW, key: 'dave',
    hlc: hlc(1_763_800_000_005n, 0n), traceparent: TRACEPARENT, payload: { case: 'registerState', value: Uint8Array.of(0x06) },
  })));
  update.tag(100, WireType.LengthDelimited).string('a field whose meaning v1 would lose');
  const record = new BinaryWriter();
  record.tag(1, WireType.Varint).uint32(2);
  record.tag(2, WireType.LengthDelimited).bytes(update.finish());
  return record.finish();
}

/** A record of schema version 2 of a kind v1 does not know at all (a new oneof case). */
function schemaV2NewKind(): Uint8Array {
  const record = new BinaryWriter();
  record.tag(1, WireType.Varint).uint32(2);
  record.tag(50, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string('eu').finish());
  return record.finish();
}

function writeOnce(path: string, bytes: Uint8Array | string): void {
  if (existsSync(path)) {
    console.log(`kept    ${path} (fixtures are frozen)`);
    return;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  console.log(`wrote   ${path}`);
}

for (const [name, record] of Object.entries(v1)) writeOnce(join(FIXTURES, 'v1', name), encodeRecord(record));
writeOnce(join(FIXTURES, 'v1', 'update-unknown-fields.bin'), updateWithUnknownFields());
writeOnce(join(FIXTURES, 'future', 'schema-v2-update.bin'), schemaV2Update());
writeOnce(join(FIXTURES, 'future', 'schema-v2-new-kind.bin'), schemaV2NewKind());

const imagePath = join(FIXTURES, 'v1', 'schema-image.json');
if (!existsSync(imagePath)) {
  execFileSync('buf', ['build', 'proto', '--exclude-source-info', '-o', imagePath], { cwd: PACKAGE, stdio: 'inherit' });
  // Pretty-printed, so that a reviewer can read what v1 froze.
  writeFileSync(imagePath, `${JSON.stringify(JSON.parse(readFileSync(imagePath, 'utf8')), null, 2)}\n`);
  console.log(`wrote   ${imagePath}`);
} else {
  console.log(`kept    ${imagePath} (fixtures are frozen)`);
}
