/**
 * The region service's HTTP API (DESIGN §11): routes with JSON schemas that drive validation
 * and the OpenAPI document at /docs, one error handler that answers every failure as
 * `{"error": {"code", "message"}}` with the registry's status, and the health and metrics
 * endpoints. The app is built from its dependencies so tests can use `app.inject()`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StoreError, StoreErrorCode, type PgStore, type NamespaceRow } from '@meridian/store';
import { requestLoggerFactory } from '@meridian/telemetry';
import { MeridianError, errorBody, type ErrorCode } from './errors.ts';
import type { KeyService } from './key-service.ts';
import { runChecks, type HealthCheck } from './health.ts';
import { registerReplicationRoutes } from './replication-routes.ts';
import type { Replication } from './replication/replication.ts';
import { formatSession, mergeSessions, parseSession } from './session-token.ts';
import { registerApiAuth, type ApiAuthOptions } from './api-auth.ts';

export interface AppDeps {
  readonly region: string;
  readonly store: PgStore;
  readonly keys: KeyService;
  readonly bodyLimitBytes: number;
  readonly readiness: readonly HealthCheck[];
  readonly metricsText: () => Promise<string>;
  /** Logger options, or a ready pino logger (shared with replication). */
  readonly logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  readonly replication?: Replication | undefined;
  /** Peer regions' public URLs, for `fallback` reads. */
  readonly peerUrls?: ReadonlyMap<string, string>;
  /** Bearer tokens and the rate limit (api-auth.ts); every route declares its `config.scope`. */
  readonly auth: ApiAuthOptions;
}

const ReadHeaders = Type.Object({
  'x-meridian-session': Type.Optional(Type.String({ maxLength: 4096 })),
  'x-meridian-consistency': Type.Optional(Type.Union([Type.Literal('wait'), Type.Literal('fallback'), Type.Literal('stale')])),
  'x-meridian-wait-ms': Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
});

const ErrorSchema = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) }, { additionalProperties: true });
const Policy = Type.Union([Type.Literal('lww'), Type.Literal('mv'), Type.Literal('counter'), Type.Literal('set'), Type.Literal('map')]);
const NsParams = Type.Object({ ns: Type.String({ minLength: 1, maxLength: 128 }) });
const KeyParams = Type.Object({ ns: Type.String({ minLength: 1, maxLength: 128 }), key: Type.String({ minLength: 1, maxLength: 1024 }) });
const WriteAnswer = Type.Object(
  {
    context: Type.String({ description: 'opaque, signed causal context: send it with the next write of this key' }),
    session: Type.String({ description: 'session token: merge it into the client\'s and send it with reads (X-Meridian-Session)' }),
    value: Type.Optional(Type.Unknown()),
    values: Type.Optional(Type.Array(Type.Unknown(), { description: 'mv: every concurrent sibling' })),
    deleted: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const IdempotencyHeaders = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) });

function namespaceJson(ns: NamespaceRow): { name: string; policy: NamespaceRow['policy']; declaredBy: string; createdAt: string } {
  return { name: ns.name, policy: ns.policy, declaredBy: ns.declaredBy, createdAt: ns.createdAt.toISOString() };
}
const NamespaceJson = Type.Object({ name: Type.String(), policy: Policy, declaredBy: Type.String(), createdAt: Type.String() });

