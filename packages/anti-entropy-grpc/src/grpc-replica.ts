/**
 * A peer region's tree, read over gRPC: the `TreeReplica` the exchange drives, implemented by
 * calls to the peer's AntiEntropyService. Each call has its own deadline: one that outlives it
 * rejects with `DeadlineExceededError`, which the exchange retries with half the work; any other
 * failure fails the exchange round (the next round starts again: comparing is idempotent).
 */
import { Client, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { DeadlineExceededError, type KeyRepair, type KeyState, type ReplicaSummary, type Summary, type TreeReplica } from '@meridian/anti-entropy';
import { ANTI_ENTROPY_SERVICE, type AntiEntropyMessages, type AntiEntropyMethod } from '@meridian/protocol';

export interface GrpcReplicaOptions {
  /** host:port of the peer's gRPC server. */
  readonly address: string;
  readonly credentials: ChannelCredentials;
  /** Each call's deadline (default 30 s). */
  readonly deadlineMs?: number;
}

const nodes = (list: readonly { index: number; hash: bigint; keys: number }[]): Map<number, Summary> => new Map(list.map((n) => [n.index, { hash: n.hash, keys: n.keys }]));
/** The TLS server name (SNI) every anti-entropy call sends; certificates are checked by identity, not by it. */
const TLS_SERVER_NAME = 'meridian-anti-entropy';

export class GrpcReplica implements TreeReplica {
  readonly address: string;
  readonly #client: Client;
  readonly #deadlineMs: number;
  /** Bytes of requests and responses on the wire (protobuf payloads), for reports and benchmarks. */
  bytes = 0;

  constructor(options: GrpcReplicaOptions) {
    this.address = options.address;
    this.#client = new Client(options.address, options.credentials, {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // The server's identity is checked on its certificate's region URI, not on a host name
      // (tls-credentials.ts), and addresses are often IPs, which TLS may not send as the server
      // name (RFC 6066; Node warns at every such connection): a fixed name instead.
      'grpc.ssl_target_name_override': TLS_SERVER_NAME,
    });
    this.#deadlineMs = options.deadlineMs ?? 30_000;
  }

  #call<M extends AntiEntropyMethod>(method: M, request: AntiEntropyMessages[M]['request']): Promise<AntiEntropyMessages[M]['response']> {
    const def = ANTI_ENTROPY_SERVICE[method] as unknown as {
      path: string;
      requestSerialize: (v: AntiEntropyMessages[M]['request']) => Buffer;
      responseDeserialize: (b: Buffer) => AntiEntropyMessages[M]['response'];
    };
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        def.path,
        (v: AntiEntropyMessages[M]['request']) => {
          const b = def.requestSerialize(v);
          this.bytes += b.length;
          return b;
        },
        (b: Buffer) => {
          this.bytes += b.length;
          return def.responseDeserialize(b);
        },
        request,
        { deadline: Date.now() + this.#deadlineMs },
        (error: ServiceError | null, response?: AntiEntropyMessages[M]['response']) => {
          const message = `anti-entropy ${method} at ${this.address} failed: ${error?.details ?? error?.message ?? 'no response'}`;
          if (error?.code === status.DEADLINE_EXCEEDED) reject(new DeadlineExceededError(`${message} (deadline ${this.#deadlineMs} ms)`, { cause: error }));
          else if (error || response === undefined) reject(new Error(message, { cause: error }));
          else resolve(response);
        },
      );
    });
  }

  async summary(): Promise<ReplicaSummary> {
    const s = await this.#call('summary', {});
    return { region: s.region, namespaces: s.namespaces.map((n) => ({ name: n.name, policy: n.policy, root: { hash: n.hash, keys: n.keys } })), positions: new Map(s.positions.map((p) => [p.origin, p.outboxId])), published: s.published };
  }

  async branches(namespace: string): Promise<Map<number, Summary>> {
    return nodes((await this.#call('branches', { namespace })).nodes);
  }

  async segments(namespace: string, branches: readonly number[]): Promise<Map<number, Summary>> {
    return nodes((await this.#call('segments', { namespace, branches })).nodes);
  }

  async keyHashes(namespace: string, segments: readonly number[]): Promise<Map<string, bigint>> {
    return new Map((await this.#call('keyHashes', { namespace, segments })).keys.map((k) => [k.key, k.hash]));
  }

  async fetchStates(namespace: string, keys: readonly string[]): Promise<KeyState[]> {
    return [...(await this.#call('fetchStates', { namespace, keys })).states];
  }

  async mergeStates(namespace: string, policy: string, fromRegion: string, states: readonly KeyState[]): Promise<KeyRepair[]> {
    return [...(await this.#call('mergeStates', { namespace, policy, fromRegion, states })).repairs];
  }

  close(): void {
    this.#client.close();
  }
}
