/**
 * Regions the GSLB learns from the regions' own membership (docs/decisions/0014): each
 * configured region's `GET /v1/members` (read scope, the token the prober already sends) lists
 * the peers it replicates with. A region that is a member of some configured region, is removed
 * from none, and has a public URL is routable here without a GSLB restart — so `meridian join`
 * (or an operator's `PUT /v1/members/{region}`, admin scope on the regions) is all it takes, and
 * the GSLB itself keeps no state-changing endpoint: its routing endpoints stay public and read-only.
 *
 * A region learned this way has no location until it is added to MERIDIAN_GSLB_REGIONS: for a
 * located client it ranks after every region with one (route-decision.ts), so it serves as a
 * failover target, and nearest for no one. Pure: the prober feeds it the decoded answers.
 */
import { REGION_ID, type RegionSpec } from './config.ts';

export interface MemberEntry {
  readonly region: string;
  readonly url: string | undefined;
  readonly state: 'member' | 'removed';
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes a `GET /v1/members` body; entries that are not well formed are left out (a bad entry never routes). */
export function decodeMembers(body: unknown): MemberEntry[] {
  if (!isRecord(body) || !Array.isArray(body['members'])) throw new Error('expected {"members": [...]}');
  const out: MemberEntry[] = [];
  for (const m of body['members'] as unknown[]) {
    if (!isRecord(m) || typeof m['region'] !== 'string' || !REGION_ID.test(m['region'])) continue;
    const state = m['state'];
    if (state !== 'member' && state !== 'removed') continue;
    const url = typeof m['url'] === 'string' && /^https?:\/\/[^?#]+$/.test(m['url']) ? m['url'].replace(/\/+$/, '') : undefined;
    out.push({ region: m['region'], url, state });
  }
  return out;
}

/**
 * The regions to route to beyond the configured ones, by id: a member of at least one configured
 * region's answer, removed in none, with a URL (the first answer's by configured region id, so
 * every GSLB instance that read the same answers agrees). A configured region's own entry never
 * changes its configuration.
 */
export function discoveredRegions(configured: readonly RegionSpec[], answers: ReadonlyMap<string, readonly MemberEntry[]>): RegionSpec[] {
  const known = new Set(configured.map((r) => r.id));
  const removed = new Set<string>();
  const urls = new Map<string, string>();
  for (const source of [...answers.keys()].sort()) {
    for (const m of answers.get(source) ?? []) {
      if (known.has(m.region)) continue;
      if (m.state === 'removed') removed.add(m.region);
      else if (m.url !== undefined && !urls.has(m.region)) urls.set(m.region, m.url);
    }
  }
  return [...urls]
    .filter(([id]) => !removed.has(id))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, url]) => Object.freeze({ id, url, location: undefined, weight: 1 }));
}
