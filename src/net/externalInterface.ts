import { InterfaceSelectionError } from '../util/errors.js';
import type { HostFacts } from '../kernel/hostFacts.js';
import { type Ipv4Subnet, ipv4ToNumber, maskOf, parseIpv4, isUsableUnicastIpv4 } from './ipv4.js';
import type { Ipv6Subnet } from './ipv6.js';
import type { HostInterface, InterfaceAddress, RouteLookup } from './hostInterface.js';
import { type ExternalIpv6, externalIpv6Of, ipv6OnInterface, selectIpv6Interface } from './externalIpv6.js';

/** The underlay link as the backends plan over it. */
export interface ExternalLink {
  readonly name: string;
  /** Address VXLAN packets leave from. */
  readonly address: string;
  readonly mtu: number;
  /** The underlay subnet: peers inside it are on our L2 segment. */
  readonly subnet: Ipv4Subnet;
  /** The IPv6 underlay, when the external interface has a global IPv6 address. */
  readonly ipv6?: { readonly address: string; readonly subnet: Ipv6Subnet };
}

export interface ExternalInterface {
  readonly iface: HostInterface;
  /** The address on the interface that VXLAN packets leave from. */
  readonly ifaceAddress: string;
  /** The address other hosts reach us at (--public-ip, else ifaceAddress). */
  readonly publicIP: string;
  /** The underlay subnet of ifaceAddress: host-gw and DirectRouting need peers inside it. */
  readonly ifaceSubnet: Ipv4Subnet;
  /**
   * False for an interface chosen by its IPv6 address because no IPv4 one matched; the IPv4
   * fields then hold 0.0.0.0 and 0.0.0.0/0 and only an IPv6-only network can use it.
   */
  readonly hasIpv4: boolean;
  readonly ipv6?: ExternalIpv6;
}

export interface InterfaceSelectionFlags {
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach?: string;
  readonly publicIp?: string;
  readonly publicIpv6?: string;
}

export interface InterfaceFacts {
  readonly interfaces: readonly HostInterface[];
  readonly defaultRoutes: readonly RouteLookup[];
  /** Consulted only when no interface has a matching IPv4 address. */
  readonly defaultIpv6Routes?: readonly RouteLookup[];
  readonly canReachRoute?: RouteLookup;
}

function preferredAddress(iface: HostInterface): InterfaceAddress | undefined {
  return (
    iface.ipv4.find((a) => a.scope === 'global' && isUsableUnicastIpv4(parseIpv4(a.address)!)) ??
    iface.ipv4.find((a) => isUsableUnicastIpv4(parseIpv4(a.address)!))
  );
}

function subnetOf(address: InterfaceAddress): Ipv4Subnet {
  const value = ipv4ToNumber(parseIpv4(address.address)!);
  return { address: (value & maskOf(address.prefixLength)) >>> 0, prefixLength: address.prefixLength };
}

type Choice = { iface: HostInterface; address: InterfaceAddress };

function byNameOrIp(interfaces: readonly HostInterface[], spec: string): Choice | undefined {
  if (parseIpv4(spec)) {
    for (const iface of interfaces) {
      const address = iface.ipv4.find((a) => a.address === spec);
      if (address) return { iface, address };
    }
    return undefined;
  }
  // An IPv6 address names its interface too; the interface's IPv4 address is used with it.
  const iface = interfaces.find((i) => i.name === spec || i.ipv6.some((a) => a.address === spec));
  const address = iface && preferredAddress(iface);
  return iface && address ? { iface, address } : undefined;
}

function byRegex(interfaces: readonly HostInterface[], pattern: string): Choice | undefined {
  const regex = new RegExp(pattern);
  // Flannel matches addresses first, then names, each in interface order.
  for (const iface of interfaces) {
    const address = iface.ipv4.find((a) => regex.test(a.address) && isUsableUnicastIpv4(parseIpv4(a.address)!));
    if (address) return { iface, address };
  }
  for (const iface of interfaces) {
    const address = regex.test(iface.name) ? preferredAddress(iface) : undefined;
    if (address) return { iface, address };
  }
  return undefined;
}

