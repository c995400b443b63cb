import { ConfigError } from '../util/errors.js';
import {
  type Ipv6Subnet,
  formatIpv6,
  formatIpv6Subnet,
  ipv6LastAddress,
  ipv6MaskOf,
  ipv6SubnetContainsAddress,
  ipv6SubnetSize,
  ipv6ToBigInt,
  parseIpv6,
  parseIpv6Cidr,
} from '../net/ipv6.js';
import { lookupField } from '../util/jsonFields.js';

/** The IPv6 half of a network config (EnableIPv6): Flannel's IPv6Network fields, defaults applied. */
export interface Ipv6NetworkConfig {
  readonly network: Ipv6Subnet;
  readonly subnetLen: number;
  /** Network address of the first leasable subnet. */
  readonly subnetMin: bigint;
  /** Network address of the last leasable subnet. */
  readonly subnetMax: bigint;
}

/**
 * IPv6Network, IPv6SubnetLen, IPv6SubnetMin and IPv6SubnetMax with Flannel's rules
 * (CheckNetworkConfig): a /64 per host for networks of /62 and larger, else four subnets' worth;
 * the first subnet is skipped; bounds inside the network and on a subnet boundary.
 */
export function resolveIpv6Network(root: Record<string, unknown>): Ipv6NetworkConfig {
  const raw = lookupField(root, 'IPv6Network');
  if (typeof raw !== 'string' || raw === '') {
    throw new ConfigError('IPv6Network', raw, 'is required with EnableIPv6 and must be an IPv6 CIDR such as "fc00::/48"');
  }
  const parsed = parseIpv6Cidr(raw);
  if (!parsed.ok) throw new ConfigError('IPv6Network', raw, parsed.reason);
  const network = parsed.subnet;
  const subnetLen = resolveIpv6SubnetLen(root, network);
  const size = ipv6SubnetSize(subnetLen);
  const subnetMin = resolveIpv6Bound(root, 'IPv6SubnetMin', network, subnetLen, network.address + size);
  const subnetMax = resolveIpv6Bound(root, 'IPv6SubnetMax', network, subnetLen, ipv6LastAddress(network) + 1n - size);
  if (subnetMin > subnetMax) {
    throw new ConfigError(
      'IPv6SubnetMin',
      formatIpv6(subnetMin),
      `is above IPv6SubnetMax ${formatIpv6(subnetMax)}, so no subnet can be leased`,
    );
  }
  return { network, subnetLen, subnetMin, subnetMax };
}

function resolveIpv6SubnetLen(root: Record<string, unknown>, network: Ipv6Subnet): number {
  const raw = lookupField(root, 'IPv6SubnetLen');
  if (raw === undefined || raw === null || raw === 0) {
    if (network.prefixLength > 124) {
      throw new ConfigError('IPv6Network', formatIpv6Subnet(network), 'is too small; the minimum useful network prefix is /124');
    }
    return network.prefixLength <= 62 ? 64 : network.prefixLength + 2;
  }
  if (!Number.isInteger(raw) || (raw as number) < 0) throw new ConfigError('IPv6SubnetLen', raw, 'must be an integer prefix length');
  const len = raw as number;
  if (len > 126) throw new ConfigError('IPv6SubnetLen', len, 'must be at most 126 so each host has usable addresses');
  if (len < network.prefixLength + 2) {
    throw new ConfigError(
      'IPv6SubnetLen',
      len,
      `must be at least ${network.prefixLength + 2} so IPv6Network /${network.prefixLength} holds four or more subnets`,
    );
  }
  return len;
}

function resolveIpv6Bound(
  root: Record<string, unknown>,
  field: 'IPv6SubnetMin' | 'IPv6SubnetMax',
  network: Ipv6Subnet,
  subnetLen: number,
  fallback: bigint,
): bigint {
  const raw = lookupField(root, field);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const address = typeof raw === 'string' ? parseIpv6(raw) : undefined;
  if (!address) throw new ConfigError(field, raw, 'must be an IPv6 address');
  const value = ipv6ToBigInt(address);
  if (!ipv6SubnetContainsAddress(network, value)) {
    throw new ConfigError(field, raw, `is outside IPv6Network ${formatIpv6Subnet(network)}`);
  }
  if ((value & ipv6MaskOf(subnetLen)) !== value) {
    throw new ConfigError(field, raw, `is not on a /${subnetLen} (IPv6SubnetLen) boundary`);
  }
  return value;
}
