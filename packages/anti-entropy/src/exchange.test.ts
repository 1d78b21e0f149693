/**
 * The exchange against two in-memory replicas whose states are grow-only sets (join = union,
 * encoded canonically): it finds exactly the keys whose states differ, verify changes nothing,
 * and repair leaves both sides equal — each key the join of both — with every change reported on
 * the side it happened. With updates in flight (unequal positions), a one-shot run confirms by
 * re-reading the differing segments' keys: a difference that vanished in between is not reported.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { DeadlineExceededError, runExchange, type KeyRepair, type KeyState, type TreeReplica } from './exchange.ts';
import { HashTree, branchOf, segmentOf, keyHash, type Summary } from './hash-tree.ts';
import { DivergenceTracker } from './divergence.ts';
import { TokenBucket } from './rate-limit.ts';

const encode = (set: ReadonlySet<string>): Uint8Array => new TextEncoder().encode(JSON.stringify([...set].sort()));
const decode = (bytes: Uint8Array): Set<string> => new Set(JSON.parse(new TextDecoder().decode(bytes)) as string[]);
const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

class MemoryReplica implements TreeReplica {
  readonly region: string;
  readonly data = new Map<string, Map<string, Set<string>>>();
  positions = new Map<string, bigint>();
  merges = 0;
  segmentCalls = 0;

  constructor(region: string) {
    this.region = region;
  }

  #tree(ns: string): HashTree {
    const tree = new HashTree();
    for (const [k, v] of this.data.get(ns) ?? []) tree.add(ns, k, encode(v));
    return tree;
  }

  summary() {
    return Promise.resolve({ region: this.region, positions: this.positions, namespaces: [...this.data.keys()].map((name) => ({ name, policy: 'set', root: this.#tree(name).root() })) });
  }
  branches(ns: string) {
    return Promise.resolve(this.#tree(ns).branches());
  }
  segments(ns: string, branches: readonly number[]) {
    this.segmentCalls++;
    const wanted = new Set(branches);
    return Promise.resolve(new Map<number, Summary>([...this.#tree(ns).segments()].filter(([s]) => wanted.has(branchOf(s)))));
  }
  keyHashes(ns: string, segments: readonly number[]) {
    const wanted = new Set(segments);
    return Promise.resolve(new Map([...(this.data.get(ns) ?? [])].filter(([k]) => wanted.has(segmentOf(ns, k))).map(([k, v]) => [k, keyHash(ns, k, encode(v))] as const)));
  }
  fetchStates(ns: string, keys: readonly string[]): Promise<KeyState[]> {
    return Promise.resolve(keys.map((key) => {
      const v = this.data.get(ns)?.get(key);
      return { key, state: v ? encode(v) : undefined, maxHlc: 0n };
    }));
  }
  mergeStates(ns: string, _policy: string, _from: string, states: readonly KeyState[]): Promise<KeyRepair[]> {
    this.merges++;
    const keys = this.data.get(ns) ?? new Map<string, Set<string>>();
    this.data.set(ns, keys);
    const out: KeyRepair[] = [];
    for (const s of states) {
      const old = keys.get(s.key);
      const next = new Set([...(old ?? []), ...decode(s.state!)]);
      if (old && next.size === old.size) continue;
      keys.set(s.key, next);
      out.push({ key: s.key, before: old ? digest(encode(old)) : undefined, after: digest(encode(next)) });
    }
    return Promise.resolve(out);
  }
}

/**
 * A replica under load: a call asked for more than `budget` items (branches, segments, keys)
 * outlives its deadline, as a gRPC call whose work grows with its request does.
 */
class LoadedReplica extends MemoryReplica {
  budget: number;
  timeouts = 0;
  largest = 0;

  constructor(region: string, budget: number) {
    super(region);
    this.budget = budget;
  }

  #check(items: number): Promise<void> {
    if (items > this.budget) {
      this.timeouts++;
      return Promise.reject(new DeadlineExceededError(`asked for ${items} items: deadline exceeded`));
    }
    this.largest = Math.max(this.largest, items);
    return Promise.resolve();
  }
  override async segments(ns: string, branches: readonly number[]) {
    await this.#check(branches.length);
    return super.segments(ns, branches);
  }
  override async keyHashes(ns: string, segments: readonly number[]) {
    await this.#check(segments.length);
    return super.keyHashes(ns, segments);
  }
  override async fetchStates(ns: string, keys: readonly string[]) {
    await this.#check(keys.length);
    return super.fetchStates(ns, keys);
  }
  override async mergeStates(ns: string, policy: string, from: string, states: readonly KeyState[]) {
    await this.#check(states.length);
    return super.mergeStates(ns, policy, from, states);
  }
}

const side = fc.dictionary(fc.constantFrom('a', 'b'), fc.dictionary(fc.string({ maxLength: 3 }), fc.uniqueArray(fc.constantFrom('x', 'y', 'z'), { minLength: 1 })));

