/**
 * A TCP proxy that injects faults, put between a region and a peer's Kafka or between the GSLB
 * and a region (no Toxiproxy server can be installed on these machines).
 *
 * Faults, each switchable at run time:
 * - latency: every chunk is delayed by `latencyMs` (order kept, per direction);
 * - blackhole: connections stay open but nothing is forwarded (a partition as TCP sees it: the
 *   peer's requests time out instead of failing fast); data sent meanwhile is dropped;
 * - reset: every open connection is reset (RST), new ones are accepted;
 * - reset mid-chunk: the next chunk from the upstream of at least a given size is forwarded only
 *   in part, then its connection is reset — a connection lost while a response was half received;
 * - reset after a request: the next chunk from the client that contains a given byte pattern is
 *   forwarded, the upstream's answer is withheld, and the connection is reset — a request that
 *   reached the server (a COMMIT) whose answer the client never gets;
 * - down: the listener closes and open connections are reset (connection refused), until up().
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface FaultProxyOptions {
  /** The upstream `host:port`. */
  readonly target: string;
  /** Where to listen; a free loopback port when absent. */
  readonly port?: number;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

export class FaultProxy {
  readonly #targetHost: string;
  readonly #targetPort: number;
  #server: Server | undefined;
  #port: number;
  readonly #pairs = new Set<Pair>();
  #latencyMs = 0;
  #blackholed = false;
  /** Armed by `resetMidChunk`: the smallest upstream chunk to cut. */
  #cutAtLeast: number | undefined;
  /** Connections whose cut chunk was forwarded in part and that are about to be reset. */
  readonly #cutting = new Set<Pair>();
  /** Connections accepted since start, for tests that check the proxy was really in the path. */
  connections = 0;
  /** Connections cut by `resetMidChunk` so far. */
  cuts = 0;
  /** Armed by `resetAfterClientSends`: the pattern, and how long the server gets to act on the request. */
  #afterRequest: { readonly pattern: Buffer; readonly delayMs: number } | undefined;
  /** Connections whose answer is withheld until their reset. */
  readonly #silenced = new Set<Pair>();
  /** Connections cut by `resetAfterClientSends` so far. */
  requestCuts = 0;

  private constructor(target: string, port: number) {
    const at = target.lastIndexOf(':');
    this.#targetHost = target.slice(0, at);
    this.#targetPort = Number(target.slice(at + 1));
    if (at <= 0 || !Number.isInteger(this.#targetPort)) throw new Error(`expected target host:port (got ${JSON.stringify(target)})`);
    this.#port = port;
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options.target, options.port ?? 0);
    await proxy.up();
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:<port>` */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get isUp(): boolean {
    return this.#server !== undefined;
  }

  setLatency(ms: number): void {
    this.#latencyMs = Math.max(0, ms);
  }

  blackhole(on = true): void {
    this.#blackholed = on;
  }

  /** Resets (RST) every open connection; the listener keeps accepting. */
  reset(): void {
    for (const pair of this.#pairs) {
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
    }
    this.#pairs.clear();
  }

  /**
   * Arms one cut: the next chunk coming from the upstream that has at least `minBytes` is
   * forwarded only in part (its first half), then that connection is reset. The client has then
   * received part of a response, and the rest never comes.
   */
  resetMidChunk(minBytes = 2): void {
    this.#cutAtLeast = Math.max(2, minBytes);
  }

  /**
   * Arms one cut: the next chunk from a client that contains `pattern` is forwarded to the
   * upstream, everything the upstream answers from then on is dropped, and after `delayMs` (time
   * for the server to act on the request) the connection is reset. The client sent its request
   * and never learns what became of it.
   */
  resetAfterClientSends(pattern: string | Uint8Array, delayMs = 200): void {
    this.#afterRequest = { pattern: Buffer.from(pattern), delayMs };
  }

  /** Stops listening and resets every connection: clients see "connection refused". */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.reset();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again, on the same port. */
  async up(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address && typeof address === 'object') this.#port = address.port;
    this.#server = server;
  }

  async close(): Promise<void> {
    await this.down();
  }

  #accept(client: Socket): void {
    this.connections += 1;
    const upstream = connect(this.#targetPort, this.#targetHost);
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    const end = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    this.#pipe(client, upstream, undefined, pair);
    this.#pipe(upstream, client, pair);
  }

  /**
   * Forwards `from` → `to`, delaying each chunk while keeping order, dropping it while blackholed;
   * from the upstream (`cut` is its pair), cutting the chunk that an armed `resetMidChunk` waits for;
   * from the client (`request` is its pair), the request an armed `resetAfterClientSends` waits for.
   */
  #pipe(from: Socket, to: Socket, cut?: Pair, request?: Pair): void {
    let tail = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      if (this.#blackholed) return;
      if (cut && this.#cutting.has(cut)) return; // the rest of a cut response never comes
      if (cut && this.#silenced.has(cut)) return; // the answer to a cut request never comes
      const armed = this.#afterRequest;
      if (request && armed && chunk.includes(armed.pattern)) {
        this.#afterRequest = undefined;
        this.#silenced.add(request);
        this.requestCuts += 1;
        tail = tail.then(() => {
          if (to.destroyed) return;
          to.write(chunk, () =>
            setTimeout(() => {
              this.#silenced.delete(request);
              this.#pairs.delete(request);
              request.client.resetAndDestroy();
              request.upstream.resetAndDestroy();
            }, armed.delayMs),
          );
        });
        return;
      }
      if (cut && this.#cutAtLeast !== undefined && chunk.length >= this.#cutAtLeast) {
        this.#cutAtLeast = undefined;
        this.#cutting.add(cut);
        this.cuts += 1;
        const part = chunk.subarray(0, chunk.length >> 1);
        tail = tail.then(() => {
          if (to.destroyed) return;
          // The part reaches the client (and is read) before the reset.
          to.write(part, () =>
            setTimeout(() => {
              this.#cutting.delete(cut);
              this.#pairs.delete(cut);
              cut.client.resetAndDestroy();
              cut.upstream.resetAndDestroy();
            }, 50),
          );
        });
        return;
      }
      const delay = this.#latencyMs;
      if (delay === 0) {
        tail = tail.then(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      const due = Date.now() + delay;
      tail = tail.then(
        () =>
          new Promise<void>((resolve) => {
            setTimeout(() => {
              if (!to.destroyed && !this.#blackholed) to.write(chunk);
              resolve();
            }, Math.max(0, due - Date.now()));
          }),
      );
    });
  }
}
