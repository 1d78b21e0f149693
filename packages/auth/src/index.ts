/** @meridian/auth: bearer-token access for Meridian's APIs. */
export { SCOPES, ClaimsError, decide, namespaceCovered, principalFromClaims, type Decision, type Principal, type RouteAccess, type Scope } from './access.ts';
export { TOKEN_ALGORITHMS, TokenError, createTokenVerifier, publicKeySet, type TokenVerifier, type TokenVerifierOptions } from './token-verifier.ts';
export { readSetting, type SettingSource } from './setting-source.ts';
export { generateSigningKeyPair, signToken, type SigningKeyPair, type TokenClaims } from './token-issuer.ts';
