import type { ExternalLink } from '../../net/externalInterface.js';
import { type Ipv6Subnet, formatIpv6 } from '../../net/ipv6.js';
import type { PeerLease } from '../../subnet/lease.js';
import type { DesiredRoute, DesiredState, SkippedPeer } from '../desiredState.js';
import { directIpv6Route, ipv6PeerRoute, onIpv6Segment } from '../ipv6Routes.js';
import type { PeerData } from '../registry.js';
import { type VxlanBackendConfig, VXLAN_IPV6_EXTRA_OVERHEAD, effectiveVxlanPort, vxlanIpv6DeviceName, vxlanPodMtu } from './config.js';

export interface VxlanIpv6PlanInput {
  readonly config: VxlanBackendConfig;
  /** Must carry `ipv6`: the plane exists only over an IPv6 underlay. */
  readonly extLink: ExternalLink;
  /** The IPv6 device's own VTEP MAC (Flannel gives each device its own). */
  readonly vtepMac: string;
  readonly ownSubnet: Ipv6Subnet;
  readonly peers: readonly PeerLease<PeerData>[];
}

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
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];
  const neighs: Array<{ dst: string; lladdr: string }> = [];
  const fdb: Array<{ mac: string; dst: string }> = [];
  const macOwner = new Map<string, string>();
  for (const peer of peers) {
    const ipv6 = peer.ipv6;
    if (!ipv6) continue;
    if (ipv6.data.backend !== 'vxlan') {
      skipped.push({ key: peer.key, reason: `lease carries ${ipv6.data.backend} IPv6 data, not vxlan's` });
      continue;
    }
    if (config.directRouting && onIpv6Segment(extLink, ipv6.publicIP)) {
      routes.push(directIpv6Route(extLink, ipv6.subnet, ipv6.publicIP));
      continue;
    }
    const mac = ipv6.data.vtepMac;
    const owner = macOwner.get(mac);
    if (mac === input.vtepMac) {
      skipped.push({ key: peer.key, reason: `IPv6 VtepMAC ${mac} is this host's own` });
      continue;
    }
    if (owner !== undefined && owner !== ipv6.publicIP) {
      skipped.push({ key: peer.key, reason: `IPv6 VtepMAC ${mac} is already used at ${owner}` });
      continue;
    }
    const gateway = formatIpv6(ipv6.subnet.address);
    if (owner === undefined) {
      macOwner.set(mac, ipv6.publicIP);
      fdb.push({ mac, dst: ipv6.publicIP });
    }
    neighs.push({ dst: gateway, lladdr: mac });
    routes.push(ipv6PeerRoute(ipv6.subnet, gateway, name, true));
  }
  return {
    device: {
      name,
      vni: config.vni,
      local: extLink.ipv6?.address ?? '',
      link: extLink.name,
      port: effectiveVxlanPort(config),
      learning: config.learning,
      gbp: config.gbp,
      mtu: config.mtu > 0 ? config.mtu : vxlanPodMtu(config, extLink.mtu) - VXLAN_IPV6_EXTRA_OVERHEAD,
      mac: input.vtepMac,
      address: `${formatIpv6(input.ownSubnet.address)}/128`,
    },
    routes,
    neighs,
    fdb,
    skipped,
  };
}
