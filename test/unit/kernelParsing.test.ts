import { parseBatchFailures } from '../../src/kernel/iprouteBatch.js';
import { monitorLineFilter } from '../../src/kernel/kernelMonitor.js';
import { parseFdb, parseNeighs, parseRoutes, parseVxlanDevice } from '../../src/kernel/kernelState.js';
import { vtepMacFromBytes } from '../../src/backend/vxlan/vtepMac.js';
import { parseUnicastMac } from '../../src/backend/vxlan/leaseData.js';

describe('iproute2 JSON parsing', () => {
  it('reads routes, adding /32 to host routes', () => {
    expect(
      parseRoutes([
        { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', flags: ['onlink'] },
        { dst: '10.5.9.9', dev: 'eth0', flags: [] },
        { nodst: true },
      ]),
    ).toEqual([
      { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
      { dst: '10.5.9.9/32', dev: 'eth0', onlink: false },
    ]);
  });

  it('reads neighbours and FDB entries, lower-casing MACs', () => {
    expect(parseNeighs([{ dst: '10.5.2.0', lladdr: '02:AA:BB:CC:DD:EE', state: ['PERMANENT'] }, { dst: '10.5.3.0', state: ['FAILED'] }])).toEqual([
      { dst: '10.5.2.0', lladdr: '02:aa:bb:cc:dd:ee', permanent: true },
      { dst: '10.5.3.0', permanent: false },
    ]);
    expect(parseFdb([{ mac: '02:AA:BB:CC:DD:EE', dst: '192.168.1.3', flags: ['self'], state: 'permanent' }, { mac: '33:33:00:00:00:01', flags: ['self'] }])).toEqual([
      { mac: '02:aa:bb:cc:dd:ee', dst: '192.168.1.3', permanent: true },
      { mac: '33:33:00:00:00:01', permanent: false },
    ]);
  });

  it('reads a vxlan device with its addresses', () => {
    const device = parseVxlanDevice([
      {
        ifname: 'flannel.1',
        mtu: 1450,
        flags: ['BROADCAST', 'UP'],
        address: '02:11:22:33:44:55',
        linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '192.168.50.2', link: 'eth0', port: 8472, learning: false } },
        addr_info: [{ family: 'inet', local: '10.5.1.0', prefixlen: 32 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }],
      },
    ]);
    expect(device).toEqual({
      name: 'flannel.1', kind: 'vxlan', vni: 1, local: '192.168.50.2', link: 'eth0', port: 8472, learning: false, gbp: false, mtu: 1450, mac: '02:11:22:33:44:55', up: true, addresses: ['10.5.1.0/32'],
    });
    expect(parseVxlanDevice([])).toBeUndefined();
  });
});

describe('parseBatchFailures', () => {
  it('maps "Command failed -:N" back to the batch line and its error', () => {
    const lines = ['route replace a', 'route replace b', 'neigh replace c', 'route del d'];
    const stderr = 'Cannot find device "nosuchdev"\nCommand failed -:2\nRTNETLINK answers: No such process\nCommand failed -:4\n';
    expect(parseBatchFailures(lines, stderr)).toEqual([
      { line: 2, command: 'route replace b', error: 'Cannot find device "nosuchdev"' },
      { line: 4, command: 'route del d', error: 'RTNETLINK answers: No such process' },
    ]);
  });

  it('counts every line after the last marker as failed when the tool exited mid-batch', () => {
    // What ip prints when a nexthop names a missing device: invarg() exits without a marker.
    const lines = ['neigh replace a dev flannel.1', 'nexthop replace id 5 dev flannel.1', 'route replace b nhid 5'];
    const stderr = 'Cannot find device "flannel.1"\nCommand failed -:1\nError: argument "flannel.1" is wrong: Device does not exist\n';
    const stopped = 'Error: argument "flannel.1" is wrong: Device does not exist (the batch stopped; this line may not have run)';
    expect(parseBatchFailures(lines, stderr)).toEqual([
      { line: 1, command: 'neigh replace a dev flannel.1', error: 'Cannot find device "flannel.1"' },
      { line: 2, command: 'nexthop replace id 5 dev flannel.1', error: stopped },
      { line: 3, command: 'route replace b nhid 5', error: stopped },
    ]);
  });
});

describe('monitorLineFilter', () => {
  const interesting = monitorLineFilter(['flannel.1'], ['eth0']);
  it.each([
    'Deleted 10.5.3.0/24 via 10.5.3.0 dev flannel.1 proto 87 onlink ',
    'Deleted 10.5.3.0 dev flannel.1 FAILED ',
    'Deleted 5: flannel.1: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue state DOWN',
    'Deleted 02:aa:bb:cc:dd:01 dev flannel.1 dst 192.168.50.4 self permanent',
    'Deleted 10.5.3.0/24 via 192.168.1.3 dev eth0 proto 87 ',
    '2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9000',
    '2: eth0    inet 192.168.1.11/24 scope global eth0',
    'Deleted 2: eth0    inet 192.168.1.11/24 scope global eth0',
  ])('reacts to %j', (line) => expect(interesting(line)).toBe(true));
  it.each([
    '10.244.1.5 dev cni0 lladdr 02:42:0a:f4:01:05 STALE',
    '192.168.1.7 dev eth0 lladdr 02:42:0a:f4:01:07 REACHABLE',
    'Deleted 10.9.0.0/24 dev flannel.10 proto kernel',
  ])('ignores %j', (line) => expect(interesting(line)).toBe(false));
});

describe('vtepMacFromBytes', () => {
  it('always yields a locally administered unicast MAC', () => {
    for (const first of [0x00, 0x01, 0xff, 0xfe, 0x33]) {
      const mac = vtepMacFromBytes(new Uint8Array([first, 1, 2, 3, 4, 5]));
      expect(parseUnicastMac(mac)).toBe(mac);
      expect(parseInt(mac.slice(0, 2), 16) & 0x02).toBe(2);
    }
  });
});
