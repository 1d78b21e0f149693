/**
 * The conflict record (docs/design.md §5): what an apply observed as a conflict, built into the
 * row `GET /v1/conflicts` serves and the attributes of its `meridian.conflict` span. Pure.
 *
 * - A register conflict: two or more concurrent versions of an `lww` or `mv` key; its id is
 *   `register-merge.ts`'s `conflictId` (a hash of the key and the sorted dots), the same in every
 *   region that observes it, so each records it once.
 * - A namespace-policy update: an update written under a policy that lost (or has not yet met)
 *   its namespace's winning declaration; kept in the record, not applied.
 */
import { dotKey, formatHlc, hlcPhysical } from '@meridian/causality';
import type { UpdateRecord } from '@meridian/protocol';
import type { ConflictRow, NamespacePolicy } from '@meridian/store';
import { SpanAttribute, linksFromTraceparents } from '@meridian/telemetry';
import { encodeHeldUpdate } from './held-update.ts';
import { withinSkew, type RegisterConflict, type RegisterPolicy } from '@meridian/crdt';

/** A conflict observed while applying: recorded once per id, traced when this apply recorded it. */
export type ConflictObservation =
  | { readonly kind: 'register'; readonly namespace: string; readonly policy: string; readonly record: ConflictRow; readonly register: RegisterConflict; readonly traceparents: readonly (string | undefined)[] }
  | { readonly kind: 'namespace'; readonly namespace: string; readonly policy: string; readonly record: ConflictRow };

/** A register conflict's record; `skewFlagged` when an lww decision fell within the clock skew. */
export function registerConflict(namespace: string, key: string, policy: RegisterPolicy, c: RegisterConflict, skewMs: number): ConflictObservation {
  const regions = [...new Set(c.versions.map((v) => v.dot.actor.split('.')[0]!))].sort();
  const traceparents = c.versions.map((v) => v.value.traceparent);
  const { traceIds } = linksFromTraceparents(traceparents);
  const record: ConflictRow = {
    id: c.id,
    namespace,
    key,
    policy,
    kind: 'register',
    versions: c.versions.map((v) => ({ dot: dotKey(v.dot), value: v.value.value ?? null, deleted: v.value.value === undefined, hlc: formatHlc(v.value.hlc), physicalMs: hlcPhysical(v.value.hlc), traceparent: v.value.traceparent ?? null })),
    outcome: c.outcome,
    regions,
    traceIds,
    skewFlagged: policy === 'lww' && withinSkew(c.versions, skewMs),
  };
  return { kind: 'register', namespace, policy, record, register: c, traceparents };
}

export /** An update written under a policy that lost (or has not yet met) its namespace's winner: kept in a record, not applied. */
function policyConflict(u: UpdateRecord, nsPolicy: NamespacePolicy): ConflictObservation {
  const origin = `${u.origin.region}.${u.origin.epoch}`;
  const record: ConflictRow = {
    id: `nsu-${origin}-${u.originSequence}`,
    namespace: u.namespace,
    key: u.key,
    policy: nsPolicy,
    kind: 'namespace-policy-update',
    versions: [{ policy: u.policy, origin, hlc: formatHlc(u.hlc), envelope: Buffer.from(encodeHeldUpdate(u)).toString('base64') }],
    outcome: { kept: nsPolicy, dropped: u.policy },
    regions: [u.origin.region],
    traceIds: [],
    skewFlagged: false,
  };
  return { kind: 'namespace', namespace: u.namespace, policy: nsPolicy, record };
}

/** The attributes of a conflict's `meridian.conflict` span: the record, searchable by tag (Zipkin shows no links). */
export function conflictSpanAttributes(c: ConflictObservation): Record<string, string | boolean> {
  const record = c.record;
  return {
    [SpanAttribute.alwaysSample]: true,
    [SpanAttribute.conflictId]: record.id,
    [SpanAttribute.namespace]: record.namespace,
    [SpanAttribute.key]: record.key,
    [SpanAttribute.policy]: record.policy,
    [SpanAttribute.conflictTraceIds]: record.traceIds.join(','),
    [SpanAttribute.conflictRegions]: record.regions.join(','),
    [SpanAttribute.conflictOutcome]: JSON.stringify(record.outcome),
    [SpanAttribute.conflictDots]: c.kind === 'register' ? c.register.versions.map((v) => dotKey(v.dot)).join(',') : '',
    'meridian.conflict.kind': record.kind,
    'meridian.conflict.skew_flagged': record.skewFlagged,
  };
}
