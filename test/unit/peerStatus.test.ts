import { parseNetworkConfig } from '../../src/backend/registry.js';
import { nexthopIdFor } from '../../src/backend/desiredState.js';
import type { PeerData } from '../../src/backend/registry.js';
import { vxlanDeviceProblems as deviceProblems, vxlanPeerChecker } from '../../src/backend/vxlan/status.js';
import { planKernelState } from '../helpers/plan.js';
import type { ActualState } from '../../src/kernel/kernelState.js';
import { parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';
import type { PeerLease } from '../../src/subnet/lease.js';
import { formatStatus, peerStatuses } from '../../src/status/peerStatus.js';

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

const peer: PeerLease<PeerData> = { key: '10.5.2.0-24', subnet: cidr('10.5.2.0/24'), publicIP: '192.168.1.11', backendType: 'vxlan', data: { backend: 'vxlan', vni: 1, vtepMac: '02:00:00:00:02:02' } };
const desired = planKernelState({
  backend: parseNetworkConfig('{"Network":"10.5.0.0/16"}').backend,
  ownSubnet: cidr('10.5.1.0/24'),
  extLink: { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: cidr('192.168.1.0/24') },
  vtepMac: '02:00:00:00:01:01',
  peers: [peer],
});
const id = nexthopIdFor(cidr('10.5.2.0/24'));
const healthy: ActualState = {
  device: { name: 'flannel.1', kind: 'vxlan', vni: 1, local: '192.168.1.10', port: 8472, link: 'eth0', learning: false, gbp: false, mtu: 1450, mac: '02:00:00:00:01:01', up: true, addresses: ['10.5.1.0/32'] },
  routes: [{ dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true, nhid: id }],
  nexthops: [{ id, gateway: '10.5.2.0', dev: 'flannel.1', onlink: true }],
  neighs: [{ dst: '10.5.2.0', lladdr: '02:00:00:00:02:02', permanent: true }],
  fdb: [{ mac: '02:00:00:00:02:02', dst: '192.168.1.11', permanent: true }],
};

describe('peerStatuses', () => {
  it('reports a converged peer as ok', () => {
    expect(peerStatuses([peer], desired, healthy, true, vxlanPeerChecker(desired, healthy))).toEqual([
      { key: '10.5.2.0-24', subnet: '10.5.2.0/24', publicIP: '192.168.1.11', detail: '02:00:00:00:02:02', problems: [] },
    ]);
    expect(deviceProblems(desired, healthy)).toEqual([]);
  });

  it('names each missing or wrong entry', () => {
    const broken: ActualState = { ...healthy, routes: [], neighs: [], fdb: [{ mac: '02:00:00:00:02:02', dst: '192.168.1.99', permanent: true }] };
    expect(peerStatuses([peer], desired, broken, true, vxlanPeerChecker(desired, broken))[0]!.problems).toEqual(['route missing', 'ARP entry missing or wrong', 'FDB entry missing or wrong']);
    const wrongHop: ActualState = { ...healthy, nexthops: [{ id, gateway: '10.5.9.0', dev: 'flannel.1', onlink: true }] };
    expect(peerStatuses([peer], desired, wrongHop, true, vxlanPeerChecker(desired, wrongHop))[0]!.problems).toEqual(['route via 10.5.9.0 dev flannel.1, want via 10.5.2.0 dev flannel.1']);
  });

  it('checks the device itself', () => {
    expect(deviceProblems(desired, { ...healthy, device: undefined })).toEqual(['device missing']);
    expect(deviceProblems(desired, { ...healthy, device: { ...healthy.device!, up: false, mtu: 1400 } })).toEqual(['down', 'MTU 1400, want 1450']);
  });

  it('formats a table that ends in a verdict', () => {
    const text = formatStatus({ backend: 'vxlan', network: '10.5.0.0/16', lease: { subnet: '10.5.1.0/24' }, device: { name: 'flannel.1', present: true, problems: [] }, detailColumn: 'VTEP MAC', peers: peerStatuses([peer], desired, healthy, true, vxlanPeerChecker(desired, healthy)), skipped: [], healthy: true });
    expect(text).toContain('10.5.2.0/24  192.168.1.11  02:00:00:00:02:02  ok');
    expect(text.trim().endsWith('all peers match the kernel')).toBe(true);
  });
});
