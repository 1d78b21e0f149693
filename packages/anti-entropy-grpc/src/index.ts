/**
 * @meridian/anti-entropy-grpc: the gRPC edge of anti-entropy — the server a region exposes to its
 * peers (and to `meridian verify` / `meridian repair`), the client that reads a peer as a
 * `TreeReplica`, and TLS credentials from file paths.
 */
export { startAntiEntropyServer, type AntiEntropyServer } from './anti-entropy-server.ts';
export { GrpcReplica, type GrpcReplicaOptions } from './grpc-replica.ts';
export { tlsFiles, serverCredentials, channelCredentials, type TlsFiles } from './tls-credentials.ts';
