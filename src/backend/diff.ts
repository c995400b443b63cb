import { type Ipv4Subnet, parseIpv4Cidr, subnetContainsSubnet } from '../net/ipv4.js';
import { type ActualState, type KernelRoute, WEFT_ROUTE_PROTOCOL } from '../kernel/kernelState.js';
import type { DesiredState, DesiredVxlanDevice } from './plan.js';

/** What weft may touch: routes of its protocol inside its Network, on its device or the external link. */
export interface OwnershipScope {
  readonly network: Ipv4Subnet;
  readonly extLink: string;
}

/**
 * Batch lines in the order they must run: the device first (everything else hangs off it), then
 * FDB (so a route never points at a MAC the tunnel cannot reach), then neighbours and routes.
 */
export interface KernelPlan {
  readonly device: readonly string[];
  readonly fdb: readonly string[];
  readonly ip: readonly string[];
}

export function planIsEmpty(plan: KernelPlan): boolean {
  return plan.device.length === 0 && plan.fdb.length === 0 && plan.ip.length === 0;
}

const ZERO_MAC = '00:00:00:00:00:00';

function ownsRoute(route: KernelRoute, scope: OwnershipScope, deviceName: string | undefined): boolean {
  const parsed = parseIpv4Cidr(route.dst);
  if (!parsed.ok || !subnetContainsSubnet(scope.network, parsed.subnet)) return false;
  return route.dev === scope.extLink || route.dev === deviceName;
}

function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  return a.dst === b.dst && a.gateway === b.gateway && a.dev === b.dev && a.onlink === b.onlink;
}

function routeLine(verb: 'replace' | 'del', route: KernelRoute): string {
  const via = route.gateway ? ` via ${route.gateway}` : '';
  const onlink = route.onlink && verb === 'replace' ? ' onlink' : '';
  return `route ${verb} ${route.dst}${via} dev ${route.dev}${onlink} proto ${WEFT_ROUTE_PROTOCOL}`;
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
    lines.push(`addr replace ${desired.address} dev ${desired.name}`);
    return { lines, recreated };
  }
  const device = actual!;
  const changes: string[] = [];
  if (device.mac !== desired.mac) changes.push(`address ${desired.mac}`);
  if (device.mtu !== desired.mtu) changes.push(`mtu ${desired.mtu}`);
  if (changes.length > 0 || !device.up) lines.push(`link set ${desired.name} ${[...changes, 'up'].join(' ')}`);
  if (!device.addresses.includes(desired.address)) lines.push(`addr replace ${desired.address} dev ${desired.name}`);
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
  // A recreated device starts empty: everything that hung off the old one is gone.
  const actualRoutes = recreated ? actual.routes.filter((r) => r.dev !== deviceName) : actual.routes;
  const actualNeighs = recreated ? [] : actual.neighs.filter((n) => n.permanent);
  const actualFdb = recreated ? [] : actual.fdb.filter((f) => f.dst !== undefined && f.mac !== ZERO_MAC);

  const fdb: string[] = [];
  if (deviceName) {
    const wanted = new Map(desired.fdb.map((f) => [f.mac, f.dst]));
    const present = new Map<string, string[]>();
    for (const entry of actualFdb) present.set(entry.mac, [...(present.get(entry.mac) ?? []), entry.dst!]);
    for (const [mac, dst] of wanted) {
      const dsts = present.get(mac) ?? [];
      if (!dsts.includes(dst)) fdb.push(`fdb replace ${mac} dev ${deviceName} dst ${dst} self permanent`);
    }
    for (const [mac, dsts] of present) {
      for (const dst of dsts) {
        if (wanted.get(mac) !== dst) fdb.push(`fdb del ${mac} dev ${deviceName} dst ${dst} self`);
      }
    }
  }

  const ip: string[] = [];
  const desiredRoutes = new Set(desired.routes.map((r) => r.dst));
  // Deletions first, so a subnet that moved between peers is never routed twice. A wanted
  // destination needs no delete even if it sits on the other device: `route replace` keys on
  // destination and metric, so it moves the route in place.
  for (const route of actualRoutes) {
    if (ownsRoute(route, scope, deviceName) && !desiredRoutes.has(route.dst)) ip.push(routeLine('del', route));
  }
  if (deviceName) {
    const wantedNeighs = new Map(desired.neighs.map((n) => [n.dst, n.lladdr]));
    const presentNeighs = new Map(actualNeighs.map((n) => [n.dst, n.lladdr]));
    for (const [dst] of presentNeighs) if (!wantedNeighs.has(dst)) ip.push(`neigh del ${dst} dev ${deviceName}`);
    for (const [dst, lladdr] of wantedNeighs) {
      if (presentNeighs.get(dst) !== lladdr) ip.push(`neigh replace ${dst} lladdr ${lladdr} dev ${deviceName} nud permanent`);
    }
  }
  const presentRoutes = new Map(actualRoutes.map((r) => [r.dst, r]));
  for (const route of desired.routes) {
    const present = presentRoutes.get(route.dst);
    if (!present || !sameRoute(present, route)) ip.push(routeLine('replace', route));
  }
  return { device, fdb, ip };
}
