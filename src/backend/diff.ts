import { type Ipv4Subnet, parseIpv4Cidr, subnetContainsSubnet } from '../net/ipv4.js';
import { type Ipv6Subnet, ipv6SubnetContainsSubnet, parseIpv6Cidr } from '../net/ipv6.js';
import { type ActualState, type KernelNexthop, type KernelRoute, WEFT_ROUTE_PROTOCOL } from '../kernel/kernelState.js';
import type { KernelPlan } from '../kernel/kernelPlan.js';
import type { DesiredState, DesiredVxlanDevice } from './desiredState.js';
import { diffWireguard } from './diffWireguard.js';

/** What weft may touch: routes of its protocol inside its Network, on its device or the external link. */
export interface OwnershipScope {
  /** One family per scope: the IPv6 plane is diffed on its own, against `ip -6` state. */
  readonly network: Ipv4Subnet | Ipv6Subnet;
  readonly extLink: string;
  /**
   * Program each peer's gateway as a nexthop object and point its route at it. Same forwarding
   * as a route with its own gateway, but the kernel inserts 10000 of them in linear time, where
   * 10000 routes with 10000 distinct gateways cost quadratic time (see docs/benchmarks.md).
   */
  readonly useNexthops: boolean;
}

/**
 * Nexthops are used for IPv4 only (their IDs are IPv4 subnet addresses, see nexthopIdFor), so an
 * IPv6 scope owns none and can never delete an IPv4 plane's nexthop.
 */
function ownsNexthop(nexthop: KernelNexthop, scope: OwnershipScope, ownDevices: ReadonlySet<string | undefined>): boolean {
  if (typeof scope.network.address === 'bigint') return false;
  const inNetwork = subnetContainsSubnet(scope.network as Ipv4Subnet, { address: nexthop.id, prefixLength: 32 });
  return inNetwork && (nexthop.dev === scope.extLink || ownDevices.has(nexthop.dev));
}

const ZERO_MAC = '00:00:00:00:00:00';
/** Every route and nexthop weft writes or deletes carries its protocol number. */
const PROTO = `proto ${WEFT_ROUTE_PROTOCOL}`;

function keyed<T, K, V>(items: readonly T[], key: (item: T) => K, value: (item: T) => V): Map<K, V> {
  const map = new Map<K, V>();
  for (const item of items) map.set(key(item), value(item));
  return map;
}

function ownsRoute(route: KernelRoute, scope: OwnershipScope, ownDevices: ReadonlySet<string | undefined>): boolean {
  return inScopeNetwork(scope.network, route.dst) && (route.dev === scope.extLink || ownDevices.has(route.dev));
}

function inScopeNetwork(network: Ipv4Subnet | Ipv6Subnet, dst: string): boolean {
  if (typeof network.address === 'bigint') {
    const parsed = parseIpv6Cidr(dst);
    return parsed.ok && ipv6SubnetContainsSubnet(network as Ipv6Subnet, parsed.subnet);
  }
  const parsed = parseIpv4Cidr(dst);
  return parsed.ok && subnetContainsSubnet(network as Ipv4Subnet, parsed.subnet);
}

function sameNextHop(a: { gateway?: string; dev: string; onlink: boolean }, b: { gateway?: string; dev: string; onlink: boolean }): boolean {
  return a.gateway === b.gateway && a.dev === b.dev && a.onlink === b.onlink;
}

function nextHopText(hop: { gateway?: string; dev: string; onlink: boolean }): string {
  return `${hop.gateway ? `via ${hop.gateway} ` : ''}dev ${hop.dev}${hop.onlink ? ' onlink' : ''}`;
}

function routeDelLine(route: KernelRoute): string {
  return `route del ${route.dst} ${PROTO}`;
}

/**
 * An IPv6 device address skips duplicate address detection: it is a /128 on a tunnel that cannot
 * reach a duplicate, and DAD would only keep it unusable as a source for a second.
 */
function addressLine(device: DesiredVxlanDevice): string {
  return `addr replace ${device.address} dev ${device.name}${device.address.includes(':') ? ' nodad' : ''}`;
}

