/**
 * Each CRDT type under test: how to generate its operations (fast-check), apply one at a replica,
 * and what the reference model says the replica must show. The law tests and the convergence
 * tests run every type through the same code from these specs.
 */
import fc from 'fast-check';
import { DvvSet, dotKey, type VersionVector } from '@meridian/causality';
import { type JsonValue } from '../canonical-json.ts';
import { counterKind, mapKind, setKind, type CrdtKind } from '../crdt-kind.ts';
import { type CounterOp, type MapOp, type SetOp } from '../crdt-ops.ts';
import { GCounter } from '../g-counter.ts';
import { mergeRegister } from '../register-merge.ts';
import { decodeRegisterSet, encodeRegisterSet, viewRegister, writeRegister, type Json, type RegisterPolicy, type RegisterSet } from '../register-state.ts';
import { registerSetFromJSON, registerSetToJSON } from './fixture-codecs.ts';
import { type ORMap } from '../or-map.ts';
import { type ORSet } from '../or-set.ts';
import { counterJson, type PNCounter } from '../pn-counter.ts';
import { type Replica, type ReplicatedType, type WriteResult } from './replication-harness.ts';
import { CounterModel, LwwModel, MvModel, ORMapModel, ORSetModel } from './reference-models.ts';

export interface Model<O> {
  /** Records an operation before it is applied; false: the model says it must be refused. */
  record(id: number, op: O, origin: Replica<unknown>): boolean;
  /** What a replica that joined exactly `known` must show (compared with `value`). */
  expected(known: ReadonlySet<number>): unknown;
}

export interface TypeSpec<S, O> extends ReplicatedType<S> {
  readonly name: string;
  readonly op: fc.Arbitrary<O>;
  apply(replica: Replica<S>, op: O, id: number): WriteResult<S>;
  leq(a: S, b: S): boolean;
  toJSON(state: S): unknown;
  fromJSON(json: unknown): S;
  value(state: S): unknown;
  model(): Model<O>;
}

/** A small universe of JSON values, so that replicas often touch the same elements. */
export const smallJson: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.constantFrom('x', 'y', 'é', ''),
  fc.constant(null),
  fc.constant(true),
  fc.constantFrom<JsonValue>({ k: 1, a: [1, 2] }, { a: [1, 2], k: 1 }, [1, 'x']),
);

const smallHlc = fc.bigInt({ min: 1n, max: 6n });

type LatticeMembers<S> = Pick<TypeSpec<S, unknown>, 'join' | 'leq' | 'equals' | 'encode' | 'decode' | 'toJSON' | 'fromJSON'>;

/** The lattice and codec members of a spec, from a state class's methods. */
function classMembers<S extends { join(o: S): S; leq(o: S): boolean; equals(o: S): boolean; encode(): Uint8Array; toJSON(): unknown }>(
  decode: (bytes: Uint8Array) => S,
  fromJSON: (json: unknown) => S,
): LatticeMembers<S> {
  return { join: (a, b) => a.join(b), leq: (a, b) => a.leq(b), equals: (a, b) => a.equals(b), encode: (s) => s.encode(), decode, toJSON: (s) => s.toJSON(), fromJSON };
}

/** The same members from a CrdtKind. */
function kindMembers<S, O>(kind: CrdtKind<S, O>): LatticeMembers<S> {
  return { join: kind.join, leq: kind.leq, equals: kind.equals, encode: kind.encode, decode: kind.decode, toJSON: kind.toJSON, fromJSON: kind.fromJSON };
}

export const gCounterSpec: TypeSpec<GCounter, { amount: number }> = {
  name: 'GCounter',
  empty: GCounter.empty,
  op: fc.record({ amount: fc.integer({ min: 1, max: 1000 }) }),
  apply(replica, op) {
    const delta = replica.state.increment(replica.actor, op.amount);
    return { state: replica.state.join(delta), delta };
  },
  ...classMembers((b) => GCounter.decode(b), (j) => GCounter.fromJSON(j)),
  value: (s) => counterJson(s.value()),
  model() {
    const model = new CounterModel();
    return {
      record: (id, op, origin) => (model.record(id, origin.actor, op.amount), true),
      expected: (known) => model.expected(known),
    };
  },
};

