/**
 * A lean HTTP/1.1 client for the benchmarks' load generators. node:http's client costs the bench
 * process about three times the CPU per request, and on two cores the load generator's CPU is
 * taken from the services it measures (autocannon, which finds the maximum rate, has its own
 * lean client likewise). Keep-alive connections, one request at a time on each, answers read
 * by Content-Length: enough for the region service, which always sends one.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  readonly status: number;
  /** A view of the bytes received (valid as long as it is referenced). */
  readonly body: Buffer;
}

/**
 * One keep-alive HTTP/1.1 connection that sends one request at a time and reads answers with a
 * minimal parser (status line, Content-Length, body).
 */
export class RawConnection {
  readonly #socket: Socket;
  #buffered: Buffer = Buffer.alloc(0);
  #waiting: ((answer: RawAnswer) => void) | undefined;
  #failed: ((error: Error) => void) | undefined;
  #dead: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  busy = false;
  /** Settles once the connection is established (or has failed: send then rejects). */
  readonly connected: Promise<void>;

  /** `timeoutMs`: an answer that takes longer fails its request and closes the connection. */
  readonly #timeoutMs: number;

  constructor(url: URL, timeoutMs = 30_000) {
    this.#timeoutMs = timeoutMs;
    this.#socket = connect({ host: url.hostname, port: Number(url.port) });
    this.connected = new Promise<void>((resolve) => {
      this.#socket.once('connect', () => resolve());
      this.#socket.once('close', () => resolve());
    });
    this.#socket.setNoDelay(true);
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (error) => this.#fail(error));
    this.#socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  /** Sends one request (head and body prepared by the caller); resolves with the answer's status and body. */
  send(request: Buffer): Promise<RawAnswer> {
    this.busy = true;
    return new Promise<RawAnswer>((resolve, reject) => {
      if (this.#dead) {
        reject(this.#dead);
        return;
      }
      this.#waiting = resolve;
      this.#failed = reject;
      this.#timer = setTimeout(() => this.#socket.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      this.#socket.write(request);
    });
  }

  /** Whether the connection failed or was closed (it takes no more requests). */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  close(): void {
    this.#socket.destroy();
  }

  #fail(error: Error): void {
    this.#dead ??= error;
    this.busy = false;
    clearTimeout(this.#timer);
    const failed = this.#failed;
    this.#waiting = undefined;
    this.#failed = undefined;
    failed?.(error);
  }

  #onData(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    for (;;) {
      const headEnd = this.#buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = this.#buffered.toString('latin1', 0, headEnd);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) {
        this.#socket.destroy(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
        return;
      }
      const end = headEnd + 4 + Number(length[1]);
      if (this.#buffered.length < end) return;
      const body = this.#buffered.subarray(headEnd + 4, end);
      this.#buffered = this.#buffered.subarray(end);
      const waiting = this.#waiting;
      clearTimeout(this.#timer);
      this.#waiting = undefined;
      this.#failed = undefined;
      this.busy = false;
      waiting?.({ status, body });
    }
  }
}

/**
 * `connections` RawConnections to one server; a request waits (first come, first served) when
 * every connection is busy. A connection that fails leaves the pool (its request fails); when
 * none is left, waiting and later requests fail at once.
 */
export class RawConnectionPool {
  readonly #connections: RawConnection[];
  readonly #host: string;
  /** Extra header lines (`name: value\r\n`…), e.g. the bearer token. */
  readonly #headers: string;
  readonly #waiting: { request: Buffer; resolve: (a: RawAnswer) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  /** `timeoutMs`: see RawConnection. */
  constructor(url: URL, connections: number, timeoutMs?: number, headers: Readonly<Record<string, string>> = {}) {
    this.#host = url.host;
    this.#headers = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    this.#connections = Array.from({ length: Math.max(1, connections) }, () => new RawConnection(url, timeoutMs));
  }

  /** Settles once every connection is established (or has failed). */
  get connected(): Promise<void> {
    return Promise.all(this.#connections.map((c) => c.connected)).then(() => undefined);
  }

  /** Sends `method path` with a JSON body (none when empty, e.g. a DELETE), and `headers` besides the pool's own. */
  request(method: string, path: string, body: string, headers: Readonly<Record<string, string>> = {}): Promise<RawAnswer> {
    const payload = Buffer.from(body);
    const type = body === '' ? '' : 'content-type: application/json\r\n';
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const request = Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\n${type}${this.#headers}${extra}content-length: ${payload.length}\r\n\r\n`, 'latin1'), payload]);
    return new Promise<RawAnswer>((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      this.#dispatch();
    });
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#connections) c.close();
    this.#dispatch();
  }

  /** Hands waiting requests to idle live connections; fails them all when no connection is left. */
  #dispatch(): void {
    for (let i = this.#connections.length - 1; i >= 0; i--) if (this.#connections[i]!.dead) this.#connections.splice(i, 1);
    if (this.#closed || this.#connections.length === 0) {
      const error = new Error(this.#closed ? 'the connection pool was closed' : 'every connection of the pool failed');
      for (const w of this.#waiting.splice(0)) w.reject(error);
      return;
    }
    for (const connection of this.#connections) {
      if (this.#waiting.length === 0) return;
      if (connection.busy) continue;
      const { request, resolve, reject } = this.#waiting.shift()!;
      const answer = connection.send(request);
      answer.then(resolve, reject);
      // The connection is free again once answered (or gone once failed): the next waiting request goes.
      const next = (): void => this.#dispatch();
      answer.then(next, next);
    }
  }
}
