import { isPlainObject } from '../util/jsonFields.js';

export interface InterfaceAddress {
  readonly address: string;
  readonly prefixLength: number;
  readonly scope: string;
}

export interface HostInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  readonly up: boolean;
  readonly ipv4: readonly InterfaceAddress[];
  /** Global and link-local alike; selection skips what cannot carry traffic between hosts. */
  readonly ipv6: readonly InterfaceAddress[];
}

function addressesOf(addrInfo: readonly unknown[], family: 'inet' | 'inet6'): InterfaceAddress[] {
  return addrInfo.flatMap((a): InterfaceAddress[] =>
    isPlainObject(a) && a['family'] === family && typeof a['local'] === 'string' && typeof a['prefixlen'] === 'number' && a['tentative'] !== true && a['dadfailed'] !== true
      ? [{ address: a['local'], prefixLength: a['prefixlen'], scope: typeof a['scope'] === 'string' ? a['scope'] : 'global' }]
      : [],
  );
}

/** Parses `ip -j addr show`. Malformed entries are skipped rather than trusted. */
export function parseIpAddrJson(json: unknown): HostInterface[] {
  if (!Array.isArray(json)) return [];
  const interfaces: HostInterface[] = [];
  for (const entry of json) {
    if (!isPlainObject(entry) || typeof entry['ifname'] !== 'string') continue;
    const flags = Array.isArray(entry['flags']) ? (entry['flags'] as unknown[]) : [];
    const addrInfo = Array.isArray(entry['addr_info']) ? (entry['addr_info'] as unknown[]) : [];
    interfaces.push({
      name: entry['ifname'],
      index: typeof entry['ifindex'] === 'number' ? entry['ifindex'] : 0,
      mtu: typeof entry['mtu'] === 'number' ? entry['mtu'] : 1500,
      up: flags.includes('UP'),
      ipv4: addressesOf(addrInfo, 'inet'),
      ipv6: addressesOf(addrInfo, 'inet6'),
    });
  }
  return interfaces;
}

export interface RouteLookup {
  readonly dev: string;
  readonly prefsrc?: string;
}

/** Parses `ip -j route get …` or `ip -j route show default`: the device (and source) of each route. */
export function parseRouteJson(json: unknown): RouteLookup[] {
  if (!Array.isArray(json)) return [];
  return json.flatMap((r): RouteLookup[] =>
    isPlainObject(r) && typeof r['dev'] === 'string'
      ? [{ dev: r['dev'], ...(typeof r['prefsrc'] === 'string' ? { prefsrc: r['prefsrc'] } : {}) }]
      : [],
  );
}
