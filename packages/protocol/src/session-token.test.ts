import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coversSession, formatSession, mergeSessions, parseSession } from './session-token.ts';

describe('session tokens', () => {
  it('parses actor:position pairs, keeping the highest position of a repeated actor', () => {
    expect([...parseSession('eu.1:120;us.1:87')]).toEqual([
      ['eu.1', 120n],
      ['us.1', 87n],
    ]);
    expect(parseSession('eu.1:5;eu.1:9;eu.1:7').get('eu.1')).toBe(9n);
    expect(parseSession('eu.1:9223372036854775807').get('eu.1')).toBe(9223372036854775807n);
    expect(parseSession('  ').size).toBe(0);
  });

  it.each(['eu:1', 'eu.1', 'eu.1:', ':5', 'eu.1:-1', 'eu.1:1.5', 'EU.1:1', 'eu.0:1', 'eu.1:12345678901234567890', 'eu.1:1;', 'eu.1:1;;us.1:2'])('refuses %j', (token) => {
    expect(() => parseSession(token)).toThrow('a session token such as "eu.1:120;us.1:87"');
  });

  it('accepts whitespace around pairs, actors and positions, as the region and the GSLB both read it', () => {
    expect(parseSession(' eu.1 : 120 ; us.1:87 ')).toEqual(new Map([['eu.1', 120n], ['us.1', 87n]]));
    expect(() => parseSession('eu .1:1')).toThrow('expected a session token such as "eu.1:120;us.1:87" (got "eu .1:1")');
  });

  it('formats what it parses: sorted actors, no zero positions, no whitespace', () => {
    expect(formatSession(new Map([['us.1', 87n], ['eu.1', 120n], ['ap.1', 0n]]))).toBe('eu.1:120;us.1:87');
    const vector = fc.dictionary(fc.constantFrom('eu.1', 'us.1', 'ap.2', 'eu.10'), fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }));
    fc.assert(
      fc.property(vector, (v) => {
        const session = new Map(Object.entries(v));
        expect(parseSession(formatSession(session))).toEqual(session);
      }),
    );
  });

  it('merges element-wise, keeping the highest position of each actor', () => {
    expect(mergeSessions(parseSession('eu.1:5;us.1:9'), parseSession('eu.1:7'), new Map())).toEqual(new Map([['eu.1', 7n], ['us.1', 9n]]));
  });

  it('refuses tokens longer than 4096 characters', () => {
    expect(() => parseSession(`eu.1:1;${'x'.repeat(5000)}`)).toThrow('of at most 4096 characters');
  });

  it('covers when every position is at or below the applied vector; an absent actor is 0', () => {
    const applied = new Map([
      ['eu.1', 120n],
      ['us.1', 90n],
    ]);
    expect(coversSession(applied, parseSession('eu.1:120;us.1:87'))).toBe(true);
    expect(coversSession(applied, parseSession('eu.1:121'))).toBe(false);
    expect(coversSession(applied, parseSession('ap.1:1'))).toBe(false);
    expect(coversSession(applied, parseSession('ap.1:0'))).toBe(true);
    // Another epoch of the same region is another actor: eu.2's writes are not eu.1's.
    expect(coversSession(applied, parseSession('eu.2:1'))).toBe(false);
    expect(coversSession(new Map(), new Map())).toBe(true);
  });
});
