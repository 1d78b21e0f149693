import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawConnectionPool } from './raw-http.ts';

let server: Server | undefined;

/** A loopback server: echoes `path` in a JSON body; `/hang` never answers; `/close` drops the socket. */
async function start(): Promise<URL> {
  server = createServer((req, res) => {
    if (req.url === '/hang') return;
    if (req.url === '/close') return void req.socket.destroy();
    const body = JSON.stringify({ path: req.url, method: req.method, type: req.headers['content-type'] ?? null, key: req.headers['idempotency-key'] ?? null });
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

describe('the benchmarks\' lean HTTP client pool', () => {
  it('answers every request with its status and body, more requests than connections queueing', async () => {
    const pool = new RawConnectionPool(await start(), 3);
    await pool.connected;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.request('POST', `/k${i}`, '{"increment":1}')));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers.map((a) => JSON.parse(a.body.toString('utf8')).path)).toEqual(Array.from({ length: 20 }, (_, i) => `/k${i}`));
    expect((await pool.request('PUT', '/missing', '{}')).status).toBe(404);
    pool.close();
  });

  it('sends a request\'s own headers, and no content type without a body (a DELETE)', async () => {
    const pool = new RawConnectionPool(await start(), 1, undefined, { authorization: 'Bearer t' });
    await pool.connected;
    const put = JSON.parse((await pool.request('PUT', '/k', '{}', { 'idempotency-key': 'w1' })).body.toString('utf8'));
    const del = JSON.parse((await pool.request('DELETE', '/k', '')).body.toString('utf8'));
    expect([put.type, put.key, del.method, del.type, del.key]).toEqual(['application/json', 'w1', 'DELETE', null, null]);
    pool.close();
  });

  it('a connection that fails leaves the pool: its request fails, the others go on', async () => {
    const pool = new RawConnectionPool(await start(), 2);
    await pool.connected;
    const results = await Promise.allSettled([pool.request('POST', '/close', '{}'), ...Array.from({ length: 6 }, (_, i) => pool.request('POST', `/ok${i}`, '{}'))]);
    expect(results[0]?.status).toBe('rejected');
    expect(results.slice(1).map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    pool.close();
  });

  it('when every connection has failed, waiting and later requests fail instead of waiting forever', async () => {
    const pool = new RawConnectionPool(await start(), 1);
    await pool.connected;
    const results = await Promise.allSettled([pool.request('POST', '/close', '{}'), pool.request('POST', '/queued', '{}')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(pool.request('POST', '/later', '{}')).rejects.toThrow(/every connection/);
  });

  it('a request without an answer in time fails, and its connection leaves the pool', async () => {
    const pool = new RawConnectionPool(await start(), 2, 100);
    await pool.connected;
    const [hung, ok] = await Promise.allSettled([pool.request('POST', '/hang', '{}'), pool.request('POST', '/ok', '{}')]);
    expect(hung.status === 'rejected' && String(hung.reason)).toMatch(/no answer within 100 ms/);
    expect(ok.status).toBe('fulfilled');
    // The one connection left still answers.
    expect((await pool.request('POST', '/after', '{}')).status).toBe(200);
    pool.close();
  });

  it('closing the pool fails the requests in flight and waiting', async () => {
    const pool = new RawConnectionPool(await start(), 1);
    await pool.connected;
    const pending = [pool.request('POST', '/hang', '{}'), pool.request('POST', '/queued', '{}')];
    pool.close();
    expect((await Promise.allSettled(pending)).map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
