import { type Ipv4Subnet, formatIpv4, maskOf, ipv4ToNumber, parseIpv4 } from '../net/ipv4.js';

/**
 * Flannel names each lease key after its subnet: "10.5.52.0-24", or "10.5.52.0-24&fc00::-64" when
 * the lease also carries an IPv6 subnet. weft leases IPv4 subnets; the IPv6 part is tolerated when
 * reading so dual-stack Flannel nodes remain visible as IPv4 peers.
 */
const KEY_PATTERN = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})(?:&([0-9a-fA-F:]+)-(\d{1,3}))?$/;

export function subnetToKey(subnet: Ipv4Subnet): string {
  return `${formatIpv4(subnet.address)}-${subnet.prefixLength}`;
}

export function parseSubnetKey(key: string): Ipv4Subnet | undefined {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const address = parseIpv4(match[1] as string);
  const prefixLength = Number(match[2]);
  if (!address || prefixLength > 32) return undefined;
  const value = ipv4ToNumber(address);
  if (((value & maskOf(prefixLength)) >>> 0) !== value) return undefined;
  return { address: value, prefixLength };
}
