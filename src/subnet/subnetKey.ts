import { type Ipv4Subnet, formatIpv4, maskOf, ipv4ToNumber, parseIpv4 } from '../net/ipv4.js';
import { type Ipv6Subnet, formatIpv6, parseIpv6Cidr } from '../net/ipv6.js';

/**
 * Flannel names each lease key after its subnets (MakeSubnetKey): "10.5.52.0-24", or
 * "10.5.52.0-24&fc00:0:0:22::-64" when the lease also carries an IPv6 subnet. An IPv6-only lease
 * has Flannel's empty IPv4 net in front: "0.0.0.0-0&fc00:0:0:22::-64".
 */
const KEY_PATTERN = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})(?:&([0-9a-f:]+)-(\d{1,3}))?$/;

/** The subnets one lease key names. */
export interface LeaseSubnets {
  /** Flannel's empty net (0.0.0.0/0) when the network has IPv4 disabled. */
  readonly ipv4: Ipv4Subnet;
  readonly ipv6?: Ipv6Subnet;
}

export function subnetToKey(subnet: Ipv4Subnet): string {
  return `${formatIpv4(subnet.address)}-${subnet.prefixLength}`;
}

export function leaseSubnetsToKey(subnets: LeaseSubnets): string {
  const ipv4 = subnetToKey(subnets.ipv4);
  return subnets.ipv6 ? `${ipv4}&${formatIpv6(subnets.ipv6.address)}-${subnets.ipv6.prefixLength}` : ipv4;
}

/** The IPv4 subnet a key names, whatever follows it. */
export function parseSubnetKey(key: string): Ipv4Subnet | undefined {
  return parseLeaseKey(key)?.ipv4;
}

/** Both subnets of a key; undefined unless every part is a well-formed network. */
export function parseLeaseKey(key: string): LeaseSubnets | undefined {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const address = parseIpv4(match[1] as string);
  const prefixLength = Number(match[2]);
  if (!address || prefixLength > 32) return undefined;
  const value = ipv4ToNumber(address);
  if (((value & maskOf(prefixLength)) >>> 0) !== value) return undefined;
  const ipv4 = { address: value, prefixLength };
  if (match[3] === undefined) return { ipv4 };
  const ipv6 = parseIpv6Cidr(`${match[3]}/${match[4] as string}`);
  return ipv6.ok ? { ipv4, ipv6: ipv6.subnet } : undefined;
}
