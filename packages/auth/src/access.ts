/**
 * Who may call what: a verified token's claims become a `Principal`, and `decide` answers
 * whether that principal may call a route of a given scope on a given namespace. Pure (no I/O,
 * no clock): the verifier has already checked the signature, issuer, audience and expiry.
 *
 * Scopes nest: `admin` ⊇ `write` ⊇ `read` (an operator who may pause a link may also write and
 * read). `metrics` stands apart (a Prometheus scraper reads no data); `admin` also grants it.
 *
 * Namespaces: a token may carry an `ns` claim, a list of namespace names or prefixes (`orders-*`).
 * Such a token may only call routes that name one namespace it covers; a route that spans every
 * namespace (list namespaces, dead letters, links, metrics) is refused to it, since answering would show
 * other namespaces' names or data. No `ns` claim: every namespace.
 */

export const SCOPES = ['read', 'write', 'admin', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

/** What a route needs: a scope, or `public` (health probes; no token looked at). */
export type RouteAccess = Scope | 'public';

export interface Principal {
  /** The token's `sub` (the rate limiter's key; never the token itself). */
  readonly subject: string;
  readonly scopes: ReadonlySet<Scope>;
  /** Namespace names or `prefix*` patterns; undefined = every namespace. */
  readonly namespaces: readonly string[] | undefined;
}

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** The scopes a held scope implies. */
const IMPLIES: Readonly<Record<Scope, readonly Scope[]>> = {
  read: ['read'],
  write: ['write', 'read'],
  admin: ['admin', 'write', 'read', 'metrics'],
  metrics: ['metrics'],
};

export class ClaimsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimsError';
  }
}

const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

/**
 * Reads the claims Meridian uses: `sub`, `scope` (OAuth 2.0's space-separated string, RFC 8693
 * §4.2) or `scopes` (a list), and `ns`. Unknown scopes are ignored (a token may serve other
 * services too); a token with none of Meridian's is still a principal, refused everywhere.
 */
export function principalFromClaims(claims: Readonly<Record<string, unknown>>): Principal {
  const sub = claims['sub'];
  if (typeof sub !== 'string' || sub === '') throw new ClaimsError('the token has no subject (sub)');
  const raw = claims['scope'] ?? claims['scopes'];
  let names: string[];
  if (typeof raw === 'string') names = raw.split(' ').filter(Boolean);
  else if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) names = raw;
  else if (raw === undefined) names = [];
  else throw new ClaimsError('expected the scope claim to be a space-separated string or a list of strings');
  const scopes = new Set<Scope>();
  for (const name of names) if (isScope(name)) for (const implied of IMPLIES[name]) scopes.add(implied);
  const ns = claims['ns'];
  if (ns !== undefined && !(Array.isArray(ns) && ns.every((n) => typeof n === 'string' && n !== ''))) throw new ClaimsError('expected the ns claim to be a list of namespace names or prefixes');
  return { subject: sub, scopes, namespaces: ns as string[] | undefined };
}

/** True when the pattern (a name, or `prefix*`) covers the namespace. */
export function namespaceCovered(pattern: string, namespace: string): boolean {
  return pattern.endsWith('*') ? namespace.startsWith(pattern.slice(0, -1)) : pattern === namespace;
}

/**
 * May `principal` call a route needing `access`, on `namespace` (the route's `:ns` or `?ns=`;
 * undefined when it spans every namespace)?
 */
export function decide(principal: Principal, access: RouteAccess, namespace: string | undefined): Decision {
  if (access === 'public') return { allowed: true };
  if (!principal.scopes.has(access)) return { allowed: false, reason: `this route needs the ${access} scope` };
  if (principal.namespaces === undefined) return { allowed: true };
  if (namespace === undefined) return { allowed: false, reason: 'this route spans every namespace and the token is limited to some' };
  if (!principal.namespaces.some((p) => namespaceCovered(p, namespace))) return { allowed: false, reason: `the token does not cover namespace ${namespace}` };
  return { allowed: true };
}
