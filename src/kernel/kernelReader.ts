import { KernelCommandError } from '../errors.js';
import { runCommand, runJson } from './exec.js';
import { type ActualState, WEFT_ROUTE_PROTOCOL, parseFdb, parseNeighs, parseRoutes, parseVxlanDevice } from './kernelState.js';

async function readDevice(name: string): Promise<unknown> {
  const result = await runCommand(['ip', '-j', '-d', 'addr', 'show', 'dev', name], { allowFailure: true });
  if (result.exitCode !== 0) {
    if (/does not exist|Cannot find device/i.test(result.stderr)) return [];
    throw new KernelCommandError(['ip', '-j', '-d', 'addr', 'show', 'dev', name], result.stderr);
  }
  return JSON.parse(result.stdout || '[]');
}

/**
 * Reads the kernel state weft may own: its vxlan device (if any), the routes carrying weft's
 * protocol number, and the neighbour and FDB entries on its device. Reads run in parallel.
 */
export async function readActualState(vxlanDevice: string | undefined): Promise<ActualState> {
  const routesJson = runJson(['ip', '-j', '-4', 'route', 'show', 'proto', String(WEFT_ROUTE_PROTOCOL)]);
  if (!vxlanDevice) return { routes: parseRoutes(await routesJson), neighs: [], fdb: [] };
  const device = parseVxlanDevice(await readDevice(vxlanDevice));
  const [routes, neighs, fdb] = await Promise.all([
    routesJson,
    device ? runJson(['ip', '-j', '-4', 'neigh', 'show', 'dev', vxlanDevice]) : Promise.resolve([]),
    device ? runJson(['bridge', '-j', 'fdb', 'show', 'dev', vxlanDevice]) : Promise.resolve([]),
  ]);
  return {
    routes: parseRoutes(routes),
    neighs: parseNeighs(neighs),
    fdb: parseFdb(fdb),
    ...(device ? { device } : {}),
  };
}
