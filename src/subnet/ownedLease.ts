import type { BackendSelection, NetworkConfig } from '../config/networkConfig.js';
import { subnetContainsSubnet } from '../net/ipv4.js';
import { ipv6SubnetContainsSubnet, normalizeIpv6 } from '../net/ipv6.js';
import { type LeaseAttrs, leaseNamesPublicIP, parseLeaseAttrs } from './lease.js';
import { type LeaseSubnets, parseLeaseKey } from './subnetKey.js';

/**
 * The subnets of a lease that belongs to this host under `config`, Flannel's test for "our"
 * lease extended to both families: it names our PublicIP (our PublicIPv6 in an IPv6-only
 * network), and each family this host leases is present with the configured length inside its
 * network; a family it does not lease is absent. Reservations may sit outside the min/max range,
 * so the range is not checked. Undefined for anyone else's lease.
 */
export function ownedLeaseSubnets(
  key: string,
  value: string,
  config: NetworkConfig<BackendSelection>,
  attrs: Pick<LeaseAttrs, 'publicIP' | 'publicIPv6'>,
): LeaseSubnets | undefined {
  const subnets = parseLeaseKey(key);
  if (!subnets) return undefined;
  const wantIpv6 = config.ipv6 !== undefined && attrs.publicIPv6 !== undefined;
  if (config.enableIPv4) {
    const { ipv4 } = subnets;
    if (ipv4.prefixLength !== config.subnetLen || !subnetContainsSubnet(config.network, ipv4)) return undefined;
  } else if (subnets.ipv4.prefixLength !== 0) {
    return undefined;
  }
  if (wantIpv6 !== (subnets.ipv6 !== undefined)) return undefined;
  if (config.ipv6 && subnets.ipv6) {
    if (subnets.ipv6.prefixLength !== config.ipv6.subnetLen || !ipv6SubnetContainsSubnet(config.ipv6.network, subnets.ipv6)) return undefined;
  }
  if (config.enableIPv4) {
    // The substring test spares a JSON parse of every other host's lease.
    return value.includes(attrs.publicIP) && leaseNamesPublicIP(value, attrs.publicIP) ? subnets : undefined;
  }
  return leaseNamesPublicIPv6(value, attrs.publicIPv6) ? subnets : undefined;
}

function leaseNamesPublicIPv6(value: string, publicIPv6: string | undefined): boolean {
  const wanted = publicIPv6 === undefined ? undefined : normalizeIpv6(publicIPv6);
  const named = parseLeaseAttrs(value)?.publicIPv6;
  return wanted !== undefined && named !== undefined && normalizeIpv6(named) === wanted;
}
