/**
 * Test fixture: one call to a region's API through `app.inject()`, answered as status, parsed
 * JSON body and headers. A body that is a string is sent as it is (bad-input tests send broken
 * JSON); any other body is sent as JSON. Every region test calls the API through this.
 */
import type { FastifyInstance } from 'fastify';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface Answer {
  readonly status: number;
  readonly json: Record<string, any>;
  readonly headers: Record<string, unknown>;
}

export async function injectJson(app: FastifyInstance, method: Method, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const payload = body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) };
  const contentType: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  const r = await app.inject({ method, url, headers: { ...contentType, ...headers }, ...payload });
  return { status: r.statusCode, json: r.body ? (JSON.parse(r.body) as Record<string, any>) : {}, headers: r.headers };
}
