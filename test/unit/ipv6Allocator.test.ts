import fc from 'fast-check';
import { formatIpv6, ipv6SubnetsOverlap } from '../../src/net/ipv6.js';
import { ipv6SubnetInRange, pickFreeIpv6Subnet } from '../../src/subnet/ipv6Allocator.js';
import { ipv6Cidr as cidr } from '../helpers/cidr.js';


const base = cidr('fc00::/48').address;
const slot = (i: number): bigint => base + (BigInt(i) << 64n);

describe('pickFreeIpv6Subnet', () => {
  const range = { min: slot(1), max: slot(16), subnetLen: 64 };

  it('returns an aligned /64 in range that overlaps nothing taken', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { maxLength: 15 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (used, r) => {
        const taken = used.map((i) => ({ address: slot(i), prefixLength: 64 }));
        const picked = pickFreeIpv6Subnet(range, taken, () => r);
        expect(picked).toBeDefined();
        expect(ipv6SubnetInRange(range, picked!)).toBe(true);
        expect(taken.some((t) => ipv6SubnetsOverlap(t, picked!))).toBe(false);
      }),
    );
  });

  it('finds the last free subnet and says when none is left', () => {
    const all = Array.from({ length: 16 }, (_, i) => ({ address: slot(i + 1), prefixLength: 64 }));
    expect(formatIpv6(pickFreeIpv6Subnet(range, all.slice(1), () => 0.99)!.address)).toBe('fc00:0:0:1::');
    expect(pickFreeIpv6Subnet(range, all)).toBeUndefined();
    expect(pickFreeIpv6Subnet(range, [cidr('fc00::/48')])).toBeUndefined();
  });

  it('spreads picks over a huge range', () => {
    const wide = { min: cidr('fc00::/64').address, max: cidr('fc00:0:0:ffff::/64').address, subnetLen: 64 };
    const picks = new Set(Array.from({ length: 50 }, () => pickFreeIpv6Subnet(wide, [])!.address));
    expect(picks.size).toBeGreaterThan(45);
  });
});
