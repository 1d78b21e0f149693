import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SCOPES, decide, principalFromClaims, type RouteAccess, type Scope } from './access.ts';

const p = (scope: string, ns?: string[]) => principalFromClaims({ sub: 'svc', scope, ...(ns ? { ns } : {}) });

describe('principalFromClaims', () => {
  it('reads the space-separated scope claim or a scopes list, and the implied scopes', () => {
    expect([...p('write').scopes].sort()).toEqual(['read', 'write']);
    expect([...p('admin').scopes].sort()).toEqual(['admin', 'metrics', 'read', 'write']);
    expect([...principalFromClaims({ sub: 's', scopes: ['metrics', 'other:thing'] }).scopes]).toEqual(['metrics']);
    expect(p('').scopes.size).toBe(0);
  });

  it('refuses claims of the wrong shape', () => {
    expect(() => principalFromClaims({ scope: 'read' })).toThrow(/subject/);
    expect(() => principalFromClaims({ sub: 's', scope: 42 })).toThrow(/scope claim/);
    expect(() => principalFromClaims({ sub: 's', scope: 'read', ns: 'orders' })).toThrow(/ns claim/);
    expect(() => principalFromClaims({ sub: 's', scope: 'read', ns: [''] })).toThrow(/ns claim/);
  });
});

describe('decide', () => {
  it('nests read ⊂ write ⊂ admin; metrics apart; public needs nothing', () => {
    const table: [string, RouteAccess, boolean][] = [
      ['read', 'read', true], ['read', 'write', false], ['read', 'admin', false], ['read', 'metrics', false],
      ['write', 'read', true], ['write', 'write', true], ['write', 'admin', false],
      ['admin', 'admin', true], ['admin', 'write', true], ['admin', 'metrics', true],
      ['metrics', 'metrics', true], ['metrics', 'read', false],
      ['', 'public', true], ['', 'read', false],
    ];
    for (const [scope, access, allowed] of table) expect([scope, access, decide(p(scope), access, 'orders').allowed]).toEqual([scope, access, allowed]);
  });

  it('limits a namespaced token to the namespaces and prefixes it names, and to routes naming one', () => {
    const limited = p('write', ['orders', 'cart-*']);
    expect(decide(limited, 'write', 'orders').allowed).toBe(true);
    expect(decide(limited, 'write', 'cart-eu').allowed).toBe(true);
    expect(decide(limited, 'read', 'orders-archive').allowed).toBe(false);
    expect(decide(limited, 'read', 'carts').allowed).toBe(false);
    expect(decide(limited, 'read', undefined)).toEqual({ allowed: false, reason: 'this route spans every namespace and the token is limited to some' });
    expect(decide(p('admin', ['orders']), 'metrics', undefined).allowed).toBe(false);
    expect(decide(limited, 'public', undefined).allowed).toBe(true);
  });

  it('property: allowed iff the scope is held (with its implications) and the namespace covered', () => {
    const scope = fc.constantFrom<Scope>(...SCOPES);
    const name = fc.stringMatching(/^[a-c]{1,3}$/);
    fc.assert(
      fc.property(fc.array(scope, { maxLength: 4 }), fc.option(fc.array(name, { maxLength: 3 }), { nil: undefined }), scope, fc.option(name, { nil: undefined }), (held, ns, needed, namespace) => {
        const principal = principalFromClaims({ sub: 's', scopes: held, ...(ns ? { ns } : {}) });
        const implied = held.includes(needed) || (held.includes('admin')) || (needed === 'read' && held.includes('write'));
        const covered = ns === undefined || (namespace !== undefined && ns.includes(namespace));
        expect(decide(principal, needed, namespace).allowed).toBe(implied && covered);
      }),
    );
  });
});
