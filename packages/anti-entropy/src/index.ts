/**
 * @meridian/anti-entropy: the pure logic of comparing and repairing regions (DESIGN §8) — the
 * hash tree's layout and arithmetic, which differences count as divergence, the repair rate
 * limit, and the exchange that drives two `TreeReplica`s. No I/O: the store's queries and the
 * gRPC server and client are adapters at the edges.
 */
export {
  SEGMENT_BITS,
  BRANCH_BITS,
  SEGMENTS,
  BRANCHES,
  BRANCH_WIDTH,
  EMPTY,
  HashTree,
  keyIdentity,
  segmentOf,
  keyHash,
  elementHash,
  unsignedHash,
  branchOf,
  segmentsOf,
  combine,
  sameSummary,
  differing,
  differingKeys,
  type Summary,
} from './hash-tree.ts';
export { DivergenceTracker, quiescent, type Positions } from './divergence.ts';
export { TokenBucket } from './rate-limit.ts';
export {
  runExchange,
  NotAMemberError,
  DeadlineExceededError,
  type TreeReplica,
  type ReplicaSummary,
  type NamespaceSummary,
  type KeyState,
  type KeyRepair,
  type KeyDifference,
  type ExchangeOptions,
  type ExchangeProgress,
  type ExchangeReport,
} from './exchange.ts';
