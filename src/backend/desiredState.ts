import type { Secret } from '../util/secret.js';
import type { ExternalLink } from '../net/externalInterface.js';
import { type Ipv4Subnet, formatSubnet, ipv4ToNumber, parseIpv4, subnetContainsAddress } from '../net/ipv4.js';

/**
 * The kernel state a backend wants, in the vocabulary the diff (diff.ts) understands: a device,
 * routes, neighbours and FDB entries, WireGuard devices with their peers. Backends produce it; the diff turns it into batch lines.
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

/** A WireGuard peer: its key, where to reach it, and the subnets it may send and receive. */
export interface DesiredWireguardPeer {
  readonly publicKey: string;
  /** "a.b.c.d:port". */
  readonly endpoint: string;
  readonly allowedIps: readonly string[];
}

/** A WireGuard device and its whole configuration, which one `wg syncconf` applies. */
export interface DesiredWireguardDevice {
  readonly name: string;
  readonly mtu: number;
  /** The lease's network address as /32. */
  readonly address: string;
  readonly listenPort: number;
  /** Absent only where `weft status` found no key file: status reads, it never applies. */
  readonly privateKey?: Secret;
  /** The private key's public half: what the device reports when its key is ours. */
  readonly publicKey: string;
  readonly presharedKey?: Secret;
  /** Seconds; 0 is off. */
  readonly keepalive: number;
  readonly peers: readonly DesiredWireguardPeer[];
}

export interface DesiredState {
  readonly device?: DesiredVxlanDevice;
  /** WireGuard devices: each plane plans its own (flannel-wg, and flannel-wg-v6 in Flannel's separate mode). */
  readonly wireguard?: readonly DesiredWireguardDevice[];
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
  return holdsAddress(extLink.subnet, publicIP);
}

/** Does `subnet` contain the address `text` (a peer's PublicIP, say)? */
export function holdsAddress(subnet: Ipv4Subnet, text: string): boolean {
  const address = parseIpv4(text);
  return address !== undefined && subnetContainsAddress(subnet, ipv4ToNumber(address));
}

/** The route to a peer on our segment: straight via its PublicIP over the external link. */
export function directRoute(extLink: ExternalLink, subnet: Ipv4Subnet, publicIP: string): DesiredRoute {
  return peerRoute(subnet, publicIP, extLink.name, false);
}
