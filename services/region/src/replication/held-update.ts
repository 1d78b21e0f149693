/**
 * The JSON form of an update kept outside the stream: held back behind a quarantined key (a dead
 * letter with code `HELD_CODE`, applied when the quarantine is lifted) or kept in a
 * `namespace-policy-update` conflict record. Its protobuf bytes may never have existed here as
 * such (a batch's record is decoded once), so it is re-encoded as JSON. Pure.
 */
import { formatHlc } from '@meridian/causality';
import type { UpdateRecord } from '@meridian/protocol';

/** The dead-letter code of an update held back by a quarantine. */
export const HELD_CODE = 'MERIDIAN_KEY_QUARANTINED';

export function encodeHeldUpdate(u: UpdateRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ namespace: u.namespace, key: u.key, origin: u.origin, sequence: u.originSequence.toString(), outboxId: u.outboxId.toString(), hlc: formatHlc(u.hlc), policy: u.policy, payload: Buffer.from(u.payload.kind === 'register' ? u.payload.state : u.payload.delta).toString('base64'), payloadKind: u.payload.kind, traceparent: u.traceparent }));
}

export function decodeHeldUpdate(raw: Uint8Array): UpdateRecord {
  const j = JSON.parse(new TextDecoder().decode(raw)) as { namespace: string; key: string; origin: { region: string; epoch: number }; sequence: string; outboxId: string; hlc: string; policy: UpdateRecord['policy']; payload: string; payloadKind: 'register' | 'crdt'; traceparent: string };
  const bytes = new Uint8Array(Buffer.from(j.payload, 'base64'));
  return {
    kind: 'update',
    schemaVersion: 1,
    origin: j.origin,
    originSequence: BigInt(j.sequence),
    outboxId: BigInt(j.outboxId),
    namespace: j.namespace,
    key: j.key,
    hlc: BigInt(`0x${j.hlc}`),
    policy: j.policy,
    traceparent: j.traceparent,
    payload: j.payloadKind === 'register' ? { kind: 'register', state: bytes } : { kind: 'crdt', delta: bytes },
  };
}
