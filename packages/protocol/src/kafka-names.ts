/**
 * Kafka names of the replication stream: each region publishes its own writes to its own topic
 * `meridian.<region>.updates`, keyed by `namespace/key` so that one key's records stay in one
 * partition (apply never depends on that order, but it keeps a key's records together).
 *
 * The message key is unambiguous because a namespace never contains '/' (the record validation
 * refuses one, on encode and on decode), so the first '/' always ends the namespace; a key may
 * contain '/' freely.
 */
import { describeValue } from '@meridian/causality';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.ts';
import { checkNamespace, checkKey, checkRegion } from './record-rules.ts';

/** The Kafka message key of one key's records: `${namespace}/${key}`. */
export function kafkaMessageKey(namespace: string, key: string): string {
  return `${checked(checkNamespace, namespace)}/${checked(checkKey, key)}`;
}

/** The inverse of `kafkaMessageKey`: splits at the first '/', which always ends the namespace. */
export function parseKafkaMessageKey(messageKey: string): { namespace: string; key: string } {
  const slash = typeof messageKey === 'string' ? messageKey.indexOf('/') : -1;
  if (slash < 0) {
    throw new ProtocolError(
      ProtocolErrorCode.EnvelopeInvalid,
      `invalid Kafka message key: expected "<namespace>/<key>" (got ${describeValue(messageKey)})`,
    );
  }
  return { namespace: checked(checkNamespace, messageKey.slice(0, slash)), key: checked(checkKey, messageKey.slice(slash + 1)) };
}

/** The topic a region publishes its own records to: `meridian.${region}.updates`. */
export function updatesTopic(region: string): string {
  return `meridian.${checked(checkRegion, region)}.updates`;
}

/**
 * The prefix of every consumer group region `region` uses on any Kafka (its links'
 * `<prefix>from.<peer>`, its start-up tail reads' `<prefix>tail.<uuid>`): one prefix, so one
 * prefixed ACL lets the region's principal use its own groups and no other region's.
 */
export function consumerGroupPrefix(region: string): string {
  return `meridian.${checked(checkRegion, region)}.`;
}

function checked<T>(check: (value: T) => string | undefined, value: T): T {
  const problem = check(value);
  if (problem !== undefined) throw new ProtocolError(ProtocolErrorCode.EnvelopeInvalid, problem);
  return value;
}
