/**
 * @meridian/retention: what Meridian may forget, and when. The tombstone GC's decision (the
 * frontier of every region's applied vector, the stable samples of every region's stream, the
 * purge cutoff, who holds GC back), the first dot of a key without a row, and the durations
 * operators configure. Pure, time injected: the region service reads and purges.
 */
export { parseDuration, formatDuration } from './duration.ts';
export {
  decideGc,
  gcFrontier,
  mayPurge,
  freshDotBase,
  peerSample,
  regionOfActor,
  withSample,
  MAX_SAMPLES,
  type GcInput,
  type GcPlan,
  type PurgeCandidate,
  type RegionView,
  type StreamSample,
} from './gc-frontier.ts';
