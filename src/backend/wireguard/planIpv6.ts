import { type Ipv6Subnet, formatIpv6, formatIpv6Subnet, ipv6SubnetContainsAddress, ipv6ToBigInt, parseIpv6 } from '../../net/ipv6.js';
import type { DesiredState } from '../desiredState.js';
import { ipv6PeerRoute } from '../ipv6Routes.js';
import { WIREGUARD_DEVICE_V6 } from './config.js';
import { type WireguardCandidate, type WireguardPlanInput, planWireguardFamily } from './plan.js';

/** planWireguard's input for the IPv6 plane: this lease's IPv6 subnet and the IPv6 pod network. */
export type WireguardIpv6PlanInput = Omit<WireguardPlanInput, 'ownSubnet' | 'network'> & {
  readonly ownSubnet: Ipv6Subnet;
  readonly network: Ipv6Subnet;
};

function insideNetwork(network: Ipv6Subnet, address: string): boolean {
  const parsed = parseIpv6(address);
  return parsed !== undefined && ipv6SubnetContainsAddress(network, ipv6ToBigInt(parsed));
}

/**
 * wireguard's IPv6 plane in Flannel's separate mode: flannel-wg-v6 on ListenPortV6 with this
 * lease's IPv6 network address as /128, and per IPv6 lease a peer at [PublicIPv6]:Port from its
 * BackendV6Data, allowed IPs its IPv6 subnet, with an onlink route via the device. Peers without
 * an IPv6 lease are IPv4-only hosts and not part of this plane.
 */
export function planWireguardIpv6(input: WireguardIpv6PlanInput): DesiredState {
  const { network } = input;
  const candidates: WireguardCandidate[] = [];
  for (const peer of input.peers) {
    const ipv6 = peer.ipv6;
    if (!ipv6) continue;
    const dst = formatIpv6Subnet(ipv6.subnet);
    candidates.push({
      key: peer.key,
      data: ipv6.data,
      endpointHost: `[${ipv6.publicIP}]`,
      ...(insideNetwork(network, ipv6.publicIP)
        ? { endpointProblem: `endpoint ${ipv6.publicIP} lies inside the IPv6 pod network ${formatIpv6Subnet(network)}` }
        : {}),
      allowedIp: dst,
      route: ipv6PeerRoute(ipv6.subnet, formatIpv6(ipv6.subnet.address), WIREGUARD_DEVICE_V6, true),
    });
  }
  return planWireguardFamily({
    ...input,
    name: WIREGUARD_DEVICE_V6,
    listenPort: input.config.listenPortV6,
    address: `${formatIpv6(input.ownSubnet.address)}/128`,
    label: 'IPv6 ',
    candidates,
  });
}
