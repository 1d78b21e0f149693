/**
 * The anti-entropy service's wire edge (proto/meridian/antientropy/v1/anti_entropy.proto): plain
 * domain messages, and a method table shaped as @grpc/grpc-js's `ServiceDefinition` (path,
 * serializers) so that the region's server and the clients pass it to grpc-js as it is. The
 * generated protobuf types stay in this module; callers see only the domain messages.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import {
  BranchesRequestSchema,
  BranchesResponseSchema,
  FetchStatesRequestSchema,
  FetchStatesResponseSchema,
  KeyHashesRequestSchema,
  KeyHashesResponseSchema,
  MergeStatesRequestSchema,
  MergeStatesResponseSchema,
  SegmentsRequestSchema,
  SegmentsResponseSchema,
  SummaryRequestSchema,
  SummaryResponseSchema,
} from './generated/meridian/antientropy/v1/anti_entropy_pb.js';

/** A tree node (a branch or a segment): the XOR of its keys' hashes (unsigned 64-bit) and their count. */
export interface TreeNodeMessage {
  readonly index: number;
  readonly hash: bigint;
  readonly keys: number;
}

export interface SummaryMessage {
  readonly region: string;
  readonly namespaces: readonly { readonly name: string; readonly policy: string; readonly hash: bigint; readonly keys: number }[];
  /** Per origin actor, the outbox id up to which the region has applied (its own: its high-water). */
  readonly positions: readonly { readonly origin: string; readonly outboxId: bigint }[];
  /** The region's own published position (absent from a region that predates it). */
  readonly published?: PublishedPositionMessage | undefined;
}

/** Every update of `origin` up to `sequence` (outbox ids up to `outboxId`) is published and in the region's states. */
export interface PublishedPositionMessage {
  readonly origin: string;
  readonly sequence: bigint;
  readonly outboxId: bigint;
}

export interface KeyStateMessage {
  readonly key: string;
  /** undefined: the key has no row there. */
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
}

export interface KeyRepairMessage {
  readonly key: string;
  /** undefined: the key was absent before. */
  readonly before: string | undefined;
  readonly after: string;
}

export interface AntiEntropyMessages {
  readonly summary: { readonly request: Record<string, never>; readonly response: SummaryMessage };
  readonly branches: { readonly request: { readonly namespace: string }; readonly response: { readonly nodes: readonly TreeNodeMessage[] } };
  readonly segments: { readonly request: { readonly namespace: string; readonly branches: readonly number[] }; readonly response: { readonly nodes: readonly TreeNodeMessage[] } };
  readonly keyHashes: { readonly request: { readonly namespace: string; readonly segments: readonly number[] }; readonly response: { readonly keys: readonly { readonly key: string; readonly hash: bigint }[] } };
  readonly fetchStates: { readonly request: { readonly namespace: string; readonly keys: readonly string[] }; readonly response: { readonly states: readonly KeyStateMessage[] } };
  readonly mergeStates: {
    readonly request: { readonly namespace: string; readonly policy: string; readonly fromRegion: string; readonly states: readonly KeyStateMessage[] };
    readonly response: { readonly repairs: readonly KeyRepairMessage[] };
  };
}

export type AntiEntropyMethod = keyof AntiEntropyMessages;

/** One unary method as grpc-js describes it. */
export interface RpcMethodDefinition<Req, Res> {
  readonly path: string;
  readonly originalName: string;
  readonly requestStream: false;
  readonly responseStream: false;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly requestDeserialize: (bytes: Buffer) => Req;
  readonly responseSerialize: (value: Res) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Res;
}

export type AntiEntropyServiceDefinition = { readonly [M in AntiEntropyMethod]: RpcMethodDefinition<AntiEntropyMessages[M]['request'], AntiEntropyMessages[M]['response']> };

function codec<S extends DescMessage, T>(schema: S, toWire: (value: T) => MessageInitShape<S>, fromWire: (message: MessageShape<S>) => NoInfer<T>): { readonly serialize: (value: T) => Buffer; readonly deserialize: (bytes: Buffer) => T } {
  return {
    serialize: (value) => Buffer.from(toBinary(schema, create(schema, toWire(value)))),
    deserialize: (bytes) => fromWire(fromBinary(schema, bytes)),
  };
}

const node = (n: TreeNodeMessage): { index: number; hash: bigint; keys: bigint } => ({ index: n.index, hash: n.hash, keys: BigInt(n.keys) });
const nodeOf = (n: { index: number; hash: bigint; keys: bigint }): TreeNodeMessage => ({ index: n.index, hash: n.hash, keys: Number(n.keys) });
const stateWire = (s: KeyStateMessage): { key: string; state?: Uint8Array; maxHlc: bigint } => ({ key: s.key, ...(s.state === undefined ? {} : { state: s.state }), maxHlc: s.maxHlc });
// A plain Uint8Array view (grpc-js hands over Buffers; their slices are Buffers too).
const stateOf = (s: { key: string; state?: Uint8Array | undefined; maxHlc: bigint }): KeyStateMessage => ({ key: s.key, state: s.state && new Uint8Array(s.state.buffer, s.state.byteOffset, s.state.byteLength), maxHlc: s.maxHlc });

