/**
 * The API's door, on the real app with a store and key service that record any use: every route
 * declares a scope; without a token, with a bad one, or with one whose scopes or namespaces do not
 * cover the route, the answer is 401/403 before any handler runs (nothing is read or stored); a
 * token is never logged; the rate limit answers 429 with Retry-After.
 */
import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { createTokenVerifier, generateSigningKeyPair, signToken, type Scope } from '@meridian/auth';
import { buildApp } from './app.ts';
import type { ApiAuthOptions } from './api-auth.ts';

const keys = generateSigningKeyPair();
const ISSUER = 'meridian-test';
const token = (scopes: Scope[], namespaces?: string[]): Promise<string> =>
  signToken(keys, { issuer: ISSUER, audience: 'meridian', subject: `svc-${scopes.join('-') || 'none'}`, scopes, ...(namespaces ? { namespaces } : {}), expiresInSeconds: 600 });

/** An object whose every use is recorded (and fails): proof that a handler ran. */
function recorder(touched: string[], what: string): never {
  return new Proxy({}, { get: (_t, p) => {
    if (p === 'then') return undefined;
    touched.push(`${what}.${String(p)}`);
    throw new Error(`${what} used`);
  } }) as never;
}

async function app(options: Partial<ApiAuthOptions> & { lines?: string[] } = {}): Promise<{ app: FastifyInstance; touched: string[] }> {
  const touched: string[] = [];
  const lines = options.lines ?? [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _e, done) {
    lines.push(chunk.toString());
    done();
  } }));
  const built = await buildApp({
    region: 'eu',
    store: recorder(touched, 'store'),
    keys: recorder(touched, 'keys'),
    bodyLimitBytes: 1 << 20,
    readiness: [],
    metricsText: () => Promise.resolve(''),
    logger,
    auth: { auth: options.auth ?? { mode: 'on', verifier: await createTokenVerifier({ publicKeys: keys.publicKeyPem, issuer: ISSUER, audience: 'meridian' }) }, rateLimitPerMinute: options.rateLimitPerMinute ?? 0 },
  });
  return { app: built, touched };
}

/** A concrete URL for a route pattern: every parameter filled, `ns` as `orders`. */
const concrete = (url: string): string => url.replace(':ns', 'orders').replace(':key', 'k').replace(':peer', 'us').replace(':id', '1').replace('/v1/digest', '/v1/digest?ns=orders').replace('/v1/conflicts', '/v1/conflicts?ns=orders');

