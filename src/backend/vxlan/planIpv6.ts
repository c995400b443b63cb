import { type Ipv6Subnet, formatIpv6 } from '../../net/ipv6.js';
import type { DesiredState } from '../desiredState.js';
import { directIpv6Route, ipv6PeerRoute, onIpv6Segment } from '../ipv6Routes.js';
import { VXLAN_IPV6_EXTRA_OVERHEAD, vxlanIpv6DeviceName, vxlanPodMtu } from './config.js';
import type { VxlanPlanInput } from './plan.js';
import { vtepMacOwners } from './macConflicts.js';
import { TunnelTable, vxlanDevice } from './tunnelTable.js';

/**
 * planVxlan's input with an IPv6 subnet; `extLink` must carry `ipv6` (the plane exists only over
 * an IPv6 underlay) and `vtepMac` is the IPv6 device's own (Flannel gives each device its own).
 */
export type VxlanIpv6PlanInput = Omit<VxlanPlanInput, 'ownSubnet'> & { readonly ownSubnet: Ipv6Subnet };

/**
 * vxlan's IPv6 plane, Flannel's flannel-v6.<VNI>: the same shape as the IPv4 plan (planVxlan)
 * over the IPv6 underlay. Per IPv6 peer: an FDB entry (its IPv6 VtepMAC at its PublicIPv6), a
 * permanent neighbour (its IPv6 subnet's network address at that MAC) and an onlink route via
 * that address; with DirectRouting, a plain route via its PublicIPv6 when on our IPv6 prefix.
 * Peers without an IPv6 lease are IPv4-only hosts and simply not part of this plane.
 */
export function planVxlanIpv6(input: VxlanIpv6PlanInput): DesiredState {
  const { config, extLink, peers } = input;
  const name = vxlanIpv6DeviceName(config.vni);
  // The IPv6 VtepMAC follows the same rule as the IPv4 one (macConflicts.ts): the newest lease wins.
  const tunnelled = peers.flatMap((peer) => {
    const ipv6 = peer.ipv6;
    if (!ipv6 || ipv6.data.backend !== 'vxlan' || (config.directRouting && onIpv6Segment(extLink, ipv6.publicIP))) return [];
    const claim = { key: peer.key, subnet: peer.subnet, publicIP: ipv6.publicIP, ...(peer.created !== undefined ? { created: peer.created } : {}) };
    return [{ mac: ipv6.data.vtepMac, peer: claim }];
  });
  const table = new TunnelTable(input.vtepMac, 'IPv6 ', vtepMacOwners(tunnelled));
  for (const peer of peers) {
    const ipv6 = peer.ipv6;
    if (!ipv6) continue;
    if (ipv6.data.backend !== 'vxlan') {
      table.skip(peer.key, `lease carries ${ipv6.data.backend} IPv6 data, not vxlan's`);
    } else if (config.directRouting && onIpv6Segment(extLink, ipv6.publicIP)) {
      table.direct(directIpv6Route(extLink, ipv6.subnet, ipv6.publicIP));
    } else {
      const gateway = formatIpv6(ipv6.subnet.address);
      table.tunnel({ key: peer.key, publicIP: ipv6.publicIP }, ipv6.data.vtepMac, gateway, ipv6PeerRoute(ipv6.subnet, gateway, name, true));
    }
  }
  return table.state(
    vxlanDevice(config, {
      name,
      local: extLink.ipv6?.address ?? '',
      link: extLink.name,
      mtu: config.mtu > 0 ? config.mtu : vxlanPodMtu(config, extLink.mtu) - VXLAN_IPV6_EXTRA_OVERHEAD,
      mac: input.vtepMac,
      address: `${formatIpv6(input.ownSubnet.address)}/128`,
    }),
  );
}
