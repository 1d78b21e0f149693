/**
 * One anti-entropy exchange between two regions (DESIGN §8): roots, then branches, then
 * segments, then per-key hashes, then — to repair — full causal states, each step only where the
 * step before found a difference, so identical regions cost one summary each.
 *
 * Both sides are `TreeReplica`s: the local store or a peer over gRPC (a region's continuous
 * anti-entropy), or two peers over gRPC (the CLI's `meridian verify` / `meridian repair`). This
 * module decides; the replicas do the I/O. Repair sends each differing key's full causal state
 * through the receiving region's idempotent merge, in both directions: joining states never
 * loses what either side has, so stale data sent back is dominated, never restored
 * (riak_repl#773 compared hashes and copied values), and sending twice changes nothing.
 *
 * Every call is bounded: segments are listed a few branches at a time, key hashes a few hundred
 * segments at a time, states fetched and merged a few hundred keys at a time, so no call's work
 * grows with the number of differences. A call that outlives its deadline under load
 * (`DeadlineExceededError`) is retried as two calls of half the work each, down to one item,
 * and the exchange goes on from there: the chunks already done are not done again. Retrying is
 * safe because reads change nothing and a merge is idempotent (a merge that completed at the
 * peer after the caller gave up changes nothing the second time).
 */
import { DivergenceTracker, quiescent, type Positions } from './divergence.ts';
import { differing, differingKeys, sameSummary, segmentOf, type Summary } from './hash-tree.ts';
import type { TokenBucket } from './rate-limit.ts';

export interface NamespaceSummary {
  readonly name: string;
  readonly policy: string;
  readonly root: Summary;
}

export interface ReplicaSummary {
  readonly region: string;
  readonly namespaces: readonly NamespaceSummary[];
  readonly positions: Positions;
  /** The region's own published position: every update of `origin` up to `sequence` (outbox ids up to `outboxId`) is in its states. */
  readonly published?: { readonly origin: string; readonly sequence: bigint; readonly outboxId: bigint } | undefined;
}

/** A key's full causal state as stored (state undefined: the key has no row there). */
export interface KeyState {
  readonly key: string;
  readonly state: Uint8Array | undefined;
  readonly maxHlc: bigint;
}

/** A key a merge changed: its digest (SHA-256 hex of the state) before (undefined: absent) and after. */
export interface KeyRepair {
  readonly key: string;
  readonly before: string | undefined;
  readonly after: string;
}

/** What an exchange needs of a region. */
export interface TreeReplica {
  summary(): Promise<ReplicaSummary>;
  branches(namespace: string): Promise<Map<number, Summary>>;
  segments(namespace: string, branches: readonly number[]): Promise<Map<number, Summary>>;
  keyHashes(namespace: string, segments: readonly number[]): Promise<Map<string, bigint>>;
  fetchStates(namespace: string, keys: readonly string[]): Promise<KeyState[]>;
  /** Merges states from `fromRegion` into this region's keys (the replicator's merge); the keys it changed. */
  mergeStates(namespace: string, policy: string, fromRegion: string, states: readonly KeyState[]): Promise<KeyRepair[]>;
}

/**
 * A merge (or an exchange) refused because the region asking is not a member of the region asked:
 * never one, or removed. A removed region may still hold states this region deleted and purged
 * since (its tombstone GC stopped waiting for it): only a fresh join brings it back. The gRPC
 * server answers it as FAILED_PRECONDITION with this message.
 */
export class NotAMemberError extends Error {
  override readonly name = 'NotAMemberError';
  readonly peer: string;
  readonly region: string;

  constructor(peer: string, region: string) {
    super(`${peer} is not a member of region ${region} (never added, or removed): its anti-entropy is refused here. A removed region comes back only by joining fresh — wipe its database, start it with MERIDIAN_JOIN=on, and add it with PUT /v1/members/${peer}?fresh=true`);
    this.peer = peer;
    this.region = region;
  }
}

/**
 * A call that did not complete within its deadline (the gRPC client's DEADLINE_EXCEEDED): the
 * exchange retries it with half the work. Anything else fails the exchange.
 */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
}

export interface KeyDifference {
  readonly namespace: string;
  readonly key: string;
  /** The key's hash on each side; undefined where the key is absent. */
  readonly localHash: bigint | undefined;
  readonly remoteHash: bigint | undefined;
}

export interface ExchangeProgress {
  readonly phase: 'compare' | 'confirm' | 'keys' | 'repair';
  readonly namespace?: string;
  readonly done: number;
  readonly total: number;
}

export interface ExchangeOptions {
  readonly repair: boolean;
  /**
   * Repair only into `local` (a joining region seeding from a peer: the peer does not count it as
   * a member yet and refuses its merges; what it holds of third regions reaches the peer through
   * their own streams). Default: both ways.
   */
  readonly pullOnly?: boolean;
  /**
   * Continuous anti-entropy keeps one tracker per peer across rounds. Without one (a one-shot
   * verify or repair) differences are confirmed by re-reading the differing segments `confirmAfterMs` later,
   * unless the two regions were quiescent.
   */
  readonly tracker?: DivergenceTracker;
  readonly confirmAfterMs?: number;
  readonly limiter?: TokenBucket;
  readonly sleep: (ms: number) => Promise<void>;
  readonly onProgress?: (progress: ExchangeProgress) => void;
  /** Keys per state fetch and merge (default 200); segments per key listing (default 512); branches per segment listing (default 32: at most 32,768 segments). */
  readonly keysPerBatch?: number;
  readonly segmentsPerBatch?: number;
  readonly branchesPerBatch?: number;
}

