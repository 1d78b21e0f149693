/**
 * The GSLB's HTTP API (fastify): routing answers (`/v1/route`), redirects (`/v1/redirect/…`),
 * what it knows of each region (`/v1/regions`), its own health, Prometheus metrics, and OpenAPI
 * at /docs. Route handlers are thin: they turn a request into a `RouteQuery`, take the board's
 * current views and call the pure `decideRoute` — the handler adds no input of its own (no
 * clock, no per-instance state), which is what makes every instance answer alike.
 *
 * Every failure answers `{"error": {"code": "MERIDIAN_GSLB_…", "message": "…"}}` with the
 * registry's status. Routing answers carry `Cache-Control: no-store`: they change with health.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { GslbError, errorBody, type GslbErrorCode } from './errors.ts';
import { decideRoute, type RankedRegion, type RouteDecision, type RouteQuery } from './route-decision.ts';
import { isRoutable, HealthStatus } from './region-health.ts';
import type { HealthBoard, ProbeResult, RegionObservation } from './health-board.ts';
import type { GslbMetrics } from './gslb-metrics.ts';
import type { GslbConfig } from './config.ts';

export interface AppDeps {
  readonly config: GslbConfig;
  readonly board: HealthBoard;
  readonly metrics: GslbMetrics;
  readonly logger?: FastifyServerOptions['logger'];
}

/** Where redirect mode lives: `/v1/redirect/<path>?<query>` → `<region url>/<path>?<query>`. */
export const REDIRECT_PREFIX = '/v1/redirect';

const ErrorSchema = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) }, { additionalProperties: true });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const State = Type.Union([
  Type.Literal(HealthStatus.unknown),
  Type.Literal(HealthStatus.up),
  Type.Literal(HealthStatus.failing),
  Type.Literal(HealthStatus.down),
  Type.Literal(HealthStatus.recovering),
]);
const RankedJson = Type.Object({
  id: Type.String(),
  url: Type.String(),
  healthy: Type.Boolean({ description: 'routable: up, or failing fewer than F probes in a row' }),
  state: State,
  distanceKm: Nullable(Type.Number({ description: 'great-circle distance from the client, whole km; null when the client\'s location is unknown' })),
  weight: Type.Number(),
  lagSeconds: Nullable(Type.Number({ description: 'the region\'s worst replication lag; null when unknown' })),
  coversSession: Nullable(Type.Boolean({ description: 'whether the region has applied everything the session token names; null without a token or when unknown' })),
  lagging: Type.Boolean({ description: 'lag above the configured bound' }),
  demoted: Type.Boolean({ description: 'sorted after fresher regions (only for fresh requests)' }),
});
const RouteJson = Type.Object({
  chosen: Type.Optional(RankedJson),
  regions: Type.Array(RankedJson),
  fresh: Type.Boolean(),
  client: Type.Object({
    source: Type.Union([Type.Literal('near'), Type.Literal('from'), Type.Literal('cidr'), Type.Literal('none')]),
    location: Nullable(Type.Object({ lat: Type.Number(), lon: Type.Number() })),
    address: Nullable(Type.String()),
    cidr: Nullable(Type.String()),
  }),
});
const Fresh = Type.Union([Type.Literal('1'), Type.Literal('0'), Type.Literal('true'), Type.Literal('false')], { description: 'prefer regions fresh enough for reads: 1 or true' });
const RouteQueryString = Type.Object(
  {
    near: Type.Optional(Type.String({ description: 'the client\'s location, lat,lon in decimal degrees' })),
    from: Type.Optional(Type.String({ description: 'the client is near this region' })),
    fresh: Type.Optional(Fresh),
  },
  { additionalProperties: false },
);
const SessionHeader = Type.Object({ 'x-meridian-session': Type.Optional(Type.String({ description: 'session token, e.g. eu.1:120;us.1:87; implies fresh' })) });

