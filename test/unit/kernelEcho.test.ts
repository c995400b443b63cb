import { DesiredIndex } from '../../src/backend/desiredIndex.js';
import type { OwnershipScope } from '../../src/backend/diff.js';
import { parseNetworkConfig, type PeerData } from '../../src/backend/registry.js';
import { groupByVtepMac } from '../../src/backend/vxlan/macConflicts.js';
import { accountedFor, type EchoScope } from '../../src/agent/kernelEcho.js';
import { type KernelEvent, parseKernelEvent } from '../../src/kernel/kernelEvents.js';
import type { PeerLease } from '../../src/subnet/lease.js';
import { cidr } from '../helpers/cidr.js';
import { planKernelState } from '../helpers/plan.js';

// Lines as `ip monitor link route neigh address nexthop` and `bridge monitor fdb` print them
// (iproute2 6.1, captured from a namespace while weft's batch lines ran).
describe('parseKernelEvent', () => {
  it('reads route lines with and without a nexthop object, and their deletion', () => {
    expect(parseKernelEvent('10.5.2.0/24 nhid 167838208 via 10.5.2.0 dev flannel.1 proto 87 onlink ')).toEqual({
      kind: 'route', deleted: false, dst: '10.5.2.0/24', nhid: 167838208, gateway: '10.5.2.0', dev: 'flannel.1',
    });
    expect(parseKernelEvent('Deleted 10.5.3.0/24 via 10.5.2.0 dev flannel.1 proto 87 onlink ')).toEqual({
      kind: 'route', deleted: true, dst: '10.5.3.0/24', gateway: '10.5.2.0', dev: 'flannel.1',
    });
    expect(parseKernelEvent('fd00:5:2::/64 via fd00::2 dev eth0 proto 87 metric 1024 pref medium')).toEqual({
      kind: 'route', deleted: false, dst: 'fd00:5:2::/64', gateway: 'fd00::2', dev: 'eth0',
    });
    expect(parseKernelEvent('10.5.9.9 via 192.168.1.9 dev eth0 proto 87 ')).toMatchObject({ kind: 'route', dst: '10.5.9.9/32' });
  });

  it('reads nexthop objects', () => {
    expect(parseKernelEvent('id 167838208 via 10.5.2.0 dev flannel.1 scope link proto 87 onlink ')).toEqual({
      kind: 'nexthop', deleted: false, id: 167838208, gateway: '10.5.2.0', dev: 'flannel.1',
    });
    expect(parseKernelEvent('Deleted id 167838208 via 10.5.2.1 dev flannel.1 scope link proto 87 onlink ')).toMatchObject({ kind: 'nexthop', deleted: true });
  });

  it('reads neighbours, and a VXLAN FDB entry reported as a NOARP neighbour', () => {
    expect(parseKernelEvent('10.5.2.0 dev flannel.1 lladdr 02:00:00:00:02:02 PERMANENT ')).toEqual({
      kind: 'neigh', deleted: false, dst: '10.5.2.0', dev: 'flannel.1', lladdr: '02:00:00:00:02:02', permanent: true,
    });
    expect(parseKernelEvent('Deleted 10.5.2.0 dev flannel.1 FAILED ')).toEqual({ kind: 'neigh', deleted: true, dst: '10.5.2.0', dev: 'flannel.1', permanent: false });
    expect(parseKernelEvent('192.168.9.2 dev flannel.1 lladdr 02:00:00:00:02:02 NOARP PERMANENT ')).toEqual({
      kind: 'fdb', deleted: false, mac: '02:00:00:00:02:02', dev: 'flannel.1', dst: '192.168.9.2', permanent: true,
    });
  });

  it('reads bridge monitor FDB lines', () => {
    expect(parseKernelEvent('Deleted 02:00:00:00:02:02 dev flannel.1 dst 192.168.9.3 self permanent')).toEqual({
      kind: 'fdb', deleted: true, mac: '02:00:00:00:02:02', dev: 'flannel.1', dst: '192.168.9.3', permanent: true,
    });
  });

  it('reads anything else as a change nobody announced', () => {
    for (const line of [
      '4: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UNKNOWN group default ',
      '4: flannel.1    inet 10.5.1.0/32 scope global flannel.1',
      'local 10.5.1.0 dev flannel.1 table local proto kernel scope host src 10.5.1.0 ',
      'fe80::/64 dev flannel.1 proto kernel metric 256 pref medium',
      '10.5.9.0/24 via 10.5.9.0 dev flannel.1 proto static onlink',
      'id 7 via 10.5.9.0 dev flannel.1 scope link proto static onlink',
    ]) {
      expect(parseKernelEvent(line)).toEqual({ kind: 'other', line });
    }
  });
});

