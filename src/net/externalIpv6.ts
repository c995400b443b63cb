import type { HostInterface, InterfaceAddress, RouteLookup } from './hostInterface.js';
import { type Ipv6Subnet, ipv6SubnetOf, isUsableUnicastIpv6, parseIpv6 } from './ipv6.js';

/** This host's IPv6 side of the underlay, on the external interface. */
export interface ExternalIpv6 {
  /** The address IPv6 VXLAN packets leave from. */
  readonly ifaceAddress: string;
  /** Where peers reach us over IPv6 (--public-ipv6, else ifaceAddress). */
  readonly publicIP: string;
  /** The on-link IPv6 prefix: host-gw and DirectRouting need IPv6 peers inside it. */
  readonly subnet: Ipv6Subnet;
}

export interface Ipv6SelectionFlags {
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly publicIpv6?: string;
}

function usable(address: InterfaceAddress): boolean {
  const parsed = parseIpv6(address.address);
  return parsed !== undefined && isUsableUnicastIpv6(parsed);
}

/** A global address if there is one: link-local ones cannot carry traffic between hosts. */
export function preferredIpv6Address(iface: HostInterface): InterfaceAddress | undefined {
  return iface.ipv6.find((a) => a.scope === 'global' && usable(a));
}

/**
 * The IPv6 address on the chosen external interface, as Flannel picks it: an --iface entry
 * naming one of its IPv6 addresses, else the first of its addresses an --iface-regex matches,
 * else its first global one. Undefined when it has none: the host then takes part over IPv4 only.
 */
export function ipv6OnInterface(iface: HostInterface, flags: Ipv6SelectionFlags): ExternalIpv6 | undefined {
  const named = iface.ipv6.find((a) => flags.iface.includes(a.address) && usable(a));
  const matched = flags.ifaceRegex.map((p) => new RegExp(p)).flatMap((r) => iface.ipv6.filter((a) => r.test(a.address) && usable(a)))[0];
  const address = named ?? matched ?? preferredIpv6Address(iface);
  if (!address) return undefined;
  return externalIpv6Of(address, flags.publicIpv6);
}

export function externalIpv6Of(address: InterfaceAddress, publicIpv6: string | undefined): ExternalIpv6 {
  return { ifaceAddress: address.address, publicIP: publicIpv6 ?? address.address, subnet: ipv6SubnetOf(address.address, address.prefixLength)! };
}

type Choice = { iface: HostInterface; address: InterfaceAddress };

/**
 * Interface selection on IPv6 addresses alone, for a host without any IPv4 underlay (an
 * IPv6-only network): the same order as for IPv4 (--iface, --iface-regex, --iface-can-reach,
 * the default route).
 */
export function selectIpv6Interface(
  flags: Ipv6SelectionFlags & { readonly ifaceCanReach?: string },
  interfaces: readonly HostInterface[],
  routes: { readonly defaultRoutes: readonly RouteLookup[]; readonly canReachRoute?: RouteLookup },
): Choice | undefined {
  const onIface = (iface: HostInterface | undefined, address?: InterfaceAddress): Choice | undefined => {
    const chosen = address ?? (iface && preferredIpv6Address(iface));
    return iface && chosen ? { iface, address: chosen } : undefined;
  };
  if (flags.iface.length > 0) {
    for (const spec of flags.iface) {
      const byAddress = interfaces.find((i) => i.ipv6.some((a) => a.address === spec));
      const choice = byAddress
        ? onIface(byAddress, byAddress.ipv6.find((a) => a.address === spec && usable(a)))
        : onIface(interfaces.find((i) => i.name === spec));
      if (choice) return choice;
    }
    return undefined;
  }
  if (flags.ifaceRegex.length > 0) {
    for (const pattern of flags.ifaceRegex) {
      const regex = new RegExp(pattern);
      for (const iface of interfaces) {
        const address = iface.ipv6.find((a) => regex.test(a.address) && usable(a));
        if (address) return { iface, address };
      }
      for (const iface of interfaces) {
        const choice = regex.test(iface.name) ? onIface(iface) : undefined;
        if (choice) return choice;
      }
    }
    return undefined;
  }
  const candidates = flags.ifaceCanReach ? (routes.canReachRoute ? [routes.canReachRoute] : []) : routes.defaultRoutes;
  for (const route of candidates) {
    const iface = interfaces.find((i) => i.name === route.dev);
    const choice = onIface(iface, route.prefsrc ? iface?.ipv6.find((a) => a.address === route.prefsrc) : undefined);
    if (choice) return choice;
  }
  return undefined;
}
