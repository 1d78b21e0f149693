/**
 * The API contract other packages (crdt first) build on: every name exists at runtime, and each
 * export is assignable to the signature agreed in the contract, so a change that breaks a caller
 * fails the typecheck here first.
 */
import { describe, it, expect } from 'vitest';
import * as causality from './index.ts';
import {
  CausalContext,
  DvvSet,
  HybridLogicalClock,
  VersionVector,
  actorId,
  compareDots,
  compareStamped,
  dotKey,
  formatHlc,
  hlc,
  hlcAfter,
  hlcLogical,
  hlcPhysical,
  parseActor,
  parseHlc,
  type ActorId,
  type Dot,
  type Hlc,
  type Ordering,
  type ReceiveResult,
  type Version,
} from './index.ts';

// Signatures, checked by the compiler.
const signatures: {
  actorId: (region: string, epoch: number) => ActorId;
  parseActor: (actor: ActorId) => { region: string; epoch: number };
  compareDots: (a: Dot, b: Dot) => number;
  dotKey: (dot: Dot) => string;
  hlc: (physicalMs: number, logical: number) => Hlc;
  hlcPhysical: (t: Hlc) => number;
  hlcLogical: (t: Hlc) => number;
  hlcAfter: (atLeast: Hlc, nowMs: number) => Hlc;
  formatHlc: (t: Hlc) => string;
  parseHlc: (s: string) => Hlc;
  compareStamped: (a: { hlc: Hlc; dot: Dot }, b: { hlc: Hlc; dot: Dot }) => number;
  vectorFrom: (entries: Iterable<readonly [ActorId, number]> | Readonly<Record<ActorId, number>>) => VersionVector;
  vectorFromJSON: (json: unknown) => VersionVector;
  vectorDecode: (bytes: Uint8Array) => VersionVector;
  contextFromDots: (dots: Iterable<Dot>) => CausalContext;
  contextFromVector: (vector: VersionVector) => CausalContext;
  contextFromJSON: (json: unknown) => CausalContext;
  contextDecode: (bytes: Uint8Array) => CausalContext;
  dvvEmpty: () => DvvSet<string>;
  dvvFromJSON: (json: unknown, decodeValue: (j: unknown) => string) => DvvSet<string>;
  dvvDecode: (bytes: Uint8Array, decodeValue: (b: Uint8Array) => string) => DvvSet<string>;
  clock: new (options: { now: () => number; maxDriftMs: number }) => HybridLogicalClock;
} = {
  actorId,
  parseActor,
  compareDots,
  dotKey,
  hlc,
  hlcPhysical,
  hlcLogical,
  hlcAfter,
  formatHlc,
  parseHlc,
  compareStamped,
  vectorFrom: (entries) => VersionVector.from(entries),
  vectorFromJSON: (json) => VersionVector.fromJSON(json),
  vectorDecode: (bytes) => VersionVector.decode(bytes),
  contextFromDots: (dots) => CausalContext.fromDots(dots),
  contextFromVector: (vector) => CausalContext.fromVector(vector),
  contextFromJSON: (json) => CausalContext.fromJSON(json),
  contextDecode: (bytes) => CausalContext.decode(bytes),
  dvvEmpty: () => DvvSet.empty<string>(),
  dvvFromJSON: (json, decodeValue) => DvvSet.fromJSON(json, decodeValue),
  dvvDecode: (bytes, decodeValue) => DvvSet.decode(bytes, decodeValue),
  clock: HybridLogicalClock,
};

interface VectorContract {
  get(actor: ActorId): number;
  actors(): ActorId[];
  entries(): [ActorId, number][];
  increment(actor: ActorId): { vector: VersionVector; dot: Dot };
  join(other: VersionVector): VersionVector;
  compare(other: VersionVector): Ordering;
  dominates(other: VersionVector): boolean;
  contains(dot: Dot): boolean;
  equals(other: VersionVector): boolean;
  toJSON(): Record<ActorId, number>;
  encode(): Uint8Array;
}
interface ContextContract {
  readonly vector: VersionVector;
  cloud(): Dot[];
  contains(dot: Dot): boolean;
  add(dot: Dot): CausalContext;
  join(other: CausalContext): CausalContext;
  covers(other: CausalContext): boolean;
  max(actor: ActorId): number;
  next(actor: ActorId): Dot;
  dots(): Iterable<Dot>;
  isEmpty(): boolean;
  equals(other: CausalContext): boolean;
  toJSON(): { vv: Record<ActorId, number>; cloud: [ActorId, number][] };
  encode(): Uint8Array;
}
interface DvvContract<V> {
  update(context: VersionVector | undefined, actor: ActorId, value: V): { set: DvvSet<V>; dot: Dot };
  sync(other: DvvSet<V>): DvvSet<V>;
  versions(): Version<V>[];
  values(): V[];
  context(): VersionVector;
  causalContext(): CausalContext;
  size(): number;
  toJSON<J>(encodeValue: (v: V) => J): unknown;
  encode(encodeValue: (v: V) => Uint8Array): Uint8Array;
}
interface ClockContract {
  now(): Hlc;
  receive(remote: Hlc): ReceiveResult;
  peek(): Hlc;
}
const instances: [VectorContract, ContextContract, DvvContract<string>, ClockContract] = [
  VersionVector.empty,
  CausalContext.empty,
  DvvSet.empty<string>(),
  new HybridLogicalClock({ now: () => 0, maxDriftMs: 0 }),
];

describe('contract', () => {
  it('exports every agreed name (and the additions), nothing unnamed', () => {
    expect(Object.keys(causality).sort()).toEqual(
      [
        // The byte codec that @meridian/crdt's encodings share, and the value renderer of every package's errors.
        'ByteReader',
        'ByteWriter',
        'CODEC_FORMAT_VERSION',
        'describeValue',
        'CausalContext',
        'CausalityError',
        'CausalityErrorCode',
        'DvvSet',
        'HLC_MAX_LOGICAL',
        'HLC_MAX_PHYSICAL_MS',
        'HybridLogicalClock',
        'VersionVector',
        'actorId',
        'compareDots',
        'compareStamped',
        'decodeHlc',
        'dotKey',
        'encodeHlc',
        'formatHlc',
        'hlc',
        'hlcAfter',
        'hlcLogical',
        'hlcPhysical',
        'isActorId',
        'parseActor',
        'parseHlc',
      ].sort(),
    );
    expect(Object.values(signatures).every((f) => typeof f === 'function')).toBe(true);
    expect(instances).toHaveLength(4);
  });

  it('dotKey is `${actor}:${counter}`', () => {
    expect(dotKey({ actor: 'eu.1', counter: 42 })).toBe('eu.1:42');
  });
});
