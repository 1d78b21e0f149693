/** The fault proxy really forwards, delays, cuts and resets a TCP stream (loopback only). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { FaultProxy } from './fault-proxy.ts';
import { sleep, waitFor } from './wait-for.ts';

let echo: Server;
let target = '';

beforeAll(async () => {
  echo = createServer((s) => {
    s.on('error', () => undefined); // the proxy resets upstream connections on purpose
    s.pipe(s);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const a = echo.address();
  if (!a || typeof a !== 'object') throw new Error('no address');
  target = `127.0.0.1:${a.port}`;
});
afterAll(() => {
  echo.close();
});

async function open(proxy: FaultProxy): Promise<{ socket: Socket; received: () => string; events: string[] }> {
  const socket = connect(proxy.port, '127.0.0.1');
  let data = '';
  const events: string[] = [];
  socket.on('data', (c: Buffer) => (data += c.toString()));
  socket.on('error', (e: NodeJS.ErrnoException) => events.push(e.code ?? 'error'));
  socket.on('close', () => events.push('close'));
  await once(socket, 'connect');
  return { socket, received: () => data, events };
}

describe('FaultProxy', () => {
  it('forwards both ways', async () => {
    const proxy = await FaultProxy.start({ target });
    const c = await open(proxy);
    c.socket.write('hello');
    await waitFor(c.received, (d) => d === 'hello', { timeoutMs: 2000 });
    expect(proxy.connections).toBe(1);
    c.socket.destroy();
    await proxy.close();
  });

  it('adds latency in each direction, keeping order', async () => {
    const proxy = await FaultProxy.start({ target });
    proxy.setLatency(150);
    const c = await open(proxy);
    const started = Date.now();
    c.socket.write('a');
    c.socket.write('b');
    await waitFor(c.received, (d) => d === 'ab', { timeoutMs: 3000 });
    // Two proxy hops (there and back), 150 ms each.
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    c.socket.destroy();
    await proxy.close();
  });

  it('blackholes: nothing passes while on, traffic flows again after', async () => {
    const proxy = await FaultProxy.start({ target });
    const c = await open(proxy);
    proxy.blackhole(true);
    c.socket.write('lost');
    await sleep(300);
    expect(c.received()).toBe('');
    expect(c.events).toEqual([]); // the connection is still open: a partition, not a failure
    proxy.blackhole(false);
    c.socket.write('back');
    await waitFor(c.received, (d) => d === 'back', { timeoutMs: 2000 });
    c.socket.destroy();
    await proxy.close();
  });

  it('resets open connections', async () => {
    const proxy = await FaultProxy.start({ target });
    const c = await open(proxy);
    proxy.reset();
    await waitFor(() => c.events, (e) => e.includes('ECONNRESET'), { timeoutMs: 2000 });
    const again = await open(proxy);
    again.socket.write('x');
    await waitFor(again.received, (d) => d === 'x', { timeoutMs: 2000 });
    again.socket.destroy();
    await proxy.close();
  });

  it('resets a connection in the middle of a chunk from the upstream: the client gets its first half, then a reset', async () => {
    const proxy = await FaultProxy.start({ target });
    const c = await open(proxy);
    c.socket.write('small'); // below the cut's size: forwarded whole
    await waitFor(c.received, (d) => d === 'small', { timeoutMs: 2000 });
    proxy.resetMidChunk(8);
    c.socket.write('abcdefgh');
    await waitFor(() => c.events, (e) => e.includes('ECONNRESET'), { timeoutMs: 2000 });
    expect(c.received()).toBe('smallabcd');
    expect(proxy.cuts).toBe(1);
    const again = await open(proxy); // one cut only
    again.socket.write('abcdefgh');
    await waitFor(again.received, (d) => d === 'abcdefgh', { timeoutMs: 2000 });
    again.socket.destroy();
    await proxy.close();
  });

  it('resets a connection after a request reached the upstream: the upstream got it, the client gets no answer, then a reset', async () => {
    const proxy = await FaultProxy.start({ target });
    const c = await open(proxy);
    c.socket.write('before');
    await waitFor(c.received, (d) => d === 'before', { timeoutMs: 2000 });
    proxy.resetAfterClientSends('COMMIT', 100);
    c.socket.write('not this one');
    await waitFor(c.received, (d) => d === 'beforenot this one', { timeoutMs: 2000 });
    c.socket.write('please COMMIT now');
    await waitFor(() => c.events, (e) => e.includes('ECONNRESET'), { timeoutMs: 2000 });
    // The echo upstream answered the request at once; the answer was withheld.
    expect(c.received()).toBe('beforenot this one');
    expect(proxy.requestCuts).toBe(1);
    const again = await open(proxy); // one cut only
    again.socket.write('COMMIT');
    await waitFor(again.received, (d) => d === 'COMMIT', { timeoutMs: 2000 });
    again.socket.destroy();
    await proxy.close();
  });

  it('goes down (connection refused) and comes back up on the same port', async () => {
    const proxy = await FaultProxy.start({ target });
    const port = proxy.port;
    await proxy.down();
    const refused = connect(port, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    await proxy.up();
    expect(proxy.port).toBe(port);
    const c = await open(proxy);
    c.socket.write('up');
    await waitFor(c.received, (d) => d === 'up', { timeoutMs: 2000 });
    c.socket.destroy();
    await proxy.close();
  });
});