function method<M extends AntiEntropyMethod, RS extends DescMessage, SS extends DescMessage>(
  name: string,
  request: ReturnType<typeof codec<RS, AntiEntropyMessages[M]['request']>>,
  response: ReturnType<typeof codec<SS, AntiEntropyMessages[M]['response']>>,
): RpcMethodDefinition<AntiEntropyMessages[M]['request'], AntiEntropyMessages[M]['response']> {
  return {
    path: `/meridian.antientropy.v1.AntiEntropyService/${name}`,
    originalName: name,
    requestStream: false,
    responseStream: false,
    requestSerialize: request.serialize,
    requestDeserialize: request.deserialize,
    responseSerialize: response.serialize,
    responseDeserialize: response.deserialize,
  };
}

export const ANTI_ENTROPY_SERVICE: AntiEntropyServiceDefinition = Object.freeze({
  summary: method<'summary', typeof SummaryRequestSchema, typeof SummaryResponseSchema>(
    'Summary',
    codec(SummaryRequestSchema, () => ({}), () => ({})),
    codec(
      SummaryResponseSchema,
      (s: SummaryMessage) => ({ region: s.region, namespaces: s.namespaces.map((n) => ({ name: n.name, policy: n.policy, hash: n.hash, keys: BigInt(n.keys) })), positions: s.positions.map((p) => ({ origin: p.origin, outboxId: p.outboxId })), ...(s.published ? { published: { ...s.published } } : {}) }),
      (m) => ({ region: m.region, namespaces: m.namespaces.map((n) => ({ name: n.name, policy: n.policy, hash: n.hash, keys: Number(n.keys) })), positions: m.positions.map((p) => ({ origin: p.origin, outboxId: p.outboxId })), ...(m.published ? { published: { origin: m.published.origin, sequence: m.published.sequence, outboxId: m.published.outboxId } } : {}) }),
    ),
  ),
  branches: method<'branches', typeof BranchesRequestSchema, typeof BranchesResponseSchema>(
    'Branches',
    codec(BranchesRequestSchema, (r: { namespace: string }) => r, (m) => ({ namespace: m.namespace })),
    codec(BranchesResponseSchema, (r: { nodes: readonly TreeNodeMessage[] }) => ({ branches: r.nodes.map(node) }), (m) => ({ nodes: m.branches.map(nodeOf) })),
  ),
  segments: method<'segments', typeof SegmentsRequestSchema, typeof SegmentsResponseSchema>(
    'Segments',
    codec(SegmentsRequestSchema, (r: { namespace: string; branches: readonly number[] }) => ({ namespace: r.namespace, branches: [...r.branches] }), (m) => ({ namespace: m.namespace, branches: m.branches })),
    codec(SegmentsResponseSchema, (r: { nodes: readonly TreeNodeMessage[] }) => ({ segments: r.nodes.map(node) }), (m) => ({ nodes: m.segments.map(nodeOf) })),
  ),
  keyHashes: method<'keyHashes', typeof KeyHashesRequestSchema, typeof KeyHashesResponseSchema>(
    'KeyHashes',
    codec(KeyHashesRequestSchema, (r: { namespace: string; segments: readonly number[] }) => ({ namespace: r.namespace, segments: [...r.segments] }), (m) => ({ namespace: m.namespace, segments: m.segments })),
    codec(KeyHashesResponseSchema, (r: { keys: readonly { key: string; hash: bigint }[] }) => ({ keys: r.keys.map((k) => ({ key: k.key, hash: k.hash })) }), (m) => ({ keys: m.keys.map((k) => ({ key: k.key, hash: k.hash })) })),
  ),
  fetchStates: method<'fetchStates', typeof FetchStatesRequestSchema, typeof FetchStatesResponseSchema>(
    'FetchStates',
    codec(FetchStatesRequestSchema, (r: { namespace: string; keys: readonly string[] }) => ({ namespace: r.namespace, keys: [...r.keys] }), (m) => ({ namespace: m.namespace, keys: m.keys })),
    codec(FetchStatesResponseSchema, (r: { states: readonly KeyStateMessage[] }) => ({ states: r.states.map(stateWire) }), (m) => ({ states: m.states.map(stateOf) })),
  ),
  mergeStates: method<'mergeStates', typeof MergeStatesRequestSchema, typeof MergeStatesResponseSchema>(
    'MergeStates',
    codec(
      MergeStatesRequestSchema,
      (r: AntiEntropyMessages['mergeStates']['request']) => ({ namespace: r.namespace, policy: r.policy, fromRegion: r.fromRegion, states: r.states.map(stateWire) }),
      (m) => ({ namespace: m.namespace, policy: m.policy, fromRegion: m.fromRegion, states: m.states.map(stateOf) }),
    ),
    codec(
      MergeStatesResponseSchema,
      (r: { repairs: readonly KeyRepairMessage[] }) => ({ repairs: r.repairs.map((x) => ({ key: x.key, beforeDigest: x.before ?? '', afterDigest: x.after })) }),
      (m) => ({ repairs: m.repairs.map((x) => ({ key: x.key, before: x.beforeDigest === '' ? undefined : x.beforeDigest, after: x.afterDigest })) }),
    ),
  ),
});