export interface ExchangeReport {
  readonly local: string;
  readonly remote: string;
  readonly namespacesCompared: number;
  readonly divergentSegments: number;
  readonly differences: readonly KeyDifference[];
  /** Keys changed here by the remote's states, and there by the local ones. */
  readonly repairedLocal: readonly KeyRepair[];
  readonly repairedRemote: readonly KeyRepair[];
  /** Namespaces one region lacks or holds under another policy: never repaired key by key (the declaration replicates; a namespace-policy conflict settles a clash). */
  readonly policyMismatches: readonly string[];
}

interface Comparison {
  readonly local: ReplicaSummary;
  readonly remote: ReplicaSummary;
  /** Per namespace that differs, its differing segments. */
  readonly segments: Map<string, number[]>;
  readonly quiet: boolean;
}

/**
 * `call` over `items` in chunks of `size`, in order; a chunk whose call outlives its deadline is
 * split in two and each half called (recursively, down to single items: one item that still
 * times out fails the exchange). The results, one per completed call, in item order.
 */
async function bounded<T, R>(items: readonly T[], size: number, call: (chunk: readonly T[]) => Promise<R>, onChunk?: (done: number, total: number) => void): Promise<R[]> {
  const out: R[] = [];
  const run = async (chunk: readonly T[]): Promise<void> => {
    try {
      out.push(await call(chunk));
    } catch (error) {
      if (!(error instanceof DeadlineExceededError) || chunk.length <= 1) throw error;
      const half = Math.ceil(chunk.length / 2);
      await run(chunk.slice(0, half));
      await run(chunk.slice(half));
    }
  };
  const all = chunks(items, size);
  for (const [i, chunk] of all.entries()) {
    onChunk?.(i, all.length);
    await run(chunk);
  }
  return out;
}

/** Both sides' segments under some branches, `batch` branches per call. */
async function segmentsOf(local: TreeReplica, remote: TreeReplica, ns: string, branches: readonly number[], batch: number): Promise<{ readonly local: Map<number, Summary>; readonly remote: Map<number, Summary> }> {
  const out = { local: new Map<number, Summary>(), remote: new Map<number, Summary>() };
  for (const [ls, rs] of await bounded(branches, batch, (b) => Promise.all([local.segments(ns, b), remote.segments(ns, b)]))) {
    for (const [i, n] of ls) out.local.set(i, n);
    for (const [i, n] of rs) out.remote.set(i, n);
  }
  return out;
}

