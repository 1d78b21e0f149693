/**
 * The routing decision, as one pure function of (configuration, what is known of each region,
 * the request): `decideRoute`. No clock, no randomness, no I/O, no dependence on the order in
 * which regions were configured or observed — so every GSLB instance that has seen the same
 * probe outcomes gives the same answer, and a client bounced between instances is not sent
 * back and forth.
 *
 * Where the client is (first that applies):
 *   1. `near=lat,lon`; 2. `from=<region>` (that region's coordinates); 3. the CIDR table matched
 *   against the client address — the socket's peer, or with `trustedProxyHops = n` the n-th
 *   address from the right of X-Forwarded-For (the proxies we run append what they saw; what a
 *   client writes itself sits further left and is never trusted); 4. nowhere (no distances).
 *
 * Order of the answer (each key breaks the ties of the ones before it):
 *   1. routable (up, failing) before not routable (unknown, down, recovering);
 *   2. only for fresh requests (`fresh=1`, or any session token): the freshness tier —
 *        0 fresh: covers the session (or coverage unknown) and lag within the bound (or unknown),
 *        1 lagging: covers the session, but its worst peer lag exceeds the bound,
 *        2 behind the session: its applied vector is known and does not cover the token,
 *        3 both;
 *      unknown replication status never demotes (a region that does not serve /v1/replication
 *      yet is treated as fresh);
 *   3. distance in whole kilometres (sub-kilometre differences are noise, and comparing the
 *      number the answer shows keeps the order explainable); no client location: all equal; a
 *      region without a location (learned from membership, not configured) after every region
 *      with one;
 *   4. higher weight;
 *   5. region id (code-unit order), so the order is total.
 * `chosen` is the first region if it is routable; otherwise there is none.
 */
import { GslbError } from './errors.ts';
import { distanceKm, parseGeoPoint, GEO_POINT_FORMAT, type GeoPoint } from './great-circle.ts';
import { matchCidr, parseIp } from './cidr-table.ts';
import { coversSession, parseSession as parseSessionToken, type SessionVector } from '@meridian/protocol';
import { isRoutable, type HealthStatus } from './region-health.ts';
import type { GslbConfig, RegionSpec } from './config.ts';

/** What routing reads of one region; everything else the GSLB knows is for display. */
export interface RegionView {
  readonly status: HealthStatus;
  /** The region's worst peer lag; undefined when unknown. */
  readonly maxLagSeconds: number | undefined;
  /** The region's applied vector; undefined when unknown. */
  readonly applied: SessionVector | undefined;
}

/** The routing part of the configuration. */
export type RoutingConfig = Pick<GslbConfig, 'regions' | 'locations' | 'trustedProxyHops' | 'lagBoundSeconds'>;

/** The request, as raw as it arrived: parsing is part of the decision (and of its errors). */
export interface RouteQuery {
  readonly near?: string | undefined;
  readonly from?: string | undefined;
  readonly fresh?: boolean | undefined;
  /** The X-Meridian-Session header. */
  readonly session?: string | undefined;
  /** The socket's peer address. */
  readonly remoteAddress?: string | undefined;
  /** The X-Forwarded-For header (all of its values, joined by commas). */
  readonly forwardedFor?: string | undefined;
}

export const LocationSource = { near: 'near', from: 'from', cidr: 'cidr', none: 'none' } as const;
export type LocationSource = (typeof LocationSource)[keyof typeof LocationSource];

export interface ClientPosition {
  readonly source: LocationSource;
  readonly location: GeoPoint | undefined;
  /** The address the CIDR table was matched against (when it was consulted). */
  readonly address: string | undefined;
  /** The matching block, e.g. `10.1.0.0/16`. */
  readonly cidr: string | undefined;
}

export const FreshnessTier = { fresh: 0, lagging: 1, behindSession: 2, behindAndLagging: 3 } as const;
export type FreshnessTier = (typeof FreshnessTier)[keyof typeof FreshnessTier];

export interface RankedRegion {
  readonly id: string;
  readonly url: string;
  readonly status: HealthStatus;
  readonly healthy: boolean;
  /** Whole kilometres from the client; null when the client's location is unknown. */
  readonly distanceKm: number | null;
  readonly weight: number;
  readonly lagSeconds: number | null;
  /** Whether the applied vector covers the session token; null without a token or when unknown. */
  readonly coversSession: boolean | null;
  readonly lagging: boolean;
  /** The freshness tier used for ordering (always 0 when the request did not ask for fresh data). */
  readonly tier: FreshnessTier;
}

export interface RouteDecision {
  readonly client: ClientPosition;
  readonly fresh: boolean;
  readonly regions: readonly RankedRegion[];
  readonly chosen: RankedRegion | undefined;
}