export const pnCounterSpec: TypeSpec<PNCounter, CounterOp> = {
  name: 'PNCounter',
  empty: counterKind.empty(),
  op: fc.integer({ min: -5, max: 5 }).filter((n) => n !== 0).map((n) => counterKind.validateOp({ increment: n })),
  apply: (replica, op) => counterKind.apply(replica.state, op, { actor: replica.actor }),
  ...kindMembers(counterKind),
  value: counterKind.value,
  model() {
    const model = new CounterModel();
    return { record: (id, op, origin) => (model.record(id, origin.actor, op.increment), true), expected: (known) => model.expected(known) };
  },
};

/**
 * The registers the service stores (register-state.ts, register-merge.ts): a DVV set of versions,
 * joined by `mergeRegister` under the namespace's policy. A write's delta is the whole new set,
 * as the service ships it.
 */
function registerMembers(policy: RegisterPolicy): LatticeMembers<RegisterSet> {
  return {
    join: (a, b) => mergeRegister('ns', 'k', a, b, policy).next,
    // (V, C) ≤ (V', C') iff C ⊆ C' and V' holds no version of C that V does not: nothing revived.
    leq(a, b) {
      const mine = a.causalContext();
      if (!b.causalContext().covers(mine)) return false;
      const held = new Set(a.versions().map((v) => dotKey(v.dot)));
      return b.versions().every((v) => !mine.contains(v.dot) || held.has(dotKey(v.dot)));
    },
    equals: (a, b) => Buffer.from(encodeRegisterSet(a)).equals(encodeRegisterSet(b)),
    encode: encodeRegisterSet,
    decode: decodeRegisterSet,
    toJSON: registerSetToJSON,
    fromJSON: registerSetFromJSON,
  };
}

/** The HLC the service stamps a local write with: after the op's clock and after every version the key holds. */
function stamp(state: RegisterSet, hlc: bigint): bigint {
  const max = state.versions().reduce((m, v) => (v.value.hlc > m ? v.value.hlc : m), 0n);
  return hlc > max ? hlc : max + 1n;
}

/** LWW dots come from a per-replica counter (in the service: the key's causal context, the same count). */
export const lwwSpec: TypeSpec<RegisterSet, { value: JsonValue; hlc: bigint }> = {
  name: 'lww register',
  empty: DvvSet.empty(),
  op: fc.record({ value: smallJson, hlc: smallHlc }),
  apply(replica, op) {
    const counter = ((replica.memory.get('lww-counter') as number | undefined) ?? 0) + 1;
    replica.memory.set('lww-counter', counter);
    const { set } = writeRegister(replica.state, 'lww', undefined, replica.actor, { value: op.value as Json, hlc: stamp(replica.state, op.hlc), traceparent: undefined });
    return { state: set, delta: set, wholeState: true };
  },
  ...registerMembers('lww'),
  value(s) {
    const view = viewRegister(s, 'lww');
    return view.kind === 'value' ? view.value : undefined;
  },
  model() {
    const model = new LwwModel();
    return {
      record(id, op, origin) {
        // The same counter and HLC the apply above is about to use.
        const counter = ((origin.memory.get('lww-counter') as number | undefined) ?? 0) + 1;
        model.record(id, stamp(origin.state as RegisterSet, op.hlc), { actor: origin.actor, counter }, op.value);
        return true;
      },
      expected: (known) => model.expected(known),
    };
  },
};

/** How an MV write's client read: just now, never (blind), or k reads ago at this replica. */
export type MvContext = { readonly kind: 'current' } | { readonly kind: 'blind' } | { readonly kind: 'stale'; readonly back: number };

interface ReadSnapshot {
  readonly vector: VersionVector;
  readonly known: ReadonlySet<number>;
}

function mvRead(replica: Replica<unknown>, context: MvContext, state: { context(): VersionVector }): ReadSnapshot | undefined {
  const reads = (replica.memory.get('mv-reads') as ReadSnapshot[] | undefined) ?? [];
  if (context.kind === 'blind') return undefined;
  if (context.kind === 'stale' && reads.length > 0) return reads[Math.max(0, reads.length - 1 - (context.back % reads.length))];
  return { vector: state.context(), known: new Set(replica.known) };
}

