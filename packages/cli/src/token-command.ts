/**
 * `meridian token <role>`: a bearer token signed with the local cluster's key (made under
 * `<dir>/auth/` if missing, as `meridian up` would), printed alone on stdout so that
 * `$(npm run -s meridian -- token writer)` captures it. Roles map to scopes as cluster.json's do;
 * `--ns` limits the token to namespaces. The key never leaves its file.
 */
import { LOCAL_AUDIENCE, LOCAL_ISSUER, ensureSigningKeys } from '@meridian/infra-local';
import { signToken, type Scope } from '@meridian/auth';
import type { TokenCommand } from './cli-args.ts';

const SCOPE_OF: Readonly<Record<TokenCommand['role'], Scope>> = { admin: 'admin', writer: 'write', reader: 'read', metrics: 'metrics' };

export async function runToken(command: TokenCommand): Promise<number> {
  const { keys, created } = ensureSigningKeys(command.dir);
  if (created) console.error(`made a signing key in ${command.dir}/auth (regions verify with public-key.pem there)`);
  const token = await signToken(keys, {
    issuer: LOCAL_ISSUER,
    audience: LOCAL_AUDIENCE,
    subject: `cli-${command.role}${command.namespaces ? `-${command.namespaces.join('+')}` : ''}`,
    scopes: [SCOPE_OF[command.role]],
    ...(command.namespaces ? { namespaces: command.namespaces } : {}),
    expiresInSeconds: command.days * 86_400,
  });
  console.log(token);
  return 0;
}
