/**
 * @meridian/protocol: the replication wire format, the session token both services read and
 * write (session-token.ts), and the session rule a region answers by: the wait / redirect / stale
 * decision (session-consistency.ts; pure, time given). One protobuf `Record` (an update, a
 * namespace declaration or a heartbeat) per message on each region's topic `meridian.<region>.updates`,
 * converted to and from plain domain records by explicit functions; the generated protobuf code
 * stays inside this package. The schema is proto/meridian/replication/v1/replication.proto.
 */
export {
  SCHEMA_VERSION,
  POLICIES,
  type Policy,
  isPolicy,
  type PayloadKind,
  payloadKindOf,
  type Origin,
  type UpdatePayload,
  type SequencedRecordFields,
  type UpdateRecord,
  type IdempotentAnswer,
  type NamespaceRecord,
  type HeartbeatRecord,
  type ReplicationRecord,
  type SequencedRecord,
  type ReplicationRecordKind,
} from './replication-record.ts';
export { encodeRecord, decodeRecord, withSequence, type DecodeOptions } from './record-codec.ts';
export { ProtocolError, ProtocolErrorCode, type ProtocolErrorOptions } from './protocol-error.ts';
export { consumerGroupPrefix, kafkaMessageKey, parseKafkaMessageKey, updatesTopic } from './kafka-names.ts';
export { MAX_SESSION_TOKEN_LENGTH, SESSION_FORMAT, SessionTokenError, coversSession, formatSession, mergeSessions, parseSession, type SessionVector } from './session-token.ts';
export {
  DEFAULT_WAIT_MS,
  FALLBACK_WAIT_MS,
  MAX_WAIT_MS,
  POLL_MS,
  claimableApplied,
  decideConsistency,
  regionOfActor,
  uncoveredSession,
  waitBound,
  type ConsistencyDecision,
  type ConsistencyInput,
  type ConsistencyMode,
  type HeldBack,
  type OwnActors,
} from './session-consistency.ts';
export {
  ANTI_ENTROPY_SERVICE,
  type AntiEntropyServiceDefinition,
  type AntiEntropyMessages,
  type AntiEntropyMethod,
  type RpcMethodDefinition,
  type SummaryMessage,
  type TreeNodeMessage,
  type KeyStateMessage,
  type KeyRepairMessage,
} from './anti-entropy-rpc.ts';
