import { diffKernelState, type OwnershipScope } from '../../src/backend/diff.js';
import { planHostGwIpv6 } from '../../src/backend/hostgw/planIpv6.js';
import { parseVxlanConfig } from '../../src/backend/vxlan/config.js';
import { planVxlanIpv6 } from '../../src/backend/vxlan/planIpv6.js';
import type { PeerData } from '../../src/backend/registry.js';
import type { ActualState } from '../../src/kernel/kernelState.js';
import { parseVxlanDevice } from '../../src/kernel/kernelState.js';
import type { ExternalLink } from '../../src/net/externalInterface.js';
import type { PeerLease } from '../../src/subnet/lease.js';
import { ipv4Cidr as v4, ipv6Cidr as v6 } from '../helpers/cidr.js';


const ext: ExternalLink = { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: v4('192.168.1.0/24'), ipv6: { address: 'fd00::a', subnet: v6('fd00::/64') } };
const config = parseVxlanConfig({});

function peer(n: number, publicIPv6: string | undefined, mac = `02:00:00:00:06:0${n}`): PeerLease<PeerData> {
  return {
    key: `10.5.${n}.0-24`,
    subnet: v4(`10.5.${n}.0/24`),
    publicIP: `192.168.1.${10 + n}`,
    backendType: 'vxlan',
    data: { backend: 'vxlan', vni: 1, vtepMac: `02:00:00:00:04:0${n}` },
    ...(publicIPv6 ? { ipv6: { subnet: v6(`fc00:0:0:${n}::/64`), publicIP: publicIPv6, data: { backend: 'vxlan' as const, vni: 1, vtepMac: mac } } } : {}),
  };
}

const peers = [peer(2, 'fd00::b'), peer(3, '2001:db8::c'), peer(4, undefined)];
const scope: OwnershipScope = { network: v6('fc00::/48'), extLink: 'eth0', useNexthops: false };
const empty: ActualState = { routes: [], nexthops: [], neighs: [], fdb: [] };

