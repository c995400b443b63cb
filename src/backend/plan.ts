import type { BackendConfig } from '../config/networkConfig.js';
import { effectiveVxlanPort, podMtu } from '../config/networkConfig.js';
import { type Ipv4Subnet, formatIpv4, formatSubnet, ipv4ToNumber, parseIpv4, subnetContainsAddress } from '../net/ipv4.js';
import type { PeerLease } from '../subnet/lease.js';

export interface ExternalLink {
  readonly name: string;
  /** Address VXLAN packets leave from. */
  readonly address: string;
  readonly mtu: number;
  /** The underlay subnet: peers inside it are on our L2 segment. */
  readonly subnet: Ipv4Subnet;
}

export interface PlanInput {
  readonly backend: BackendConfig;
  readonly ownSubnet: Ipv4Subnet;
  readonly extLink: ExternalLink;
  /** This host's VTEP MAC (vxlan only). */
  readonly vtepMac?: string;
  readonly peers: readonly PeerLease[];
}

export interface DesiredVxlanDevice {
  readonly name: string;
  readonly vni: number;
  readonly local: string;
  readonly link: string;
  readonly port: number;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly mtu: number;
  readonly mac: string;
  /** The lease's network address as /32. */
  readonly address: string;
}

export interface DesiredRoute {
  readonly dst: string;
  readonly gateway: string;
  readonly dev: string;
  readonly onlink: boolean;
  /** The ID of the route's nexthop object, where nexthops are used (see nexthopIdFor). */
  readonly nexthopId: number;
}

/**
 * Nexthop IDs are the peer subnet's network address: unique within a Network, and two weft
 * instances have disjoint Networks, so their IDs never collide.
 */
export function nexthopIdFor(subnet: Ipv4Subnet): number {
  return subnet.address;
}

export interface SkippedPeer {
  readonly key: string;
  readonly reason: string;
}

export interface DesiredState {
  readonly device?: DesiredVxlanDevice;
  readonly routes: readonly DesiredRoute[];
  readonly neighs: ReadonlyArray<{ readonly dst: string; readonly lladdr: string }>;
  readonly fdb: ReadonlyArray<{ readonly mac: string; readonly dst: string }>;
  /** Peers that are valid leases but cannot be routed by this backend here, with why. */
  readonly skipped: readonly SkippedPeer[];
}

export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`;
}

function onSegment(extLink: ExternalLink, publicIP: string): boolean {
  const address = parseIpv4(publicIP);
  return address !== undefined && subnetContainsAddress(extLink.subnet, ipv4ToNumber(address));
}

function peerRoute(peer: PeerLease, gateway: string, dev: string, onlink: boolean): DesiredRoute {
  return { dst: formatSubnet(peer.subnet), gateway, dev, onlink, nexthopId: nexthopIdFor(peer.subnet) };
}

/**
 * The kernel state one host needs, per DESIGN.md "Kernel state per backend". Pure: the same
 * lease, peers and config always give the same state, which is what makes reconciliation
 * level-triggered.
 */
export function planKernelState(input: PlanInput): DesiredState {
  const { backend, extLink, peers } = input;
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];

  if (backend.type === 'host-gw') {
    for (const peer of peers) {
      if (!onSegment(extLink, peer.publicIP)) {
        skipped.push({
          key: peer.key,
          reason: `host-gw needs peers on ${formatSubnet(extLink.subnet)} (${extLink.name}), but PublicIP ${peer.publicIP} is not`,
        });
        continue;
      }
      routes.push(peerRoute(peer, peer.publicIP, extLink.name, false));
    }
    return { routes, neighs: [], fdb: [], skipped };
  }

  const name = vxlanDeviceName(backend.vni);
  const neighs: Array<{ dst: string; lladdr: string }> = [];
  const fdb: Array<{ mac: string; dst: string }> = [];
  const macOwner = new Map<string, PeerLease>();
  for (const peer of peers) {
    if (backend.directRouting && onSegment(extLink, peer.publicIP)) {
      routes.push(peerRoute(peer, peer.publicIP, extLink.name, false));
      continue;
    }
    const mac = peer.vxlan!.vtepMac;
    const owner = macOwner.get(mac);
    if (mac === input.vtepMac) {
      skipped.push({ key: peer.key, reason: `VtepMAC ${mac} is this host's own` });
      continue;
    }
    if (owner && owner.publicIP !== peer.publicIP) {
      skipped.push({ key: peer.key, reason: `VtepMAC ${mac} is already used by ${owner.key} at ${owner.publicIP}` });
      continue;
    }
    const gateway = formatIpv4(peer.subnet.address);
    if (!owner) {
      macOwner.set(mac, peer);
      fdb.push({ mac, dst: peer.publicIP });
    }
    neighs.push({ dst: gateway, lladdr: mac });
    routes.push(peerRoute(peer, gateway, name, true));
  }
  return {
    device: {
      name,
      vni: backend.vni,
      local: extLink.address,
      link: extLink.name,
      port: effectiveVxlanPort(backend),
      learning: backend.learning,
      gbp: backend.gbp,
      mtu: podMtu(backend, extLink.mtu),
      mac: input.vtepMac ?? '',
      address: `${formatIpv4(input.ownSubnet.address)}/32`,
    },
    routes,
    neighs,
    fdb,
    skipped,
  };
}
