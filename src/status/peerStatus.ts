import type { DesiredState } from '../backend/plan.js';
import type { ActualState } from '../kernel/kernelState.js';
import { formatIpv4, formatSubnet } from '../net/ipv4.js';
import type { PeerLease } from '../subnet/lease.js';

export interface PeerStatus {
  readonly key: string;
  readonly subnet: string;
  readonly publicIP: string;
  readonly vtepMac?: string;
  /** Empty when the kernel holds exactly what the peer needs. */
  readonly problems: readonly string[];
}

export interface HostStatus {
  readonly backend: string;
  readonly network: string;
  readonly lease?: { readonly subnet: string; readonly expiration?: string };
  readonly device?: { readonly name: string; readonly present: boolean; readonly problems: readonly string[] };
  readonly peers: readonly PeerStatus[];
  readonly skipped: ReadonlyArray<{ readonly key: string; readonly reason: string }>;
  readonly healthy: boolean;
}

/**
 * Compares, peer by peer, what the kernel holds with what the plan wants: the route (and its
 * nexthop), the ARP entry and the FDB entry. Pure, so `weft status` and its tests agree.
 */
export function peerStatuses(peers: readonly PeerLease[], desired: DesiredState, actual: ActualState, useNexthops: boolean): PeerStatus[] {
  const routes = new Map(actual.routes.map((r) => [r.dst, r]));
  const nexthops = new Map(actual.nexthops.map((n) => [n.id, n]));
  const neighs = new Map(actual.neighs.filter((n) => n.permanent).map((n) => [n.dst, n.lladdr]));
  const fdb = new Set(actual.fdb.map((f) => `${f.mac} ${f.dst ?? ''}`));
  const skipped = new Set(desired.skipped.map((s) => s.key));
  const planned = new Map(desired.routes.map((r) => [r.dst, r]));
  return peers
    .filter((peer) => !skipped.has(peer.key))
    .map((peer) => {
      const dst = formatSubnet(peer.subnet);
      const want = planned.get(dst);
      const problems: string[] = [];
      const have = routes.get(dst);
      if (!want) problems.push('not planned');
      else if (!have) problems.push('route missing');
      else {
        const hop = useNexthops && have.nhid !== undefined ? nexthops.get(have.nhid) : have;
        if (useNexthops && have.nhid !== want.nexthopId) problems.push('route not on its nexthop');
        else if (!hop) problems.push('nexthop missing');
        else if (hop.gateway !== want.gateway || hop.dev !== want.dev) problems.push(`route via ${hop.gateway ?? '-'} dev ${hop.dev}, want via ${want.gateway} dev ${want.dev}`);
      }
      const mac = peer.vxlan?.vtepMac;
      if (mac && want?.dev === desired.device?.name) {
        const gateway = formatIpv4(peer.subnet.address);
        if (neighs.get(gateway) !== mac) problems.push('ARP entry missing or wrong');
        if (!fdb.has(`${mac} ${peer.publicIP}`)) problems.push('FDB entry missing or wrong');
      }
      return { key: peer.key, subnet: dst, publicIP: peer.publicIP, ...(mac ? { vtepMac: mac } : {}), problems };
    });
}

/** Problems with the device itself: missing, wrong kind, down, or a different MTU/VNI. */
export function deviceProblems(desired: DesiredState, actual: ActualState): string[] {
  const want = desired.device;
  if (!want) return [];
  const have = actual.device;
  if (!have) return ['device missing'];
  const problems: string[] = [];
  if (have.kind !== 'vxlan' || have.vni !== want.vni) problems.push(`not a vxlan device with VNI ${want.vni}`);
  if (!have.up) problems.push('down');
  if (have.mtu !== want.mtu) problems.push(`MTU ${have.mtu}, want ${want.mtu}`);
  if (!have.addresses.includes(want.address)) problems.push(`address ${want.address} missing`);
  return problems;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function formatStatus(status: HostStatus): string {
  const lines = [
    `network   ${status.network} (${status.backend})`,
    `lease     ${status.lease ? `${status.lease.subnet}${status.lease.expiration ? `, expires ${status.lease.expiration}` : ', reservation'}` : 'NONE'}`,
  ];
  if (status.device) {
    lines.push(`device    ${status.device.name}: ${status.device.problems.length ? status.device.problems.join('; ') : 'ok'}`);
  }
  lines.push('', table([['SUBNET', 'PUBLIC IP', 'VTEP MAC', 'KERNEL'], ...status.peers.map((p) => [p.subnet, p.publicIP, p.vtepMac ?? '-', p.problems.length ? p.problems.join('; ') : 'ok'])]));
  for (const s of status.skipped) lines.push(`not routed: ${s.key}: ${s.reason}`);
  lines.push('', status.healthy ? 'all peers match the kernel' : 'PROBLEMS FOUND');
  return `${lines.join('\n')}\n`;
}
