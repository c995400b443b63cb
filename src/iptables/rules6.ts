import { createHash } from 'node:crypto';
import { type Ipv6Subnet, formatIpv6Subnet } from '../net/ipv6.js';
import { type ChainPlan, flannelChainPlans } from './rules.js';

export interface Ip6tablesInput {
  readonly network: Ipv6Subnet;
  readonly ownSubnet: Ipv6Subnet;
  readonly ipMasq: boolean;
  /** Masquerade with --random-fully (off with --ip-masq-fully-random-disable). */
  readonly fullyRandom: boolean;
  readonly forwardRules: boolean;
}

/**
 * IPv6 chain names: "WEFT-MASQ-" and "WEFT-FWD-" like the IPv4 ones (so cleanup finds both),
 * then 8 hex digits of a hash of the IPv6Network and its length; an IPv6 network's address does
 * not fit the 28 characters iptables allows.
 */
export function ipv6ChainNames(network: Ipv6Subnet): { masq: string; forward: string } {
  const id = `${createHash('sha256').update(formatIpv6Subnet(network)).digest('hex').slice(0, 8).toUpperCase()}-${network.prefixLength}`;
  return { masq: `WEFT-MASQ-${id}`, forward: `WEFT-FWD-${id}` };
}

/** Flannel's IPv6 rules (MasqIP6Rules, forward rules): the IPv4 set over IPv6Network, ff00::/8 kept. */
export function planIp6tables(input: Ip6tablesInput): ChainPlan[] {
  return flannelChainPlans({
    network: formatIpv6Subnet(input.network),
    own: formatIpv6Subnet(input.ownSubnet),
    multicast: 'ff00::/8',
    names: ipv6ChainNames(input.network),
    ipMasq: input.ipMasq,
    fullyRandom: input.fullyRandom,
    forwardRules: input.forwardRules,
  });
}