function rankedJson(r: RankedRegion): Static<typeof RankedJson> {
  return { id: r.id, url: r.url, healthy: r.healthy, state: r.status, distanceKm: r.distanceKm, weight: r.weight, lagSeconds: r.lagSeconds, coversSession: r.coversSession, lagging: r.lagging, demoted: r.tier > 0 };
}

/** The routing answer's JSON; `chosen` is absent only in the 503 (no region is healthy). */
export function decisionJson(decision: RouteDecision): Static<typeof RouteJson> {
  const { client } = decision;
  return {
    ...(decision.chosen ? { chosen: rankedJson(decision.chosen) } : {}),
    regions: decision.regions.map(rankedJson),
    fresh: decision.fresh,
    client: { source: client.source, location: client.location ?? null, address: client.address ?? null, cidr: client.cidr ?? null },
  };
}

const firstValue = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);
const header = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/** The request as routing sees it: hints from the query, the token, the addresses. */
function routeQuery(request: FastifyRequest): RouteQuery {
  const q = (request.query ?? {}) as Record<string, unknown>;
  const fresh = firstValue(q['fresh']);
  return {
    near: firstValue(q['near']),
    from: firstValue(q['from']),
    fresh: fresh === '1' || fresh === 'true',
    session: header(request.headers['x-meridian-session']),
    remoteAddress: request.socket.remoteAddress,
    forwardedFor: header(request.headers['x-forwarded-for']),
  };
}

function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function probeJson(p: ProbeResult): Record<string, unknown> {
  return { at: new Date(p.at).toISOString(), ok: p.ok, httpStatus: p.httpStatus ?? null, latencyMs: p.latencyMs, reason: p.reason ?? null };
}

/** A sequence as JSON: a number while exact, a string beyond 2^53. */
const sequenceJson = (s: bigint): number | string => (s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s.toString());

function observationJson(o: RegionObservation): Record<string, unknown> {
  const rep = o.replication;
  return {
    id: o.region.id,
    url: o.region.url,
    location: o.region.location ?? null,
    weight: o.region.weight,
    state: o.health.status,
    healthy: isRoutable(o.health.status),
    since: isoOrNull(o.health.since),
    okStreak: o.health.okStreak,
    failStreak: o.health.failStreak,
    probes: o.probeCounts,
    lastProbe: o.probes.length > 0 ? probeJson(o.probes[o.probes.length - 1] as ProbeResult) : null,
    recentProbes: o.probes.map(probeJson),
    lagSeconds: rep?.status?.maxLagSeconds ?? null,
    replication: rep
      ? {
          at: new Date(rep.at).toISOString(),
          reason: rep.reason ?? null,
          applied: rep.status ? Object.fromEntries([...rep.status.applied].map(([actor, s]) => [actor, sequenceJson(s)])) : null,
          peers: rep.status ? Object.fromEntries([...rep.status.peers].map(([peer, lag]) => [peer, { state: lag.state ?? null, lagSeconds: lag.lagSeconds ?? null, lagSequence: lag.lagSequence ?? null }])) : null,
        }
      : null,
  };
}

