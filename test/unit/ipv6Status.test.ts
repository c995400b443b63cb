import { parseVxlanConfig } from '../../src/backend/vxlan/config.js';
import { planVxlanIpv6 } from '../../src/backend/vxlan/planIpv6.js';
import type { PeerData } from '../../src/backend/registry.js';
import type { ActualState } from '../../src/kernel/kernelState.js';
import { parseIpv4Cidr } from '../../src/net/ipv4.js';
import type { PeerLease } from '../../src/subnet/lease.js';
import { ipv6PeerStatuses } from '../../src/status/ipv6Status.js';
import { formatStatus } from '../../src/status/peerStatus.js';
import { ipv6Cidr as v6 } from '../helpers/cidr.js';

const v4 = parseIpv4Cidr('10.5.2.0/24');
if (!v4.ok) throw new Error('parse');

const peer: PeerLease<PeerData> = {
  key: '10.5.2.0-24&fc00:0:0:2::-64',
  subnet: v4.subnet,
  publicIP: '192.168.1.11',
  backendType: 'vxlan',
  data: { backend: 'vxlan', vni: 1, vtepMac: '02:00:00:00:04:02' },
  ipv6: { subnet: v6('fc00:0:0:2::/64'), publicIP: 'fd00::b', data: { backend: 'vxlan', vni: 1, vtepMac: '02:00:00:00:06:02' } },
};
const desired = planVxlanIpv6({
  config: parseVxlanConfig({}),
  extLink: { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: v4.subnet, ipv6: { address: 'fd00::a', subnet: v6('fd00::/64') } },
  vtepMac: '02:00:00:00:06:01',
  ownSubnet: v6('fc00:0:0:1::/64'),
  peers: [peer],
});
const healthy: ActualState = {
  routes: [{ dst: 'fc00:0:0:2::/64', gateway: 'fc00:0:0:2::', dev: 'flannel-v6.1', onlink: true }],
  nexthops: [],
  neighs: [{ dst: 'fc00:0:0:2::', lladdr: '02:00:00:00:06:02', permanent: true }],
  fdb: [{ mac: '02:00:00:00:06:02', dst: 'fd00::b', permanent: true }],
};

describe('IPv6 status', () => {
  it('finds nothing wrong on a converged kernel and shows the IPv6 VTEP MAC', () => {
    expect(ipv6PeerStatuses([peer], desired, healthy)).toEqual([
      { key: peer.key, subnet: 'fc00:0:0:2::/64', publicIP: 'fd00::b', detail: '02:00:00:00:06:02', problems: [] },
    ]);
  });

  it('names a missing route, neighbour or FDB entry', () => {
    expect(ipv6PeerStatuses([peer], desired, { ...healthy, routes: [] })[0]!.problems).toEqual(['route missing']);
    expect(ipv6PeerStatuses([peer], desired, { ...healthy, neighs: [] })[0]!.problems).toEqual(['neighbour entry missing or wrong']);
    expect(ipv6PeerStatuses([peer], desired, { ...healthy, fdb: [{ mac: '02:00:00:00:06:02', dst: 'fd00::99', permanent: true }] })[0]!.problems).toEqual([
      'FDB entry missing or wrong',
    ]);
  });

  it('prints the IPv6 plane after the IPv4 one', () => {
    const text = formatStatus({
      backend: 'vxlan',
      network: '10.5.0.0/16',
      lease: { subnet: '10.5.1.0/24' },
      peers: [],
      skipped: [],
      ipv6: { network: 'fc00::/48', lease: { subnet: 'fc00:0:0:1::/64' }, detailColumn: 'VTEP MAC', peers: ipv6PeerStatuses([peer], desired, healthy), skipped: [] },
      healthy: true,
    });
    expect(text).toContain('ipv6      fc00::/48\nlease     fc00:0:0:1::/64');
    expect(text).toMatch(/fc00:0:0:2::\/64\s+fd00::b\s+02:00:00:00:06:02\s+ok/);
  });
});
