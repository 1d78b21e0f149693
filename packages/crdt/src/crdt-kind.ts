/**
 * One interface for the CRDT namespaces (`counter`, `set`, `map`), so the region service applies
 * REST operations, joins replicated deltas, stores, digests and answers reads generically.
 *
 * Write path: `validateOp(body)` (no state needed; a CrdtError InvalidOp on bad input), then
 * `apply(state, op, {actor, hlc, observed})` under the key's lock: it returns the new state and the
 * delta to ship (a state of the same type: joining it anywhere, any number of times, in any
 * order, has the same effect as the write). Replication path: `join(stored, incoming)`; before it,
 * `concurrent(stored, incoming)` tells whether to count a concurrent merge
 * (meridian_concurrent_merges_total): neither state's causal context covers the other's.
 * Storage: `encode`/`decode` (canonical: equal states have equal bytes), `digest` for
 * anti-entropy and `GET /v1/digest`, `toJSON`/`fromJSON` for debugging and fixtures.
 *
 * A caveat the service must know: a delta carries only the dots of its own write, not its
 * writer's causal past, so a delta from a peer is "concurrent" with any stored state holding a
 * dot the delta does not, even if the writer had seen it. The count is exact for whole states
 * (anti-entropy, reseeds) and an upper bound for deltas.
 */
import { type ActorId, type CausalContext, type Hlc } from '@meridian/causality';
import { type JsonValue } from './canonical-json.ts';
import { validateCounterOp, validateMapOp, validateSetOp, type CounterOp, type MapOp, type SetOp } from './crdt-ops.ts';
import { digest } from './state-digest.ts';
import { ORMap } from './or-map.ts';
import { ORSet } from './or-set.ts';
import { PNCounter, counterJson } from './pn-counter.ts';

export type CrdtKindName = 'counter' | 'set' | 'map';

export interface ApplyContext {
  /** The region (with its epoch) applying the write: it mints the write's dots. */
  readonly actor: ActorId;
  /** The write's HLC (max(now, key's highest HLC) + 1); needed by map `set`. */
  readonly hlc?: Hlc;
  /** The causal context the client read, for set `remove` and map `remove`/`delete`: only what it saw is removed. */
  readonly observed?: CausalContext;
}

export interface CrdtKind<State, Op> {
  readonly name: CrdtKindName;
  readonly empty: () => State;
  /** Parses a REST operation body; throws a CrdtError (InvalidOp) naming what is wrong. */
  readonly validateOp: (op: unknown) => Op;
  /** The write: new state and the delta to replicate. Throws a CrdtError (FieldTypeClash, CounterOverflow, ...) and changes nothing on refusal. */
  readonly apply: (state: State, op: Op, context: ApplyContext) => { state: State; delta: State };
  /** Least upper bound: commutative, associative, idempotent. */
  readonly join: (a: State, b: State) => State;
  /** The lattice order: leq(a, b) iff join(a, b) equals b. */
  readonly leq: (a: State, b: State) => boolean;
  readonly equals: (a: State, b: State) => boolean;
  /** Neither state has seen everything the other has: their join is a concurrent merge. */
  readonly concurrent: (a: State, b: State) => boolean;
  /** The empty state (no key). A bottom delta needs no replication. */
  readonly isBottom: (state: State) => boolean;
  /** The value a read returns, as JSON. */
  readonly value: (state: State) => JsonValue;
  readonly encode: (state: State) => Uint8Array;
  /** Throws a CrdtError (InvalidEncoding) on bytes that are not a canonical encoding of this kind. */
  readonly decode: (bytes: Uint8Array) => State;
  readonly toJSON: (state: State) => unknown;
  readonly fromJSON: (json: unknown) => State;
  /** SHA-256 of the canonical encoding, hex: equal on two replicas iff their states are equal. */
  readonly digest: (state: State) => string;
}

/** What every state class here has, so that a kind's lattice and codec members are written once. */
interface StateClass<S> {
  join(other: S): S;
  leq(other: S): boolean;
  equals(other: S): boolean;
  isBottom(): boolean;
  encode(): Uint8Array;
  toJSON(): unknown;
}

type StateMembers<S> = Pick<CrdtKind<S, unknown>, 'join' | 'leq' | 'equals' | 'isBottom' | 'encode' | 'decode' | 'toJSON' | 'fromJSON' | 'digest'>;

function stateMembers<S extends StateClass<S>>(decode: (bytes: Uint8Array) => S, fromJSON: (json: unknown) => S): StateMembers<S> {
  return {
    join: (a, b) => a.join(b),
    leq: (a, b) => a.leq(b),
    equals: (a, b) => a.equals(b),
    isBottom: (state) => state.isBottom(),
    encode: (state) => state.encode(),
    decode,
    toJSON: (state) => state.toJSON(),
    fromJSON,
    digest: (state) => digest(state.encode()),
  };
}

/** Neither causal context covers the other. */
const contextsConcurrent = (a: { readonly context: CausalContext }, b: { readonly context: CausalContext }): boolean => !a.context.covers(b.context) && !b.context.covers(a.context);

export const counterKind: CrdtKind<PNCounter, CounterOp> = {
  name: 'counter',
  empty: () => PNCounter.empty,
  validateOp: validateCounterOp,
  apply(state, op, { actor }) {
    const delta = state.increment(actor, op.increment);
    return { state: state.join(delta), delta };
  },
  concurrent: (a, b) => !a.leq(b) && !b.leq(a),
  value: (state) => counterJson(state.value()),
  ...stateMembers((bytes) => PNCounter.decode(bytes), (json) => PNCounter.fromJSON(json)),
};

export const setKind: CrdtKind<ORSet, SetOp> = {
  name: 'set',
  empty: () => ORSet.empty,
  validateOp: validateSetOp,
  apply: (state, op, { actor, observed }) => state.update(op, actor, observed),
  concurrent: contextsConcurrent,
  value: (state) => state.values(),
  ...stateMembers((bytes) => ORSet.decode(bytes), (json) => ORSet.fromJSON(json)),
};

export const mapKind: CrdtKind<ORMap, MapOp> = {
  name: 'map',
  empty: () => ORMap.empty,
  validateOp: validateMapOp,
  apply: (state, op, context) => state.update(op, context),
  concurrent: contextsConcurrent,
  value: (state) => state.value(),
  ...stateMembers((bytes) => ORMap.decode(bytes), (json) => ORMap.fromJSON(json)),
};

/** The CRDT namespaces' kinds by policy name. */
export const crdtKinds: { readonly counter: typeof counterKind; readonly set: typeof setKind; readonly map: typeof mapKind } = Object.freeze({
  counter: counterKind,
  set: setKind,
  map: mapKind,
});

/** A kind with its types erased, for code that handles every CRDT namespace alike. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCrdtKind = CrdtKind<any, any>;

/** The kind of a policy name, or undefined for a non-CRDT policy (`lww`, `mv`). */
export function crdtKind(name: string): AnyCrdtKind | undefined {
  return Object.hasOwn(crdtKinds, name) ? crdtKinds[name as CrdtKindName] : undefined;
}
