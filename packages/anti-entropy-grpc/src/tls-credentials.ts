/**
 * TLS for the anti-entropy channel, from configured file paths (PEM): mutual TLS, the
 * deployment's CA on both sides. The server asks for and checks the client's certificate; the
 * client presents its own and checks that the server's certificate names the region it meant to
 * reach (peer-identity.ts) — in place of a host-name check: a region's identity is its
 * certificate's, not its address's. Without TLS files the channel is plaintext: only when the
 * operator turned TLS off (MERIDIAN_GRPC_TLS=off), e.g. for a baseline benchmark. A partial set
 * is refused: half a TLS setup is a mistake.
 */
import { readFileSync } from 'node:fs';
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { expectServer, type PeerIdentity } from './peer-identity.ts';

export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** The TLS files when all three are set, undefined when none is; throws when only some are. */
export function tlsFiles(paths: { readonly caFile?: string | undefined; readonly certFile?: string | undefined; readonly keyFile?: string | undefined }): TlsFiles | undefined {
  const set = [paths.caFile, paths.certFile, paths.keyFile].filter((p) => p !== undefined && p !== '');
  if (set.length === 0) return undefined;
  if (set.length !== 3) throw new Error('expected a CA, a certificate and a key for gRPC TLS, all three or none');
  return { caFile: paths.caFile!, certFile: paths.certFile!, keyFile: paths.keyFile! };
}

export function serverCredentials(tls: TlsFiles | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(readFileSync(tls.caFile), [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }], true);
}

/** Credentials to call the server of `server` (its certificate must name it). */
export function channelCredentials(tls: TlsFiles | undefined, server: PeerIdentity): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(readFileSync(tls.caFile), readFileSync(tls.keyFile), readFileSync(tls.certFile), {
    checkServerIdentity: (_host, certificate) => expectServer(server, certificate.subjectaltname),
  });
}
