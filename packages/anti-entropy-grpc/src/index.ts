/**
 * @meridian/anti-entropy-grpc: the gRPC edge of anti-entropy — the server a region exposes to its
 * peers (and to `meridian verify` / `meridian repair`), the client that reads a peer as a
 * `TreeReplica`, mutual-TLS credentials from file paths, and the identities certificates carry.
 */
export { startAntiEntropyServer, type AntiEntropyServer, type AntiEntropyServerOptions } from './anti-entropy-server.ts';
export { GrpcReplica, type GrpcReplicaOptions } from './grpc-replica.ts';
export { tlsFiles, serverCredentials, channelCredentials, type TlsFiles } from './tls-credentials.ts';
export { authorizeCall, describeIdentity, expectServer, identityFromAltNames, identityUri, type CallDecision, type PeerIdentity } from './peer-identity.ts';
