/**
 * The API's door (docs/security.md): every route declares what it needs in its config
 * (`config: { scope: 'read' | 'write' | 'admin' | 'metrics' | 'public' }`), and one onRequest
 * hook checks the bearer token against it before any handler, body parsing or validation runs,
 * so a refused request stores nothing. A route registered without a scope fails the build of the
 * app (fail closed): a new route cannot be open by omission.
 *
 * Missing or invalid token: 401 with `WWW-Authenticate: Bearer …` (RFC 6750); valid but not
 * allowed (scope, namespace): 403. Neither answer nor log line ever contains the token.
 * Then the rate limiter, keyed by the token's subject (or the client's address), answers 429
 * with `Retry-After` past the configured rate.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { decide, type Principal, type RouteAccess, type TokenVerifier } from '@meridian/auth';
import { MeridianError, errorBody } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs (api-auth.ts). */
    scope?: RouteAccess;
  }
  interface FastifyRequest {
    /** The verified caller; undefined on public routes and when authentication is off. */
    principal?: Principal;
  }
  interface FastifyInstance {
    /** Every registered route and the access it declared (for the test that checks none is missing). */
    routeAccess: readonly { method: string; url: string; scope: RouteAccess }[];
  }
}

export type ApiAuth = { readonly mode: 'off' } | { readonly mode: 'on'; readonly verifier: TokenVerifier };

export interface ApiAuthOptions {
  readonly auth: ApiAuth;
  /** Requests per minute per client; 0: no limit. */
  readonly rateLimitPerMinute: number;
}

const REALM = 'Bearer realm="meridian"';
/** RFC 6750 §3: the description is a quoted-string; keep it to safe characters. */
const quoted = (text: string): string => text.replace(/["\\\r\n]/g, "'");

function refuse(reply: FastifyReply, status: 401 | 403, message: string, challenge: string): FastifyReply {
  const code = status === 401 ? 'MERIDIAN_UNAUTHENTICATED' : 'MERIDIAN_FORBIDDEN';
  return reply.code(status).header('www-authenticate', challenge).send(errorBody(code, message));
}

/** Registers the token check and the rate limit; call before any route (and before swagger). */
export async function registerApiAuth(app: FastifyInstance, options: ApiAuthOptions): Promise<void> {
  const table: { method: string; url: string; scope: RouteAccess }[] = [];
  app.decorate('routeAccess', table);
  app.addHook('onRoute', (route) => {
    // The OpenAPI document and its UI describe the API, not its data.
    if (route.url.startsWith('/docs') && route.config?.scope === undefined) route.config = { ...route.config, scope: 'public' };
    const scope = route.config?.scope;
    if (scope === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no scope (config.scope): every route must say who may call it`);
    for (const method of [route.method].flat()) table.push({ method, url: route.url, scope });
  });

  if (options.auth.mode === 'off') {
    app.log.warn('MERIDIAN_AUTH=off: the API accepts every request without a token — for local experiments only, never a reachable deployment');
  } else {
    const verifier = options.auth.verifier;
    app.addHook('onRequest', async (request, reply) => {
      const access = request.routeOptions.config.scope;
      if (access === 'public') return;
      // Unknown routes (404) have no scope: without a valid token they are refused like any other.
      const header = request.headers.authorization;
      const match = typeof header === 'string' ? /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header) : null;
      if (!match) return refuse(reply, 401, 'send a bearer token: Authorization: Bearer <token>', REALM);
      let principal: Principal;
      try {
        principal = await verifier.verify(match[1]!);
      } catch (error) {
        const reason = (error as Error).name === 'TokenError' ? (error as Error).message : 'the token could not be verified';
        request.log.info({ reason }, 'bearer token refused');
        return refuse(reply, 401, reason, `${REALM}, error="invalid_token", error_description="${quoted(reason)}"`);
      }
      // No scope: the not-found handler (every route declares one); a caller with a valid token learns it is a 404.
      if (access === undefined) return;
      const params = request.params as Record<string, unknown> | undefined;
      const query = request.query as Record<string, unknown> | undefined;
      const ns = typeof params?.['ns'] === 'string' ? params['ns'] : typeof query?.['ns'] === 'string' ? query['ns'] : undefined;
      const decision = decide(principal, access, ns);
      if (!decision.allowed) {
        request.log.info({ subject: principal.subject, scope: access, reason: decision.reason }, 'request forbidden');
        return refuse(reply, 403, decision.reason, `${REALM}, error="insufficient_scope", scope="${access}"`);
      }
      request.principal = principal;
    });
  }

  if (options.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: options.rateLimitPerMinute,
      timeWindow: 60_000,
      // Probes and scrapes are never throttled.
      allowList: (request) => request.routeOptions.config.scope === 'public',
      keyGenerator: (request) => (request.principal ? `sub:${request.principal.subject}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) => new MeridianError('MERIDIAN_RATE_LIMITED', `more than ${context.max} requests in a minute from this client; retry in ${context.after}`),
    });
  }
}
