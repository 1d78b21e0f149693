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
 *
 * Every client of a region — on its own Kafka and on each peer's — connects with the same
 * security (`kafkaClientSecurity`): TLS verified against the deployment's CA and SASL
 * SCRAM-SHA-512 as the region's principal, which the brokers' ACLs let write only its own
 * updates topic and read its peers' (docs/security.md).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Kafka, type ISocketFactory, type KafkaConfig, type SASLOptions } from 'kafkajs';

/** kafkajs's default keep-alive delay for its sockets. */
const KEEP_ALIVE_MS = 60_000;

/**
 * Whole size-prefixed frames (an int32 size, then that many bytes) out of a stream's chunks.
 * The frames come out as the chunks they arrived in (the last one cut at the frame's end), never
 * joined: kafkajs joins a response's chunks itself, so a copy here would be a second copy of
 * every response that spans chunks (a catch-up's fetch responses are megabytes).
 */
export class ResponseFramer {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes needed before a frame can be complete: its size prefix, then the whole frame. */
  #needed = 4;

  /** Bytes held back: the start of a frame that is not complete yet. */
  get pending(): number {
    return this.#buffered;
  }

  /**
   * Takes a chunk; returns the bytes of the complete frames received so far (as the chunks
   * they came in, in order: their concatenation is the frames), or undefined when none is complete.
   */
  push(chunk: Buffer): Buffer[] | undefined {
    if (chunk.length === 0) return undefined;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#needed) return undefined;
    let end = 0;
    while (end + 4 <= this.#buffered) {
      const size = this.#int32At(end);
      if (size < 0) {
        // Not Kafka framing: pass everything on as it came, and let the client fail on it.
        const all = this.#chunks;
        this.#reset();
        return all;
      }
      if (end + 4 + size > this.#buffered) break;
      end += 4 + size;
    }
    const out: Buffer[] = [];
    if (end > 0) {
      let taken = 0;
      while (taken < end) {
        const c = this.#chunks.shift()!;
        if (taken + c.length <= end) {
          out.push(c);
          taken += c.length;
        } else {
          out.push(c.subarray(0, end - taken));
          this.#chunks.unshift(c.subarray(end - taken));
          taken = end;
        }
      }
      this.#buffered -= end;
    }
    this.#needed = this.#buffered >= 4 ? 4 + this.#int32At(0) : 4;
    return out.length > 0 ? out : undefined;
  }

  /** The big-endian int32 at `position` of the held bytes (which may span chunks). */
  #int32At(position: number): number {
    let at = position;
    for (let i = 0; i < this.#chunks.length; i++) {
      const c = this.#chunks[i]!;
      if (at >= c.length) {
        at -= c.length;
        continue;
      }
      if (at + 4 <= c.length) return c.readInt32BE(at);
      // The four bytes span chunks (rare): gather them.
      const four = Buffer.alloc(4);
      let filled = 0;
      for (let j = i; filled < 4; j++, at = 0) filled += this.#chunks[j]!.copy(four, filled, at, Math.min(this.#chunks[j]!.length, at + 4 - filled));
      return four.readInt32BE(0);
    }
    throw new Error('int32 beyond the held bytes');
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
    let listened = true;
    for (const b of whole ?? []) listened = emit('data', b);
    return listened;
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
export function createKafka(config: Omit<KafkaConfig, 'socketFactory'>, options: { readonly highWatermarks?: boolean } = {}): Kafka {
  const kafka = new Kafka({ ...config, socketFactory: wholeResponseSockets() });
  return options.highWatermarks ? listingHighWatermarks(kafka) : kafka;
}

/** kafkajs's private factory of a client's clusters (2.2.4: `Kafka[PRIVATE.CREATE_CLUSTER]`). */
const CREATE_CLUSTER = 'private:Kafka:createCluster';
/** The ListOffsets isolation level that answers the high watermark (kafkajs `ISOLATION_LEVEL`). */
const READ_UNCOMMITTED = 0;

/**
 * Makes the client's admins answer each partition's high watermark as `fetchTopicOffsets`' `high`.
 *
 * Why: kafkajs's admin lists offsets read_committed, always (its cluster gets no isolation level,
 * and ListOffsets defaults to READ_COMMITTED), so its `high` is the last stable offset: while any
 * producer holds a transaction open on a partition, records appended after the transaction began
 * (the relay's too) lie beyond it. A link consumed up to that offset is not caught up, and a
 * replicator that took it for the end would judge a sequence it has yet to read lost (DESIGN §4).
 * The admin's cluster is made by the client's own factory, given the isolation level a
 * read_uncommitted consumer's cluster gets; consumers and producers name their own and keep it.
 */
export function listingHighWatermarks(kafka: Kafka): Kafka {
  const client = kafka as unknown as Record<symbol, (options: { isolationLevel?: number }) => unknown>;
  const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === CREATE_CLUSTER);
  const create = key === undefined ? undefined : client[key];
  if (key === undefined || typeof create !== 'function') throw new Error(`kafkajs has no ${CREATE_CLUSTER} (a kafkajs upgrade): admins would answer last stable offsets, not high watermarks`);
  client[key] = (options) => create.call(kafka, { ...options, isolationLevel: options.isolationLevel ?? READ_UNCOMMITTED });
  return kafka;
}

/** The TLS and SASL settings a region's Kafka clients share; undefined members: plaintext, anonymous. */
export interface KafkaClientSecurity {
  readonly ssl?: { readonly ca?: string[] } | true;
  readonly sasl?: SASLOptions;
}

export interface KafkaSecuritySettings {
  readonly kafkaSecurity: 'sasl_ssl' | 'plaintext';
  readonly kafkaTlsCa: string | undefined;
  readonly kafkaSaslMechanism: 'scram-sha-512' | 'scram-sha-256';
  readonly kafkaSaslUsername: string | undefined;
  readonly kafkaSaslPassword: string | undefined;
}

/**
 * The kafkajs settings of a region's configuration: SASL_SSL (the CA's PEM read here, at start)
 * or plaintext. The password goes to kafkajs only: it is never logged (describeConfig masks it).
 */
export function kafkaClientSecurity(settings: KafkaSecuritySettings, readFile: (path: string) => string): KafkaClientSecurity {
  if (settings.kafkaSecurity === 'plaintext') return {};
  if (settings.kafkaSaslUsername === undefined || settings.kafkaSaslPassword === undefined) throw new Error('SASL_SSL needs a username and a password');
  const sasl: SASLOptions = { mechanism: settings.kafkaSaslMechanism, username: settings.kafkaSaslUsername, password: settings.kafkaSaslPassword };
  return { ssl: settings.kafkaTlsCa === undefined ? true : { ca: [readFile(settings.kafkaTlsCa)] }, sasl };
}
