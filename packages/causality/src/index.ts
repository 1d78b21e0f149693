/**
 * @meridian/causality: what decides whether two writes are concurrent. Actors (regions with an
 * incarnation epoch) and dots, version vectors, exact causal contexts (vector + dot cloud),
 * dotted version vector sets per key, and the hybrid logical clock that orders concurrent
 * versions under last-writer-wins (it never decides concurrency). Pure: no I/O, time injected.
 */
export { type ActorId, type Dot, actorId, parseActor, isActorId, compareDots, dotKey } from './actor.ts';
export { CausalityError, CausalityErrorCode, describeValue } from './causality-error.ts';
export { ByteReader, ByteWriter, FORMAT_VERSION as CODEC_FORMAT_VERSION, type ByteFormat } from './byte-codec.ts';
export { VersionVector, type Ordering } from './version-vector.ts';
export { CausalContext } from './causal-context.ts';
export { DvvSet, type Version } from './dvv-set.ts';
export {
  type Hlc,
  type ReceiveResult,
  type HybridLogicalClockOptions,
  HLC_MAX_PHYSICAL_MS,
  HLC_MAX_LOGICAL,
  hlc,
  hlcPhysical,
  hlcLogical,
  hlcAfter,
  formatHlc,
  parseHlc,
  encodeHlc,
  decodeHlc,
  HybridLogicalClock,
} from './hybrid-logical-clock.ts';
export { compareStamped } from './lww-order.ts';
