/**
 * What the CLI asks of a running cluster, over HTTP with short deadlines: a region's readiness,
 * its replication status (`GET /v1/replication`), its conflict records (`GET /v1/conflicts`),
 * and the GSLB's readiness. Every answer is classified here, once — reachable or not, the
 * status, the body checked for the fields the CLI reads — so that formatting never meets a
 * thrown fetch error or an unexpected shape. Calls other than /health carry the cluster's
 * reader token (cluster.json `auth.reader`) when it has one.
 */

export type HttpAnswer = { readonly kind: 'answer'; readonly status: number; readonly body: unknown } | { readonly kind: 'unreachable'; readonly reason: string };

export async function getJson(url: string, timeoutMs = 2000, token?: string  ): Promise<HttpAnswer> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) } });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the message
    }
    return { kind: 'answer', status: response.status, body };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    return { kind: 'unreachable', reason };
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numberOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export interface PeerLag {
  readonly state: string | null;
  readonly lagSeconds: number | null;
  /** Updates of the peer not applied here yet. */
  readonly lagSequence: number | null;
  readonly reason: string | null;
}

export interface ReplicationReport {
  /** Per origin region: the highest sequence applied here with nothing missing below it. */
  readonly applied: Readonly<Record<string, number>>;
  readonly peers: Readonly<Record<string, PeerLag>>;
}

export type ReplicationView =
  | { readonly kind: 'report'; readonly report: ReplicationReport }
  /** The region replicates nothing (no Kafka configured) or predates /v1/replication. */
  | { readonly kind: 'off'; readonly reason: string }
  | { readonly kind: 'error'; readonly reason: string };

/** Reads `GET /v1/replication`'s body: `{"applied": {region: seq}, "peers": {region: {state, lagSeconds, lagSequence}}}`. */
export function replicationView(answer: HttpAnswer): ReplicationView {
  if (answer.kind === 'unreachable') return { kind: 'error', reason: answer.reason };
  if (answer.status === 404) return { kind: 'off', reason: 'no /v1/replication on this region' };
  if (answer.status !== 200 || !isRecord(answer.body)) return { kind: 'error', reason: `HTTP ${answer.status}` };
  const body = answer.body;
  if (body['replication'] === 'off') return { kind: 'off', reason: 'replication is off in this region' };
  const applied: Record<string, number> = {};
  if (isRecord(body['applied'])) for (const [region, seq] of Object.entries(body['applied'])) if (typeof seq === 'number') applied[region] = seq;
  const peers: Record<string, PeerLag> = {};
  if (isRecord(body['peers'])) {
    for (const [peer, raw] of Object.entries(body['peers'])) {
      if (!isRecord(raw)) continue;
      peers[peer] = {
        state: typeof raw['state'] === 'string' ? raw['state'] : null,
        lagSeconds: numberOrNull(raw['lagSeconds']),
        lagSequence: numberOrNull(raw['lagSequence']),
        reason: typeof raw['reason'] === 'string' ? raw['reason'] : null,
      };
    }
  }
  return { kind: 'report', report: { applied, peers } };
}

export type Health =
  | { readonly kind: 'ready' }
  /** Answers, but not ready: the failing checks and their reasons. */
  | { readonly kind: 'unready'; readonly reason: string }
  | { readonly kind: 'down'; readonly reason: string };

/** Reads `GET /health/ready`: 200 ready; another status lists the failing checks. */
export function healthView(answer: HttpAnswer): Health {
  if (answer.kind === 'unreachable') return { kind: 'down', reason: answer.reason };
  if (answer.status === 200) return { kind: 'ready' };
  const checks = isRecord(answer.body) && isRecord(answer.body['checks']) ? answer.body['checks'] : {};
  const failing = Object.entries(checks).flatMap(([name, c]) => (isRecord(c) && c['ok'] === false ? [`${name}: ${typeof c['reason'] === 'string' ? c['reason'] : 'failing'}`] : []));
  return { kind: 'unready', reason: failing.length > 0 ? failing.join('; ') : `HTTP ${answer.status}` };
}

export interface RegionReport {
  readonly id: string;
  readonly url: string;
  readonly health: Health;
  readonly replication: ReplicationView;
}

export async function probeRegion(region: { readonly id: string; readonly url: string }, token?: string  ): Promise<RegionReport> {
  const [ready, replication] = await Promise.all([getJson(`${region.url}/health/ready`), getJson(`${region.url}/v1/replication`, 2000, token)]);
  return { id: region.id, url: region.url, health: healthView(ready), replication: replicationView(replication) };
}

export async function probeHealth(url: string): Promise<Health> {
  return healthView(await getJson(`${url}/health/ready`));
}

export interface ConflictPage {
  /** Newest first, as the region returns them. */
  readonly conflicts: readonly Record<string, unknown>[];
  readonly next: string | null;
}

/** One page of `GET /v1/conflicts`; throws with the region's own error message. */
export async function fetchConflicts(url: string, query: { readonly ns?: string | undefined; readonly key?: string | undefined; readonly limit: number; readonly after?: string | undefined }, token?: string  ): Promise<ConflictPage> {
  const params = new URLSearchParams({ limit: String(query.limit) });
  if (query.ns !== undefined) params.set('ns', query.ns);
  if (query.key !== undefined) params.set('key', query.key);
  if (query.after !== undefined) params.set('after', query.after);
  const answer = await getJson(`${url}/v1/conflicts?${params.toString()}`, 5000, token);
  if (answer.kind === 'unreachable') throw new Error(`${url} does not answer (${answer.reason})`);
  if (answer.status === 404 && !(isRecord(answer.body) && isRecord(answer.body['error']) && answer.body['error']['code'] !== 'MERIDIAN_NOT_FOUND')) {
    throw new Error(`${url} has no /v1/conflicts (a region without replication keeps no conflict records)`);
  }
  if (answer.status !== 200 || !isRecord(answer.body) || !Array.isArray(answer.body['conflicts'])) {
    const message = isRecord(answer.body) && isRecord(answer.body['error']) ? String(answer.body['error']['message']) : `HTTP ${answer.status}`;
    throw new Error(`GET /v1/conflicts on ${url} failed: ${message}`);
  }
  return {
    conflicts: answer.body['conflicts'].filter(isRecord),
    next: typeof answer.body['next'] === 'string' ? answer.body['next'] : null,
  };
}
