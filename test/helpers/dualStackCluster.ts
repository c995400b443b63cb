import type { Host, NetnsCluster, Pod } from './netnsCluster.js';
import { inNs } from './netnsCluster.js';
import { waitFor } from './waitFor.js';

export interface WeftRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev: string;
}

/** The routes weft owns on a host (protocol 87), of one family. */
export function weftRoutes(host: Host, family: '-4' | '-6'): WeftRoute[] {
  return JSON.parse(inNs(host.ns, 'ip', ['-j', family, 'route', 'show', 'proto', '87']) || '[]') as WeftRoute[];
}

/** Every ordered pair (a in `from`, b in `to`, a ≠ b) whose address of this family does not answer a ping. */
export function unreachablePairs(cluster: NetnsCluster, from: readonly Pod[], to: readonly Pod[], family: 'ip' | 'ipv6'): string[] {
  const failures: string[] = [];
  for (const a of from) {
    for (const b of to) {
      const address = b[family];
      // A second, longer try: under load the first IPv6 packet can wait out neighbour discovery.
      if (a !== b && address && !cluster.ping(a, address, 1, 1) && !cluster.ping(a, address, 3, 2)) failures.push(`${a.name} -> ${address}`);
    }
  }
  return failures;
}

/**
 * Writes the network config, starts an agent (with `agentArgs`) on every host, attaches one pod
 * per host, and waits until each host holds `routes(host)` weft routes per family.
 */
export async function startNetwork(
  cluster: NetnsCluster,
  config: object,
  routes: (host: Host) => { readonly ipv4: number; readonly ipv6: number },
  agentArgs: readonly string[] = [],
): Promise<Pod[]> {
  await cluster.writeNetworkConfig('/weft/primary', config);
  for (const host of cluster.hosts) cluster.startAgent(host, 'primary', agentArgs);
  const pods: Pod[] = [];
  for (const host of cluster.hosts) pods.push(await cluster.addPod(host));
  const converged = (host: Host): boolean => {
    const want = routes(host);
    return weftRoutes(host, '-4').length === want.ipv4 && weftRoutes(host, '-6').length === want.ipv6;
  };
  await waitFor(
    () => cluster.hosts.every(converged),
    15_000,
    () => cluster.hosts.map((h) => `${h.ns}: ${weftRoutes(h, '-4').length} IPv4, ${weftRoutes(h, '-6').length} IPv6 routes`).join('; '),
  );
  return pods;
}
