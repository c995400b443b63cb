import type { ActualState } from '../../kernel/kernelState.js';
import { formatIpv4 } from '../../net/ipv4.js';
import type { PeerLease } from '../../subnet/lease.js';
import type { PeerCheck, PeerChecker } from '../backend.js';
import type { DesiredRoute, DesiredState } from '../desiredState.js';
import type { PeerData } from '../registry.js';

/**
 * A tunnelled peer also needs its ARP and FDB entries; a directly routed one does not. The
 * tables are indexed once per status run: at 10000 peers a scan per peer would be quadratic.
 */
export function vxlanPeerChecker(desired: DesiredState, actual: ActualState): PeerChecker {
  const neighs = new Map<string, string | undefined>();
  for (const n of actual.neighs) if (n.permanent) neighs.set(n.dst, n.lladdr);
  const fdb = new Set<string>();
  for (const f of actual.fdb) fdb.add(`${f.mac} ${f.dst ?? ''}`);
  return (peer: PeerLease<PeerData>, route: DesiredRoute | undefined): PeerCheck => {
    if (peer.data.backend !== 'vxlan') return { problems: [] };
    const mac = peer.data.vtepMac;
    const problems: string[] = [];
    if (route?.dev === desired.device?.name) {
      if (neighs.get(formatIpv4(peer.subnet.address)) !== mac) problems.push('ARP entry missing or wrong');
      if (!fdb.has(`${mac} ${peer.publicIP}`)) problems.push('FDB entry missing or wrong');
    }
    return { column: mac, problems };
  };
}

/** Problems with the device itself: missing, wrong kind, down, or a different MTU/VNI. */
export function vxlanDeviceProblems(desired: DesiredState, actual: ActualState): string[] {
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
