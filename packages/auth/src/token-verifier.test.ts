import { describe, expect, it } from 'vitest';
import { SignJWT, importPKCS8 } from 'jose';
import { createTokenVerifier, generateSigningKeyPair, publicKeySet, signToken } from './index.ts';

const NOW = 1_800_000_000;
const keys = generateSigningKeyPair();
const other = generateSigningKeyPair();
const base = { issuer: 'meridian-test', audience: 'meridian', expiresInSeconds: 3600, now: NOW } as const;
const verifierOf = (publicKeys: string) => createTokenVerifier({ publicKeys, issuer: 'meridian-test', audience: 'meridian', now: () => NOW, clockToleranceSeconds: 0 });

describe('token verifier', () => {
  it('accepts a token signed by a configured key and reads its principal', async () => {
    const token = await signToken(keys, { ...base, subject: 'writer', scopes: ['write'], namespaces: ['orders'] });
    const principal = await (await verifierOf(keys.publicKeyPem)).verify(token);
    expect(principal.subject).toBe('writer');
    expect([...principal.scopes].sort()).toEqual(['read', 'write']);
    expect(principal.namespaces).toEqual(['orders']);
  });

  it('refuses other keys, issuers, audiences, expired tokens and garbage, never quoting the token', async () => {
    const verifier = await verifierOf(keys.publicKeyPem);
    const cases: [string, Promise<string> | string, RegExp][] = [
      ['foreign key', signToken(other, { ...base, subject: 's', scopes: ['read'] }), /not signed by a known key|signature/],
      ['issuer', signToken(keys, { ...base, issuer: 'evil', subject: 's', scopes: ['read'] }), /iss claim/],
      ['audience', signToken(keys, { ...base, audience: 'other', subject: 's', scopes: ['read'] }), /aud claim/],
      ['expired', signToken(keys, { ...base, now: NOW - 7200, subject: 's', scopes: ['read'] }), /expired/],
      ['garbage', 'not.a.token', /malformed|could not be verified/],
    ];
    for (const [what, token, message] of cases) {
      const t = await token;
      const error = await verifier.verify(t).then(() => undefined, (e: unknown) => e as Error);
      expect([what, error?.name]).toEqual([what, 'TokenError']);
      expect(error!.message).toMatch(message);
      expect(error!.message).not.toContain(t);
    }
  });

  it('refuses an HMAC token (alg confusion) and one without exp', async () => {
    const verifier = await verifierOf(keys.publicKeyPem);
    const hmac = await new SignJWT({ scope: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('s').setIssuer('meridian-test').setAudience('meridian').setExpirationTime(NOW + 60).sign(new TextEncoder().encode(keys.publicKeyPem));
    await expect(verifier.verify(hmac)).rejects.toThrow(/algorithm|not accepted|could not/);
    const noExp = await new SignJWT({ scope: 'admin' }).setProtectedHeader({ alg: 'EdDSA' }).setSubject('s').setIssuer('meridian-test').setAudience('meridian').sign(await importPKCS8(keys.privateKeyPem, 'EdDSA'));
    await expect(verifier.verify(noExp)).rejects.toThrow(/exp claim/);
  });

  it('during a rotation accepts tokens of either key, with or without kid, and a JWKS document', async () => {
    const verifier = await verifierOf(`${keys.publicKeyPem}\n${other.publicKeyPem}`);
    for (const k of [keys, other]) expect((await verifier.verify(await signToken(k, { ...base, subject: 'r', scopes: ['read'] }))).subject).toBe('r');
    const noKid = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'EdDSA' }).setSubject('nk').setIssuer('meridian-test').setAudience('meridian').setExpirationTime(NOW + 60).sign(await importPKCS8(other.privateKeyPem, 'EdDSA'));
    expect((await verifier.verify(noKid)).subject).toBe('nk');
    const jwks = JSON.stringify(await publicKeySet(other.publicKeyPem));
    expect((await (await verifierOf(jwks)).verify(noKid)).subject).toBe('nk');
  });

  it('refuses unreadable key material at construction', async () => {
    await expect(verifierOf('nonsense')).rejects.toThrow(/PEM/);
    await expect(verifierOf('{"keys": []}')).rejects.toThrow(/at least one key/);
  });

  it('remembers a verified token until its expiry or a minute, whichever is first; never a refused one', async () => {
    let now = NOW;
    const verifier = await createTokenVerifier({ publicKeys: keys.publicKeyPem, issuer: 'meridian-test', audience: 'meridian', now: () => now, clockToleranceSeconds: 0, cacheSize: 2 });
    const shortLived = await signToken(keys, { ...base, expiresInSeconds: 30, subject: 'short', scopes: ['read'] });
    expect((await verifier.verify(shortLived)).subject).toBe('short');
    now = NOW + 29;
    expect((await verifier.verify(shortLived)).subject).toBe('short');
    now = NOW + 31; // expired: the cache does not outlive exp
    await expect(verifier.verify(shortLived)).rejects.toThrow(/expired/);
    now = NOW;
    const forged = `${shortLived.slice(0, -4)}AAAA`;
    for (let i = 0; i < 2; i++) await expect(verifier.verify(forged)).rejects.toThrow(/signature|could not/);
  });
});
