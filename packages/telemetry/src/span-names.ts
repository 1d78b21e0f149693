/**
 * Meridian's span names and span attribute names, in one place: they are the contract with the
 * tracing backend (DESIGN §5, §9) — dashboards and Zipkin tag searches name them — so every
 * package takes them from here and none spells them out by hand.
 *
 * Conflict spans carry the linked writes' trace ids as an attribute as well as in their links:
 * Zipkin shows no links, and a tag is all it can search.
 */

export const SpanName = {
  /** A client write in the region that accepted it (one PostgreSQL transaction). */
  write: 'meridian.write',
  /** The outbox relay publishing a batch of rows to the region's Kafka topic. */
  relayPublish: 'meridian.relay.publish',
  /** A replicator applying a batch of a peer's updates. */
  replicateApply: 'meridian.replicate.apply',
  /** A conflict observed while merging; always sampled, linked to the concurrent writes. */
  conflict: 'meridian.conflict',
  /** A key anti-entropy changed: its state merged with a peer's (DESIGN §8); always sampled. */
  repair: 'meridian.repair',
} as const;
export type SpanName = (typeof SpanName)[keyof typeof SpanName];

export const SpanAttribute = {
  namespace: 'meridian.namespace',
  key: 'meridian.key',
  policy: 'meridian.policy',
  /** The dot `(actor, counter)` minted by a write, rendered as its canonical string. */
  dot: 'meridian.dot',
  /** The region that accepted the write an update came from. */
  origin: 'meridian.origin',
  /** The origin sequence number of a replicated update. */
  sequence: 'meridian.sequence',
  /** Number of updates or outbox rows in a batch. */
  batchSize: 'meridian.batch.size',
  /** The deterministic conflict id (a hash of the concurrent dots). */
  conflictId: 'meridian.conflict.id',
  /** The trace ids of the concurrent writes (string array; Zipkin shows it comma-joined). */
  conflictTraceIds: 'meridian.conflict.trace_ids',
  /** The concurrent dots (string array). */
  conflictDots: 'meridian.conflict.dots',
  /** The regions whose writes were concurrent (string array). */
  conflictRegions: 'meridian.conflict.regions',
  /** What the policy did: e.g. `lww-kept`, `siblings`. */
  conflictOutcome: 'meridian.conflict.outcome',
  /** The region a repaired key's state came from. */
  repairPeer: 'meridian.repair.peer',
  /** The region whose key was repaired. */
  repairRegion: 'meridian.repair.region',
  /** The repaired key's state digest (SHA-256 hex) before the merge ('' when absent) and after. */
  repairBefore: 'meridian.repair.before',
  repairAfter: 'meridian.repair.after',
  /** Set to `true` at span start to sample a span whatever the ratio (the sampler reads it). */
  alwaysSample: 'meridian.always_sample',
} as const;
export type SpanAttribute = (typeof SpanAttribute)[keyof typeof SpanAttribute];
