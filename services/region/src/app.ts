/**
 * The region service's HTTP API (DESIGN §11): routes with JSON schemas that drive validation
 * and the OpenAPI document at /docs, one error handler that answers every failure as
 * `{"error": {"code", "message"}}` with the registry's status, and the health and metrics
 * endpoints. The app is built from its dependencies so tests can use `app.inject()`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { StoreError, StoreErrorCode, type PgStore, type NamespaceRow } from '@meridian/store';
import { requestLoggerFactory } from '@meridian/telemetry';
import { DEFAULT_WAIT_MS, MAX_WAIT_MS, decideConsistency, type ConsistencyDecision, type ConsistencyMode } from '@meridian/protocol';
import { ContextNotCoveredError, ERRORS, MeridianError, errorBody, type ErrorCode } from './errors.ts';
import type { KeyAnswer, WritePath, WriteAnswer as KeyWriteAnswer } from './write-path.ts';
import { elementRead, pageRead, type CollectionRead } from './collection-read.ts';
import { MAX_FIELD_NAME_LENGTH } from '@meridian/crdt';
import { runChecks, type HealthCheck } from './health.ts';
import { registerReplicationRoutes } from './replication-routes.ts';
import { registerAntiEntropyRoutes } from './anti-entropy-routes.ts';
import { registerMembershipRoutes } from './membership-routes.ts';
import type { Membership } from './membership.ts';
import type { AntiEntropyLoop } from './anti-entropy/anti-entropy-loop.ts';
import type { Replication } from './replication/replication.ts';
import { formatSession, parseSession, type SessionVector } from './session-token.ts';
import { MAX_KEY_LENGTH } from './names.ts';
import { registerApiAuth, type ApiAuthOptions } from './api-auth.ts';

export interface AppDeps {
  readonly region: string;
  readonly store: PgStore;
  readonly keys: WritePath;
  readonly bodyLimitBytes: number;
  readonly readiness: readonly HealthCheck[];
  readonly metricsText: () => Promise<string>;
  /** Logger options, or a ready pino logger (shared with replication). */
  readonly logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  readonly replication?: Replication | undefined;
  /** Peer regions' public URLs, for `fallback` reads. */
  readonly peerUrls?: ReadonlyMap<string, string>;
  /** Continuous anti-entropy, when it runs (its status is served). */
  readonly antiEntropy?: AntiEntropyLoop | undefined;
  /** Bearer tokens and the rate limit (api-auth.ts); every route declares its `config.scope`. */
  readonly auth: ApiAuthOptions;
  /** The stored membership (`/v1/members`); absent: the routes answer that membership is not kept. */
  readonly membership?: Membership | undefined;
  /** The clock a waiting request's bound is measured on (ms); Date.now when absent. */
  readonly now?: () => number;
}

const SessionHeaders = {
  'x-meridian-session': Type.Optional(Type.String({ maxLength: 4096 })),
  'x-meridian-consistency': Type.Optional(Type.Union([Type.Literal('wait'), Type.Literal('fallback'), Type.Literal('stale')])),
  'x-meridian-wait-ms': Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
};
const ReadHeaders = Type.Object(SessionHeaders);

/** A request's session and consistency headers, parsed. */
interface Consistency {
  readonly session: SessionVector;
  readonly mode: ConsistencyMode;
  readonly waitMs: number;
  readonly startedAt: number;
}

function consistencyOf(headers: { 'x-meridian-session'?: string | undefined; 'x-meridian-consistency'?: ConsistencyMode | undefined; 'x-meridian-wait-ms'?: string | undefined }, now: number): Consistency {
  const token = headers['x-meridian-session'];
  return {
    session: token === undefined ? new Map() : parseSession(token),
    mode: headers['x-meridian-consistency'] ?? 'wait',
    waitMs: Math.min(Number(headers['x-meridian-wait-ms'] ?? DEFAULT_WAIT_MS), MAX_WAIT_MS),
    startedAt: now,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
const ReadAnswer = Type.Object(
  { ...WriteAnswer.properties, next: Type.Optional(Type.String({ description: 'a page\'s cursor: pass it as `cursor` for the following page; absent after the last' })) },
  { additionalProperties: false },
);
/** Writes take the session headers as reads do (DESIGN §6, causal writes), and an Idempotency-Key. */
const WriteHeaders = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })), ...SessionHeaders });
const WRITE_SESSION_DOC =
  ' With X-Meridian-Session (and X-Meridian-Consistency, X-Meridian-Wait-Ms) the write is applied only where that session is: `wait` (default) and `fallback` as for reads (503 or 307, nothing written); `stale` writes now and says what is missing (X-Meridian-Behind). A CRDT operation whose `context` names updates this region has not applied (a remove of an add not here yet) is never acknowledged: it waits, then redirects (`fallback`) or answers 503 MERIDIAN_SESSION_NOT_COVERED — under `stale` too.';

