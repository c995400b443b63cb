import type { ExternalLink } from '../../net/externalInterface.js';
import { formatSubnet } from '../../net/ipv4.js';
import type { PeerLease } from '../../subnet/lease.js';
import { type DesiredRoute, type DesiredState, type SkippedPeer, directRoute, onSegment } from '../desiredState.js';
import type { PeerData } from '../registry.js';

/** host-gw: one route per peer straight via its PublicIP, which must be on our L2 segment. */
export function planHostGw(extLink: ExternalLink, peers: readonly PeerLease<PeerData>[]): DesiredState {
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];
  for (const peer of peers) {
    if (!onSegment(extLink, peer.publicIP)) {
      skipped.push({
        key: peer.key,
        reason: `host-gw needs peers on ${formatSubnet(extLink.subnet)} (${extLink.name}), but PublicIP ${peer.publicIP} is not`,
      });
      continue;
    }
    routes.push(directRoute(extLink, peer.subnet, peer.publicIP));
  }
  return { routes, neighs: [], fdb: [], skipped };
}
