import { type Ipv6Subnet, ipv6LastAddress, ipv6SubnetSize } from '../net/ipv6.js';

export interface Ipv6AllocationRange {
  /** Network address of the first leasable subnet. */
  readonly min: bigint;
  /** Network address of the last leasable subnet. */
  readonly max: bigint;
  readonly subnetLen: number;
}

/**
 * pickFreeSubnet (allocator.ts) for IPv6: uniformly random among the free subnets of [min, max],
 * counted exactly, so a nearly full range still finds its last free subnet. BigInt throughout:
 * a /48 split in /64s has 65536 slots, a /32 four billion.
 */
export function pickFreeIpv6Subnet(range: Ipv6AllocationRange, taken: readonly Ipv6Subnet[], random: () => number = Math.random): Ipv6Subnet | undefined {
  const size = ipv6SubnetSize(range.subnetLen);
  if (range.max < range.min || (range.max - range.min) % size !== 0n) return undefined;
  const slots = (range.max - range.min) / size + 1n;
  const covered = mergeIntervals(
    taken.flatMap((subnet): Array<[bigint, bigint]> => {
      const first = subnet.address > range.min ? subnet.address : range.min;
      const end = range.max + size - 1n;
      const lastTaken = ipv6LastAddress(subnet);
      const last = lastTaken < end ? lastTaken : end;
      if (first > last) return [];
      return [[(first - range.min) / size, (last - range.min) / size]];
    }),
  );
  const coveredCount = covered.reduce((sum, [a, b]) => sum + (b - a + 1n), 0n);
  const free = slots - coveredCount;
  if (free <= 0n) return undefined;

  let k = randomBelow(free, random);
  let slot = 0n;
  for (const [start, end] of covered) {
    const gap = start - slot;
    if (k < gap) break;
    k -= gap;
    slot = end + 1n;
  }
  return { address: range.min + (slot + k) * size, prefixLength: range.subnetLen };
}

export function ipv6SubnetInRange(range: Ipv6AllocationRange, subnet: Ipv6Subnet): boolean {
  return (
    subnet.prefixLength === range.subnetLen &&
    subnet.address >= range.min &&
    subnet.address <= range.max &&
    (subnet.address - range.min) % ipv6SubnetSize(range.subnetLen) === 0n
  );
}

/** A random BigInt in [0, bound), from 32-bit draws of `random`. */
function randomBelow(bound: bigint, random: () => number): bigint {
  let value = 0n;
  for (let bits = 0n; 1n << bits < bound * 4096n; bits += 32n) {
    value = (value << 32n) | BigInt(Math.floor(random() * 2 ** 32) >>> 0);
  }
  return value % bound;
}

function mergeIntervals(intervals: Array<[bigint, bigint]>): Array<[bigint, bigint]> {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1] + 1n) last[1] = last[1] > end ? last[1] : end;
    else merged.push([start, end]);
  }
  return merged;
}
