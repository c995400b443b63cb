import type { Ipv6NetworkConfig } from '../config/ipv6Network.js';
import {
  type Ipv6Subnet,
  formatIpv6,
  formatIpv6Subnet,
  ipv6SubnetContainsSubnet,
  ipv6ToBigInt,
  ipv6SubnetsOverlap,
  isUsableUnicastIpv6,
  parseIpv6,
} from '../net/ipv6.js';
import type { DecodeResult, PeerDataDecoder } from './lease.js';

/** The IPv6 half of a validated peer lease: its subnet, where to reach it, its BackendV6Data. */
export interface PeerIpv6<D> {
  readonly subnet: Ipv6Subnet;
  readonly publicIP: string;
  readonly data: D;
}

export interface Ipv6ClaimContext<D> {
  readonly network: Ipv6NetworkConfig;
  readonly decodePeerData: PeerDataDecoder<D>;
  readonly ownSubnet?: Ipv6Subnet;
  /** The IPv6 underlay: a peer routing it into the overlay would cut hosts off each other. */
  readonly forbidden?: readonly Ipv6Subnet[];
  /** Node podCIDRs are sized by the controller manager, not by IPv6SubnetLen. */
  readonly anySubnetLength?: boolean;
}

/**
 * The IPv6 checks of a peer lease, with the same rigour as the IPv4 ones (validatePeerClaim):
 * inside IPv6Network with the configured length, not ours, not the underlay's, a usable unicast
 * PublicIPv6 (no link-local, multicast or IPv4-mapped address), and BackendV6Data the backend
 * accepts.
 */
export function validateIpv6Claim<D>(
  subnet: Ipv6Subnet,
  publicIPv6: string | undefined,
  backendV6Data: unknown,
  ctx: Ipv6ClaimContext<D>,
): DecodeResult<PeerIpv6<D>> {
  // Formatted only for a rejection: a relist validates thousands of good leases.
  const text = (): string => formatIpv6Subnet(subnet);
  if (!ipv6SubnetContainsSubnet(ctx.network.network, subnet)) {
    return { ok: false, reason: `IPv6 subnet ${text()} is outside IPv6Network ${formatIpv6Subnet(ctx.network.network)}` };
  }
  if (!ctx.anySubnetLength && subnet.prefixLength !== ctx.network.subnetLen) {
    return { ok: false, reason: `IPv6 subnet ${text()} is not a /${ctx.network.subnetLen} (IPv6SubnetLen)` };
  }
  if (ctx.ownSubnet && ipv6SubnetsOverlap(subnet, ctx.ownSubnet)) {
    return { ok: false, reason: `IPv6 subnet ${text()} is this host's own` };
  }
  for (const forbidden of ctx.forbidden ?? []) {
    if (ipv6SubnetsOverlap(subnet, forbidden)) {
      return { ok: false, reason: `IPv6 subnet ${text()} overlaps protected ${formatIpv6Subnet(forbidden)}` };
    }
  }
  const address = publicIPv6 === undefined ? undefined : parseIpv6(publicIPv6);
  if (!address || !isUsableUnicastIpv6(address)) {
    return { ok: false, reason: `PublicIPv6 ${JSON.stringify(publicIPv6 ?? null)} is not a unicast IPv6 address` };
  }
  const decoded = ctx.decodePeerData(backendV6Data);
  if (!decoded.ok) return { ok: false, reason: `BackendV6Data: ${decoded.reason}` };
  return { ok: true, data: { subnet, publicIP: formatIpv6(ipv6ToBigInt(address)), data: decoded.data } };
}