describe('accountedFor', () => {
  const config = parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan' } }));
  const ext = { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: cidr('192.168.1.0/24') };
  const peer = (n: number, publicIP: string): PeerLease<PeerData> => ({
    key: `10.5.${n}.0-24`, subnet: cidr(`10.5.${n}.0/24`), publicIP, backendType: 'vxlan', data: { backend: 'vxlan', vni: 1, vtepMac: `02:00:00:00:0${n}:0${n}` },
  });
  const scope: OwnershipScope = { network: config.network, extLink: 'eth0', useNexthops: true };
  const plane: EchoScope = { family: 'ipv4', deviceName: 'flannel.1', useNexthops: true };
  const index = new DesiredIndex({
    plan: (peers) => planKernelState({ backend: config.backend, ownSubnet: cidr('10.5.1.0/24'), extLink: ext, vtepMac: '02:00:00:00:01:01', peers }),
    groupOf: groupByVtepMac,
    counts: () => true,
  });
  index.rebuild([peer(2, '192.168.1.12')]);
  index.update(new Map([['10.5.3.0-24', peer(3, '192.168.1.13')]]), scope);
  const check = (line: string): boolean => accountedFor(parseKernelEvent(line), index, plane);

  it('takes our own writes echoed back as accounted for', () => {
    expect(check('10.5.3.0/24 nhid 168100608 via 10.5.3.0 dev flannel.1 proto 87 onlink ')).toBe(true);
    expect(check('id 168100608 via 10.5.3.0 dev flannel.1 scope link proto 87 onlink ')).toBe(true);
    expect(check('10.5.3.0 dev flannel.1 lladdr 02:00:00:00:03:03 PERMANENT ')).toBe(true);
    expect(check('02:00:00:00:03:03 dev flannel.1 dst 192.168.1.13 self permanent')).toBe(true);
    expect(check('192.168.1.13 dev flannel.1 lladdr 02:00:00:00:03:03 NOARP PERMANENT ')).toBe(true);
    // The deletions of entries the plan no longer holds, and the kernel's own neighbour churn.
    expect(check('Deleted 10.5.4.0/24 via 10.5.4.0 dev flannel.1 proto 87 onlink ')).toBe(true);
    expect(check('Deleted 10.5.4.0 dev flannel.1 FAILED ')).toBe(true);
    expect(check('Deleted 02:00:00:00:03:03 dev flannel.1 dst 192.168.1.99 self permanent')).toBe(true);
  });

  it('takes a change to what the plan holds as drift', () => {
    expect(check('Deleted 10.5.3.0/24 nhid 168100608 via 10.5.3.0 dev flannel.1 proto 87 onlink ')).toBe(false);
    expect(check('Deleted id 168100608 via 10.5.3.0 dev flannel.1 scope link proto 87 onlink ')).toBe(false);
    expect(check('10.5.3.0/24 via 10.5.3.0 dev flannel.1 proto 87 onlink ')).toBe(false);
    expect(check('id 168100608 via 10.5.3.9 dev flannel.1 scope link proto 87 onlink ')).toBe(false);
    expect(check('Deleted 10.5.2.0 dev flannel.1 lladdr 02:00:00:00:02:02 PERMANENT ')).toBe(false);
    expect(check('10.5.2.0 dev flannel.1 lladdr 02:00:00:00:09:09 PERMANENT ')).toBe(false);
    expect(check('10.5.2.0 dev flannel.1 lladdr 02:00:00:00:02:02 STALE ')).toBe(false);
    expect(check('Deleted 02:00:00:00:02:02 dev flannel.1 dst 192.168.1.12 self permanent')).toBe(false);
    expect(check('10.5.7.0/24 via 10.5.7.0 dev flannel.1 proto 87 onlink ')).toBe(false);
    expect(check('4: flannel.1: <BROADCAST,MULTICAST> mtu 1400 qdisc noop state DOWN group default ')).toBe(false);
  });

  it("leaves another plane's entries to that plane", () => {
    const events: KernelEvent[] = [
      parseKernelEvent('fd00:5:2::/64 via fd00::2 dev eth0 proto 87 metric 1024 pref medium'),
      parseKernelEvent('fc00:0:0:2:: dev flannel-v6.1 lladdr 02:00:00:00:02:02 PERMANENT '),
    ];
    for (const event of events) expect(accountedFor(event, index, plane)).toBe(true);
  });
});
