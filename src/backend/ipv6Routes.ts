import type { ExternalLink } from '../net/externalInterface.js';
import { type Ipv6Subnet, formatIpv6Subnet, ipv6SubnetContainsAddress, ipv6ToBigInt, parseIpv6 } from '../net/ipv6.js';
import type { DesiredRoute } from './desiredState.js';

/**
 * IPv6 peer routes are plain routes, never nexthop objects. Nexthop IDs are the IPv4 subnet
 * addresses (nexthopIdFor), and no second 32-bit ID space exists that could never collide with
 * them; IPv6 routes also do not share the IPv4 FIB's cost of many distinct gateways that made
 * nexthops worth it there (docs/benchmarks.md). The ID is therefore never used.
 */
export function ipv6PeerRoute(subnet: Ipv6Subnet, gateway: string, dev: string, onlink: boolean): DesiredRoute {
  return { dst: formatIpv6Subnet(subnet), gateway, dev, onlink, nexthopId: 0 };
}

/** Is the peer's PublicIPv6 on our IPv6 segment, so it can be a gateway directly? */
export function onIpv6Segment(extLink: ExternalLink, publicIPv6: string): boolean {
  const address = parseIpv6(publicIPv6);
  return extLink.ipv6 !== undefined && address !== undefined && ipv6SubnetContainsAddress(extLink.ipv6.subnet, ipv6ToBigInt(address));
}

export function directIpv6Route(extLink: ExternalLink, subnet: Ipv6Subnet, publicIPv6: string): DesiredRoute {
  return ipv6PeerRoute(subnet, publicIPv6, extLink.name, false);
}
