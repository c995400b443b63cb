import type { Logger } from 'winston';
import { isPlainObject } from '../util/jsonFields.js';
import { type Ipv4Subnet, formatSubnet, parseIpv4Cidr, subnetContainsSubnet } from '../net/ipv4.js';
import { runCommand, runJson } from './exec.js';
import { WEFT_ROUTE_PROTOCOL, withPrefixLength } from './kernelState.js';
import { PeriodicSync } from './periodicSync.js';

/**
 * The blackhole route's metric. The CNI bridge's own route to the subnet has metric 0 and must
 * keep winning while it exists (a blackhole with the same metric would replace it); the blackhole
 * only catches what nothing more specific or better claims: addresses of the subnet no pod holds.
 */
export const BLACKHOLE_METRIC = 1_000_000;

/** The `ip -batch` lines that leave exactly one weft blackhole route in `network`: the one for `subnet`. */
export function planBlackholeRoutes(present: readonly string[], subnet: Ipv4Subnet, network: Ipv4Subnet): string[] {
  const wanted = formatSubnet(subnet);
  const proto = `proto ${WEFT_ROUTE_PROTOCOL} metric ${BLACKHOLE_METRIC}`;
  const lines: string[] = [];
  for (const dst of present) {
    const parsed = parseIpv4Cidr(dst);
    if (dst !== wanted && parsed.ok && subnetContainsSubnet(network, parsed.subnet)) lines.push(`route del blackhole ${dst} ${proto}`);
  }
  if (!present.includes(wanted)) lines.push(`route replace blackhole ${wanted} ${proto}`);
  return lines;
}

/** Destinations of the blackhole routes with weft's protocol number, from `ip -j route show type blackhole proto 87`. */
export function parseBlackholeRoutes(json: unknown): string[] {
  if (!Array.isArray(json)) return [];
  return json.flatMap((r) => (isPlainObject(r) && typeof r['dst'] === 'string' ? [withPrefixLength(r['dst'])] : []));
}

export interface BlackholeRouteKeeperOptions {
  readonly network: Ipv4Subnet;
  /** This host's subnet now; undefined while there is no lease. */
  readonly ownSubnet: () => Ipv4Subnet | undefined;
  readonly resyncSeconds: number;
  readonly logger: Logger;
}

/**
 * Flannel's --ip-blackhole-route: traffic to an address of this node's subnet that no pod holds
 * is dropped here instead of following the default route out of the node. Kept like the
 * firewall rules: checked every resync, moved when the subnet changes.
 */
export class BlackholeRouteKeeper extends PeriodicSync {
  constructor(private readonly options: BlackholeRouteKeeperOptions) {
    const resyncMs = options.resyncSeconds * 1000;
    super({ what: 'blackhole route', periodMs: () => resyncMs, retryMs: resyncMs, logger: options.logger });
  }

  protected async syncOnce(): Promise<void> {
    const subnet = this.options.ownSubnet();
    if (!subnet) return;
    const present = parseBlackholeRoutes(await runJson(['ip', '-j', '-4', 'route', 'show', 'type', 'blackhole', 'proto', String(WEFT_ROUTE_PROTOCOL)]));
    const lines = planBlackholeRoutes(present, subnet, this.options.network);
    if (lines.length === 0) return;
    await runCommand(['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
    this.logger.info('blackhole route in place', { subnet: formatSubnet(subnet) });
  }
}
