/**
 * Who is on the other end of an anti-entropy channel, from its TLS certificate, and what it may
 * do. Every certificate of a deployment is signed by the deployment's own CA and names one
 * identity as a URI in its subjectAltName: `meridian:region:<id>` for a region, `meridian:operator`
 * for the operator's CLI (`meridian verify` / `meridian repair`). The host names and addresses in
 * a certificate are not its identity: a region is who its certificate says, wherever it runs.
 *
 * The rule that matters: a region may merge states into a peer only as itself
 * (`mergeStates.fromRegion` = its certificate's region), so a certificate of region X can never
 * repair as region Y; the operator coordinates repairs between regions and may name either side.
 * Reading a tree (summary, branches, segments, key hashes, states) needs any identity of the
 * deployment: every region replicates every namespace, so reading reveals nothing a peer's
 * Kafka would not. A client checks the server's identity too (`expectServer`): a region that
 * dials peer Y talks only to a certificate of Y, so X cannot answer (be read) as Y.
 *
 * Pure: no I/O; the server and the channel credentials apply it.
 */
import type { AntiEntropyMethod } from '@meridian/protocol';

export type PeerIdentity = { readonly kind: 'region'; readonly region: string } | { readonly kind: 'operator' };

const REGION_PREFIX = 'meridian:region:';
const OPERATOR = 'meridian:operator';

/** The subjectAltName URI that names `identity` in its certificate. */
export function identityUri(identity: PeerIdentity): string {
  return identity.kind === 'operator' ? OPERATOR : `${REGION_PREFIX}${identity.region}`;
}

export function describeIdentity(identity: PeerIdentity | undefined): string {
  if (identity === undefined) return 'a certificate without a Meridian identity';
  return identity.kind === 'operator' ? 'the operator\'s certificate' : `a certificate of region ${identity.region}`;
}

/**
 * The identity in a certificate's subjectAltName as Node renders it
 * (`URI:meridian:region:eu, DNS:localhost, IP Address:127.0.0.1`); undefined when it names none,
 * or more than one (an ambiguous certificate is no identity).
 */
export function identityFromAltNames(subjectAltName: string | undefined): PeerIdentity | undefined {
  if (subjectAltName === undefined) return undefined;
  const uris = subjectAltName
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice('URI:'.length))
    .filter((uri) => uri === OPERATOR || uri.startsWith(REGION_PREFIX));
  if (uris.length !== 1) return undefined;
  const uri = uris[0]!;
  if (uri === OPERATOR) return { kind: 'operator' };
  const region = uri.slice(REGION_PREFIX.length);
  return /^[a-z][a-z0-9-]{0,31}$/.test(region) ? { kind: 'region', region } : undefined;
}

export type CallDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** May `caller` make this call? `fromRegion` is what a mergeStates request claims to come from. */
export function authorizeCall(caller: PeerIdentity | undefined, method: AntiEntropyMethod, fromRegion?: string): CallDecision {
  if (caller === undefined) return { allowed: false, reason: `${describeIdentity(caller)} may not call ${method}` };
  if (method !== 'mergeStates' || caller.kind === 'operator') return { allowed: true };
  if (fromRegion === caller.region) return { allowed: true };
  return { allowed: false, reason: `${describeIdentity(caller)} cannot merge states as region ${fromRegion ?? '(none)'}` };
}

/** Does the server's certificate name the identity the client meant to reach? An Error when not (TLS's own convention). */
export function expectServer(expected: PeerIdentity, subjectAltName: string | undefined): Error | undefined {
  const found = identityFromAltNames(subjectAltName);
  if (found !== undefined && identityUri(found) === identityUri(expected)) return undefined;
  return new Error(`expected the anti-entropy server of ${describeIdentity(expected).replace(/^a certificate of /, '')}, found ${describeIdentity(found)}`);
}