function namespaceJson(ns: NamespaceRow): { name: string; policy: NamespaceRow['policy']; declaredBy: string; createdAt: string } {
  return { name: ns.name, policy: ns.policy, declaredBy: ns.declaredBy, createdAt: ns.createdAt.toISOString() };
}
const NamespaceJson = Type.Object({ name: Type.String(), policy: Policy, declaredBy: Type.String(), createdAt: Type.String() });

/** Maps any error to the registry: [status, body]. */
export function toErrorAnswer(error: unknown): { status: number; body: Record<string, unknown>; code: ErrorCode } {
  if (error instanceof MeridianError) return { status: error.status, body: errorBody(error.code, error.message, error.details), code: error.code };
  if (error instanceof StoreError) {
    // The store classified the failure once (store-error.ts): only `unavailable` and `retry` provably wrote nothing.
    if (error.code === StoreErrorCode.outcomeUnknown) {
      const message = `${error.message}. The write may or may not have taken effect: retry it with the same Idempotency-Key (a retry is answered from the first attempt if that took effect, and applied once if not); without one, read the key before deciding to retry`;
      return { status: ERRORS.MERIDIAN_OUTCOME_UNKNOWN.status, body: errorBody('MERIDIAN_OUTCOME_UNKNOWN', message), code: 'MERIDIAN_OUTCOME_UNKNOWN' };
    }
    const code: ErrorCode = error.code === StoreErrorCode.unavailable ? 'MERIDIAN_STORE_UNAVAILABLE' : error.code === StoreErrorCode.retry ? 'MERIDIAN_BUSY' : 'MERIDIAN_INTERNAL';
    const message = code === 'MERIDIAN_INTERNAL' ? 'internal error' : `${error.message}; nothing was written — retry`;
    return { status: ERRORS[code].status, body: errorBody(code, message), code };
  }
  const fe = error as FastifyError & { validation?: unknown };
  const answer = (code: ErrorCode, message: string): { status: number; body: Record<string, unknown>; code: ErrorCode } => ({ status: ERRORS[code].status, body: errorBody(code, message), code });
  if (fe.validation) return answer('MERIDIAN_VALIDATION', fe.message);
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return answer('MERIDIAN_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  const known = typeof fe.code === 'string' ? FASTIFY_ERRORS[fe.code] : undefined;
  if (known) return answer(known, fe.message);
  if (error instanceof SyntaxError && fe.statusCode === 400) return answer('MERIDIAN_MALFORMED_JSON', `the body is not valid JSON: ${error.message}`);
  // Any other client error fastify raises (FST_ERR_*, 4xx) still answers in Meridian's envelope.
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_') && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return answer('MERIDIAN_BAD_REQUEST', fe.message);
  return answer('MERIDIAN_INTERNAL', 'internal error');
}

/** fastify's own errors that a client can provoke, and the Meridian code each answers with. */
const FASTIFY_ERRORS: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_NOT_FOUND: 'MERIDIAN_NOT_FOUND',
  FST_ERR_VALIDATION: 'MERIDIAN_VALIDATION',
  FST_ERR_CTP_BODY_TOO_LARGE: 'MERIDIAN_BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MERIDIAN_MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MERIDIAN_MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MERIDIAN_BAD_REQUEST',
  // A path segment longer than the router takes, or not valid percent-encoding: a namespace or key name.
  FST_ERR_MAX_PARAM_LENGTH: 'MERIDIAN_INVALID_NAME',
  FST_ERR_BAD_URL: 'MERIDIAN_INVALID_NAME',
};

/**
 * Answers a failure and logs it: a bug or an outage (5xx) as an error with its stack; an honest
 * 503 that says "not here, not yet" (a session this region has not applied) as a warning line.
 */
