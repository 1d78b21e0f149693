/**
 * Free TCP ports on the loopback interface, for brokers, services and proxies started by tests.
 *
 * A port is free only until someone binds it. One that the kernel hands out for `listen(0)` comes
 * from the ephemeral range, the same range every outgoing connection (a Kafka client, a pool's
 * PostgreSQL connection) takes its local port from, so between the check and the real `listen`
 * a busy machine can give it away (EADDRINUSE in a fault suite). Ports are therefore picked below
 * the ephemeral range, where only listeners that chose them explicitly live, and never twice by
 * one process.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const given = new Set<number>();

/** The lowest ephemeral port (Linux's ip_local_port_range; the IANA range elsewhere). */
export function ephemeralLow(rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): number {
  try {
    const low = Number(readFileSync(rangeFile, 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // not Linux: fall through
  }
  return 49152;
}

/** Whether `port` can be bound on 127.0.0.1 now (0 binds any, answering the port bound). */
async function tryBind(port: number): Promise<number | undefined> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === 'object' ? address.port : undefined));
    });
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1025, high - 12_000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (given.has(port)) continue;
    given.add(port); // reserved before the await: concurrent calls never pick it too
    if ((await tryBind(port)) === port) return port;
    given.delete(port);
  }
  // A crowded range: take one from the kernel rather than fail.
  const port = await tryBind(0);
  if (port === undefined) throw new Error('could not find a free TCP port on 127.0.0.1');
  given.add(port);
  return port;
}
