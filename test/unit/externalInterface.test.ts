import { InterfaceSelectionError } from '../../src/util/errors.js';
import { selectExternalInterface } from '../../src/net/externalInterface.js';
import { parseIpAddrJson, parseRouteJson } from '../../src/net/hostInterface.js';
import { formatSubnet } from '../../src/net/ipv4.js';

const ipAddr = parseIpAddrJson([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  { ifindex: 2, ifname: 'eth0', flags: ['UP'], mtu: 1500, addr_info: [{ family: 'inet6', local: 'fe80::1', prefixlen: 64 }, { family: 'inet', local: '192.168.1.10', prefixlen: 24, scope: 'global' }] },
  { ifindex: 3, ifname: 'eth1', flags: ['UP'], mtu: 9000, addr_info: [{ family: 'inet', local: '10.10.0.5', prefixlen: 16, scope: 'global' }] },
  { ifindex: 4, ifname: 'dummy0', flags: [], mtu: 1500, addr_info: [] },
  'garbage',
]);
const facts = { interfaces: ipAddr, defaultRoutes: parseRouteJson([{ dst: 'default', gateway: '192.168.1.1', dev: 'eth0' }]) };

describe('selectExternalInterface', () => {
  const none = { iface: [], ifaceRegex: [] };

  it('uses the default route when nothing is given', () => {
    const ext = selectExternalInterface(none, facts);
    expect(ext.iface.name).toBe('eth0');
    expect(ext.publicIP).toBe('192.168.1.10');
    expect(formatSubnet(ext.ifaceSubnet)).toBe('192.168.1.0/24');
  });

  it('takes --iface entries in order, by name or by IP', () => {
    expect(selectExternalInterface({ ...none, iface: ['nope', 'eth1'] }, facts).iface.name).toBe('eth1');
    expect(selectExternalInterface({ ...none, iface: ['10.10.0.5'] }, facts).iface.mtu).toBe(9000);
  });

  it('matches --iface-regex against addresses first, then names', () => {
    expect(selectExternalInterface({ ...none, ifaceRegex: ['^10\\.10\\.'] }, facts).iface.name).toBe('eth1');
    expect(selectExternalInterface({ ...none, ifaceRegex: ['^eth1$'] }, facts).ifaceAddress).toBe('10.10.0.5');
  });

  it('follows the route for --iface-can-reach, preferring its source address', () => {
    const ext = selectExternalInterface({ ...none, ifaceCanReach: '10.10.9.9' }, { ...facts, canReachRoute: { dev: 'eth1', prefsrc: '10.10.0.5' } });
    expect(ext.iface.name).toBe('eth1');
  });

  it('lets --public-ip override the advertised address only', () => {
    const ext = selectExternalInterface({ ...none, iface: ['eth0'], publicIp: '203.0.113.7' }, facts);
    expect(ext.publicIP).toBe('203.0.113.7');
    expect(ext.ifaceAddress).toBe('192.168.1.10');
  });

  it('explains what it tried when nothing matches', () => {
    expect(() => selectExternalInterface({ ...none, iface: ['eth9'] }, facts)).toThrow(InterfaceSelectionError);
    expect(() => selectExternalInterface({ ...none, iface: ['eth9'] }, facts)).toThrow(/--iface eth9.*eth0 \(192\.168\.1\.10\)/);
    expect(() => selectExternalInterface({ ...none, iface: ['dummy0'] }, facts)).toThrow(/dummy0/);
    expect(() => selectExternalInterface(none, { interfaces: ipAddr, defaultRoutes: [] })).toThrow(/default route/);
  });
});