function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const answer = toErrorAnswer(error);
  if (answer.code === 'MERIDIAN_SESSION_NOT_COVERED') request.log.warn({ code: answer.code }, (error as Error).message);
  else if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  void reply.code(answer.status).send(answer.body);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const isInstance = typeof (deps.logger as { info?: unknown } | undefined)?.info === 'function';
  const app = Fastify({
    ...(isInstance ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: (deps.logger as FastifyServerOptions['logger']) ?? false }),
    bodyLimit: deps.bodyLimitBytes,
    // A key may be MAX_KEY_LENGTH characters long (find-my-way measures the decoded segment);
    // fastify's default (100) refused longer keys before the route saw them.
    routerOptions: { maxParamLength: MAX_KEY_LENGTH },
    // The router's own refusals (a segment too long, bad percent-encoding) answer in Meridian's envelope too.
    frameworkErrors: (error, request, reply) => {
      sendError(error, request, reply);
    },
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
    sendError(error, request, reply);
  });
  const now = deps.now ?? Date.now;
  const decide = (c: Consistency, missingOrigins: readonly string[], behind: string, staleAllowed: boolean): ConsistencyDecision =>
    decideConsistency({ missingOrigins, behind, mode: c.mode, staleAllowed, startedAt: c.startedAt, now: now(), waitMs: c.waitMs, peerUrls: deps.peerUrls ?? new Map(), region: deps.region });

  /** Answers a request this region cannot answer for its session or context: 307 to a region that can, or 503. */
  const uncovered = (reply: FastifyReply, url: string, decision: Extract<ConsistencyDecision, { kind: 'redirect' | 'not-covered' }>, fromSession: boolean): FastifyReply => {
    // X-Meridian-Behind is a session token: what a context lacks is dots, named in the message.
    if (fromSession) reply.header('x-meridian-behind', decision.behind);
    if (decision.kind === 'redirect') return reply.code(307).header('location', `${decision.target.replace(/\/$/, '')}${url}`).send(errorBody('MERIDIAN_SESSION_NOT_COVERED', decision.message));
    throw new MeridianError('MERIDIAN_SESSION_NOT_COVERED', decision.message);
  };

  /**
   * A write under the session rule (DESIGN §6): with a session this region has not applied it
   * waits, redirects or answers 503 as a read does (`stale`: writes now, X-Meridian-Behind says
   * what is missing); a CRDT operation whose context is not covered here (ContextNotCoveredError,
   * nothing stored) waits for it and is tried again, then redirects or answers 503 — never stale.
   */
  const consistentWrite = async (
    request: { url: string; params: { ns: string; key: string }; headers: Parameters<typeof consistencyOf>[0] },
    reply: FastifyReply,
    write: () => Promise<KeyWriteAnswer>,
  ): Promise<FastifyReply> => {
    const c = consistencyOf(request.headers, now());
    for (;;) {
      let missing = new Map<string, bigint>();
      // Judged as a read of the key is: updates of it held behind a quarantine are not applied
      // (a remove acknowledged without them would be undone when they are redriven).
      if (c.session.size > 0) missing = (await deps.keys.readCovering(request.params.ns, request.params.key, c.session)).missing;
      let decision = decide(c, [...missing.keys()], formatSession(missing), true);
      let fromSession = true;
      if (decision.kind === 'proceed' || decision.kind === 'stale') {
        try {
          const answer = await write();
          if (decision.kind === 'stale') reply.header('x-meridian-behind', decision.behind);
          return reply.code(answer.status).send(answer.body);
        } catch (error) {
          if (!(error instanceof ContextNotCoveredError)) throw error;
          decision = decide(c, error.origins, error.missing.join(', '), false);
          fromSession = false;
        }
      }
      if (decision.kind === 'wait') {
        await sleep(decision.retryInMs);
        continue;
      }
      if (decision.kind === 'proceed' || decision.kind === 'stale') continue;
      return uncovered(reply, request.url, decision, fromSession);
    }
  };

  /**
   * A read of a key (or part of it) under the session rule (DESIGN §6): the key and the positions
   * it is judged by are read in one statement, each time; not covered, it waits, redirects or
   * answers 503 (`stale`: answers now, X-Meridian-Behind says what is missing).
   */
  const consistentRead = async (
    request: { url: string; params: { ns: string; key: string }; headers: Parameters<typeof consistencyOf>[0] },
    reply: FastifyReply,
    part: CollectionRead,
  ): Promise<FastifyReply | KeyAnswer> => {
    const c = consistencyOf(request.headers, now());
    for (;;) {
      const read = await deps.keys.readCovering(request.params.ns, request.params.key, c.session, part);
      const decision = decide(c, [...read.missing.keys()], formatSession(read.missing), true);
      if (decision.kind === 'wait') {
        await sleep(decision.retryInMs);
        continue;
      }
      if (decision.kind === 'stale') reply.header('x-meridian-behind', decision.behind);
      else if (decision.kind !== 'proceed') return uncovered(reply, request.url, decision, true);
      return read.answer();
    }
  };

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
        summary: 'Read a key: its value (lww, CRDTs) or every sibling (mv), its context and a session token. With X-Meridian-Session, the read reflects at least that session: `wait` (default) blocks until this region has applied it (X-Meridian-Wait-Ms, default 2000), `fallback` redirects (307) to a region that has, `stale` answers now and says what is missing (X-Meridian-Behind). Updates of the key held back by a quarantine count as not applied. A set or map is paged in canonical order (elements by canonical JSON text, fields by name) with `limit` (1–1000; 100 when only `cursor` is given) and `cursor` (the `next` of the previous page, absent after the last).',
        params: KeyParams,
        headers: ReadHeaders,
        querystring: Type.Object({ limit: Type.Optional(Type.String({ maxLength: 16 })), cursor: Type.Optional(Type.String({ maxLength: 8192 })) }, { additionalProperties: false }),
        response: { 200: ReadAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => consistentRead(request, reply, pageRead(request.query.limit, request.query.cursor)),
  );
  app.get(
    '/v1/ns/:ns/keys/:key/elements/:element',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['keys'],
        summary: 'Read one element of a set: 200 with the element, its key\'s context and a session token, or 404 MERIDIAN_ELEMENT_NOT_FOUND (with the context). The element is its JSON text, percent-encoded (a string keeps its quotes: `%22apple%22`). Session headers as for a whole read.',
        params: Type.Object({ ...KeyParams.properties, element: Type.String({ minLength: 1, maxLength: MAX_KEY_LENGTH }) }),
        headers: ReadHeaders,
        response: { 200: ReadAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => consistentRead(request, reply, elementRead(request.params.element)),
  );
  app.get(
    '/v1/ns/:ns/keys/:key/fields/:field',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['keys'],
        summary: 'Read one field of a map: 200 with its value, its key\'s context and a session token, or 404 MERIDIAN_FIELD_NOT_FOUND (with the context). Session headers as for a whole read.',
        params: Type.Object({ ...KeyParams.properties, field: Type.String({ minLength: 1, maxLength: MAX_FIELD_NAME_LENGTH }) }),
        headers: ReadHeaders,
        response: { 200: ReadAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => consistentRead(request, reply, { kind: 'field', name: request.params.field }),
  );
  app.put(
    '/v1/ns/:ns/keys/:key',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['keys'],
        summary: `Write a register (lww, mv); \`context\` says which versions the client has seen (absent: a blind write, concurrent with everything); the write supersedes them even where they have not arrived yet.${WRITE_SESSION_DOC}`,
        params: KeyParams,
        headers: WriteHeaders,
        body: Type.Object({ value: Type.Unknown(), context: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false, required: ['value'] }),
        response: { 200: WriteAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) =>
      consistentWrite(request, reply, () => deps.keys.writeRegister(request.params.ns, request.params.key, request.body.value, request.body.context, { idempotencyKey: request.headers['idempotency-key'] })),
  );
  app.delete(
    '/v1/ns/:ns/keys/:key',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['keys'],
        summary: `Delete a register (a tombstone version that keeps the key's context).${WRITE_SESSION_DOC}`,
        params: KeyParams,
        headers: WriteHeaders,
        querystring: Type.Object({ context: Type.Optional(Type.String({ minLength: 1 })) }),
        response: { 200: WriteAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => consistentWrite(request, reply, () => deps.keys.writeRegister(request.params.ns, request.params.key, undefined, request.query.context, { idempotencyKey: request.headers['idempotency-key'] })),
  );

  app.post(
    '/v1/ns/:ns/keys/:key/ops',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['operations'],
        summary: `Apply a CRDT operation: counter {"increment": n}; set {"add": [..]} or {"remove": [..], "context"?}; map {"set"|"increment"|"add"|"remove": {field: …}, "delete": [fields], "context"?}.${WRITE_SESSION_DOC}`,
        params: KeyParams,
        headers: WriteHeaders,
        body: Type.Object({ context: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: true }),
        response: { 200: WriteAnswer, 307: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => consistentWrite(request, reply, () => deps.keys.applyOps(request.params.ns, request.params.key, request.body, { idempotencyKey: request.headers['idempotency-key'] })),
  );

  registerReplicationRoutes(app, { store: deps.store, replication: deps.replication, region: deps.region });
  registerAntiEntropyRoutes(app, { store: deps.store, region: deps.region, loop: deps.antiEntropy });
  registerMembershipRoutes(app, { region: deps.region, membership: deps.membership });

  // ---- health and metrics ------------------------------------------------------------------
  app.get('/health/live', { config: { scope: 'public' }, schema: { hide: true } }, () => Promise.resolve({ status: 'ok', region: deps.region }));
  app.get('/health/ready', { config: { scope: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    const report = await runChecks(deps.readiness);
    return reply.code(report.status === 'ok' ? 200 : 503).send({ ...report, region: deps.region });
  });
  app.get('/metrics', { config: { scope: 'metrics' }, schema: { hide: true } }, async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metricsText()));

  return app;
}