/** Does the existing device have to be deleted and created again to match? */
function deviceNeedsRecreate(desired: DesiredVxlanDevice, actual: ActualState['device']): boolean {
  if (!actual) return true;
  return (
    actual.kind !== 'vxlan' ||
    actual.vni !== desired.vni ||
    actual.local !== desired.local ||
    actual.port !== desired.port ||
    actual.link !== desired.link ||
    actual.learning !== desired.learning ||
    actual.gbp !== desired.gbp
  );
}

function planDevice(desired: DesiredVxlanDevice, actual: ActualState['device']): { lines: string[]; recreated: boolean } {
  const lines: string[] = [];
  const recreated = deviceNeedsRecreate(desired, actual);
  if (recreated) {
    if (actual) lines.push(`link del ${desired.name}`);
    lines.push(
      `link add ${desired.name} type vxlan id ${desired.vni} local ${desired.local} dev ${desired.link} ` +
        `dstport ${desired.port} ${desired.learning ? 'learning' : 'nolearning'}${desired.gbp ? ' gbp' : ''}`,
    );
    lines.push(`link set ${desired.name} address ${desired.mac} mtu ${desired.mtu} up`);
    lines.push(addressLine(desired));
    return { lines, recreated };
  }
  const device = actual!;
  const changes: string[] = [];
  if (device.mac !== desired.mac) changes.push(`address ${desired.mac}`);
  if (device.mtu !== desired.mtu) changes.push(`mtu ${desired.mtu}`);
  if (changes.length > 0 || !device.up) lines.push(`link set ${desired.name} ${[...changes, 'up'].join(' ')}`);
  if (!device.addresses.includes(desired.address)) lines.push(addressLine(desired));
  for (const address of device.addresses) {
    if (address !== desired.address) lines.push(`addr del ${address} dev ${desired.name}`);
  }
  return { lines, recreated };
}

/**
 * The minimal set of operations that turns `actual` into `desired`, touching nothing weft does
 * not own. Pure: it only produces batch lines, built from validated, typed values.
 */