/** Both namespaces exist on both sides (a namespace one side lacks is not repaired key by key: tested below). */
function load(r: MemoryReplica, d: Record<string, Record<string, string[]>>, namespaces: readonly string[] = ['a', 'b']): MemoryReplica {
  for (const ns of namespaces) r.data.set(ns, new Map());
  for (const [ns, keys] of Object.entries(d)) r.data.set(ns, new Map(Object.entries(keys).map(([k, v]) => [k, new Set(v)])));
  return r;
}

const flat = (r: MemoryReplica): Record<string, string[]> => Object.fromEntries([...r.data].flatMap(([ns, keys]) => [...keys].map(([k, v]) => [`${ns}/${k}`, [...v].sort()])));
const sleep = (): Promise<void> => Promise.resolve();

describe('runExchange', () => {
  it('finds exactly the differing keys; verify changes nothing; repair converges both sides to the join', async () => {
    await fc.assert(
      fc.asyncProperty(side, side, async (a, b) => {
        const local = load(new MemoryReplica('eu'), a);
        const remote = load(new MemoryReplica('us'), b);
        const before = { local: flat(local), remote: flat(remote) };
        const expected = [...new Set([...Object.keys(before.local), ...Object.keys(before.remote)])].filter((k) => JSON.stringify(before.local[k]) !== JSON.stringify(before.remote[k])).sort();

        const verify = await runExchange(local, remote, { repair: false, sleep });
        expect(verify.differences.map((d) => `${d.namespace}/${d.key}`).sort()).toEqual(expected);
        expect({ local: flat(local), remote: flat(remote) }).toEqual(before);

        const repair = await runExchange(local, remote, { repair: true, sleep, keysPerBatch: 3, limiter: new TokenBucket({ perSecond: 1000, now: () => 0 }) });
        expect(flat(local)).toEqual(flat(remote));
        for (const k of expected) {
          const joined = [...new Set([...(before.local[k] ?? []), ...(before.remote[k] ?? [])])].sort();
          expect(flat(local)[k]).toEqual(joined);
        }
        const changed = (r: readonly KeyRepair[]): number => r.length;
        expect(changed(repair.repairedLocal) + changed(repair.repairedRemote)).toBeGreaterThanOrEqual(expected.length);
        const again = await runExchange(local, remote, { repair: true, sleep });
        expect(again.differences).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it('repairs many keys in bounded calls: a call that outlives its deadline is split and the repair goes on', async () => {
    // 60 keys differ: more than the budget of 4 items per call in every phase (segments of 32
    // branches, key hashes of 512 segments, states of 200 keys by default).
    const local = new LoadedReplica('eu', 4);
    const remote = new LoadedReplica('us', 4);
    load(local, { a: Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${i}`, ['x']])) });
    load(remote, { a: Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${i}`, i % 2 === 0 ? ['y'] : ['x']])) });
    const report = await runExchange(local, remote, { repair: true, sleep });
    expect(report.differences).toHaveLength(60);
    expect(flat(local)).toEqual(flat(remote));
    expect(flat(local)['a/k0']).toEqual(['x', 'y']);
    expect(local.timeouts + remote.timeouts).toBeGreaterThan(0);
    expect(Math.max(local.largest, remote.largest)).toBeLessThanOrEqual(4);
    expect((await runExchange(local, remote, { repair: false, sleep })).differences).toEqual([]);
  });

  it('an interrupted repair keeps what it merged; the next run repairs only what still differs', async () => {
    // `meridian repair` is resumable by construction: every merged batch is committed, and a run
    // compares afresh. The peer here fails its third merge (a connection lost mid-repair).
    class Interrupted extends MemoryReplica {
      failAt = 3;
      override mergeStates(ns: string, policy: string, from: string, states: readonly KeyState[]) {
        if (this.merges + 1 === this.failAt) {
          this.merges++;
          return Promise.reject(new Error('connection lost'));
        }
        return super.mergeStates(ns, policy, from, states);
      }
    }
    const local = load(new MemoryReplica('eu'), { a: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, ['x']])) });
    const remote = load(new Interrupted('us'), {});
    await expect(runExchange(local, remote, { repair: true, sleep, keysPerBatch: 10 })).rejects.toThrow('connection lost');
    const merged = Object.keys(flat(remote)).length;
    expect(merged).toBe(20); // two batches of 10 landed before the failure
    const resumed = await runExchange(local, remote, { repair: true, sleep, keysPerBatch: 10 });
    expect(resumed.differences).toHaveLength(40 - merged);
    expect(resumed.repairedRemote).toHaveLength(40 - merged);
    expect(flat(remote)).toEqual(flat(local));
  });

  it('fails when a single item outlives its deadline (nothing left to split)', async () => {
    const local = new LoadedReplica('eu', 0);
    const remote = new LoadedReplica('us', 0);
    load(local, { a: { k: ['x'] } });
    load(remote, { a: { k: ['y'] } });
    await expect(runExchange(local, remote, { repair: true, sleep })).rejects.toThrow(DeadlineExceededError);
  });

  it('pulling only (a joining region seeding) merges into the local side and never into the peer', async () => {
    const local = load(new MemoryReplica('sa'), { a: { k1: ['x'] } });
    const remote = load(new MemoryReplica('eu'), { a: { k1: ['y'], k2: ['z'] } });
    const report = await runExchange(local, remote, { repair: true, pullOnly: true, sleep });
    expect(report.repairedRemote).toEqual([]);
    expect(remote.merges).toBe(0);
    expect(flat(local)).toEqual({ 'a/k1': ['x', 'y'], 'a/k2': ['z'] });
    expect(flat(remote)).toEqual({ 'a/k1': ['y'], 'a/k2': ['z'] });
  });

  it('leaves a namespace one side lacks to its replicated declaration, and says so', async () => {
    const local = load(new MemoryReplica('eu'), { a: { k: ['x'] } }, []);
    const remote = load(new MemoryReplica('us'), {}, []);
    const report = await runExchange(local, remote, { repair: true, sleep });
    expect(report.differences.map((d) => d.key)).toEqual(['k']);
    expect(report.policyMismatches).toEqual(['a']);
    expect(remote.merges).toBe(0);
  });

  it('with updates in flight, reports only what still differs after a second comparison', async () => {
    const local = load(new MemoryReplica('eu'), { a: { k1: ['x'], k2: ['x'] } });
    const remote = load(new MemoryReplica('us'), { a: { k1: ['y'] } });
    local.positions = new Map([['eu.1', 7n]]);
    remote.positions = new Map([['eu.1', 6n]]);
    // k2 arrives at the remote between the two comparisons (it was in flight); k1 really differs.
    const report = await runExchange(local, remote, { repair: false, sleep: () => Promise.resolve(void remote.data.get('a')!.set('k2', new Set(['x']))) });
    expect(report.differences.map((d) => d.key)).toEqual(['k1']);
  });

  it('confirms by re-reading only the keys of the differing segments, not the whole tree again', async () => {
    const keys = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, ['x']]));
    const local = load(new MemoryReplica('eu'), { a: keys });
    const remote = load(new MemoryReplica('us'), { a: { ...keys, k7: ['y'], k8: ['y'] } });
    local.positions = new Map([['eu.1', 7n]]);
    // k8 is repaired by replication during the wait; k7 still differs.
    const report = await runExchange(local, remote, { repair: true, sleep: () => Promise.resolve(void remote.data.get('a')!.set('k8', new Set(['x']))) });
    expect(report.differences.map((d) => d.key)).toEqual(['k7']);
    expect(report.divergentSegments).toBe(1);
    expect([local.segmentCalls, remote.segmentCalls]).toEqual([1, 1]);
    expect(flat(local)).toEqual(flat(remote));
  });

  it('rate-limits repair: N keys at R keys/s wait (N - burst) / R in all, each batch merged only after its wait', async () => {
    // 50 keys differ, 5 per batch, 10 keys/s with a burst of 10: the first two batches go at
    // once, each of the other 8 waits 500 ms on a clock that moves only when the exchange sleeps.
    const keys = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, ['x']]));
    const local = load(new MemoryReplica('eu'), { a: keys });
    const remote = load(new MemoryReplica('us'), {});
    let now = 0;
    const events: string[] = [];
    const waits: number[] = [];
    const merge = remote.mergeStates.bind(remote);
    remote.mergeStates = (ns, policy, from, states) => {
      events.push(`merge ${states.length} at ${now}`);
      return merge(ns, policy, from, states);
    };
    const limiter = new TokenBucket({ perSecond: 10, burst: 10, now: () => now });
    const report = await runExchange(local, remote, {
      repair: true,
      keysPerBatch: 5,
      limiter,
      // Equal positions: nothing in flight, no confirmation wait; every sleep is the limiter's.
      sleep: (ms) => {
        waits.push(ms);
        events.push(`sleep ${ms}`);
        now += ms;
        return Promise.resolve();
      },
    });
    expect(report.repairedRemote).toHaveLength(50);
    expect(flat(remote)).toEqual(flat(local));
    expect(waits.reduce((a, b) => a + b, 0)).toBe(((50 - 10) / 10) * 1000);
    expect(events).toEqual([
      'merge 5 at 0',
      'merge 5 at 0',
      ...Array.from({ length: 8 }, (_, i) => ['sleep 500', `merge 5 at ${(i + 1) * 500}`]).flat(),
    ]);
  });

  it('continuous rounds: a difference counts from its second consecutive round', async () => {
    const local = load(new MemoryReplica('eu'), { a: { k1: ['x'] } });
    const remote = load(new MemoryReplica('us'), { a: { k1: ['y'] } });
    local.positions = new Map([['eu.1', 2n]]);
    const tracker = new DivergenceTracker();
    const first = await runExchange(local, remote, { repair: true, sleep, tracker });
    expect(first.differences).toEqual([]);
    expect(remote.merges + local.merges).toBe(0);
    const second = await runExchange(local, remote, { repair: true, sleep, tracker });
    expect(second.differences.map((d) => d.key)).toEqual(['k1']);
    expect(flat(local)).toEqual(flat(remote));
  });
});
