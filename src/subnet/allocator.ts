import { type Ipv4Subnet, formatSubnet, lastAddress, subnetSize, subnetsOverlap } from '../net/ipv4.js';

export interface AllocationRange {
  /** Network address of the first leasable subnet. */
  readonly min: number;
  /** Network address of the last leasable subnet. */
  readonly max: number;
  readonly subnetLen: number;
}

/**
 * Picks a subnet uniformly at random among those in [min, max] that overlap no existing lease,
 * or returns undefined when the range is exhausted. Random choice keeps concurrent agents from
 * all racing for the lowest free subnet; exact counting of the free slots keeps it correct when
 * the range is nearly full (no give-up-after-N-probes).
 */
export function pickFreeSubnet(
  range: AllocationRange,
  taken: readonly Ipv4Subnet[],
  random: () => number = Math.random,
): Ipv4Subnet | undefined {
  const size = subnetSize(range.subnetLen);
  const slots = (range.max - range.min) / size + 1;
  if (!Number.isInteger(slots) || slots <= 0) return undefined;

  const covered = mergeIntervals(
    taken.flatMap((subnet): Array<[number, number]> => {
      const first = Math.max(subnet.address, range.min);
      const last = Math.min(lastAddress(subnet), range.max + size - 1);
      if (first > last) return [];
      return [[Math.floor((first - range.min) / size), Math.floor((last - range.min) / size)]];
    }),
  );
  const coveredCount = covered.reduce((sum, [a, b]) => sum + (b - a + 1), 0);
  const free = slots - coveredCount;
  if (free <= 0) return undefined;

  // Walk to the k-th free slot, skipping covered intervals.
  let k = Math.min(free - 1, Math.floor(random() * free));
  let slot = 0;
  for (const [start, end] of covered) {
    const gap = start - slot;
    if (k < gap) break;
    k -= gap;
    slot = end + 1;
  }
  return { address: range.min + (slot + k) * size, prefixLength: range.subnetLen };
}

function mergeIntervals(intervals: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** The first protected range (the underlay's, say) that `subnet` overlaps: every peer would reject it as ours. */
export function forbiddenOverlap(subnet: Ipv4Subnet, forbidden: readonly Ipv4Subnet[]): Ipv4Subnet | undefined {
  return forbidden.find((f) => subnetsOverlap(f, subnet));
}

/** For an exhaustion error: which protected ranges were left out of the range, if any. */
export function forbiddenNote(range: AllocationRange, forbidden: readonly Ipv4Subnet[]): string {
  const within = forbidden.filter((f) => f.address <= range.max + subnetSize(range.subnetLen) - 1 && lastAddress(f) >= range.min);
  return within.length ? `; ${within.map(formatSubnet).join(', ')} (the underlay) cannot be used` : '';
}

export function subnetInRange(range: AllocationRange, subnet: Ipv4Subnet): boolean {
  return (
    subnet.prefixLength === range.subnetLen &&
    subnet.address >= range.min &&
    subnet.address <= range.max &&
    (subnet.address - range.min) % subnetSize(range.subnetLen) === 0
  );
}
