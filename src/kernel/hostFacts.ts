import { runJson } from './exec.js';
import { type HostInterface, type RouteLookup, parseIpAddrJson, parseRouteJson } from '../net/hostInterface.js';

/** Reads what interface selection needs from the kernel. */
export interface HostFacts {
  interfaces(): Promise<HostInterface[]>;
  defaultRoutes(family?: 4 | 6): Promise<RouteLookup[]>;
  routeTo(address: string): Promise<RouteLookup | undefined>;
}

export const kernelHostFacts: HostFacts = {
  async interfaces() {
    return parseIpAddrJson(await runJson(['ip', '-j', 'addr', 'show']));
  },
  async defaultRoutes(family = 4) {
    return parseRouteJson(await runJson(['ip', '-j', family === 6 ? '-6' : '-4', 'route', 'show', 'default']));
  },
  async routeTo(address: string) {
    // `address` reached here only after parseIpv4/parseIpv6 validated it (the --iface-can-reach flag parser).
    return parseRouteJson(await runJson(['ip', '-j', 'route', 'get', address]))[0];
  },
};
