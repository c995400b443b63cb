import { type AgentNetworkConfig as NetworkConfig, type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { convergedState, diffKernelState, type OwnershipScope } from '../../src/backend/diff.js';
import { nexthopIdFor } from '../../src/backend/desiredState.js';
import { planIsEmpty } from '../../src/kernel/kernelPlan.js';
import type { ExternalLink } from '../../src/net/externalInterface.js';
import { planKernelState } from '../helpers/plan.js';
import type { ActualState, KernelRoute } from '../../src/kernel/kernelState.js';
import { parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';
import { PeerSet } from '../../src/subnet/peerSet.js';
import { LeaseStore } from '../../src/subnet/leaseStore.js';
import { type PeerLease, serializeLeaseAttrs } from '../../src/subnet/lease.js';
import { silentLogger } from '../../src/util/log.js';
import { Writable } from 'node:stream';
import winston from 'winston';

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

const ext: ExternalLink = { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: cidr('192.168.1.0/24') };
const own = cidr('10.5.1.0/24');
const myMac = '02:00:00:00:01:01';

function config(backend: object = { Type: 'vxlan' }): NetworkConfig {
  return parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', Backend: backend }));
}

function vxPeer(third: number, publicIP: string, mac: string): PeerLease<PeerData> {
  return { key: `10.5.${third}.0-24`, subnet: cidr(`10.5.${third}.0/24`), publicIP, backendType: 'vxlan', data: { backend: 'vxlan', vni: 1, vtepMac: mac } };
}

const scope: OwnershipScope = { network: cidr('10.5.0.0/16'), extLink: 'eth0', useNexthops: false };

/** The kernel after a plan has been applied in full: what a converged host looks like. */
function converged(input: Parameters<typeof planKernelState>[0]): ActualState {
  return convergedState(planKernelState(input), false);
}

const peers = [vxPeer(2, '192.168.1.11', '02:00:00:00:02:02'), vxPeer(3, '192.168.1.12', '02:00:00:00:03:03')];
const base = { backend: config().backend, ownSubnet: own, extLink: ext, vtepMac: myMac, peers };

describe('planKernelState', () => {
  it('plans the vxlan device and per-peer ARP, FDB and onlink route', () => {
    const desired = planKernelState(base);
    expect(desired.device).toEqual({
      name: 'flannel.1', vni: 1, local: '192.168.1.10', link: 'eth0', port: 8472, learning: false, gbp: false, mtu: 1450, mac: myMac, address: '10.5.1.0/32',
    });
    expect(desired.routes).toEqual([
      { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true, nexthopId: 0x0a050200 },
      { dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: 'flannel.1', onlink: true, nexthopId: 0x0a050300 },
    ]);
    expect(desired.neighs).toEqual([{ dst: '10.5.2.0', lladdr: '02:00:00:00:02:02' }, { dst: '10.5.3.0', lladdr: '02:00:00:00:03:03' }]);
    expect(desired.fdb).toEqual([{ mac: '02:00:00:00:02:02', dst: '192.168.1.11' }, { mac: '02:00:00:00:03:03', dst: '192.168.1.12' }]);
  });

  it('routes same-segment peers directly with DirectRouting, and others over VXLAN', () => {
    const far = vxPeer(4, '172.16.9.9', '02:00:00:00:04:04');
    const desired = planKernelState({ ...base, backend: config({ Type: 'vxlan', DirectRouting: true }).backend, peers: [...peers, far] });
    expect(desired.routes).toEqual([
      { dst: '10.5.2.0/24', gateway: '192.168.1.11', dev: 'eth0', onlink: false, nexthopId: 0x0a050200 },
      { dst: '10.5.3.0/24', gateway: '192.168.1.12', dev: 'eth0', onlink: false, nexthopId: 0x0a050300 },
      { dst: '10.5.4.0/24', gateway: '10.5.4.0', dev: 'flannel.1', onlink: true, nexthopId: 0x0a050400 },
    ]);
    expect(desired.fdb).toEqual([{ mac: '02:00:00:00:04:04', dst: '172.16.9.9' }]);
  });

  it('plans host-gw routes and skips peers off the segment with a reason', () => {
    const hostGw = (p: PeerLease<PeerData>): PeerLease<PeerData> => ({ key: p.key, subnet: p.subnet, publicIP: p.publicIP, backendType: 'host-gw', data: { backend: 'host-gw' } });
    const desired = planKernelState({ ...base, backend: config({ Type: 'host-gw' }).backend, peers: [hostGw(peers[0]!), hostGw(vxPeer(4, '172.16.9.9', '02:00:00:00:04:04'))] });
    expect(desired.device).toBeUndefined();
    expect(desired.routes).toEqual([{ dst: '10.5.2.0/24', gateway: '192.168.1.11', dev: 'eth0', onlink: false, nexthopId: 0x0a050200 }]);
    expect(desired.skipped).toEqual([{ key: '10.5.4.0-24', reason: expect.stringContaining('172.16.9.9 is not') }]);
  });

  it('refuses a peer reusing our VTEP MAC or another peer’s MAC at another address', () => {
    const desired = planKernelState({ ...base, peers: [...peers, vxPeer(5, '192.168.1.50', myMac), vxPeer(6, '192.168.1.60', '02:00:00:00:02:02')] });
    expect(desired.routes.map((r) => r.dst)).toEqual(['10.5.2.0/24', '10.5.3.0/24']);
    expect(desired.skipped.map((s) => s.key)).toEqual(['10.5.5.0-24', '10.5.6.0-24']);
  });

  it('gives a VtepMAC claimed at two addresses to the newest lease, whatever the subnet order (a re-addressed host)', () => {
    const stale = { ...vxPeer(2, '192.168.1.11', '02:00:00:00:02:02'), created: 10 };
    const moved = { ...vxPeer(7, '192.168.1.70', '02:00:00:00:02:02'), created: 40 };
    const desired = planKernelState({ ...base, peers: [stale, vxPeer(3, '192.168.1.12', '02:00:00:00:03:03'), moved] });
    expect(desired.routes.map((r) => r.dst)).toEqual(['10.5.3.0/24', '10.5.7.0/24']);
    expect(desired.fdb).toContainEqual({ mac: '02:00:00:00:02:02', dst: '192.168.1.70' });
    expect(desired.fdb).not.toContainEqual({ mac: '02:00:00:00:02:02', dst: '192.168.1.11' });
    expect(desired.skipped).toEqual([
      { key: '10.5.2.0-24', reason: 'VtepMAC 02:00:00:00:02:02 is also claimed by the newer lease 10.5.7.0-24 at 192.168.1.70; the newest lease wins' },
    ]);
    // Order of the input does not matter, only creation order.
    expect(planKernelState({ ...base, peers: [moved, stale] }).skipped.map((s) => s.key)).toEqual(['10.5.2.0-24']);
  });

  it('passes creation order from the store to the planner', () => {
    const store = new LeaseStore();
    const value = (ip: string) => serializeLeaseAttrs({ publicIP: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: '02:00:00:00:44:44' } });
    const peerSet = new PeerSet(store, { config: config(), decodePeerData: peerDataDecoder(config().backend), ownSubnet: own }, silentLogger());
    store.apply([{ type: 'put', key: '10.5.9.0-24', value: value('192.168.1.90'), revision: 3, created: 3 }]);
    store.apply([{ type: 'put', key: '10.5.4.0-24', value: value('192.168.1.40'), revision: 8, created: 8 }]);
    // Renewing the older lease rewrites it, but does not make it newer.
    store.apply([{ type: 'put', key: '10.5.9.0-24', value: value('192.168.1.90'), revision: 12, created: 3 }]);
    const desired = planKernelState({ ...base, peers: peerSet.peers() });
    expect(desired.routes.map((r) => r.dst)).toEqual(['10.5.4.0/24']);
    expect(desired.skipped.map((s) => s.key)).toEqual(['10.5.9.0-24']);
  });

  it('keeps hostile leases out entirely: they never reach the planner', () => {
    const store = new LeaseStore();
    const value = (ip: string, mac: string) => serializeLeaseAttrs({ publicIP: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: mac } });
    store.apply([
      { type: 'put', key: '10.5.1.0-24', value: value('192.168.1.66', '02:00:00:00:66:66'), revision: 1 },
      { type: 'put', key: '0.0.0.0-0', value: value('192.168.1.67', '02:00:00:00:67:67'), revision: 2 },
      { type: 'put', key: '192.168.1.0-24', value: value('192.168.1.68', '02:00:00:00:68:68'), revision: 3 },
      { type: 'put', key: '10.5.7.0-24', value: value('192.168.1.255; reboot', '02:00:00:00:69:69'), revision: 4 },
      { type: 'put', key: '10.5.8.0-24', value: value('192.168.1.70', '02:00:00:00:70:70'), revision: 5 },
    ]);
    const peerSet = new PeerSet(store, { config: config(), decodePeerData: peerDataDecoder(config().backend), ownSubnet: own, forbidden: [ext.subnet] }, silentLogger());
    const desired = planKernelState({ ...base, peers: peerSet.peers() });
    expect(desired.routes.map((r) => r.dst)).toEqual(['10.5.8.0/24']);
  });

  it('names the first 10 invalid leases of an update and sums up the rest in one line, counting each', () => {
    const lines: string[] = [];
    const logger = winston.createLogger({
      transports: [new winston.transports.Stream({ stream: new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }) })],
    });
    const store = new LeaseStore();
    const invalid: string[] = [];
    const peerSet = new PeerSet(store, { config: config(), decodePeerData: peerDataDecoder(config().backend), ownSubnet: own }, logger, (key) => invalid.push(key));
    store.apply(Array.from({ length: 1000 }, (_, i) => ({ type: 'put' as const, key: `garbage-${i}`, value: '{}', revision: i + 1 })));
    peerSet.peers();
    expect(invalid).toHaveLength(1000);
    expect(lines).toHaveLength(11);
    expect(lines[10]).toContain('ignoring 990 more invalid leases');
  });

  it('lets the first claim of a subnet win when a second key names it too', () => {
    const store = new LeaseStore();
    const value = (ip: string, mac: string) => serializeLeaseAttrs({ publicIP: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: mac } });
    const invalid: string[] = [];
    const peerSet = new PeerSet(store, { config: config(), decodePeerData: peerDataDecoder(config().backend), ownSubnet: own }, silentLogger(), (key) => invalid.push(key));
    store.apply([{ type: 'put', key: '10.5.8.0-24', value: value('192.168.1.70', '02:00:00:00:70:70'), revision: 5, created: 5 }]);
    store.apply([{ type: 'put', key: '10.5.8.0-24&fd00::-64', value: value('192.168.1.99', '02:00:00:00:99:99'), revision: 9, created: 9 }]);
    expect(peerSet.peers().map((p) => [p.key, p.publicIP])).toEqual([['10.5.8.0-24', '192.168.1.70']]);
    // Touching the hijacker's key again does not make it win, nor report it twice.
    store.apply([{ type: 'put', key: '10.5.8.0-24&fd00::-64', value: value('192.168.1.98', '02:00:00:00:99:99'), revision: 12, created: 9 }]);
    expect(peerSet.peers().map((p) => p.key)).toEqual(['10.5.8.0-24']);
    expect(invalid).toEqual(['10.5.8.0-24&fd00::-64']);
  });
});

