import type { DesiredState } from '../backend/desiredState.js';
import type { ActualState } from '../kernel/kernelState.js';
import { formatIpv6Subnet } from '../net/ipv6.js';
import type { PeerLease } from '../subnet/lease.js';
import { type PeerStatus, routeProblem } from './peerStatus.js';

/**
 * The IPv6 plane's per-peer check, from the plan alone: the route, and for a route through the
 * backend's device the neighbour and FDB entries the plan puts behind it. IPv6 routes are plain
 * routes (no nexthop objects), and the plan names every entry, so no backend-specific checker is
 * needed. Pure, like peerStatuses.
 */
export function ipv6PeerStatuses<D>(peers: readonly PeerLease<D>[], desired: DesiredState, actual: ActualState): PeerStatus[] {
  const routes = new Map(actual.routes.map((r) => [r.dst, r]));
  const planned = new Map(desired.routes.map((r) => [r.dst, r]));
  const wantedNeighs = new Map(desired.neighs.map((n) => [n.dst, n.lladdr]));
  const neighs = new Map(actual.neighs.filter((n) => n.permanent).map((n) => [n.dst, n.lladdr]));
  const fdb = new Set(actual.fdb.map((f) => `${f.mac} ${f.dst ?? ''}`));
  const skipped = new Set(desired.skipped.map((s) => s.key));
  const statuses: PeerStatus[] = [];
  for (const peer of peers) {
    const ipv6 = peer.ipv6;
    if (!ipv6 || skipped.has(peer.key)) continue;
    const dst = formatIpv6Subnet(ipv6.subnet);
    const want = planned.get(dst);
    const problems: string[] = [];
    const problem = routeProblem(want, dst, false, routes, new Map());
    if (problem) problems.push(problem);
    const mac = want && want.dev === desired.device?.name ? wantedNeighs.get(want.gateway) : undefined;
    if (mac !== undefined) {
      if (neighs.get(want!.gateway) !== mac) problems.push('neighbour entry missing or wrong');
      if (!fdb.has(`${mac} ${ipv6.publicIP}`)) problems.push('FDB entry missing or wrong');
    }
    statuses.push({ key: peer.key, subnet: dst, publicIP: ipv6.publicIP, ...(mac ? { detail: mac } : {}), problems });
  }
  return statuses;
}
