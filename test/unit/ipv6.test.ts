import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { validateNetworkDocument } from '../../src/config/networkConfig.js';
import {
  formatIpv6,
  formatIpv6Subnet,
  ipv6SubnetsOverlap,
  ipv6ToBigInt,
  isUsableUnicastIpv6,
  parseIpv6,
  parseIpv6Cidr,
} from '../../src/net/ipv6.js';

describe('IPv6 addresses', () => {
  it.each([
    ['fc00:0:0:22:0:0:0:0', 'fc00:0:0:22::'],
    ['FC00::1', 'fc00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    // Equal runs: the first is shortened, as Go and inet_ntop do (ipaddr.js picks the last).
    ['0:0:0:1:0:0:0:1', '::1:0:0:0:1'],
    ['1:0:0:1:0:0:1:1', '1::1:0:0:1:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fc00:0:0:1:0:0:0:0', 'fc00:0:0:1::'],
    ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
  ])('formats %s as Go does: %s', (text, expected) => {
    expect(formatIpv6(ipv6ToBigInt(parseIpv6(text)!))).toBe(expected);
  });

  it.each(['fe80::1%eth0', '::ffff:1.2.3.4', '1.2.3.4', 'fc00::/64', '', 'g::1', 'fc00:::1'])('rejects %j', (text) => {
    expect(parseIpv6(text)).toBeUndefined();
  });

  it('formats and round-trips every address through BigInt, as ipaddr.js does wherever RFC 5952 allows one text', () => {
    fc.assert(
      // Mostly zero groups, so runs of every length and position (and ties) come up.
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }), (parts) => {
        const address = new ipaddr.IPv6(parts);
        const text = formatIpv6(ipv6ToBigInt(address));
        expect(ipv6ToBigInt(parseIpv6(text)!)).toBe(ipv6ToBigInt(address));
        // Where the longest zero run is unique, there is one RFC 5952 text, and ipaddr.js agrees.
        if (!hasTiedLongestZeroRuns(parts)) expect(text).toBe(address.toString());
      }),
    );
  });

  it.each([
    ['fe80::1', false],
    ['ff02::1', false],
    ['::1', false],
    ['::', false],
    ['fc00::1', true],
    ['2001:db8::1', true],
  ])('%s usable as an endpoint: %s', (text, usable) => {
    expect(isUsableUnicastIpv6(parseIpv6(text)!)).toBe(usable);
  });
});

function hasTiedLongestZeroRuns(parts: readonly number[]): boolean {
  const runs: number[] = [];
  let run = 0;
  for (const part of [...parts, 1]) {
    if (part === 0) {
      run++;
      continue;
    }
    if (run > 0) runs.push(run);
    run = 0;
  }
  const longest = Math.max(0, ...runs);
  return longest >= 2 && runs.filter((r) => r === longest).length > 1;
}

describe('IPv6 CIDRs', () => {
  it('parses and formats', () => {
    const parsed = parseIpv6Cidr('fc00:0:0:22::/64');
    expect(parsed.ok && formatIpv6Subnet(parsed.subnet)).toBe('fc00:0:0:22::/64');
  });

  it.each(['fc00::1/64', 'fc00::/129', 'fc00::', 'x/64'])('rejects %s', (text) => {
    expect(parseIpv6Cidr(text).ok).toBe(false);
  });

  it('knows overlap', () => {
    const a = parseIpv6Cidr('fc00::/48');
    const b = parseIpv6Cidr('fc00:0:0:5::/64');
    const c = parseIpv6Cidr('fc01::/64');
    if (!a.ok || !b.ok || !c.ok) throw new Error('parse');
    expect(ipv6SubnetsOverlap(a.subnet, b.subnet)).toBe(true);
    expect(ipv6SubnetsOverlap(a.subnet, c.subnet)).toBe(false);
  });
});

describe('IPv6 network config (Flannel CheckNetworkConfig)', () => {
  const v6 = (extra: Record<string, unknown>) => validateNetworkDocument({ Network: '10.244.0.0/16', EnableIPv6: true, ...extra }).ipv6!;

  it('defaults to a /64 per host, skipping the first subnet', () => {
    const config = v6({ IPv6Network: 'fc00::/48' });
    expect(config.subnetLen).toBe(64);
    expect(formatIpv6(config.subnetMin)).toBe('fc00:0:0:1::');
    expect(formatIpv6(config.subnetMax)).toBe('fc00:0:0:ffff::');
  });

  it('splits small networks in four', () => {
    const config = v6({ IPv6Network: 'fc00::/120' });
    expect(config.subnetLen).toBe(122);
    expect(formatIpv6(config.subnetMin)).toBe('fc00::40');
    expect(formatIpv6(config.subnetMax)).toBe('fc00::c0');
  });

  it('keeps explicit bounds', () => {
    const config = v6({ IPv6Network: 'fc00::/48', IPv6SubnetLen: 80, IPv6SubnetMin: 'fc00:0:0:2::', IPv6SubnetMax: 'fc00:0:0:3::' });
    expect(config.subnetLen).toBe(80);
    expect(formatIpv6(config.subnetMin)).toBe('fc00:0:0:2::');
  });

  it('leaves the IPv4 fields at Flannel zero values for an IPv6-only network', () => {
    const config = validateNetworkDocument({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fc00::/48' });
    expect(config.enableIPv4).toBe(false);
    expect(config.network).toEqual({ address: 0, prefixLength: 0 });
    expect(config.ipv6?.subnetLen).toBe(64);
  });
});