describe('diffKernelState', () => {
  it('creates everything on an empty kernel, device first', () => {
    const plan = diffKernelState(planKernelState(base), { routes: [], nexthops: [], neighs: [], fdb: [] }, scope);
    expect(plan.device).toEqual([
      'link add flannel.1 type vxlan id 1 local 192.168.1.10 dev eth0 dstport 8472 nolearning',
      `link set flannel.1 address ${myMac} mtu 1450 up`,
      'addr replace 10.5.1.0/32 dev flannel.1',
    ]);
    expect(plan.fdb).toEqual([
      'fdb replace 02:00:00:00:02:02 dev flannel.1 dst 192.168.1.11 self permanent',
      'fdb replace 02:00:00:00:03:03 dev flannel.1 dst 192.168.1.12 self permanent',
    ]);
    expect(plan.ip).toEqual([
      'neigh replace 10.5.2.0 lladdr 02:00:00:00:02:02 dev flannel.1 nud permanent',
      'neigh replace 10.5.3.0 lladdr 02:00:00:00:03:03 dev flannel.1 nud permanent',
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink proto 87',
      'route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink proto 87',
    ]);
  });

  it('does nothing on a converged kernel', () => {
    expect(planIsEmpty(diffKernelState(planKernelState(base), converged(base), scope))).toBe(true);
  });

  it('adds only the new peer', () => {
    const added = { ...base, peers: [...peers, vxPeer(9, '192.168.1.19', '02:00:00:00:09:09')] };
    const plan = diffKernelState(planKernelState(added), converged(base), scope);
    expect(plan).toEqual({
      device: [],
      fdb: ['fdb replace 02:00:00:00:09:09 dev flannel.1 dst 192.168.1.19 self permanent'],
      ip: ['neigh replace 10.5.9.0 lladdr 02:00:00:00:09:09 dev flannel.1 nud permanent', 'route replace 10.5.9.0/24 via 10.5.9.0 dev flannel.1 onlink proto 87'],
    });
  });

  it("follows a peer's new MAC: FDB and ARP are replaced, the stale FDB entry removed", () => {
    const changed = { ...base, peers: [vxPeer(2, '192.168.1.11', '02:00:00:00:22:22'), peers[1]!] };
    const plan = diffKernelState(planKernelState(changed), converged(base), scope);
    expect(plan.fdb).toEqual([
      'fdb replace 02:00:00:00:22:22 dev flannel.1 dst 192.168.1.11 self permanent',
      'fdb del 02:00:00:00:02:02 dev flannel.1 dst 192.168.1.11 self',
    ]);
    expect(plan.ip).toEqual(['neigh replace 10.5.2.0 lladdr 02:00:00:00:22:22 dev flannel.1 nud permanent']);
  });

  it("follows a peer's new PublicIP: only the FDB entry changes", () => {
    const changed = { ...base, peers: [vxPeer(2, '192.168.1.99', '02:00:00:00:02:02'), peers[1]!] };
    const plan = diffKernelState(planKernelState(changed), converged(base), scope);
    expect(plan.fdb).toEqual([
      'fdb replace 02:00:00:00:02:02 dev flannel.1 dst 192.168.1.99 self permanent',
      'fdb del 02:00:00:00:02:02 dev flannel.1 dst 192.168.1.11 self',
    ]);
    expect(plan.ip).toEqual([]);
  });

  it('removes a departed peer: route, ARP and FDB', () => {
    const plan = diffKernelState(planKernelState({ ...base, peers: [peers[1]!] }), converged(base), scope);
    expect(plan.fdb).toEqual(['fdb del 02:00:00:00:02:02 dev flannel.1 dst 192.168.1.11 self']);
    expect(plan.ip).toEqual(['route del 10.5.2.0/24 proto 87', 'neigh del 10.5.2.0 dev flannel.1']);
  });

  it('switches a peer to a direct route in place when DirectRouting is enabled', () => {
    const direct = { ...base, backend: config({ Type: 'vxlan', DirectRouting: true }).backend };
    const plan = diffKernelState(planKernelState(direct), converged(base), scope);
    expect(plan.ip).toContain('route replace 10.5.2.0/24 via 192.168.1.11 dev eth0 proto 87');
    expect(plan.ip.filter((l) => l.startsWith('route del'))).toEqual([]);
  });

  it('never touches entries it does not own', () => {
    const foreignRoutes: KernelRoute[] = [
      { dst: '172.20.0.0/24', gateway: '192.168.1.1', dev: 'eth0', onlink: false },
      { dst: '10.5.200.0/24', gateway: '192.168.1.1', dev: 'eth1', onlink: false },
    ];
    const actual = converged(base);
    const withForeign: ActualState = {
      ...actual,
      routes: [...actual.routes, ...foreignRoutes],
      neighs: [...actual.neighs, { dst: '10.5.77.0', lladdr: '02:00:00:00:77:77', permanent: false }],
      fdb: [...actual.fdb, { mac: '00:00:00:00:00:00', dst: '239.1.1.1', permanent: true }, { mac: '02:00:00:00:aa:aa', permanent: true }],
    };
    expect(planIsEmpty(diffKernelState(planKernelState(base), withForeign, scope))).toBe(true);
  });

  it('recreates a device whose VNI, port or local address is wrong, then re-adds all entries', () => {
    const actual = converged(base);
    const wrong: ActualState = { ...actual, device: { ...actual.device!, port: 4789 } };
    const plan = diffKernelState(planKernelState(base), wrong, scope);
    expect(plan.device[0]).toBe('link del flannel.1');
    expect(plan.fdb).toHaveLength(2);
    expect(plan.ip.filter((l) => l.startsWith('route replace'))).toHaveLength(2);
  });

  it('fixes MTU, MAC, link state and addresses in place', () => {
    const actual = converged(base);
    const drifted: ActualState = { ...actual, device: { ...actual.device!, mtu: 1400, mac: '02:99:99:99:99:99', up: false, addresses: ['10.5.77.0/32'] } };
    expect(diffKernelState(planKernelState(base), drifted, scope).device).toEqual([
      `link set flannel.1 address ${myMac} mtu 1450 up`,
      'addr replace 10.5.1.0/32 dev flannel.1',
      'addr del 10.5.77.0/32 dev flannel.1',
    ]);
  });
});

