/**
 * The CIDR → location table: where a client is, from its IP address, when it gave no explicit
 * hint. IPv4 and IPv6; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a dual-stack socket
 * reports) matches the IPv4 blocks.
 *
 * Invariants (checked when the table is built, so matching never has to choose):
 * - every block is written with its network address (no host bits set: `10.1.5.0/16` is refused,
 *   it is almost always a typo for /24);
 * - no block appears twice;
 * - the most specific block wins (longest prefix), so `10.1.0.0/16` and `10.1.2.0/24` can both
 *   be listed. With no duplicates, the longest matching prefix is unique: the answer does not
 *   depend on the order of the table.
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  /** The address as an unsigned integer of 32 (IPv4) or 128 (IPv6) bits. */
  readonly value: bigint;
}

export interface CidrBlock<T> {
  /** The block as configured, e.g. `10.1.0.0/16`. */
  readonly cidr: string;
  readonly family: IpFamily;
  readonly network: bigint;
  readonly prefix: number;
  readonly value: T;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  // A zone (`fe80::1%eth0`) names an interface, not part of the address.
  const zone = text.indexOf('%');
  let body = zone >= 0 ? text.slice(0, zone) : text;
  // An embedded IPv4 tail (`::ffff:10.1.2.3`) stands for the last two groups.
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.', lastColon)) {
    const v4 = parseIpv4(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = groupsOf(halves[0] ?? '');
  const rest = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  const written = head.length + rest.length;
  // Without `::` all eight groups are written; with it, `::` stands for at least one.
  if (halves.length === 1 ? written !== 8 : written > 7) return undefined;
  let value = 0n;
  for (const group of [...head, ...Array<string>(8 - written).fill('0'), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(`0x${group}`);
  }
  return value;
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4. Undefined when not an address. */
export function parseIp(text: string): IpAddress | undefined {
  const trimmed = text.trim();
  if (trimmed.includes(':')) {
    const value = parseIpv6(trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed);
    if (value === undefined) return undefined;
    if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
    return { family: 6, value };
  }
  const value = parseIpv4(trimmed);
  return value === undefined ? undefined : { family: 4, value };
}

function mask(family: IpFamily, prefix: number): bigint {
  const bits = BITS[family];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/** Parses `network/prefix`; throws an Error whose message says what was expected. */
export function parseCidr<T>(cidr: string, value: T): CidrBlock<T> {
  const slash = cidr.indexOf('/');
  const address = parseIp(slash > 0 ? cidr.slice(0, slash) : '');
  const prefixText = cidr.slice(slash + 1);
  if (slash <= 0 || address === undefined || !/^\d{1,3}$/.test(prefixText)) throw new Error('a CIDR block such as 10.1.0.0/16 or 2001:db8::/32');
  let prefix = Number(prefixText);
  // A mapped IPv4 block written in IPv6 (`::ffff:10.0.0.0/104`) is the IPv4 block /8.
  const written = cidr.slice(0, slash);
  const mapped = address.family === 4 && written.includes(':');
  if (mapped) prefix -= 96;
  if (prefix < 0 || prefix > BITS[address.family]) throw new Error(`a prefix length from 0 to ${BITS[address.family]}${mapped ? ' (+96 for an IPv4-mapped block)' : ''}`);
  if ((address.value & mask(address.family, prefix)) !== address.value) throw new Error('the network address of the block (host bits zero)');
  return { cidr, family: address.family, network: address.value, prefix, value };
}

/** Builds a table; throws on a duplicate block (same network and prefix, however written). */
export function buildCidrTable<T>(blocks: readonly CidrBlock<T>[]): readonly CidrBlock<T>[] {
  const seen = new Map<string, string>();
  for (const block of blocks) {
    const key = `${block.family}/${block.network}/${block.prefix}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new Error(`each block once (got ${earlier === block.cidr ? `${block.cidr} twice` : `${block.cidr}, the same block as ${earlier}`})`);
    seen.set(key, block.cidr);
  }
  // Most specific first, so the first match is the answer; ties cannot match the same address.
  return Object.freeze([...blocks].sort((a, b) => b.prefix - a.prefix || (a.network < b.network ? -1 : a.network > b.network ? 1 : a.family - b.family)));
}

/** The most specific block containing `address`, or undefined. */
export function matchCidr<T>(table: readonly CidrBlock<T>[], address: IpAddress): CidrBlock<T> | undefined {
  for (const block of table) {
    if (block.family === address.family && (address.value & mask(block.family, block.prefix)) === block.network) return block;
  }
  return undefined;
}
