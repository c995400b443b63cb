import ipaddr from 'ipaddr.js';

/**
 * IPv6 subnets as (network address as a 128-bit BigInt, prefix length): the IPv6 counterpart of
 * ipv4.ts. ipaddr.js parses; text is formatted here (formatIpv6); allocation and overlap checks
 * are BigInt arithmetic.
 * Text is what Go's net.IP.String() prints (RFC 5952: lowercase, longest zero run as "::"),
 * which is what Flannel writes into keys, leases and subnet.env.
 */
export interface Ipv6Subnet {
  readonly address: bigint;
  readonly prefixLength: number;
}

const ALL_ONES = (1n << 128n) - 1n;

export function ipv6ToBigInt(address: ipaddr.IPv6): bigint {
  let value = 0n;
  for (const part of address.parts) value = (value << 16n) | BigInt(part);
  return value;
}

/**
 * RFC 5952 text of a 128-bit value: lowercase hex groups, the longest run of two or more zero
 * groups as "::", the first of equal runs. That is what Go's net.IP.String() (so Flannel's keys)
 * and the kernel's inet_ntop (so iproute2's JSON) print. ipaddr.js's toString() shortens the
 * last of equal runs in some cases (0:0:0:1::1 for ::1:0:0:0:1), so it is never used for text
 * that is compared or written. No object is built: every pass formats each IPv6 peer's subnet
 * and gateway.
 */
export function formatIpv6(value: bigint): string {
  const groups: string[] = [];
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    const group = Number((value >> BigInt(112 - 16 * i)) & 0xffffn);
    groups.push(group.toString(16));
    if (group !== 0) {
      runStart = -1;
      continue;
    }
    if (runStart < 0) runStart = i;
    if (i - runStart + 1 > bestLength) {
      bestStart = runStart;
      bestLength = i - runStart + 1;
    }
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

export function ipv6SubnetSize(prefixLength: number): bigint {
  return 1n << BigInt(128 - prefixLength);
}

export function ipv6MaskOf(prefixLength: number): bigint {
  return ALL_ONES ^ (ipv6SubnetSize(prefixLength) - 1n);
}

/** The canonical text (formatIpv6) of an IPv6 address; undefined when it is not one. */
export function normalizeIpv6(text: string): string | undefined {
  const address = parseIpv6(text);
  return address ? formatIpv6(ipv6ToBigInt(address)) : undefined;
}

export function formatIpv6Subnet(subnet: Ipv6Subnet): string {
  return `${formatIpv6(subnet.address)}/${subnet.prefixLength}`;
}

export function ipv6LastAddress(subnet: Ipv6Subnet): bigint {
  return subnet.address + ipv6SubnetSize(subnet.prefixLength) - 1n;
}

export function ipv6SubnetContainsAddress(subnet: Ipv6Subnet, address: bigint): boolean {
  return address >= subnet.address && address <= ipv6LastAddress(subnet);
}

export function ipv6SubnetContainsSubnet(outer: Ipv6Subnet, inner: Ipv6Subnet): boolean {
  return inner.prefixLength >= outer.prefixLength && ipv6SubnetContainsAddress(outer, inner.address);
}

export function ipv6SubnetsOverlap(a: Ipv6Subnet, b: Ipv6Subnet): boolean {
  return a.address <= ipv6LastAddress(b) && b.address <= ipv6LastAddress(a);
}

export function ipv6SubnetsEqual(a: Ipv6Subnet, b: Ipv6Subnet): boolean {
  return a.address === b.address && a.prefixLength === b.prefixLength;
}

/** Characters an IPv6 address may hold in weft's inputs: no zone (%eth0), no embedded IPv4. */
const PLAIN_IPV6 = /^[0-9a-fA-F:]{2,39}$/;

/**
 * Parses an IPv6 address; undefined for anything else. Zones and the dotted IPv4-embedding
 * notation are refused: Flannel's data never carries them, and a zone would change meaning.
 */
export function parseIpv6(text: string): ipaddr.IPv6 | undefined {
  if (!PLAIN_IPV6.test(text)) return undefined;
  // One parse, not isValid() and then parse(): every IPv6 lease carries two addresses.
  try {
    return ipaddr.IPv6.parse(text);
  } catch {
    return undefined;
  }
}

export type Ipv6CidrParseResult = { ok: true; subnet: Ipv6Subnet } | { ok: false; reason: string };

/** Parses "addr/len", rejecting host bits so a typo never silently widens or shifts a network. */
export function parseIpv6Cidr(text: string): Ipv6CidrParseResult {
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, reason: 'is not in CIDR notation addr/len' };
  const address = parseIpv6(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!address) return { ok: false, reason: 'does not start with an IPv6 address' };
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > 128) {
    return { ok: false, reason: 'has a prefix length outside 0..128' };
  }
  const prefixLength = Number(lengthText);
  const value = ipv6ToBigInt(address);
  const network = value & ipv6MaskOf(prefixLength);
  if (network !== value) {
    return { ok: false, reason: `has host bits set (the network is ${formatIpv6(network)}/${prefixLength})` };
  }
  return { ok: true, subnet: { address: value, prefixLength } };
}

const NEVER_A_HOST = new Set(['unspecified', 'multicast', 'loopback', 'linkLocal', 'ipv4Mapped', 'rfc6145']);

/**
 * True for an address that can be a tunnel endpoint or a next hop. Link-local addresses are
 * refused: without a zone they name no interface, and Flannel never publishes one.
 * Documentation and benchmark ranges stay allowed, as for IPv4: labs use them for real hosts.
 */
export function isUsableUnicastIpv6(address: ipaddr.IPv6): boolean {
  return !NEVER_A_HOST.has(address.range());
}

/** The prefix of `address` as a subnet (an interface address's on-link network). */
export function ipv6SubnetOf(address: string, prefixLength: number): Ipv6Subnet | undefined {
  const parsed = parseIpv6(address);
  if (!parsed) return undefined;
  return { address: ipv6ToBigInt(parsed) & ipv6MaskOf(prefixLength), prefixLength };
}