describe('vxlan IPv6 plane', () => {
  const input = { config, extLink: ext, vtepMac: '02:00:00:00:06:01', ownSubnet: v6('fc00:0:0:1::/64'), peers };

  it("plans flannel-v6.<VNI> over the IPv6 underlay with per-peer FDB, neighbour and onlink route; IPv4-only peers are not part of it", () => {
    const desired = planVxlanIpv6(input);
    expect(desired.device).toMatchObject({ name: 'flannel-v6.1', local: 'fd00::a', link: 'eth0', address: 'fc00:0:0:1::/128', mtu: 1430 });
    expect(desired.fdb).toEqual([
      { mac: '02:00:00:00:06:02', dst: 'fd00::b' },
      { mac: '02:00:00:00:06:03', dst: '2001:db8::c' },
    ]);
    expect(desired.neighs).toEqual([
      { dst: 'fc00:0:0:2::', lladdr: '02:00:00:00:06:02' },
      { dst: 'fc00:0:0:3::', lladdr: '02:00:00:00:06:03' },
    ]);
    expect(desired.routes.map((r) => [r.dst, r.gateway, r.dev, r.onlink])).toEqual([
      ['fc00:0:0:2::/64', 'fc00:0:0:2::', 'flannel-v6.1', true],
      ['fc00:0:0:3::/64', 'fc00:0:0:3::', 'flannel-v6.1', true],
    ]);
  });

  it('gives an IPv6 VtepMAC claimed at two addresses to the newest lease, as on IPv4', () => {
    const stale = { ...peer(2, 'fd00::b', '02:00:00:00:06:99'), created: 5 };
    const moved = { ...peer(7, 'fd00::77', '02:00:00:00:06:99'), created: 50 };
    const desired = planVxlanIpv6({ ...input, peers: [stale, moved] });
    expect(desired.fdb).toEqual([{ mac: '02:00:00:00:06:99', dst: 'fd00::77' }]);
    expect(desired.skipped).toEqual([
      { key: '10.5.2.0-24', reason: 'IPv6 VtepMAC 02:00:00:00:06:99 is also claimed by the newer lease 10.5.7.0-24 at fd00::77; the newest lease wins' },
    ]);
  });

  it('routes IPv6 peers on our IPv6 prefix directly with DirectRouting', () => {
    const desired = planVxlanIpv6({ ...input, config: parseVxlanConfig({ DirectRouting: true }) });
    expect(desired.routes.map((r) => [r.dst, r.gateway, r.dev])).toEqual([
      ['fc00:0:0:2::/64', 'fd00::b', 'eth0'],
      ['fc00:0:0:3::/64', 'fc00:0:0:3::', 'flannel-v6.1'],
    ]);
  });

  it('creates the device with nodad, writes no nexthops, and is idempotent once converged', () => {
    const desired = planVxlanIpv6(input);
    const plan = diffKernelState(desired, empty, scope);
    expect(plan.device).toEqual([
      'link add flannel-v6.1 type vxlan id 1 local fd00::a dev eth0 dstport 8472 nolearning',
      'link set flannel-v6.1 address 02:00:00:00:06:01 mtu 1430 up',
      'addr replace fc00:0:0:1::/128 dev flannel-v6.1 nodad',
    ]);
    expect(plan.fdb).toContain('fdb replace 02:00:00:00:06:02 dev flannel-v6.1 dst fd00::b self permanent');
    expect(plan.ip.some((l) => l.startsWith('nexthop'))).toBe(false);
    expect(plan.ip).toContain('route replace fc00:0:0:2::/64 via fc00:0:0:2:: dev flannel-v6.1 onlink proto 87');
    const d = desired.device!;
    const actual: ActualState = {
      device: { name: d.name, kind: 'vxlan', vni: 1, local: d.local, port: d.port, link: 'eth0', learning: false, gbp: false, mtu: d.mtu, mac: d.mac, up: true, addresses: [d.address] },
      routes: desired.routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, onlink: r.onlink })),
      nexthops: [],
      neighs: desired.neighs.map((n) => ({ ...n, permanent: true })),
      fdb: desired.fdb.map((f) => ({ ...f, permanent: true })),
    };
    const again = diffKernelState(desired, actual, scope);
    expect([...again.device, ...again.fdb, ...again.ip]).toEqual([]);
  });

  it('deletes only IPv6 routes of its own network', () => {
    const actual: ActualState = {
      ...empty,
      routes: [
        { dst: 'fc00:0:0:9::/64', gateway: 'fd00::9', dev: 'eth0', onlink: false },
        { dst: 'fd99::/64', gateway: 'fd00::9', dev: 'eth0', onlink: false },
      ],
    };
    expect(diffKernelState(planHostGwIpv6(ext, []), actual, scope).ip).toEqual(['route del fc00:0:0:9::/64 proto 87']);
  });

  it('reads an IPv6 vxlan device as iproute2 prints it (local6, link-local addresses left out)', () => {
    const device = parseVxlanDevice([
      {
        ifname: 'flannel-v6.1',
        mtu: 1430,
        address: '02:00:00:00:06:01',
        flags: ['UP'],
        linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local6: 'fd00::a', link: 'eth0', port: 8472, learning: false } },
        addr_info: [
          { family: 'inet6', local: 'fc00:0:0:1::', prefixlen: 128, scope: 'global' },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
        ],
      },
    ]);
    expect(device).toMatchObject({ local: 'fd00::a', addresses: ['fc00:0:0:1::/128'] });
  });
});

describe('host-gw IPv6 plane', () => {
  it('routes IPv6 peers on our IPv6 prefix via their PublicIPv6 and skips the others with a reason', () => {
    const desired = planHostGwIpv6(ext, peers);
    expect(desired.routes.map((r) => [r.dst, r.gateway, r.dev])).toEqual([['fc00:0:0:2::/64', 'fd00::b', 'eth0']]);
    expect(desired.skipped).toEqual([{ key: '10.5.3.0-24', reason: expect.stringContaining('2001:db8::c') }]);
  });
});