async function compare(local: TreeReplica, remote: TreeReplica, branchesPerBatch: number, onProgress: ExchangeOptions['onProgress']): Promise<Comparison> {
  const [l, r] = await Promise.all([local.summary(), remote.summary()]);
  const localNs = new Map(l.namespaces.map((n) => [n.name, n]));
  const remoteNs = new Map(r.namespaces.map((n) => [n.name, n]));
  const names = [...new Set([...localNs.keys(), ...remoteNs.keys()])].sort();
  const segments = new Map<string, number[]>();
  let done = 0;
  for (const name of names) {
    onProgress?.({ phase: 'compare', namespace: name, done: done++, total: names.length });
    if (sameSummary(localNs.get(name)?.root, remoteNs.get(name)?.root)) continue;
    const [lb, rb] = await Promise.all([local.branches(name), remote.branches(name)]);
    const branches = differing(lb, rb);
    if (branches.length === 0) continue;
    const listed = await segmentsOf(local, remote, name, branches, branchesPerBatch);
    const diff = differing(listed.local, listed.remote);
    if (diff.length > 0) segments.set(name, diff);
  }
  onProgress?.({ phase: 'compare', done: names.length, total: names.length });
  return { local: l, remote: r, segments, quiet: quiescent(l.positions, r.positions) };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Both sides' key hashes of some segments of a namespace, `batch` segments per call. */
async function keyHashesOf(
  local: TreeReplica,
  remote: TreeReplica,
  ns: string,
  segments: readonly number[],
  batch: number,
  onProgress: ((i: number, total: number) => void) | undefined,
): Promise<{ readonly local: Map<string, bigint>; readonly remote: Map<string, bigint> }> {
  const out = { local: new Map<string, bigint>(), remote: new Map<string, bigint>() };
  for (const [lk, rk] of await bounded(segments, batch, (b) => Promise.all([local.keyHashes(ns, b), remote.keyHashes(ns, b)]), onProgress)) {
    for (const [k, h] of lk) out.local.set(k, h);
    for (const [k, h] of rk) out.remote.set(k, h);
  }
  return out;
}

/** Runs one exchange: compares, lists the differing keys, and (with `repair`) merges them both ways. */
export async function runExchange(local: TreeReplica, remote: TreeReplica, options: ExchangeOptions): Promise<ExchangeReport> {
  const { onProgress } = options;
  const segmentsPerBatch = options.segmentsPerBatch ?? 512;
  const comparison = await compare(local, remote, options.branchesPerBatch ?? 32, onProgress);
  const tracker = options.tracker ?? new DivergenceTracker();
  let divergent = new Map<string, number[]>();
  const observe = (segmentsByNs: ReadonlyMap<string, readonly number[]>, quiet: boolean): void => {
    divergent = new Map();
    for (const [ns, segments] of segmentsByNs) {
      const confirmed = tracker.observe(ns, segments, quiet);
      if (confirmed.length > 0) divergent.set(ns, confirmed);
    }
    tracker.settle(new Set(segmentsByNs.keys()));
  };
  observe(comparison.segments, comparison.quiet);
  /** Key hashes already read (by the confirmation), per namespace: the latest of both sides. */
  const read = new Map<string, { readonly local: Map<string, bigint>; readonly remote: Map<string, bigint> }>();
  if (!options.tracker && !comparison.quiet && comparison.segments.size > 0) {
    // A one-shot run: what still differs a little later (or differs with nothing in flight) is
    // divergence. The confirmation re-reads only the segments that differed — their keys'
    // hashes on both sides; a segment still differs when one of its keys does — rather than
    // the whole tree again: with 1,000 keys differing among 1,000,000, two thirds of the
    // branches differ, and listing their segments is most of a comparison's cost. A difference
    // that appears during the wait is left to the next run.
    onProgress?.({ phase: 'confirm', done: 0, total: 1 });
    await options.sleep(options.confirmAfterMs ?? 2000);
    const still = new Map<string, number[]>();
    for (const [ns, segments] of comparison.segments) {
      const hashes = await keyHashesOf(local, remote, ns, segments, segmentsPerBatch, (done, total) => onProgress?.({ phase: 'confirm', namespace: ns, done, total }));
      read.set(ns, hashes);
      const differ = new Set(differingKeys(hashes.local, hashes.remote).map((key) => segmentOf(ns, key)));
      const remaining = segments.filter((s) => differ.has(s));
      if (remaining.length > 0) still.set(ns, remaining);
    }
    observe(still, false);
  }
  const policies = new Map<string, { local?: string; remote?: string }>();
  for (const n of comparison.local.namespaces) policies.set(n.name, { local: n.policy });
  for (const n of comparison.remote.namespaces) policies.set(n.name, { ...policies.get(n.name), remote: n.policy });

  const differences: KeyDifference[] = [];
  const repairedLocal: KeyRepair[] = [];
  const repairedRemote: KeyRepair[] = [];
  const policyMismatches: string[] = [];
  const keysPerBatch = options.keysPerBatch ?? 200;
  let divergentSegments = 0;
  for (const [ns, segments] of divergent) {
    divergentSegments += segments.length;
    const hashes = read.get(ns) ?? (await keyHashesOf(local, remote, ns, segments, segmentsPerBatch, (done, total) => onProgress?.({ phase: 'keys', namespace: ns, done, total })));
    const nsDifferences: KeyDifference[] = differingKeys(hashes.local, hashes.remote).map((key) => ({ namespace: ns, key, localHash: hashes.local.get(key), remoteHash: hashes.remote.get(key) }));
    differences.push(...nsDifferences);
    if (!options.repair || nsDifferences.length === 0) continue;
    const policy = policies.get(ns)!;
    // A namespace one side lacks, or holds under another policy, is not repaired key by key: its
    // declaration replicates, and a policy clash is settled as a namespace-policy conflict.
    if (policy.local === undefined || policy.remote === undefined || policy.local !== policy.remote) {
      policyMismatches.push(ns);
      continue;
    }
    const nsPolicy = policy.local;
    const keys = nsDifferences.map((d) => d.key);
    await bounded(keys, keysPerBatch, async (batch) => {
      const wait = options.limiter?.take(batch.length) ?? 0;
      if (wait > 0) await options.sleep(wait);
      const [ls, rs] = await Promise.all([local.fetchStates(ns, batch), remote.fetchStates(ns, batch)]);
      const present = (states: readonly KeyState[]): KeyState[] => states.filter((s) => s.state !== undefined);
      const [toRemote, toLocal] = [present(ls), present(rs)];
      const [changedRemote, changedLocal] = await Promise.all([
        toRemote.length > 0 && options.pullOnly !== true ? remote.mergeStates(ns, nsPolicy, comparison.local.region, toRemote) : Promise.resolve([]),
        toLocal.length > 0 ? local.mergeStates(ns, nsPolicy, comparison.remote.region, toLocal) : Promise.resolve([]),
      ]);
      repairedRemote.push(...changedRemote);
      repairedLocal.push(...changedLocal);
    }, (done, total) => onProgress?.({ phase: 'repair', namespace: ns, done, total }));
  }
  return { local: comparison.local.region, remote: comparison.remote.region, namespacesCompared: new Set([...policies.keys()]).size, divergentSegments, differences, repairedLocal, repairedRemote, policyMismatches };
}