describe('diffKernelState with nexthop objects', () => {
  const nhScope: OwnershipScope = { ...scope, useNexthops: true };
  const id2 = nexthopIdFor(cidr('10.5.2.0/24'));

  /** A kernel converged in nexthop mode. */
  function convergedNh(input: Parameters<typeof planKernelState>[0]): ActualState {
    const classic = converged(input);
    return {
      ...classic,
      routes: planKernelState(input).routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, onlink: r.onlink, nhid: r.nexthopId })),
      nexthops: planKernelState(input).routes.map((r) => ({ id: r.nexthopId, gateway: r.gateway, dev: r.dev, onlink: r.onlink })),
    };
  }

  it('uses the subnet address as the nexthop id', () => {
    expect(id2).toBe(0x0a050200);
  });

  it('creates a nexthop per peer, then points the route at it', () => {
    const plan = diffKernelState(planKernelState({ ...base, peers: [peers[0]!] }), { ...converged({ ...base, peers: [] }) }, nhScope);
    expect(plan.ip).toEqual([
      'neigh replace 10.5.2.0 lladdr 02:00:00:00:02:02 dev flannel.1 nud permanent',
      `nexthop replace id ${id2} via 10.5.2.0 dev flannel.1 onlink proto 87`,
      `route replace 10.5.2.0/24 nhid ${id2} proto 87`,
    ]);
  });

  it('does nothing on a converged kernel', () => {
    expect(planIsEmpty(diffKernelState(planKernelState(base), convergedNh(base), nhScope))).toBe(true);
  });

  it('adopts classic routes (Flannel’s, or from an older kernel) by re-pointing them in place', () => {
    const plan = diffKernelState(planKernelState(base), converged(base), nhScope);
    expect(plan.ip.filter((l) => l.startsWith('route del'))).toEqual([]);
    expect(plan.ip).toContain(`route replace 10.5.2.0/24 nhid ${id2} proto 87`);
  });

  it('moves a route to a direct next hop by replacing only the nexthop', () => {
    const direct = { ...base, backend: config({ Type: 'vxlan', DirectRouting: true }).backend };
    const plan = diffKernelState(planKernelState(direct), convergedNh(base), nhScope);
    expect(plan.ip).toContain(`nexthop replace id ${id2} via 192.168.1.11 dev eth0 proto 87`);
    expect(plan.ip.filter((l) => l.startsWith('route '))).toEqual([]);
  });

  it('removes a departed peer’s route and nexthop, and leaves other instances’ nexthops alone', () => {
    const actual = convergedNh(base);
    const withForeign: ActualState = { ...actual, nexthops: [...actual.nexthops, { id: 0x0a630100, gateway: '10.99.1.0', dev: 'flannel.2', onlink: true }] };
    const plan = diffKernelState(planKernelState({ ...base, peers: [peers[1]!] }), withForeign, nhScope);
    expect(plan.ip).toEqual(['route del 10.5.2.0/24 proto 87', `nexthop del id ${id2}`, 'neigh del 10.5.2.0 dev flannel.1']);
  });

  it('recreates nexthops after the device was recreated', () => {
    const actual = convergedNh(base);
    const plan = diffKernelState(planKernelState(base), { ...actual, device: undefined }, nhScope);
    expect(plan.ip.filter((l) => l.startsWith('nexthop replace'))).toHaveLength(2);
  });
});
