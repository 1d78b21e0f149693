/**
 * @meridian/replication-link: the pure logic of one replication link (this region consuming a
 * peer's stream) — its state machine, its lag, the applied vector of each origin it carries,
 * and the key fold of a batch (duplicates dropped, each key's updates merged in memory).
 * The region service's replicator and lag monitor drive them with Kafka, PostgreSQL and the clock.
 */
export { LINK_TRANSITIONS, LinkEvents, LinkStates, nextLinkState, type LinkEvent, type LinkState } from './link-state.ts';
export { HEARTBEAT_GRACE_SECONDS, MAX_LAG_SAMPLES, addLagSample, linkLag, skewEstimateMs, type LagSample, type LinkHeartbeat, type LinkLag } from './link-lag.ts';
export { AppliedVector, type AppliedRow } from './applied-vector.ts';
export { PAYLOAD_INVALID_CODE, foldKey, groupByKey, keyId, originOf, planUpdates, touchesRow, type FoldConflict, type KeyFold, type KeyUpdates, type StoredKey } from './key-fold.ts';
