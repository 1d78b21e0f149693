/**
 * This region as a `TreeReplica`: the hash tree and key states read from its PostgreSQL, and
 * repairs merged into it (`mergeRepairStates`, from members only). The gRPC server answers peers with it, and the
 * region's continuous anti-entropy compares it with each peer.
 */
import type { KeyRepair, KeyState, ReplicaSummary, Summary, TreeReplica } from '@meridian/anti-entropy';
import type { HybridLogicalClock } from '@meridian/causality';
import type { PgStore } from '@meridian/store';
import { mergeRepairStates, type RepairHooks, type RepairPeers } from './repair-merge.ts';

const nodes = (rows: readonly { index: number; hash: bigint; keys: number }[]): Map<number, Summary> => new Map(rows.map((r) => [r.index, { hash: r.hash, keys: r.keys }]));

export class LocalReplica implements TreeReplica {
  readonly #store: PgStore;
  readonly #region: string;
  readonly #clock: HybridLogicalClock;
  readonly #hooks: RepairHooks | undefined;
  readonly #peers: RepairPeers;

  constructor(options: { store: PgStore; region: string; clock: HybridLogicalClock; peers: RepairPeers; hooks?: RepairHooks | undefined }) {
    this.#store = options.store;
    this.#peers = options.peers;
    this.#region = options.region;
    this.#clock = options.clock;
    this.#hooks = options.hooks;
  }

  /** This replica, also telling `onRejected` of every state its merges skip (a reseed must not pass over one). */
  observingRejections(onRejected: (namespace: string, key: string, reason: string) => void): LocalReplica {
    const hooks = this.#hooks;
    return new LocalReplica({
      store: this.#store,
      region: this.#region,
      clock: this.#clock,
      peers: this.#peers,
      hooks: {
        ...hooks,
        onRejected: (namespace, key, reason) => {
          hooks?.onRejected?.(namespace, key, reason);
          onRejected(namespace, key, reason);
        },
      },
    });
  }

  async summary(): Promise<ReplicaSummary> {
    // The published position first: the states the exchange then reads hold everything up to it.
    const published = await this.#store.tree.published();
    const [roots, positions] = await Promise.all([this.#store.tree.roots(), this.#store.tree.positions()]);
    return { region: this.#region, namespaces: roots.map((r) => ({ name: r.name, policy: r.policy, root: { hash: r.hash, keys: r.keys } })), positions, published };
  }

  async branches(namespace: string): Promise<Map<number, Summary>> {
    return nodes(await this.#store.tree.branches(namespace));
  }

  async segments(namespace: string, branches: readonly number[]): Promise<Map<number, Summary>> {
    return nodes(await this.#store.tree.segments(namespace, branches));
  }

  async keyHashes(namespace: string, segments: readonly number[]): Promise<Map<string, bigint>> {
    return new Map((await this.#store.tree.keyHashes(namespace, segments)).map((k) => [k.key, k.hash]));
  }

  fetchStates(namespace: string, keys: readonly string[]): Promise<KeyState[]> {
    return this.#store.tree.states(namespace, keys);
  }

  mergeStates(namespace: string, policy: string, fromRegion: string, states: readonly KeyState[]): Promise<KeyRepair[]> {
    return mergeRepairStates({ store: this.#store, region: this.#region, clock: this.#clock, peers: this.#peers, hooks: this.#hooks }, { namespace, policy, fromRegion, states });
  }
}
