import type { ExternalLink } from '../../net/externalInterface.js';
import { type Ipv4Subnet, formatIpv4 } from '../../net/ipv4.js';
import type { PeerLease } from '../../subnet/lease.js';
import { type DesiredRoute, type DesiredState, type SkippedPeer, directRoute, onSegment, peerRoute } from '../desiredState.js';
import type { PeerData } from '../registry.js';
import { type VxlanBackendConfig, effectiveVxlanPort, vxlanDeviceName, vxlanPodMtu } from './config.js';
import { vtepMacOwners } from './macConflicts.js';

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
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];
  const neighs: Array<{ dst: string; lladdr: string }> = [];
  const fdb: Array<{ mac: string; dst: string }> = [];
  const tunnelled = peers.flatMap((peer) =>
    peer.data.backend === 'vxlan' && !(config.directRouting && onSegment(extLink, peer.publicIP)) ? [{ mac: peer.data.vtepMac, peer }] : [],
  );
  const macOwner = vtepMacOwners(tunnelled);
  const fdbWritten = new Set<string>();
  for (const peer of peers) {
    if (peer.data.backend !== 'vxlan') {
      skipped.push({ key: peer.key, reason: `lease carries ${peer.data.backend} data, not vxlan's` });
      continue;
    }
    if (config.directRouting && onSegment(extLink, peer.publicIP)) {
      routes.push(directRoute(extLink, peer.subnet, peer.publicIP));
      continue;
    }
    const mac = peer.data.vtepMac;
    const owner = macOwner.get(mac);
    if (mac === input.vtepMac) {
      skipped.push({ key: peer.key, reason: `VtepMAC ${mac} is this host's own` });
      continue;
    }
    if (owner && owner.publicIP !== peer.publicIP) {
      skipped.push({ key: peer.key, reason: `VtepMAC ${mac} is also claimed by the newer lease ${owner.key} at ${owner.publicIP}; the newest lease wins` });
      continue;
    }
    const gateway = formatIpv4(peer.subnet.address);
    if (!fdbWritten.has(mac)) {
      fdbWritten.add(mac);
      fdb.push({ mac, dst: peer.publicIP });
    }
    neighs.push({ dst: gateway, lladdr: mac });
    routes.push(peerRoute(peer.subnet, gateway, name, true));
  }
  return {
    device: {
      name,
      vni: config.vni,
      local: extLink.address,
      link: extLink.name,
      port: effectiveVxlanPort(config),
      learning: config.learning,
      gbp: config.gbp,
      mtu: vxlanPodMtu(config, extLink.mtu),
      mac: input.vtepMac,
      address: `${formatIpv4(input.ownSubnet.address)}/32`,
    },
    routes,
    neighs,
    fdb,
    skipped,
  };
}
