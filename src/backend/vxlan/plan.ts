import type { ExternalLink } from '../../net/externalInterface.js';
import { type Ipv4Subnet, formatIpv4 } from '../../net/ipv4.js';
import type { PeerLease } from '../../subnet/lease.js';
import { type DesiredState, directRoute, onSegment, peerRoute } from '../desiredState.js';
import type { PeerData } from '../registry.js';
import { type VxlanBackendConfig, vxlanDeviceName, vxlanPodMtu } from './config.js';
import { vtepMacOwners } from './macConflicts.js';
import { TunnelTable, vxlanDevice } from './tunnelTable.js';

export interface VxlanPlanInput {
  readonly config: VxlanBackendConfig;
  readonly extLink: ExternalLink;
  /** This host's VTEP MAC. */
  readonly vtepMac: string;
  readonly ownSubnet: Ipv4Subnet;
  readonly peers: readonly PeerLease<PeerData>[];
}

/**
 * The kernel state vxlan needs, per docs/architecture.md "Kernel state per backend": the device,
 * and per peer an FDB entry (its VTEP MAC at its PublicIP), a permanent neighbour (its subnet's
 * network address at that MAC) and an onlink route via that address. Pure: the same inputs always
 * give the same state, which is what makes reconciliation level-triggered.
 */
export function planVxlan(input: VxlanPlanInput): DesiredState {
  const { config, extLink, peers } = input;
  const name = vxlanDeviceName(config.vni);
  const tunnelled = peers.flatMap((peer) =>
    peer.data.backend === 'vxlan' && !(config.directRouting && onSegment(extLink, peer.publicIP)) ? [{ mac: peer.data.vtepMac, peer }] : [],
  );
  const table = new TunnelTable(input.vtepMac, '', vtepMacOwners(tunnelled));
  for (const peer of peers) {
    if (peer.data.backend !== 'vxlan') {
      table.skip(peer.key, `lease carries ${peer.data.backend} data, not vxlan's`);
    } else if (config.directRouting && onSegment(extLink, peer.publicIP)) {
      table.direct(directRoute(extLink, peer.subnet, peer.publicIP));
    } else {
      const gateway = formatIpv4(peer.subnet.address);
      table.tunnel(peer, peer.data.vtepMac, gateway, peerRoute(peer.subnet, gateway, name, true));
    }
  }
  return table.state(
    vxlanDevice(config, {
      name,
      local: extLink.address,
      link: extLink.name,
      mtu: vxlanPodMtu(config, extLink.mtu),
      mac: input.vtepMac,
      address: `${formatIpv4(input.ownSubnet.address)}/32`,
    }),
  );
}
