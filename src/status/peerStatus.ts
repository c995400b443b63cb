import type { DesiredRoute, DesiredState } from '../backend/desiredState.js';
import type { ActualState, KernelNexthop, KernelRoute } from '../kernel/kernelState.js';
import { formatSubnet } from '../net/ipv4.js';
import type { PeerLease } from '../subnet/lease.js';

export interface PeerStatus {
  readonly key: string;
  readonly subnet: string;
  readonly publicIP: string;
  /** The backend's own column (vxlan: the VTEP MAC). */
  readonly detail?: string;
  /** Empty when the kernel holds exactly what the peer needs. */
  readonly problems: readonly string[];
}

export interface HostStatus {
  readonly backend: string;
  readonly network: string;
  readonly lease?: { readonly subnet: string; readonly expiration?: string };
  readonly device?: { readonly name: string; readonly present: boolean; readonly problems: readonly string[] };
  /** Header of the backend's column, if it has one. */
  readonly detailColumn?: string;
  readonly peers: readonly PeerStatus[];
  readonly skipped: ReadonlyArray<{ readonly key: string; readonly reason: string }>;
  /** The IPv6 plane, when this host runs one: the same checks against the kernel's IPv6 tables. */
  readonly ipv6?: FamilyStatus;
  readonly healthy: boolean;
}

/** One address family's part of `weft status`. */
export interface FamilyStatus {
  readonly network: string;
  readonly lease?: { readonly subnet: string };
  readonly device?: { readonly name: string; readonly present: boolean; readonly problems: readonly string[] };
  readonly detailColumn?: string;
  readonly peers: readonly PeerStatus[];
  readonly skipped: ReadonlyArray<{ readonly key: string; readonly reason: string }>;
}

export function routeProblem(
  want: DesiredRoute | undefined,
  dst: string,
  useNexthops: boolean,
  routes: ReadonlyMap<string, KernelRoute>,
  nexthops: ReadonlyMap<number, KernelNexthop>,
): string | undefined {
  if (!want) return 'not planned';
  const have = routes.get(dst);
  if (!have) return 'route missing';
  const hop = useNexthops && have.nhid !== undefined ? nexthops.get(have.nhid) : have;
  if (useNexthops && have.nhid !== want.nexthopId) return 'route not on its nexthop';
  if (!hop) return 'nexthop missing';
  if (hop.gateway !== want.gateway || hop.dev !== want.dev) return `route via ${hop.gateway ?? '-'} dev ${hop.dev}, want via ${want.gateway} dev ${want.dev}`;
  return undefined;
}

/**
 * Compares, peer by peer, what the kernel holds with what the plan wants: the route (and its
 * nexthop) for every backend, then whatever the backend's checker adds (vxlan: ARP and FDB).
 * Pure, so `weft status` and its tests agree.
 */
export function peerStatuses<D>(
  peers: readonly PeerLease<D>[],
  desired: DesiredState,
  actual: ActualState,
  useNexthops: boolean,
  check?: (peer: PeerLease<D>, route: DesiredRoute | undefined) => { readonly column?: string; readonly problems: readonly string[] },
): PeerStatus[] {
  const routes = new Map(actual.routes.map((r) => [r.dst, r]));
  const nexthops = new Map(actual.nexthops.map((n) => [n.id, n]));
  const skipped = new Set(desired.skipped.map((s) => s.key));
  const planned = new Map(desired.routes.map((r) => [r.dst, r]));
  return peers
    .filter((peer) => !skipped.has(peer.key))
    .map((peer) => {
      const dst = formatSubnet(peer.subnet);
      const want = planned.get(dst);
      const problem = routeProblem(want, dst, useNexthops, routes, nexthops);
      const backendCheck = check?.(peer, want);
      const problems = [...(problem ? [problem] : []), ...(backendCheck?.problems ?? [])];
      return { key: peer.key, subnet: dst, publicIP: peer.publicIP, ...(backendCheck?.column ? { detail: backendCheck.column } : {}), problems };
    });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function peerTable(status: Pick<FamilyStatus, 'detailColumn' | 'peers' | 'skipped'>): string[] {
  const column = status.detailColumn;
  const header = ['SUBNET', 'PUBLIC IP', ...(column ? [column] : []), 'KERNEL'];
  const rows = status.peers.map((p) => [p.subnet, p.publicIP, ...(column ? [p.detail ?? '-'] : []), p.problems.length ? p.problems.join('; ') : 'ok']);
  return ['', table([header, ...rows]), ...status.skipped.map((s) => `not routed: ${s.key}: ${s.reason}`)];
}

export function formatStatus(status: HostStatus): string {
  const lines = [
    `network   ${status.network} (${status.backend})`,
    `lease     ${status.lease ? `${status.lease.subnet}${status.lease.expiration ? `, expires ${status.lease.expiration}` : ', reservation'}` : 'NONE'}`,
  ];
  if (status.device) {
    lines.push(`device    ${status.device.name}: ${status.device.problems.length ? status.device.problems.join('; ') : 'ok'}`);
  }
  lines.push(...peerTable(status));
  if (status.ipv6) {
    const v6 = status.ipv6;
    lines.push('', `ipv6      ${v6.network}`, `lease     ${v6.lease ? v6.lease.subnet : 'NONE'}`);
    if (v6.device) lines.push(`device    ${v6.device.name}: ${v6.device.problems.length ? v6.device.problems.join('; ') : 'ok'}`);
    lines.push(...peerTable(v6));
  }
  lines.push('', status.healthy ? 'all peers match the kernel' : 'PROBLEMS FOUND');
  return `${lines.join('\n')}\n`;
}
