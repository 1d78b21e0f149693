/**
 * The Kafka clients of a region (relay, replicators, health check), whose sockets hand kafkajs
 * whole responses only.
 *
 * Why: kafkajs 2.2.4 keeps the bytes of a response it has partly received in its `Connection`,
 * not in the socket, and keeps them when the socket fails and it connects again. A connection
 * lost in the middle of a response (a reset, a peer region's network) leaves that half response
 * in front of the new socket's bytes: every later response is framed wrongly ("Response without
 * match" once), each request on that connection times out, a request timeout does not drop the
 * connection, and the client never recovers. A replicator then stops applying its peer's updates
 * without an error (a relay stops publishing). Here each socket frames its own bytes (Kafka
 * responses are size-prefixed) and passes on only complete responses: a half response dies with
 * its socket, and the new socket starts clean.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Kafka, type ISocketFactory, type KafkaConfig } from 'kafkajs';

/** kafkajs's default keep-alive delay for its sockets. */
const KEEP_ALIVE_MS = 60_000;

/** Whole size-prefixed frames (an int32 size, then that many bytes) out of a stream's chunks. */
export class ResponseFramer {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes needed before a frame can be complete: its size prefix, then the whole frame. */
  #needed = 4;

  /** Bytes held back: the start of a frame that is not complete yet. */
  get pending(): number {
    return this.#buffered;
  }

  /** Takes a chunk; returns the complete frames received so far (in one buffer), or undefined when none is complete. */
  push(chunk: Buffer): Buffer | undefined {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#needed) return undefined;
    const buffer = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
    let end = 0;
    while (end + 4 <= buffer.length) {
      const size = buffer.readInt32BE(end);
      if (size < 0) {
        // Not Kafka framing: pass everything on as it came, and let the client fail on it.
        this.#reset();
        return buffer;
      }
      if (end + 4 + size > buffer.length) break;
      end += 4 + size;
    }
    const rest = buffer.subarray(end);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    this.#needed = rest.length >= 4 ? 4 + rest.readInt32BE(0) : 4;
    if (end === 0) return undefined;
    return end === buffer.length ? buffer : buffer.subarray(0, end); // the common case, whole frames only: no copy, no view
  }

  #reset(): void {
    this.#chunks = [];
    this.#buffered = 0;
    this.#needed = 4;
  }
}

/** Makes `socket` emit only complete responses as 'data' (a partial one is held until it completes, or dropped with the socket). */
export function deliverWholeResponses<S extends Socket>(socket: S): S {
  const framer = new ResponseFramer();
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== 'data') return emit(event, ...args);
    const whole = framer.push(args[0] as Buffer);
    return whole === undefined || emit('data', whole);
  }) as S['emit'];
  return socket;
}

/** kafkajs's own socket factory (plain or TLS, with keep-alive). */
export const plainSockets: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect) : netConnect({ host, port }, onConnect);
  socket.setKeepAlive(true, KEEP_ALIVE_MS);
  return socket;
};

/** A socket factory whose sockets hand kafkajs whole responses only (see the module comment). */
export function wholeResponseSockets(open: ISocketFactory = plainSockets): ISocketFactory {
  return (args) => deliverWholeResponses(open(args));
}

/** A kafkajs client whose connections survive being cut in the middle of a response. */
export function createKafka(config: Omit<KafkaConfig, 'socketFactory'>): Kafka {
  return new Kafka({ ...config, socketFactory: wholeResponseSockets() });
}
