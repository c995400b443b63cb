import { KernelCommandError } from '../util/errors.js';
import { runCommand, runJson } from './exec.js';
import { readWireguardDevice } from './wireguard.js';
import type { WireguardDeviceState } from './wireguardState.js';
import { type ActualState, WEFT_ROUTE_PROTOCOL, parseFdb, parseNeighs, parseNexthops, parseRoutes, parseVxlanDevice } from './kernelState.js';

async function readDevice(name: string): Promise<unknown> {
  const result = await runCommand(['ip', '-j', '-d', 'addr', 'show', 'dev', name], { allowFailure: true });
  if (result.exitCode !== 0) {
    if (/does not exist|Cannot find device/i.test(result.stderr)) return [];
    throw new KernelCommandError(['ip', '-j', '-d', 'addr', 'show', 'dev', name], result.stderr);
  }
  return JSON.parse(result.stdout || '[]');
}

/** Nexthop objects arrived in Linux 5.3; older kernels get plain routes. */
export async function kernelSupportsNexthops(): Promise<boolean> {
  const result = await runCommand(['ip', 'nexthop', 'show'], { allowFailure: true });
  return result.exitCode === 0;
}

/**
 * Reads the kernel state weft may own: its vxlan device (if any), the routes and nexthops
 * carrying weft's protocol number, and the neighbour and FDB entries on its device. One table at
 * a time, each parsed before the next is read: at 10000 peers every table's JSON is a few MB of
 * short-lived strings and objects, and reading all four at once made each 30 s resync push the
 * agent's heap, and so its RSS, up by about 25 MB.
 */
export async function readActualState(
  vxlanDevice: string | undefined,
  withNexthops: boolean,
  wireguardDevices: readonly string[] = [],
  family: 4 | 6 = 4,
): Promise<ActualState> {
  const protocol = String(WEFT_ROUTE_PROTOCOL);
  const f = family === 6 ? '-6' : '-4';
  const device = vxlanDevice ? parseVxlanDevice(await readDevice(vxlanDevice)) : undefined;
  const routes = parseRoutes(await runJson(['ip', '-j', f, 'route', 'show', 'proto', protocol]));
  const nexthops = withNexthops ? parseNexthops(await runJson(['ip', '-j', f, 'nexthop', 'show', 'proto', protocol])) : [];
  const neighs = device ? parseNeighs(await runJson(['ip', '-j', f, 'neigh', 'show', 'dev', device.name])) : [];
  const fdb = device ? parseFdb(await runJson(['bridge', '-j', 'fdb', 'show', 'dev', device.name])) : [];
  const wireguard: WireguardDeviceState[] = [];
  for (const name of wireguardDevices) {
    const state = await readWireguardDevice(name);
    if (state) wireguard.push(state);
  }
  return { routes, nexthops, neighs, fdb, ...(device ? { device } : {}), ...(wireguardDevices.length > 0 ? { wireguard } : {}) };
}
