import type { ExternalLink } from '../net/externalInterface.js';
import { type Ipv4Subnet, formatSubnet, ipv4ToNumber, parseIpv4, subnetContainsAddress } from '../net/ipv4.js';

/**
 * The kernel state a backend wants, in the vocabulary the diff (diff.ts) understands: a device,
 * routes, neighbours and FDB entries. Backends produce it; the diff turns it into batch lines.
 */
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

/**
 * Nexthop IDs are the peer subnet's network address: unique within a Network, and two weft
 * instances have disjoint Networks, so their IDs never collide.
 */
export function nexthopIdFor(subnet: Ipv4Subnet): number {
  return subnet.address;
}

/** The one shape of a peer route, whichever backend plans it. */
export function peerRoute(subnet: Ipv4Subnet, gateway: string, dev: string, onlink: boolean): DesiredRoute {
  return { dst: formatSubnet(subnet), gateway, dev, onlink, nexthopId: nexthopIdFor(subnet) };
}

/** Is the peer on our L2 segment, so that it can be a gateway directly (host-gw, DirectRouting)? */
export function onSegment(extLink: ExternalLink, publicIP: string): boolean {
  const address = parseIpv4(publicIP);
  return address !== undefined && subnetContainsAddress(extLink.subnet, ipv4ToNumber(address));
}

/** The route to a peer on our segment: straight via its PublicIP over the external link. */
export function directRoute(extLink: ExternalLink, subnet: Ipv4Subnet, publicIP: string): DesiredRoute {
  return peerRoute(subnet, publicIP, extLink.name, false);
}
