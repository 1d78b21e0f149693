/**
 * Replicas of one CRDT key over the seeded network simulator, for convergence tests and for
 * generating reachable states for the law tests.
 *
 * A write applies an operation at one replica and broadcasts its delta — encoded to bytes and
 * decoded on arrival, so every delivery also exercises the codec. Every replica records which
 * operations' effects it has joined (`known`): a delta carries its own operation's id, a whole
 * state (anti-entropy, or a type whose delta is its whole state) carries every id its sender
 * knew. The reference models compute what a replica must show from exactly that set.
 */
import { type ActorId } from '@meridian/causality';
import { NetworkSimulator, type NetworkOptions } from './network-simulator.ts';

export interface Replica<S> {
  readonly index: number;
  readonly actor: ActorId;
  state: S;
  /** Ids of the operations whose effects this replica's state includes. */
  readonly known: Set<number>;
  /** Free per-replica memory for a type's test (read snapshots, minted dot counters). */
  readonly memory: Map<string, unknown>;
}

export interface ReplicatedType<S> {
  readonly empty: S;
  join(a: S, b: S): S;
  equals(a: S, b: S): boolean;
  encode(state: S): Uint8Array;
  decode(bytes: Uint8Array): S;
}

export interface Message {
  readonly ids: readonly number[];
  readonly bytes: Uint8Array;
  /** What the sender had joined before this write (the write's causal past). */
  readonly deps: readonly number[];
}

export interface HarnessOptions extends Omit<NetworkOptions, 'ready'> {
  /** Deliver a write only after everything its writer had seen (causal delivery). */
  readonly causal?: boolean;
}

export interface WriteResult<S> {
  readonly state: S;
  readonly delta: S;
  /** The delta is the whole state after the write (MV register): it carries everything known. */
  readonly wholeState?: boolean;
}

export interface WriteOptions {
  /** Keep this write's delta from every other replica until the network settles. */
  readonly withhold?: boolean;
}

export class ReplicationHarness<S> {
  readonly replicas: Replica<S>[];
  readonly network: NetworkSimulator<Message>;
  readonly type: ReplicatedType<S>;
  /** Every delta and state that crossed the network, decoded: material for the law tests. */
  readonly seen: S[] = [];
  #nextOp = 0;

  constructor(type: ReplicatedType<S>, options: HarnessOptions, actors: readonly ActorId[] = defaultActors(options.replicas)) {
    this.type = type;
    this.replicas = Array.from({ length: options.replicas }, (_, index) => ({
      index,
      actor: actors[index] ?? `r${index}.1`,
      state: type.empty,
      known: new Set<number>(),
      memory: new Map<string, unknown>(),
    }));
    const ready = (envelope: { readonly to: number; readonly payload: Message }): boolean => {
      const known = this.replicas[envelope.to]?.known;
      return known !== undefined && envelope.payload.deps.every((id) => known.has(id));
    };
    this.network = new NetworkSimulator<Message>(options.causal === true ? { ...options, ready } : options, (envelope) => {
      const replica = this.replicas[envelope.to];
      if (replica === undefined) return;
      const incoming = type.decode(envelope.payload.bytes);
      this.seen.push(incoming);
      replica.state = type.join(replica.state, incoming);
      for (const id of envelope.payload.ids) replica.known.add(id);
    });
  }

  /**
   * Applies a write at replica `index` (the callback may throw to refuse it: nothing changes) and
   * broadcasts its delta. Checks on the way that the new state is the join of the old one and the
   * delta. Returns the operation's id.
   */
  write(index: number, apply: (replica: Replica<S>, id: number) => WriteResult<S>, options: WriteOptions = {}): number {
    const replica = this.#replica(index);
    const id = this.#nextOp;
    const result = apply(replica, id);
    this.#nextOp++;
    const joined = this.type.join(replica.state, result.delta);
    if (!this.type.equals(joined, result.state)) throw new Error(`apply at replica ${index} differs from joining its delta`);
    const deps = [...replica.known];
    replica.state = result.state;
    replica.known.add(id);
    const bytes = this.type.encode(result.delta);
    this.seen.push(result.delta);
    this.network.broadcast(index, { ids: result.wholeState === true ? [...replica.known] : [id], bytes, deps }, options.withhold === true);
    return id;
  }

  /** Anti-entropy: `from` sends its whole state to `to`. */
  sync(from: number, to: number): void {
    const replica = this.#replica(from);
    this.network.send(from, to, { ids: [...replica.known], bytes: this.type.encode(replica.state), deps: [] });
  }

  get operations(): number {
    return this.#nextOp;
  }

  #replica(index: number): Replica<S> {
    const replica = this.replicas[index];
    if (replica === undefined) throw new RangeError(`no replica ${index}`);
    return replica;
  }
}

/** eu.1, us.1, ap.1, sa.1, af.1, ... */
export function defaultActors(count: number): ActorId[] {
  const regions = ['eu', 'us', 'ap', 'sa', 'af', 'me', 'oc', 'an'];
  return Array.from({ length: count }, (_, i) => `${regions[i % regions.length] ?? 'r'}.${1 + Math.floor(i / regions.length)}`);
}
