/** Identities from certificates and the calls they may make: a region merges only as itself. */
import { describe, expect, it } from 'vitest';
import { authorizeCall, expectServer, identityFromAltNames, identityUri } from './peer-identity.ts';

const eu = 'URI:meridian:region:eu, DNS:localhost, IP Address:127.0.0.1';

describe('identityFromAltNames', () => {
  it('reads a region or the operator from the one Meridian URI', () => {
    expect(identityFromAltNames(eu)).toEqual({ kind: 'region', region: 'eu' });
    expect(identityFromAltNames('DNS:ops, URI:meridian:operator')).toEqual({ kind: 'operator' });
    expect(identityUri({ kind: 'region', region: 'ap-2' })).toBe('meridian:region:ap-2');
  });

  it('finds no identity in a certificate without one, with two, or with a malformed region', () => {
    expect(identityFromAltNames(undefined)).toBeUndefined();
    expect(identityFromAltNames('DNS:eu.example, IP Address:10.0.0.1')).toBeUndefined();
    expect(identityFromAltNames('URI:meridian:region:eu, URI:meridian:region:us')).toBeUndefined();
    expect(identityFromAltNames('URI:meridian:region:EU')).toBeUndefined();
    expect(identityFromAltNames('URI:https://meridian/region/eu')).toBeUndefined();
  });
});

describe('authorizeCall', () => {
  const region = { kind: 'region', region: 'eu' } as const;
  it('lets a region read and merge as itself, never as another region', () => {
    for (const m of ['summary', 'branches', 'segments', 'keyHashes', 'fetchStates'] as const) expect(authorizeCall(region, m)).toEqual({ allowed: true });
    expect(authorizeCall(region, 'mergeStates', 'eu')).toEqual({ allowed: true });
    expect(authorizeCall(region, 'mergeStates', 'us')).toEqual({ allowed: false, reason: 'a certificate of region eu cannot merge states as region us' });
    expect(authorizeCall(region, 'mergeStates')).toMatchObject({ allowed: false });
  });

  it('lets the operator merge for any region and refuses a caller without an identity', () => {
    expect(authorizeCall({ kind: 'operator' }, 'mergeStates', 'us')).toEqual({ allowed: true });
    expect(authorizeCall(undefined, 'summary')).toMatchObject({ allowed: false });
  });
});

describe('expectServer', () => {
  it('accepts only the certificate of the region the client meant to reach', () => {
    expect(expectServer({ kind: 'region', region: 'eu' }, eu)).toBeUndefined();
    expect(expectServer({ kind: 'region', region: 'us' }, eu)?.message).toBe('expected the anti-entropy server of region us, found a certificate of region eu');
    expect(expectServer({ kind: 'region', region: 'us' }, 'URI:meridian:operator')).toBeInstanceOf(Error);
  });
});