describe('API authentication', () => {
  it('every route declares a scope; only health and the API description are public', async () => {
    const { app: a } = await app();
    const table = a.routeAccess.filter((r) => r.method !== 'HEAD');
    expect(table.length).toBeGreaterThan(15);
    expect(table.filter((r) => r.scope === 'public').map((r) => r.url).filter((u) => !u.startsWith('/docs')).sort()).toEqual(['/health/live', '/health/ready']);
    expect(Object.fromEntries(table.filter((r) => !r.url.startsWith('/docs')).map((r) => [`${r.method} ${r.url}`, r.scope]))).toMatchObject({
      'PUT /v1/ns/:ns/keys/:key': 'write',
      'GET /v1/ns/:ns/keys/:key': 'read',
      'POST /v1/replication/peers/:peer/pause': 'admin',
      'POST /v1/dead-letters/:id/redrive': 'admin',
      'POST /v1/dead-letters/:id/discard': 'admin',
      'GET /metrics': 'metrics',
    });
    // A route without a scope cannot be registered: the door fails closed.
    expect(() => a.get('/v1/forgotten', () => 'open')).toThrow(/declares no scope/);
    await a.close();
  });

  it('refuses every non-public route without a token (401) and with too few scopes (403), running no handler', async () => {
    const { app: a, touched } = await app();
    const none = await token([]);
    const reader = await token(['read']);
    const writer = await token(['write']);
    const routes = a.routeAccess.filter((r) => r.scope !== 'public' && r.method !== 'HEAD');
    for (const route of routes) {
      const request = { method: route.method as 'GET', url: concrete(route.url), ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: { value: 1, policy: 'lww', increment: 1 } }) };
      const anonymous = await a.inject(request);
      expect([route.url, anonymous.statusCode, anonymous.json().error.code]).toEqual([route.url, 401, 'MERIDIAN_UNAUTHENTICATED']);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer realm="meridian"/);
      const scopeless = await a.inject({ ...request, headers: { authorization: `Bearer ${none}` } });
      expect([route.url, scopeless.statusCode]).toEqual([route.url, 403]);
      expect(scopeless.headers['www-authenticate']).toContain(`error="insufficient_scope", scope="${route.scope}"`);
      if (route.scope !== 'read') expect([route.url, (await a.inject({ ...request, headers: { authorization: `Bearer ${reader}` } })).statusCode]).toEqual([route.url, 403]);
      if (route.scope === 'admin' || route.scope === 'metrics') expect([route.url, (await a.inject({ ...request, headers: { authorization: `Bearer ${writer}` } })).statusCode]).toEqual([route.url, 403]);
    }
    expect(touched).toEqual([]);
    // The door opens for the right token: the handler runs (and meets the recording store).
    const allowed = await a.inject({ method: 'PUT', url: '/v1/ns/orders/keys/k', payload: { value: 1 }, headers: { authorization: `Bearer ${writer}` } });
    expect(allowed.statusCode).toBe(500);
    expect(touched).toEqual(['keys.writeRegister']);
    await a.close();
  });

  it('limits a namespaced token to its namespaces, and to routes that name one', async () => {
    const { app: a, touched } = await app();
    const limited = await token(['write'], ['orders', 'cart-*']);
    const auth = { authorization: `Bearer ${limited}` };
    expect((await a.inject({ method: 'PUT', url: '/v1/ns/payments/keys/k', payload: { value: 1 }, headers: auth })).json().error.message).toBe('the token does not cover namespace payments');
    expect((await a.inject({ method: 'GET', url: '/v1/namespaces', headers: auth })).statusCode).toBe(403);
    expect((await a.inject({ method: 'GET', url: '/v1/conflicts', headers: auth })).statusCode).toBe(403);
    expect(touched).toEqual([]);
    expect((await a.inject({ method: 'GET', url: '/v1/ns/cart-eu/keys/k', headers: auth })).statusCode).toBe(500); // reached the handler
    expect(touched).toEqual(['keys.readCovering']);
    await a.close();
  });

  it('never puts a token in a log line or an answer, good or bad', async () => {
    const lines: string[] = [];
    const { app: a } = await app({ lines });
    const forged = `${(await token(['admin'])).slice(0, -6)}SECRET`;
    const expired = await signToken(keys, { issuer: ISSUER, audience: 'meridian', subject: 's', scopes: ['admin'], expiresInSeconds: 1, now: 1_000_000 });
    const good = await token(['read']);
    for (const t of [forged, expired, good]) {
      const answer = await a.inject({ method: 'PUT', url: '/v1/ns/orders/keys/k', payload: { value: 1 }, headers: { authorization: `Bearer ${t}` } });
      expect([401, 403]).toContain(answer.statusCode);
      expect(answer.body).not.toContain(t);
      expect(JSON.stringify(answer.headers)).not.toContain(t);
    }
    const expiredAnswer = await a.inject({ method: 'GET', url: '/v1/namespaces', headers: { authorization: `Bearer ${expired}` } });
    expect(expiredAnswer.headers['www-authenticate']).toBe('Bearer realm="meridian", error="invalid_token", error_description="the token has expired"');
    const logged = lines.join('');
    expect(logged).toContain('bearer token refused');
    for (const t of [forged, expired, good]) {
      expect(logged).not.toContain(t);
      expect(logged).not.toContain(t.split('.')[1]!); // not even the claims part
    }
    await a.close();
  });

  it('answers 429 with Retry-After past the per-client rate, never throttling health probes', async () => {
    const { app: a } = await app({ rateLimitPerMinute: 2 });
    const reader = { authorization: `Bearer ${await token(['read'])}` };
    const writer = { authorization: `Bearer ${await token(['write'])}` };
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await a.inject({ method: 'GET', url: '/v1/replication', headers: reader })).statusCode);
    expect(statuses).toEqual([200, 200, 429]);
    const limited = await a.inject({ method: 'GET', url: '/v1/replication', headers: reader });
    expect(limited.json().error.code).toBe('MERIDIAN_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another client (another subject) has its own budget; probes are never limited.
    expect((await a.inject({ method: 'GET', url: '/v1/replication', headers: writer })).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await a.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    await a.close();
  });

  it('with authentication off, lets every request through and says so in the log', async () => {
    const lines: string[] = [];
    const { app: a } = await app({ auth: { mode: 'off' }, lines });
    expect((await a.inject({ method: 'GET', url: '/v1/replication' })).statusCode).toBe(200);
    expect(lines.join('')).toMatch(/"level":40.*MERIDIAN_AUTH=off: the API accepts every request without a token/);
    await a.close();
  });
});