/** Maps any error to the registry: [status, body]. */
export function toErrorAnswer(error: unknown): { status: number; body: Record<string, unknown>; code: GslbErrorCode } {
  if (error instanceof GslbError) return { status: error.status, body: errorBody(error.code, error.message, error.details), code: error.code };
  const fe = error as FastifyError & { validation?: unknown };
  if (fe.validation) return { status: 400, body: errorBody('MERIDIAN_GSLB_VALIDATION', fe.message), code: 'MERIDIAN_GSLB_VALIDATION' };
  return { status: 500, body: errorBody('MERIDIAN_GSLB_INTERNAL', 'internal error'), code: 'MERIDIAN_GSLB_INTERNAL' };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, board, metrics } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      info: { title: 'Meridian GSLB', version: '0.1.0', description: 'Sends each client to the nearest healthy (and, when asked, fresh enough) region.' },
      tags: [{ name: 'routing' }, { name: 'regions' }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error);
    if (answer.status >= 500 && answer.code !== 'MERIDIAN_GSLB_NO_HEALTHY_REGION') request.log.error({ err: error }, 'request failed');
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody('MERIDIAN_GSLB_NOT_FOUND', `no route ${request.method} ${request.url}`)));

  /** Decides, counts, and refuses with 503 (listing every region) when none is healthy. */
  const decide = (request: FastifyRequest): RouteDecision & { chosen: RankedRegion } => {
    const decision = decideRoute({ ...config, regions: board.regions() }, board.views(), routeQuery(request));
    metrics.route(decision.chosen?.id);
    if (!decision.chosen) throw new GslbError('MERIDIAN_GSLB_NO_HEALTHY_REGION', 'no region is healthy', decisionJson(decision));
    return decision as RouteDecision & { chosen: RankedRegion };
  };

  app.get(
    '/v1/route',
    {
      schema: {
        tags: ['routing'],
        summary: 'The regions for this client, best first: healthy, then (for fresh requests) fresh enough, then nearest, heaviest, by id',
        querystring: RouteQueryString,
        headers: SessionHeader,
        response: { 200: RouteJson, 400: ErrorSchema, 503: ErrorSchema },
      },
    },
    (request, reply) => {
      const decision = decide(request);
      void reply.header('cache-control', 'no-store');
      return Promise.resolve(decisionJson(decision));
    },
  );

  // Redirect mode, in its own scope: any method (307 keeps method and body), and any body is
  // left unread — the client sends it again to the region.
  await app.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, parsed) => {
      payload.resume();
      payload.on('end', () => parsed(null, undefined));
      payload.on('error', (error) => parsed(error, undefined));
    });
    const redirect = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
      const decision = decide(request);
      const raw = request.raw.url ?? request.url;
      const rest = raw.slice(REDIRECT_PREFIX.length);
      const target = `${decision.chosen.url}${rest.startsWith('/') ? rest : `/${rest}`}`;
      void reply.header('cache-control', 'no-store').header('x-meridian-region', decision.chosen.id);
      return reply.redirect(target, 307);
    };
    const schema = {
      tags: ['routing'],
      summary: `307 to the chosen region: ${REDIRECT_PREFIX}/<path>?<query> → <region url>/<path>?<query> (path and query kept byte for byte; near, from and fresh in the query are read as hints and passed on)`,
      response: { 400: ErrorSchema, 503: ErrorSchema },
    };
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
    scope.route({ method: [...methods], url: REDIRECT_PREFIX, schema, handler: redirect });
    scope.route({ method: [...methods], url: `${REDIRECT_PREFIX}/*`, schema, handler: redirect });
    done();
  });

  app.get('/v1/regions', { schema: { tags: ['regions'], summary: 'Every region (configured, then learned from the regions\' membership: location null): health state, recent probes, replication lag and applied vector' } }, () =>
    Promise.resolve({
      probing: {
        intervalMs: config.probeIntervalMs,
        timeoutMs: config.probeTimeoutMs,
        failuresToDown: config.failuresToDown,
        successesToUp: config.successesToUp,
        lagBoundSeconds: config.lagBoundSeconds,
      },
      regions: board.observations().map(observationJson),
    }),
  );

  app.get('/health/live', { schema: { hide: true } }, () => Promise.resolve({ status: 'ok', service: 'gslb' }));
  // Ready once every configured region has been probed: before that, an answer could leave out
  // a region only because its first probe is still in flight. A region learned from membership
  // is routable once probed up, and never makes the GSLB unready.
  app.get('/health/ready', { schema: { hide: true } }, (_request, reply) => {
    const checks: Record<string, { ok: boolean; reason?: string }> = {};
    for (const o of board.observations().filter((x) => config.regions.some((r) => r.id === x.region.id))) checks[o.region.id] = o.health.status === 'unknown' ? { ok: false, reason: 'not probed yet' } : { ok: true };
    return reply.code(board.allProbed() ? 200 : 503).send({ status: board.allProbed() ? 'ok' : 'unavailable', checks, service: 'gslb' });
  });
  app.get('/metrics', { schema: { hide: true } }, (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render(board.observations())));

  return app;
}
