import { isPlainObject } from '../util/jsonFields.js';
import type { WireguardDeviceState } from './wireguardState.js';

/** Routes weft installs carry this protocol number: ownership is visible to `ip route` and to us. */
export const WEFT_ROUTE_PROTOCOL = 87;

export interface KernelRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev: string;
  readonly onlink: boolean;
  /** Set when the route points at a nexthop object rather than carrying its own gateway. */
  readonly nhid?: number;
}

/** A nexthop object (Linux 5.3+); weft's carry its route protocol number. */
export interface KernelNexthop {
  readonly id: number;
  readonly gateway?: string;
  readonly dev: string;
  readonly onlink: boolean;
}

export interface KernelNeigh {
  readonly dst: string;
  readonly lladdr?: string;
  readonly permanent: boolean;
}

export interface KernelFdbEntry {
  readonly mac: string;
  readonly dst?: string;
  readonly permanent: boolean;
}

export interface VxlanDeviceState {
  readonly name: string;
  readonly vni?: number;
  readonly local?: string;
  readonly port?: number;
  readonly link?: string;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly mtu: number;
  readonly mac: string;
  readonly up: boolean;
  /** Addresses as "address/len"; link-local ones (the kernel's own on every IPv6 link) left out. */
  readonly addresses: readonly string[];
  readonly kind: string;
}

/** What the kernel holds in the part of its state weft may own. */
export interface ActualState {
  readonly device?: VxlanDeviceState;
  /** Routes with weft's protocol number (main table). */
  readonly routes: readonly KernelRoute[];
  /** Nexthop objects with weft's protocol number; empty where nexthops are not used. */
  readonly nexthops: readonly KernelNexthop[];
  readonly neighs: readonly KernelNeigh[];
  readonly fdb: readonly KernelFdbEntry[];
  /** The WireGuard devices asked for that exist, with what `wg` reads of them. */
  readonly wireguard?: readonly WireguardDeviceState[];
}

function str(obj: Record<string, unknown>, key: string): string | undefined {
  const value = obj[key];
  return typeof value === 'string' ? value : undefined;
}

function list(json: unknown): Record<string, unknown>[] {
  return Array.isArray(json) ? json.filter(isPlainObject) : [];
}

function hasFlag(flags: unknown, flag: string): boolean {
  return Array.isArray(flags) && flags.includes(flag);
}

// The table parsers below are plain loops building one literal per entry: each resync parses
// 40000 entries at 10000 peers, and per-entry arrays and spreads were megabytes of garbage.

/** A route destination with its length: iproute2 prints host routes without "/32" ("/128"). */
export function withPrefixLength(dst: string): string {
  return dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`;
}

/** `ip -j route show proto N`: iproute2 omits the protocol field when filtering on it. */
export function parseRoutes(json: unknown): KernelRoute[] {
  const routes: KernelRoute[] = [];
  for (const r of list(json)) {
    const dst = str(r, 'dst');
    const dev = str(r, 'dev');
    if (!dst || !dev) continue;
    const nhid = r['nhid'];
    routes.push({
      dst: withPrefixLength(dst),
      dev,
      onlink: hasFlag(r['flags'], 'onlink'),
      gateway: str(r, 'gateway'),
      nhid: typeof nhid === 'number' ? nhid : undefined,
    });
  }
  return routes;
}

export function parseNexthops(json: unknown): KernelNexthop[] {
  const nexthops: KernelNexthop[] = [];
  for (const n of list(json)) {
    const id = n['id'];
    const dev = str(n, 'dev');
    if (typeof id !== 'number' || !dev) continue;
    nexthops.push({ id, dev, onlink: hasFlag(n['flags'], 'onlink'), gateway: str(n, 'gateway') });
  }
  return nexthops;
}

export function parseNeighs(json: unknown): KernelNeigh[] {
  const neighs: KernelNeigh[] = [];
  for (const n of list(json)) {
    const dst = str(n, 'dst');
    if (!dst) continue;
    neighs.push({ dst, permanent: hasFlag(n['state'], 'PERMANENT'), lladdr: str(n, 'lladdr')?.toLowerCase() });
  }
  return neighs;
}

export function parseFdb(json: unknown): KernelFdbEntry[] {
  const fdb: KernelFdbEntry[] = [];
  for (const f of list(json)) {
    const mac = str(f, 'mac');
    if (!mac) continue;
    fdb.push({ mac: mac.toLowerCase(), permanent: f['state'] === 'permanent', dst: str(f, 'dst') });
  }
  return fdb;
}

/** `ip -j -d addr show dev X`: link details and addresses in one read. */
export function parseVxlanDevice(json: unknown): VxlanDeviceState | undefined {
  const link = list(json)[0];
  if (!link) return undefined;
  const linkinfo = isPlainObject(link['linkinfo']) ? link['linkinfo'] : {};
  const data = isPlainObject(linkinfo['info_data']) ? linkinfo['info_data'] : {};
  const flags = Array.isArray(link['flags']) ? link['flags'] : [];
  const addrInfo = list(link['addr_info']);
  const vni = data['id'];
  const port = data['port'];
  // iproute2 names an IPv6 tunnel source "local6".
  const local = str(data, 'local') ?? str(data, 'local6');
  const linkName = str(data, 'link');
  return {
    name: str(link, 'ifname') ?? '',
    kind: str(linkinfo, 'info_kind') ?? '',
    learning: data['learning'] === true,
    gbp: data['gbp'] === true,
    mtu: typeof link['mtu'] === 'number' ? link['mtu'] : 0,
    mac: (str(link, 'address') ?? '').toLowerCase(),
    up: flags.includes('UP'),
    addresses: addrInfo
      .filter((a) => a['family'] === 'inet' || (a['family'] === 'inet6' && a['scope'] !== 'link' && !/^fe[89ab]/i.test(String(a['local']))))
      .map((a) => `${String(a['local'])}/${String(a['prefixlen'])}`),
    ...(typeof vni === 'number' ? { vni } : {}),
    ...(typeof port === 'number' ? { port } : {}),
    ...(local ? { local } : {}),
    ...(linkName ? { link: linkName } : {}),
  };
}
