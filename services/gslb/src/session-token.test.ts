import { describe, expect, it } from 'vitest';
import { coversSession, parseSessionToken } from './session-token.ts';

describe('session tokens', () => {
  it('parses actor:position pairs, keeping the highest position of a repeated actor', () => {
    expect([...parseSessionToken('eu.1:120;us.1:87')]).toEqual([
      ['eu.1', 120n],
      ['us.1', 87n],
    ]);
    expect(parseSessionToken('eu.1:5;eu.1:9;eu.1:7').get('eu.1')).toBe(9n);
    expect(parseSessionToken('eu.1:9223372036854775807').get('eu.1')).toBe(9223372036854775807n);
    expect(parseSessionToken('  ').size).toBe(0);
  });

  it.each(['eu:1', 'eu.1', 'eu.1:', ':5', 'eu.1:-1', 'eu.1:1.5', 'EU.1:1', 'eu.0:1', 'eu.1:12345678901234567890', 'eu.1:1;', 'eu.1:1;;us.1:2'])('refuses %j', (token) => {
    expect(() => parseSessionToken(token)).toThrow('a session token such as "eu.1:120;us.1:87"');
  });

  it('refuses tokens longer than 4096 characters', () => {
    expect(() => parseSessionToken(`eu.1:1;${'x'.repeat(5000)}`)).toThrow('of at most 4096 characters');
  });

  it('covers when every position is at or below the applied vector; an absent actor is 0', () => {
    const applied = new Map([
      ['eu.1', 120n],
      ['us.1', 90n],
    ]);
    expect(coversSession(applied, parseSessionToken('eu.1:120;us.1:87'))).toBe(true);
    expect(coversSession(applied, parseSessionToken('eu.1:121'))).toBe(false);
    expect(coversSession(applied, parseSessionToken('ap.1:1'))).toBe(false);
    expect(coversSession(applied, parseSessionToken('ap.1:0'))).toBe(true);
    // Another epoch of the same region is another actor: eu.2's writes are not eu.1's.
    expect(coversSession(applied, parseSessionToken('eu.2:1'))).toBe(false);
    expect(coversSession(new Map(), new Map())).toBe(true);
  });
});
