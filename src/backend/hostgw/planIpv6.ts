import type { ExternalLink } from '../../net/externalInterface.js';
import type { PeerLease } from '../../subnet/lease.js';
import type { DesiredRoute, DesiredState, SkippedPeer } from '../desiredState.js';
import { directIpv6Route, onIpv6Segment } from '../ipv6Routes.js';
import type { PeerData } from '../registry.js';

/** host-gw's IPv6 plane: one route per IPv6 peer via its PublicIPv6, which must be on our segment. */
export function planHostGwIpv6(extLink: ExternalLink, peers: readonly PeerLease<PeerData>[]): DesiredState {
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];
  for (const peer of peers) {
    const ipv6 = peer.ipv6;
    if (!ipv6) continue;
    if (!onIpv6Segment(extLink, ipv6.publicIP)) {
      skipped.push({ key: peer.key, reason: `host-gw needs IPv6 peers on ${extLink.name}'s IPv6 prefix, but PublicIPv6 ${ipv6.publicIP} is not` });
      continue;
    }
    routes.push(directIpv6Route(extLink, ipv6.subnet, ipv6.publicIP));
  }
  return { routes, neighs: [], fdb: [], skipped };
}