export function diffKernelState(desired: DesiredState, actual: ActualState, scope: OwnershipScope): KernelPlan {
  const deviceName = desired.device?.name;
  const { lines: device, recreated } = desired.device ? planDevice(desired.device, actual.device) : { lines: [], recreated: false };
  const wireguard = desired.wireguard ? diffWireguard(desired.wireguard, actual.wireguard ?? []) : undefined;
  // Routes on weft's own devices are weft's to delete; a WireGuard device is one of them.
  const ownDevices = new Set([deviceName, ...(desired.wireguard ?? []).map((w) => w.name)]);
  // A created or recreated device starts empty: everything that hung off the old one is gone.
  const emptied = new Set([...(recreated ? [deviceName] : []), ...(wireguard ?? []).filter((w) => w.create).map((w) => w.name)]);
  const actualRoutes = emptied.size > 0 ? actual.routes.filter((r) => !emptied.has(r.dev)) : actual.routes;
  const actualNeighs = recreated ? [] : actual.neighs.filter((n) => n.permanent);
  const actualFdb = recreated ? [] : actual.fdb.filter((f) => f.dst !== undefined && f.mac !== ZERO_MAC);

  // Maps are filled in loops rather than from mapped [key, value] arrays: at 10000 peers, each
  // pass would otherwise allocate tens of thousands of short-lived pairs.
  const fdb: string[] = [];
  if (deviceName) {
    const wanted = keyed(desired.fdb, (f) => f.mac, (f) => f.dst);
    // A MAC can carry several remotes: the wanted one stays, every other one is stale.
    const inPlace = new Set<string>();
    const stale: string[] = [];
    for (const entry of actualFdb) {
      if (wanted.get(entry.mac) === entry.dst) inPlace.add(entry.mac);
      else stale.push(`fdb del ${entry.mac} dev ${deviceName} dst ${entry.dst} self`);
    }
    for (const [mac, dst] of wanted) {
      if (!inPlace.has(mac)) fdb.push(`fdb replace ${mac} dev ${deviceName} dst ${dst} self permanent`);
    }
    fdb.push(...stale);
  }

  const ip: string[] = [];
  const wanted = new Set<string>();
  for (const route of desired.routes) wanted.add(route.dst);
  // Deletions first, so a subnet that moved between peers is never routed twice. A wanted
  // destination needs no delete even if it sits on the other device: `route replace` keys on
  // destination and metric, so it moves the route in place. The cheap test comes first: on a
  // converged host every route is wanted, and none needs its destination parsed.
  for (const route of actualRoutes) {
    if (!wanted.has(route.dst) && ownsRoute(route, scope, ownDevices)) ip.push(routeDelLine(route));
  }
  const actualNexthops = emptied.size > 0 ? actual.nexthops.filter((n) => !emptied.has(n.dev)) : actual.nexthops;
  const presentNexthops = keyed(actualNexthops, (n) => n.id, (n) => n);
  if (scope.useNexthops) {
    const wantedIds = new Set<number>();
    for (const route of desired.routes) wantedIds.add(route.nexthopId);
    for (const nexthop of actualNexthops) {
      if (!wantedIds.has(nexthop.id) && ownsNexthop(nexthop, scope, ownDevices)) ip.push(`nexthop del id ${nexthop.id}`);
    }
  }
  if (deviceName) {
    const wantedNeighs = keyed(desired.neighs, (n) => n.dst, (n) => n.lladdr);
    const presentNeighs = keyed(actualNeighs, (n) => n.dst, (n) => n.lladdr);
    for (const [dst] of presentNeighs) if (!wantedNeighs.has(dst)) ip.push(`neigh del ${dst} dev ${deviceName}`);
    for (const [dst, lladdr] of wantedNeighs) {
      if (presentNeighs.get(dst) !== lladdr) ip.push(`neigh replace ${dst} lladdr ${lladdr} dev ${deviceName} nud permanent`);
    }
  }
  const presentRoutes = keyed(actualRoutes, (r) => r.dst, (r) => r);
  for (const route of desired.routes) {
    const present = presentRoutes.get(route.dst);
    if (scope.useNexthops) {
      const id = route.nexthopId;
      const nexthop = presentNexthops.get(id);
      if (!nexthop || !sameNextHop(nexthop, route)) ip.push(`nexthop replace id ${id} ${nextHopText(route)} ${PROTO}`);
      if (present?.nhid !== id) ip.push(`route replace ${route.dst} nhid ${id} ${PROTO}`);
    } else if (!present || present.nhid !== undefined || !sameNextHop(present, route)) {
      ip.push(`route replace ${route.dst} ${nextHopText(route)} ${PROTO}`);
    }
  }
  return { device, fdb, ip, ...(wireguard ? { wireguard } : {}) };
}

/**
 * The kernel as `desired` leaves it once fully applied: what a pass that succeeded wrote. The
 * fast path diffs against it instead of reading the kernel back (see DesiredIndex).
 */
export function convergedState(desired: DesiredState, useNexthops: boolean): ActualState {
  const device = desired.device;
  const routes: KernelRoute[] = [];
  const nexthops: KernelNexthop[] = [];
  for (const r of desired.routes) {
    if (useNexthops) {
      routes.push({ dst: r.dst, dev: r.dev, onlink: r.onlink, nhid: r.nexthopId });
      nexthops.push({ id: r.nexthopId, gateway: r.gateway, dev: r.dev, onlink: r.onlink });
    } else {
      routes.push({ dst: r.dst, gateway: r.gateway, dev: r.dev, onlink: r.onlink });
    }
  }
  return {
    ...(device ? { device: { ...device, kind: 'vxlan', up: true, addresses: [device.address] } } : {}),
    routes,
    nexthops,
    neighs: desired.neighs.map((n) => ({ dst: n.dst, lladdr: n.lladdr, permanent: true })),
    fdb: desired.fdb.map((f) => ({ mac: f.mac, dst: f.dst, permanent: true })),
  };
}