/** Where the client is; throws GslbError(MERIDIAN_GSLB_INVALID_HINT) for a bad explicit hint. */
export function locateClient(config: RoutingConfig, query: RouteQuery): ClientPosition {
  const { near, from } = query;
  if (near !== undefined && from !== undefined) throw new GslbError('MERIDIAN_GSLB_INVALID_HINT', 'expected one of near and from (got both)');
  if (near !== undefined) {
    const location = parseGeoPoint(near);
    if (!location) throw new GslbError('MERIDIAN_GSLB_INVALID_HINT', `expected near=${GEO_POINT_FORMAT} (got ${JSON.stringify(near)})`);
    return { source: LocationSource.near, location, address: undefined, cidr: undefined };
  }
  if (from !== undefined) {
    const region = config.regions.find((r) => r.id === from);
    if (!region) throw new GslbError('MERIDIAN_GSLB_INVALID_HINT', `expected from=<region> among ${config.regions.map((r) => r.id).join(', ')} (got ${JSON.stringify(from)})`);
    return { source: LocationSource.from, location: region.location, address: undefined, cidr: undefined };
  }
  const address = clientAddress(config.trustedProxyHops, query.remoteAddress, query.forwardedFor);
  const ip = address === undefined ? undefined : parseIp(address);
  const block = ip === undefined ? undefined : matchCidr(config.locations, ip);
  if (!block) return { source: LocationSource.none, location: undefined, address, cidr: undefined };
  return { source: LocationSource.cidr, location: block.value.point, address, cidr: block.cidr };
}

/**
 * The client's address: the chain is the socket peer, then X-Forwarded-For from right to left;
 * with n trusted hops the client is the chain's n-th element (or its last, if shorter).
 */
export function clientAddress(trustedProxyHops: number, remoteAddress: string | undefined, forwardedFor: string | undefined): string | undefined {
  if (trustedProxyHops === 0 || forwardedFor === undefined) return remoteAddress;
  const forwarded = forwardedFor.split(',').map((a) => a.trim()).filter(Boolean).reverse();
  const chain = [remoteAddress ?? '', ...forwarded];
  return chain[Math.min(trustedProxyHops, chain.length - 1)];
}

function parseSession(session: string | undefined): SessionVector | undefined {
  if (session === undefined || session.trim() === '') return undefined;
  try {
    return parseSessionToken(session);
  } catch (error) {
    throw new GslbError('MERIDIAN_GSLB_INVALID_SESSION', `X-Meridian-Session: ${(error as Error).message}`);
  }
}

const UNKNOWN_VIEW: RegionView = { status: 'unknown', maxLagSeconds: undefined, applied: undefined };

function rank(region: RegionSpec, view: RegionView, location: GeoPoint | undefined, session: SessionVector | undefined, fresh: boolean, lagBoundSeconds: number): RankedRegion {
  const covers = session === undefined || view.applied === undefined ? null : coversSession(view.applied, session);
  const lagging = view.maxLagSeconds !== undefined && view.maxLagSeconds > lagBoundSeconds;
  const tier = (fresh ? (covers === false ? 2 : 0) + (lagging ? 1 : 0) : 0) as FreshnessTier;
  return {
    id: region.id,
    url: region.url,
    status: view.status,
    healthy: isRoutable(view.status),
    distanceKm: location === undefined || region.location === undefined ? null : Math.round(distanceKm(location, region.location)),
    weight: region.weight,
    lagSeconds: view.maxLagSeconds ?? null,
    coversSession: covers,
    lagging,
    tier,
  };
}

/** The total order of the answer (see the module header). */
export function compareRanked(a: RankedRegion, b: RankedRegion): number {
  return (
    Number(b.healthy) - Number(a.healthy) ||
    a.tier - b.tier ||
    // Unknown distances sort last; two unknown give NaN, which falls through like a tie.
    (a.distanceKm ?? Infinity) - (b.distanceKm ?? Infinity) ||
    b.weight - a.weight ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * The answer to a routing request: a pure function of its three inputs. A region absent from
 * `views` is treated as unknown (never probed). Throws GslbError for a bad hint or token.
 */
export function decideRoute(config: RoutingConfig, views: ReadonlyMap<string, RegionView>, query: RouteQuery): RouteDecision {
  const client = locateClient(config, query);
  const session = parseSession(query.session);
  const fresh = query.fresh === true || session !== undefined;
  const regions = config.regions
    .map((region) => rank(region, views.get(region.id) ?? UNKNOWN_VIEW, client.location, session, fresh, config.lagBoundSeconds))
    .sort(compareRanked);
  const first = regions[0];
  return { client, fresh, regions, chosen: first?.healthy ? first : undefined };
}