/** Maps any error to the registry: [status, body]. */
export function toErrorAnswer(error: unknown): { status: number; body: Record<string, unknown>; code: ErrorCode } {
  if (error instanceof MeridianError) return { status: error.status, body: errorBody(error.code, error.message, error.details), code: error.code };
  if (error instanceof StoreError) {
    const code: ErrorCode = error.code === StoreErrorCode.unavailable ? 'MERIDIAN_STORE_UNAVAILABLE' : error.code === StoreErrorCode.retry ? 'MERIDIAN_BUSY' : 'MERIDIAN_INTERNAL';
    const message = code === 'MERIDIAN_INTERNAL' ? 'internal error' : `${error.message}; nothing was written — retry`;
    return { status: new MeridianError(code, '').status, body: errorBody(code, message), code };
  }
  const fe = error as FastifyError & { validation?: unknown };
  if (fe.validation) return { status: 400, body: errorBody('MERIDIAN_VALIDATION', fe.message), code: 'MERIDIAN_VALIDATION' };
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody('MERIDIAN_BODY_TOO_LARGE', fe.message), code: 'MERIDIAN_BODY_TOO_LARGE' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody('MERIDIAN_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'), code: 'MERIDIAN_UNSUPPORTED_MEDIA_TYPE' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: errorBody('MERIDIAN_MALFORMED_JSON', fe.message), code: 'MERIDIAN_MALFORMED_JSON' };
  }
  if (error instanceof SyntaxError && fe.statusCode === 400) return { status: 400, body: errorBody('MERIDIAN_MALFORMED_JSON', `the body is not valid JSON: ${error.message}`), code: 'MERIDIAN_MALFORMED_JSON' };
  return { status: 500, body: errorBody('MERIDIAN_INTERNAL', 'internal error'), code: 'MERIDIAN_INTERNAL' };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const isInstance = typeof (deps.logger as { info?: unknown } | undefined)?.info === 'function';
  const app = Fastify({
    ...(isInstance ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: (deps.logger as FastifyServerOptions['logger']) ?? false }),
    bodyLimit: deps.bodyLimitBytes,
    // Each request's logger carries its reqId without a pino child's per-request redaction pass.
    childLoggerFactory: requestLoggerFactory,
    // Unknown fields are refused, not silently dropped (fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Bodies are JSON only: anything else is a 415, never a string that half-validates.
  app.removeContentTypeParser('text/plain');
  await registerApiAuth(app, deps.auth);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Meridian region service', version: '0.1.0', description: 'Multi-active replication: write in any region, read with session guarantees.' },
      tags: [{ name: 'namespaces' }, { name: 'keys' }, { name: 'operations' }, { name: 'replication' }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody('MERIDIAN_NOT_FOUND', `no route ${request.method} ${request.url}`)));

  const errors = { 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 422: ErrorSchema, 503: ErrorSchema };

  // ---- namespaces ------------------------------------------------------------------------
  app.put(
    '/v1/namespaces/:ns',
    { config: { scope: 'write' }, schema: { tags: ['namespaces'], summary: 'Create a namespace with a fixed conflict policy', params: NsParams, body: Type.Object({ policy: Policy }, { additionalProperties: false }), response: { 200: NamespaceJson, 201: NamespaceJson, ...errors } } },
    async (request, reply) => {
      const { created, namespace } = await deps.keys.declareNamespace(request.params.ns, request.body.policy);
      return reply.code(created ? 201 : 200).send(namespaceJson(namespace));
    },
  );
  app.get('/v1/namespaces', { config: { scope: 'read' }, schema: { tags: ['namespaces'], summary: 'List namespaces', response: { 200: Type.Object({ namespaces: Type.Array(NamespaceJson) }), 503: ErrorSchema } } }, async () => ({
    namespaces: (await deps.store.listNamespaces()).map(namespaceJson),
  }));
  app.get('/v1/namespaces/:ns', { config: { scope: 'read' }, schema: { tags: ['namespaces'], summary: 'Describe a namespace', params: NsParams, response: { 200: NamespaceJson, ...errors } } }, async (request) => {
    const ns = await deps.store.getNamespace(request.params.ns);
    if (!ns) throw new MeridianError('MERIDIAN_NAMESPACE_NOT_FOUND', `namespace ${request.params.ns} does not exist in region ${deps.region}`);
    return namespaceJson(ns);
  });

  // ---- keys ----------------------------------------------------------------------------------
  app.get(
    '/v1/ns/:ns/keys/:key',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['keys'],
        summary: 'Read a key: its value (lww, CRDTs) or every sibling (mv), its context and a session token. With X-Meridian-Session, the read reflects at least that session: `wait` (default) blocks until this region has applied it (X-Meridian-Wait-Ms, default 2000), `fallback` redirects (307) to a region that has, `stale` answers now and says what is missing (X-Meridian-Behind).',
        params: KeyParams,
        headers: ReadHeaders,
        response: { 200: WriteAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => {
      const token = request.headers['x-meridian-session'];
      const replication = deps.replication;
      if (token !== undefined && token !== '' && replication) {
        const session = parseSession(token);
        const mode = request.headers['x-meridian-consistency'] ?? 'wait';
        const waitMs = Math.min(Number(request.headers['x-meridian-wait-ms'] ?? 2000), 30_000);
        let missing = await replication.uncovered(session, deps.keys.actor);
        if (missing.size > 0 && mode !== 'stale') {
          const deadline = Date.now() + (mode === 'fallback' ? Math.min(waitMs, 200) : waitMs);
          while (missing.size > 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 25));
            missing = await replication.uncovered(session, deps.keys.actor);
          }
        }
        if (missing.size > 0) {
          const behind = formatSession(missing);
          if (mode === 'stale') reply.header('x-meridian-behind', behind);
          else if (mode === 'fallback') {
            // The origin of the missing writes has them: redirect there when it is one region.
            const origins = new Set([...missing.keys()].map((a) => a.split('.')[0]!));
            const target = origins.size === 1 ? deps.peerUrls?.get([...origins][0]!) : undefined;
            if (target) return reply.code(307).header('location', `${target.replace(/\/$/, '')}${request.url}`).header('x-meridian-behind', behind).send(errorBody('MERIDIAN_SESSION_NOT_COVERED', `this region has not applied ${behind} yet; redirecting to a region that has`));
            throw new MeridianError('MERIDIAN_SESSION_NOT_COVERED', `this region has not applied ${behind} yet and no single region is known to have it`);
          } else throw new MeridianError('MERIDIAN_SESSION_NOT_COVERED', `this region has not applied ${behind} within ${waitMs} ms`);
        }
      }
      const answer = await deps.keys.read(request.params.ns, request.params.key);
      if (replication) answer.session = formatSession(mergeSessions(parseSession(answer.session), replication.appliedPositions()));
      return answer;
    },
  );
  app.put(
    '/v1/ns/:ns/keys/:key',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['keys'],
        summary: 'Write a register (lww, mv); `context` says which versions the client has seen (absent: a blind write, concurrent with everything)',
        params: KeyParams,
        headers: IdempotencyHeaders,
        body: Type.Object({ value: Type.Unknown(), context: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false, required: ['value'] }),
        response: { 200: WriteAnswer, ...errors },
      },
    },
    async (request, reply) => {
      const answer = await deps.keys.writeRegister(request.params.ns, request.params.key, request.body.value, request.body.context, { idempotencyKey: request.headers['idempotency-key'] });
      return reply.code(answer.status).send(answer.body);
    },
  );
  app.delete(
    '/v1/ns/:ns/keys/:key',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['keys'],
        summary: 'Delete a register (a tombstone version that keeps the key\'s context)',
        params: KeyParams,
        headers: IdempotencyHeaders,
        querystring: Type.Object({ context: Type.Optional(Type.String({ minLength: 1 })) }),
        response: { 200: WriteAnswer, ...errors },
      },
    },
    async (request, reply) => {
      const answer = await deps.keys.writeRegister(request.params.ns, request.params.key, undefined, request.query.context, { idempotencyKey: request.headers['idempotency-key'] });
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.post(
    '/v1/ns/:ns/keys/:key/ops',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['operations'],
        summary: 'Apply a CRDT operation: counter {"increment": n}; set {"add": [..]} or {"remove": [..], "context"?}; map {"set"|"increment"|"add"|"remove": {field: …}, "delete": [fields], "context"?}',
        params: KeyParams,
        headers: IdempotencyHeaders,
        body: Type.Object({ context: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: true }),
        response: { 200: WriteAnswer, ...errors },
      },
    },
    async (request, reply) => {
      const answer = await deps.keys.applyOps(request.params.ns, request.params.key, request.body, { idempotencyKey: request.headers['idempotency-key'] });
      return reply.code(answer.status).send(answer.body);
    },
  );

  registerReplicationRoutes(app, { store: deps.store, replication: deps.replication, region: deps.region });

  // ---- health and metrics ------------------------------------------------------------------
  app.get('/health/live', { config: { scope: 'public' }, schema: { hide: true } }, () => Promise.resolve({ status: 'ok', region: deps.region }));
  app.get('/health/ready', { config: { scope: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    const report = await runChecks(deps.readiness);
    return reply.code(report.status === 'ok' ? 200 : 503).send({ ...report, region: deps.region });
  });
  app.get('/metrics', { config: { scope: 'metrics' }, schema: { hide: true } }, async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metricsText()));

  return app;
}
