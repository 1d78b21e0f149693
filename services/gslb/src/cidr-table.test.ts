import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildCidrTable, matchCidr, parseCidr, parseIp } from './cidr-table.ts';

const ip = (text: string) => {
  const parsed = parseIp(text);
  if (!parsed) throw new Error(`not an address: ${text}`);
  return parsed;
};

describe('parseIp', () => {
  it('reads IPv4', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp('255.255.255.255')).toEqual({ family: 4, value: 0xffffffffn });
  });

  it('reads IPv6 in every shorthand, with zones and brackets', () => {
    const full = 0x20010db8000000000000000000000001n;
    expect(parseIp('2001:db8::1')).toEqual({ family: 6, value: full });
    expect(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')).toEqual({ family: 6, value: full });
    expect(parseIp('[2001:db8::1]')).toEqual({ family: 6, value: full });
    expect(parseIp('fe80::1%eth0')).toEqual({ family: 6, value: 0xfe800000000000000000000000000001n });
    expect(parseIp('::')).toEqual({ family: 6, value: 0n });
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('1::')).toEqual({ family: 6, value: 1n << 112n });
    expect(parseIp('64:ff9b::10.1.2.3')).toEqual({ family: 6, value: (0x64ff9bn << 96n) | 0x0a010203n });
  });

  it('turns IPv4-mapped IPv6 (what a dual-stack socket reports) into IPv4', () => {
    expect(parseIp('::ffff:10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp('::ffff:a01:203')).toEqual({ family: 4, value: 0x0a010203n });
  });

  it.each(['', '10.1.2', '10.1.2.3.4', '256.1.1.1', '01.1.1.1', '10.1.2.-1', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '::ffff:10.1.2.300', '1:2:3:4:5:6:7::8', 'example.com'])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it('round-trips every IPv4 address through its dotted form', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const text = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        expect(parseIp(text)).toEqual({ family: 4, value: BigInt(n) });
      }),
    );
  });
});

describe('CIDR table', () => {
  const table = buildCidrTable([
    parseCidr('10.0.0.0/8', 'ten'),
    parseCidr('10.1.0.0/16', 'ten-one'),
    parseCidr('10.1.2.0/24', 'ten-one-two'),
    parseCidr('2001:db8::/32', 'doc-v6'),
    parseCidr('0.0.0.0/0', 'anywhere-v4'),
  ]);

  it('answers the most specific block, whatever the order it was configured in', () => {
    expect(matchCidr(table, ip('10.1.2.3'))?.value).toBe('ten-one-two');
    expect(matchCidr(table, ip('10.1.3.3'))?.value).toBe('ten-one');
    expect(matchCidr(table, ip('10.2.0.1'))?.value).toBe('ten');
    expect(matchCidr(table, ip('192.168.0.1'))?.value).toBe('anywhere-v4');
    expect(matchCidr(table, ip('::ffff:10.1.2.3'))?.value).toBe('ten-one-two');
    expect(matchCidr(table, ip('2001:db8:1::5'))?.value).toBe('doc-v6');
    expect(matchCidr(table, ip('2001:db9::5'))).toBeUndefined();
    const reversed = buildCidrTable([...table].reverse());
    for (const a of ['10.1.2.3', '10.1.3.3', '10.2.0.1', '192.168.0.1', '2001:db8:1::5']) expect(matchCidr(reversed, ip(a))?.value).toBe(matchCidr(table, ip(a))?.value);
  });

  it('matches the block boundaries exactly', () => {
    const t = buildCidrTable([parseCidr('10.1.0.0/16', 'x')]);
    expect(matchCidr(t, ip('10.1.0.0'))?.value).toBe('x');
    expect(matchCidr(t, ip('10.1.255.255'))?.value).toBe('x');
    expect(matchCidr(t, ip('10.0.255.255'))).toBeUndefined();
    expect(matchCidr(t, ip('10.2.0.0'))).toBeUndefined();
  });

  it('reads an IPv4-mapped block written in IPv6 as the IPv4 block', () => {
    const block = parseCidr('::ffff:10.0.0.0/104', 'x');
    expect(block).toMatchObject({ family: 4, prefix: 8, network: 0x0a000000n });
  });

  it('refuses blocks with host bits, bad prefixes or no prefix, and duplicates however written', () => {
    expect(() => parseCidr('10.1.5.0/16', 'x')).toThrow('the network address of the block (host bits zero)');
    expect(() => parseCidr('10.1.0.0/33', 'x')).toThrow('a prefix length from 0 to 32');
    expect(() => parseCidr('2001:db8::/129', 'x')).toThrow('a prefix length from 0 to 128');
    expect(() => parseCidr('10.1.0.0', 'x')).toThrow('a CIDR block such as');
    expect(() => parseCidr('10.1.0.0/x', 'x')).toThrow('a CIDR block such as');
    expect(() => parseCidr('nope/8', 'x')).toThrow('a CIDR block such as');
    expect(() => buildCidrTable([parseCidr('10.0.0.0/8', 'a'), parseCidr('::ffff:10.0.0.0/104', 'b')])).toThrow('each block once (got ::ffff:10.0.0.0/104, the same block as 10.0.0.0/8)');
  });
});
