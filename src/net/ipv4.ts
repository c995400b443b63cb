import ipaddr from 'ipaddr.js';

/**
 * IPv4 subnets as (network address as an unsigned 32-bit number, prefix length). Allocation and
 * overlap checks are integer arithmetic; ipaddr.js does the parsing and formatting so no
 * hand-written address parser exists in weft.
 */
export interface Ipv4Subnet {
  readonly address: number;
  readonly prefixLength: number;
}

export function ipv4ToNumber(address: ipaddr.IPv4): number {
  const [a, b, c, d] = address.octets as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/**
 * Dotted quad of a 32-bit value. Plain arithmetic rather than an ipaddr.js object: every pass
 * formats each peer's subnet and gateway, and at 10000 peers the objects alone were megabytes
 * of garbage per pass.
 */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export function subnetSize(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

export function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function formatSubnet(subnet: Ipv4Subnet): string {
  return `${formatIpv4(subnet.address)}/${subnet.prefixLength}`;
}

export function lastAddress(subnet: Ipv4Subnet): number {
  return subnet.address + subnetSize(subnet.prefixLength) - 1;
}

export function subnetContainsAddress(subnet: Ipv4Subnet, address: number): boolean {
  return address >= subnet.address && address <= lastAddress(subnet);
}

export function subnetContainsSubnet(outer: Ipv4Subnet, inner: Ipv4Subnet): boolean {
  return inner.prefixLength >= outer.prefixLength && subnetContainsAddress(outer, inner.address);
}

export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  return a.address <= lastAddress(b) && b.address <= lastAddress(a);
}

export function subnetsEqual(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  return a.address === b.address && a.prefixLength === b.prefixLength;
}

/** The shape ipaddr.js's isValidFourPartDecimal requires: four decimal parts, no leading zeros. */
const FOUR_PART_DECIMAL = /^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/;

/**
 * Parses a strict dotted-quad IPv4 address; returns undefined for anything else. The same test
 * as ipaddr.IPv4.isValidFourPartDecimal followed by parse, but parsing once instead of twice:
 * every lease carries addresses, and a relist validates thousands of them.
 */
export function parseIpv4(text: string): ipaddr.IPv4 | undefined {
  if (!FOUR_PART_DECIMAL.test(text)) return undefined;
  try {
    return ipaddr.IPv4.parse(text);
  } catch {
    return undefined;
  }
}

export type CidrParseResult =
  | { ok: true; subnet: Ipv4Subnet }
  | { ok: false; reason: string };

/** Parses "a.b.c.d/len", rejecting host bits so a typo never silently widens or shifts a network. */
export function parseIpv4Cidr(text: string): CidrParseResult {
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, reason: 'is not in CIDR notation a.b.c.d/len' };
  const address = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!address) return { ok: false, reason: 'does not start with an IPv4 address' };
  if (!/^\d{1,2}$/.test(lengthText) || Number(lengthText) > 32) {
    return { ok: false, reason: 'has a prefix length outside 0..32' };
  }
  const prefixLength = Number(lengthText);
  const value = ipv4ToNumber(address);
  const network = (value & maskOf(prefixLength)) >>> 0;
  if (network !== value) {
    return {
      ok: false,
      reason: `has host bits set (the network is ${formatIpv4(network)}/${prefixLength})`,
    };
  }
  return { ok: true, subnet: { address: value, prefixLength } };
}

const CLASS_E = ipaddr.parseCIDR('240.0.0.0/4') as [ipaddr.IPv4, number];
const NEVER_A_HOST = new Set(['unspecified', 'broadcast', 'multicast', 'loopback', 'linkLocal']);

/**
 * True for an address that can be a tunnel endpoint or a next hop. Documentation and benchmark
 * ranges stay allowed: labs and test clusters use them for real hosts.
 */
export function isUsableUnicastIpv4(address: ipaddr.IPv4): boolean {
  return !NEVER_A_HOST.has(address.range()) && !address.match(CLASS_E);
}