export const mvSpec: TypeSpec<RegisterSet, MvContext> = {
  name: 'mv register',
  empty: DvvSet.empty(),
  op: fc.oneof(
    { weight: 3, arbitrary: fc.constant<MvContext>({ kind: 'current' }) },
    { weight: 1, arbitrary: fc.constant<MvContext>({ kind: 'blind' }) },
    { weight: 2, arbitrary: fc.nat({ max: 4 }).map((back): MvContext => ({ kind: 'stale', back })) },
  ),
  apply(replica, op, id) {
    const read = mvRead(replica, op, replica.state);
    const { set } = writeRegister(replica.state, 'mv', read?.vector, replica.actor, { value: `w${id}`, hlc: 1n, traceparent: undefined });
    // Every write is preceded by a read in real use; remember it for later stale writes.
    const reads = (replica.memory.get('mv-reads') as ReadSnapshot[] | undefined) ?? [];
    reads.push({ vector: replica.state.context(), known: new Set(replica.known) });
    replica.memory.set('mv-reads', reads.slice(-5));
    return { state: set, delta: set, wholeState: true };
  },
  ...registerMembers('mv'),
  value(s) {
    const view = viewRegister(s, 'mv');
    return view.kind === 'values' ? view.values.map(String).sort() : [];
  },
  model() {
    const model = new MvModel();
    return {
      record(id, op, origin) {
        const read = mvRead(origin, op, DvvSet.empty());
        model.record(id, `w${id}`, read?.known ?? new Set());
        return true;
      },
      expected: (known) => model.expected(known),
    };
  },
};

export const setOp: fc.Arbitrary<SetOp> = fc
  .tuple(fc.boolean(), fc.array(smallJson, { minLength: 1, maxLength: 3 }))
  .map(([add, elements]) => setKind.validateOp(add ? { add: elements } : { remove: elements }));

export const orSetSpec: TypeSpec<ORSet, SetOp> = {
  name: 'ORSet',
  empty: setKind.empty(),
  op: setOp,
  apply: (replica, op) => setKind.apply(replica.state, op, { actor: replica.actor }),
  ...kindMembers(setKind),
  value: setKind.value,
  model() {
    const model = new ORSetModel();
    return { record: (id, op, origin) => (model.record(id, origin.actor, op, origin.known), true), expected: (known) => model.expected(known) };
  },
};

const FIELDS = ['a', 'b', 'c'] as const;
type MapVerb = 'set' | 'increment' | 'add' | 'remove' | 'delete';

/** A map operation as a REST body: one to three distinct fields, each with a verb. */
export const mapOpBody: fc.Arbitrary<Record<string, unknown>> = fc
  .uniqueArray(
    fc.record({
      field: fc.constantFrom(...FIELDS),
      // Mostly the field's usual type (a: register, b: counter, c: set), sometimes any verb, so
      // that type clashes (refused locally, or created concurrently) happen without dominating.
      verb: fc.oneof({ weight: 3, arbitrary: fc.constant<MapVerb | undefined>(undefined) }, { weight: 1, arbitrary: fc.constantFrom<MapVerb>('set', 'increment', 'add', 'remove', 'delete') }),
      setVerb: fc.constantFrom<MapVerb>('add', 'add', 'remove', 'delete'),
      value: smallJson,
      amount: fc.integer({ min: -3, max: 3 }).filter((n) => n !== 0),
      elements: fc.array(smallJson, { minLength: 1, maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 3, selector: (part) => part.field },
  )
  .map((parts) => {
    const body: Record<string, Record<string, unknown> | string[]> = {};
    for (const { field, verb: chosen, setVerb, value, amount, elements } of parts) {
      const verb: MapVerb = chosen ?? (field === 'a' ? 'set' : field === 'b' ? 'increment' : setVerb);
      if (verb === 'delete') {
        body.delete = [...((body.delete as string[] | undefined) ?? []), field];
        continue;
      }
      const fields = (body[verb] as Record<string, unknown> | undefined) ?? {};
      fields[field] = verb === 'set' ? value : verb === 'increment' ? amount : elements;
      body[verb] = fields;
    }
    return body;
  });

export interface MapWrite {
  readonly op: MapOp;
  readonly hlc: bigint;
}

export const orMapSpec: TypeSpec<ORMap, MapWrite> = {
  name: 'ORMap',
  empty: mapKind.empty(),
  op: fc.record({ op: mapOpBody.map((body) => mapKind.validateOp(body)), hlc: smallHlc }),
  apply: (replica, { op, hlc }) => mapKind.apply(replica.state, op, { actor: replica.actor, hlc }),
  ...kindMembers(mapKind),
  value: mapKind.value,
  model() {
    const model = new ORMapModel();
    return { record: (id, { op, hlc }, origin) => model.record(id, origin.actor, hlc, op, origin.known), expected: (known) => model.expected(known) };
  },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const allSpecs: readonly TypeSpec<any, any>[] = [gCounterSpec, pnCounterSpec, lwwSpec, mvSpec, orSetSpec, orMapSpec];
