import { selectExternalInterface } from '../../src/net/externalInterface.js';
import { parseIpAddrJson, parseRouteJson } from '../../src/net/hostInterface.js';
import { formatIpv6Subnet } from '../../src/net/ipv6.js';

const ipAddr = parseIpAddrJson([
  {
    ifindex: 2,
    ifname: 'eth0',
    flags: ['UP'],
    mtu: 1500,
    addr_info: [
      { family: 'inet', local: '192.168.1.10', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
      { family: 'inet6', local: 'fd00:1::10', prefixlen: 64, scope: 'global' },
      { family: 'inet6', local: '2001:db8::10', prefixlen: 64, scope: 'global' },
    ],
  },
  { ifindex: 3, ifname: 'v6only', flags: ['UP'], mtu: 9000, addr_info: [{ family: 'inet6', local: 'fd00:2::5', prefixlen: 48, scope: 'global' }] },
  { ifindex: 4, ifname: 'tentative', flags: ['UP'], mtu: 1500, addr_info: [{ family: 'inet6', local: 'fd00:3::5', prefixlen: 64, scope: 'global', tentative: true }] },
]);
const none = { iface: [], ifaceRegex: [] };
const facts = { interfaces: ipAddr, defaultRoutes: parseRouteJson([{ dst: 'default', dev: 'eth0' }]) };

describe('IPv6 in external interface selection', () => {
  it("takes the chosen interface's first global IPv6 address, never a link-local one", () => {
    const ext = selectExternalInterface(none, facts);
    expect(ext.ipv6).toEqual({ ifaceAddress: 'fd00:1::10', publicIP: 'fd00:1::10', subnet: expect.anything() });
    expect(formatIpv6Subnet(ext.ipv6!.subnet)).toBe('fd00:1::/64');
    expect(ext.hasIpv4).toBe(true);
  });

  it('lets --iface and --iface-regex name the IPv6 address, and --public-ipv6 override what peers are told', () => {
    expect(selectExternalInterface({ ...none, iface: ['2001:db8::10'] }, facts).ipv6?.ifaceAddress).toBe('2001:db8::10');
    expect(selectExternalInterface({ ...none, iface: ['2001:db8::10'] }, facts).ifaceAddress).toBe('192.168.1.10');
    expect(selectExternalInterface({ ...none, ifaceRegex: ['^2001:'] }, facts).ipv6?.ifaceAddress).toBe('2001:db8::10');
    const ext = selectExternalInterface({ ...none, iface: ['eth0'], publicIpv6: 'fd99::1' }, facts);
    expect([ext.ipv6?.ifaceAddress, ext.ipv6?.publicIP]).toEqual(['fd00:1::10', 'fd99::1']);
  });

  it('selects an interface without IPv4 by its IPv6 address, for IPv6-only networks', () => {
    const byName = selectExternalInterface({ ...none, iface: ['v6only'] }, facts);
    expect([byName.iface.name, byName.hasIpv4, byName.ipv6?.ifaceAddress]).toEqual(['v6only', false, 'fd00:2::5']);
    const byRoute = selectExternalInterface(none, { interfaces: ipAddr, defaultRoutes: [], defaultIpv6Routes: [{ dev: 'v6only' }] });
    expect(byRoute.iface.name).toBe('v6only');
    const byReach = selectExternalInterface({ ...none, ifaceCanReach: 'fd00:2::99' }, { interfaces: ipAddr, defaultRoutes: [], canReachRoute: { dev: 'v6only' } });
    expect(byReach.ipv6?.ifaceAddress).toBe('fd00:2::5');
  });

  it('skips addresses still in duplicate address detection', () => {
    expect(() => selectExternalInterface({ ...none, iface: ['tentative'] }, facts)).toThrow(/IPv4 or global IPv6/);
  });
});
