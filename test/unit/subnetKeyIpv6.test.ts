import { formatSubnet } from '../../src/net/ipv4.js';
import { formatIpv6Subnet } from '../../src/net/ipv6.js';
import { leaseSubnetsToKey, parseLeaseKey, parseSubnetKey } from '../../src/subnet/subnetKey.js';

describe('dual-stack subnet keys (Flannel MakeSubnetKey / ParseSubnetKey)', () => {
  it.each([
    ['10.5.34.0-24&fc00:0:0:22::-64', '10.5.34.0/24', 'fc00:0:0:22::/64'],
    ['10.5.1.0-24&fc00::-64', '10.5.1.0/24', 'fc00::/64'],
    ['0.0.0.0-0&fc00::-64', '0.0.0.0/0', 'fc00::/64'],
    ['10.244.1.0-24&2001:db8:1:2::-64', '10.244.1.0/24', '2001:db8:1:2::/64'],
    ['10.244.1.0-24&fc00::40-122', '10.244.1.0/24', 'fc00::40/122'],
  ])('%s round-trips', (key, ipv4, ipv6) => {
    const parsed = parseLeaseKey(key)!;
    expect(formatSubnet(parsed.ipv4)).toBe(ipv4);
    expect(formatIpv6Subnet(parsed.ipv6!)).toBe(ipv6);
    expect(leaseSubnetsToKey(parsed)).toBe(key);
  });

  it('writes an IPv4-only key without the IPv6 part', () => {
    const parsed = parseLeaseKey('10.5.34.0-24')!;
    expect(parsed.ipv6).toBeUndefined();
    expect(leaseSubnetsToKey(parsed)).toBe('10.5.34.0-24');
  });

  it.each([
    '10.5.34.0-24&fc00:0:0:22::1-64',
    '10.5.34.0-24&fc00::-129',
    '10.5.34.0-24&FC00::-64',
    '10.5.34.0-24&fc00:::-64',
    '10.5.34.0-24&',
    '10.5.34.0-24&fc00::',
    '10.5.34.0-24&1.2.3.4-32',
  ])('rejects %s', (key) => {
    expect(parseLeaseKey(key)).toBeUndefined();
    expect(parseSubnetKey(key)).toBeUndefined();
  });
});
