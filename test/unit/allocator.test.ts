import fc from 'fast-check';
import { pickFreeSubnet, subnetInRange, type AllocationRange } from '../../src/subnet/allocator.js';
import { type Ipv4Subnet, subnetSize, subnetsOverlap } from '../../src/net/ipv4.js';

const arbRange = fc
  .record({
    networkLen: fc.integer({ min: 8, max: 26 }),
    extra: fc.integer({ min: 2, max: 6 }),
    base: fc.integer({ min: 0, max: 0xffffffff }),
  })
  .chain(({ networkLen, extra, base }) => {
    const subnetLen = Math.min(30, networkLen + extra);
    const size = subnetSize(subnetLen);
    const networkAddress = Math.floor(base / subnetSize(networkLen)) * subnetSize(networkLen);
    const slots = subnetSize(networkLen) / size;
    return fc
      .tuple(fc.integer({ min: 0, max: slots - 1 }), fc.integer({ min: 0, max: slots - 1 }))
      .map(([a, b]): AllocationRange => ({
        min: networkAddress + Math.min(a, b) * size,
        max: networkAddress + Math.max(a, b) * size,
        subnetLen,
      }));
  });

/** Existing leases of mixed lengths (garbage or an old config), anywhere around the range. */
function arbTaken(range: AllocationRange): fc.Arbitrary<Ipv4Subnet[]> {
  const span = range.max - range.min + subnetSize(range.subnetLen);
  return fc.array(
    fc.record({ offset: fc.integer({ min: 0, max: span - 1 }), len: fc.integer({ min: Math.max(0, range.subnetLen - 3), max: 32 }) }).map(
      ({ offset, len }) => {
        const size = subnetSize(len);
        return { address: Math.floor((range.min + offset) / size) * size, prefixLength: len };
      },
    ),
    { maxLength: 40 },
  );
}

describe('pickFreeSubnet', () => {
  it('always returns an aligned subnet inside [min,max] overlapping nothing taken', () => {
    fc.assert(
      fc.property(
        arbRange.chain((range) => fc.tuple(fc.constant(range), arbTaken(range), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }))),
        ([range, taken, r]) => {
          const picked = pickFreeSubnet(range, taken, () => r);
          if (picked === undefined) {
            // Exhausted: every slot really must overlap something.
            for (let a = range.min; a <= range.max; a += subnetSize(range.subnetLen)) {
              const slot = { address: a, prefixLength: range.subnetLen };
              expect(taken.some((t) => subnetsOverlap(t, slot))).toBe(true);
            }
            return;
          }
          expect(subnetInRange(range, picked)).toBe(true);
          expect(taken.some((t) => subnetsOverlap(t, picked))).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('allocating repeatedly never hands out the same subnet twice and fills the range exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer(), (slots, seed) => {
        const range = { min: 0x0a000000, max: 0x0a000000 + (slots - 1) * 256, subnetLen: 24 };
        let state = seed;
        const random = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
        const taken: Ipv4Subnet[] = [];
        for (let i = 0; i < slots; i++) {
          const picked = pickFreeSubnet(range, taken, random)!;
          expect(picked).toBeDefined();
          expect(taken.some((t) => subnetsOverlap(t, picked))).toBe(false);
          taken.push(picked);
        }
        expect(pickFreeSubnet(range, taken, random)).toBeUndefined();
      }),
    );
  });

  it('uses the whole range, not just the low end', () => {
    const range = { min: 0x0a000100, max: 0x0a00ff00, subnetLen: 24 };
    expect(pickFreeSubnet(range, [], () => 0)!.address).toBe(range.min);
    expect(pickFreeSubnet(range, [], () => 0.999999)!.address).toBe(range.max);
  });
});
