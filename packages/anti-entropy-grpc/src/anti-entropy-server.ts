/**
 * A region's AntiEntropyService over gRPC: each call answered by the region's own `TreeReplica`
 * (its store and its repair merge). With TLS, every call is first authorized by the identity in
 * the client's certificate (peer-identity.ts): a refused call answers PERMISSION_DENIED and
 * never reaches the replica. Errors reach the caller as INTERNAL with the message; the caller's
 * round fails and the next one starts again. Identity (who calls) is checked here; membership
 * (whether that region may repair here) by the replica: a merge from a region that is not a
 * member (`NotAMemberError`) answers FAILED_PRECONDITION.
 */
import { Server, status, type UntypedServiceImplementation, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { NotAMemberError, type TreeReplica } from '@meridian/anti-entropy';
import { ANTI_ENTROPY_SERVICE, type AntiEntropyMessages, type TreeNodeMessage } from '@meridian/protocol';
import { authorizeCall, identityFromAltNames } from './peer-identity.ts';
import { serverCredentials, type TlsFiles } from './tls-credentials.ts';

export interface AntiEntropyServer {
  /** The port bound (useful when 0 was asked). */
  readonly port: number;
  stop(): Promise<void>;
}

const nodes = (m: ReadonlyMap<number, { hash: bigint; keys: number }>): TreeNodeMessage[] => [...m].map(([index, s]) => ({ index, hash: s.hash, keys: s.keys }));

type Handlers = { [M in keyof AntiEntropyMessages]: (request: AntiEntropyMessages[M]['request']) => Promise<AntiEntropyMessages[M]['response']> };

function handlersFor(replica: TreeReplica): Handlers {
  return {
    summary: async () => {
      const s = await replica.summary();
      return { region: s.region, namespaces: s.namespaces.map((n) => ({ name: n.name, policy: n.policy, hash: n.root.hash, keys: n.root.keys })), positions: [...s.positions].map(([origin, outboxId]) => ({ origin, outboxId })), published: s.published };
    },
    branches: async (r) => ({ nodes: nodes(await replica.branches(r.namespace)) }),
    segments: async (r) => ({ nodes: nodes(await replica.segments(r.namespace, r.branches)) }),
    keyHashes: async (r) => ({ keys: [...(await replica.keyHashes(r.namespace, r.segments))].map(([key, hash]) => ({ key, hash })) }),
    fetchStates: async (r) => ({ states: await replica.fetchStates(r.namespace, r.keys) }),
    mergeStates: async (r) => ({ repairs: await replica.mergeStates(r.namespace, r.policy, r.fromRegion, r.states) }),
  };
}

export interface AntiEntropyServerOptions {
  readonly replica: TreeReplica;
  readonly host: string;
  readonly port: number;
  /** Mutual TLS with the deployment's CA; undefined: plaintext, every call allowed (TLS turned off). */
  readonly tls: TlsFiles | undefined;
  /** Told of each refused call (the reason names identities, never key material). */
  readonly onRefused?: (reason: string) => void;
}

export async function startAntiEntropyServer(options: AntiEntropyServerOptions): Promise<AntiEntropyServer> {
  const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const handlers = handlersFor(options.replica);
  const implementation: UntypedServiceImplementation = {};
  for (const name of Object.keys(handlers) as (keyof Handlers)[]) {
    const handle = handlers[name] as (request: unknown) => Promise<unknown>;
    implementation[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      if (options.tls) {
        const caller = identityFromAltNames(call.getAuthContext()?.sslPeerCertificate?.subjectaltname);
        const decision = authorizeCall(caller, name, name === 'mergeStates' ? (call.request as AntiEntropyMessages['mergeStates']['request']).fromRegion : undefined);
        if (!decision.allowed) {
          options.onRefused?.(decision.reason);
          callback({ code: status.PERMISSION_DENIED, details: decision.reason, name: 'Error', message: decision.reason });
          return;
        }
      }
      handle(call.request).then(
        (response) => callback(null, response),
        (error: unknown) => callback({ code: error instanceof NotAMemberError ? status.FAILED_PRECONDITION : status.INTERNAL, details: (error as Error).message ?? String(error), name: 'Error', message: String(error) }),
      );
    };
  }
  server.addService(ANTI_ENTROPY_SERVICE, implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${options.host}:${options.port}`, serverCredentials(options.tls), (error, bound) => (error ? reject(error) : resolve(bound))));
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