function byRoute(interfaces: readonly HostInterface[], route: RouteLookup | undefined): Choice | undefined {
  const iface = route && interfaces.find((i) => i.name === route.dev);
  if (!iface) return undefined;
  const address = (route.prefsrc && iface.ipv4.find((a) => a.address === route.prefsrc)) || preferredAddress(iface);
  return address ? { iface, address } : undefined;
}

/**
 * Chooses the external interface the way Flannel does: --iface entries in order, else
 * --iface-regex entries in order, else the route to --iface-can-reach, else the default route.
 * Pure: the caller gathers the facts.
 */
export function selectExternalInterface(flags: InterfaceSelectionFlags, facts: InterfaceFacts): ExternalInterface {
  let choice: Choice | undefined;
  let tried: string;
  if (flags.iface.length > 0) {
    tried = `--iface ${flags.iface.join(', ')}`;
    for (const spec of flags.iface) if ((choice = byNameOrIp(facts.interfaces, spec))) break;
  } else if (flags.ifaceRegex.length > 0) {
    tried = `--iface-regex ${flags.ifaceRegex.join(', ')}`;
    for (const pattern of flags.ifaceRegex) if ((choice = byRegex(facts.interfaces, pattern))) break;
  } else if (flags.ifaceCanReach) {
    tried = `--iface-can-reach ${flags.ifaceCanReach}`;
    choice = byRoute(facts.interfaces, facts.canReachRoute);
  } else {
    tried = 'the default route';
    for (const route of facts.defaultRoutes) if ((choice = byRoute(facts.interfaces, route))) break;
  }
  if (!choice) {
    const ipv6Only = selectIpv6Interface(flags, facts.interfaces, {
      defaultRoutes: facts.defaultIpv6Routes ?? [],
      ...(facts.canReachRoute ? { canReachRoute: facts.canReachRoute } : {}),
    });
    if (ipv6Only) {
      return {
        iface: ipv6Only.iface,
        ifaceAddress: '0.0.0.0',
        publicIP: '0.0.0.0',
        ifaceSubnet: { address: 0, prefixLength: 0 },
        hasIpv4: false,
        ipv6: externalIpv6Of(ipv6Only.address, flags.publicIpv6),
      };
    }
    const available = facts.interfaces
      .map((i) => `${i.name}${i.ipv4.length ? ` (${i.ipv4.map((a) => a.address).join(', ')})` : ''}`)
      .join(', ');
    throw new InterfaceSelectionError(
      `no interface with an IPv4 or global IPv6 address matches ${tried}; interfaces here: ${available || 'none'}`,
    );
  }
  const ipv6 = ipv6OnInterface(choice.iface, flags);
  return {
    iface: choice.iface,
    ifaceAddress: choice.address.address,
    publicIP: flags.publicIp ?? choice.address.address,
    ifaceSubnet: subnetOf(choice.address),
    hasIpv4: true,
    ...(ipv6 ? { ipv6 } : {}),
  };
}

export async function discoverExternalInterface(
  flags: InterfaceSelectionFlags,
  hostFacts: HostFacts,
): Promise<ExternalInterface> {
  const needsDefault = flags.iface.length === 0 && flags.ifaceRegex.length === 0 && !flags.ifaceCanReach;
  const [interfaces, defaultRoutes, defaultIpv6Routes, canReachRoute] = await Promise.all([
    hostFacts.interfaces(),
    needsDefault ? hostFacts.defaultRoutes(4) : Promise.resolve([]),
    needsDefault ? hostFacts.defaultRoutes(6) : Promise.resolve([]),
    flags.ifaceCanReach ? hostFacts.routeTo(flags.ifaceCanReach).catch(() => undefined) : Promise.resolve(undefined),
  ]);
  return selectExternalInterface(flags, {
    interfaces,
    defaultRoutes,
    defaultIpv6Routes,
    ...(canReachRoute ? { canReachRoute } : {}),
  });
}

/** What the planner needs to know about the external interface. */
export function externalLinkOf(ext: ExternalInterface): ExternalLink {
  return {
    name: ext.iface.name,
    address: ext.ifaceAddress,
    mtu: ext.iface.mtu,
    subnet: ext.ifaceSubnet,
    ...(ext.ipv6 ? { ipv6: { address: ext.ipv6.ifaceAddress, subnet: ext.ipv6.subnet } } : {}),
  };
}
