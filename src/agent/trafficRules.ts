import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import { type ChainPlan, type IptablesInput, planIptables, supersededChains } from '../iptables/rules.js';
import { planIp6tables } from '../iptables/rules6.js';
import { BlackholeRouteKeeper } from '../kernel/blackholeRoute.js';
import { IptablesKeeper, detectIptablesTools, removeIptablesChains } from '../kernel/iptables.js';
import { NftMonitor } from '../kernel/nftMonitor.js';
import { NftablesKeeper } from '../kernel/nftables.js';
import type { PeriodicSync } from '../kernel/periodicSync.js';
import type { Ipv4Subnet } from '../net/ipv4.js';
import type { Ipv6Subnet } from '../net/ipv6.js';
import type { AddressFamily } from './planes.js';
import { planNftables } from '../nftables/rules.js';

export interface TrafficRulesOptions {
  readonly options: Pick<
    AgentOptions,
    'ipMasq' | 'ipMasqFullyRandomDisable' | 'iptablesForwardRules' | 'iptablesResyncSeconds' | 'ipBlackholeRoute'
  >;
  /** The IPv4 Network; absent on an IPv6-only network. */
  readonly network?: Ipv4Subnet;
  /** The IPv6Network and this host's IPv6 subnet, on a network with EnableIPv6. */
  readonly ipv6?: { readonly network: Ipv6Subnet; readonly ownSubnet: () => Ipv6Subnet | undefined };
  /** EnableNFTables: the IPv4 rules go into Flannel's nftables table instead of iptables chains. */
  readonly nftables: boolean;
  /** This host's subnet now, read at every sync; undefined while there is no lease. */
  readonly ownSubnet: () => Ipv4Subnet | undefined;
  readonly logger: Logger;
  /** Someone else changed our rules and they were restored, by address family (the metric's label). */
  readonly onRepair: (family: AddressFamily) => void;
}

export interface TrafficRules {
  /** This host's subnet changed: check every keeper now rather than at its next check. */
  recheck(): void;
  stop(): Promise<void>;
}

/**
 * The host state beside the routes that decides where pod traffic may go: masquerade and forward
 * rules (iptables chains, or the same rules in nftables) and, with --ip-blackhole-route, a
 * blackhole route for this node's subnet. Each is kept in place by a keeper; the firewall keepers
 * share one `nft monitor` when their rules live in nftables (native or iptables-nft), so they
 * hear about changes instead of polling for them. Once weft's
 * rules are in place, the ones they replace go: Flannel's chains for this Network (a host
 * migrating from Flannel), and in nftables mode weft's own iptables chains. Removing them only
 * then means forwarding and masquerading never stop. Nothing starts once `stopping` says so.
 */
export async function startTrafficRules(config: TrafficRulesOptions, stopping: () => boolean): Promise<TrafficRules> {
  const { options, logger } = config;
  const keepers: PeriodicSync[] = [];
  // Started only if a keeper's rules live in nftables (below), before the keepers' first check.
  const monitor = new NftMonitor(logger);
  const common = { resyncSeconds: options.iptablesResyncSeconds, monitor, logger };
  const wantsRules = options.ipMasq || options.iptablesForwardRules;
  // The same rule set for both families, as Flannel writes them.
  const flags = { ipMasq: options.ipMasq, fullyRandom: !options.ipMasqFullyRandomDisable, forwardRules: options.iptablesForwardRules };
  const network = config.network;
  if (wantsRules && network) {
    const input = (): IptablesInput | undefined => {
      const ownSubnet = config.ownSubnet();
      return ownSubnet && { network, ownSubnet, ...flags };
    };
    let superseded = false;
    const removeSuperseded = async (): Promise<void> => {
      if (superseded) return;
      const removedBy = await removeIptablesChains(supersededChains(network, config.nftables));
      superseded = true;
      if (removedBy.length > 0) logger.info("removed the iptables chains weft's rules replace", { via: removedBy });
    };
    const keeping = { ...common, onRepair: () => config.onRepair('ipv4'), onSynced: removeSuperseded };
    if (config.nftables) {
      keepers.push(new NftablesKeeper({ ...keeping, plans: () => planFor(input, planNftables) }));
    } else {
      const tools = await detectIptablesTools();
      keepers.push(new IptablesKeeper({ ...keeping, tools, plans: () => planFor(input, planIptables) }));
    }
  }
  const ipv6 = config.ipv6;
  if (wantsRules && ipv6) {
    // Flannel's nftables mode has an ip6 table too; weft keeps IPv6 rules in ip6tables either way.
    if (config.nftables) logger.warn('EnableNFTables applies to the IPv4 rules only in weft; the IPv6 rules stay in ip6tables');
    const tools = await detectIptablesTools(6);
    const plans = (): ChainPlan[] => {
      const ownSubnet = ipv6.ownSubnet();
      return ownSubnet ? planIp6tables({ network: ipv6.network, ownSubnet, ...flags }) : [];
    };
    keepers.push(new IptablesKeeper({ ...common, tools, plans, onRepair: () => config.onRepair('ipv6') }));
  }
  if (options.ipBlackholeRoute && network) keepers.push(new BlackholeRouteKeeper({ ...common, network, ownSubnet: config.ownSubnet }));
  // A stop may have come while the iptables tools were being detected.
  const started = stopping() ? [] : keepers;
  if (started.some((keeper) => keeper.hearsChanges)) monitor.start();
  for (const keeper of started) await keeper.start();
  return {
    recheck() {
      for (const keeper of started) void keeper.sync();
    },
    async stop() {
      monitor.stop();
      for (const keeper of started) await keeper.stop();
    },
  };
}

function planFor<T>(input: () => IptablesInput | undefined, plan: (input: IptablesInput) => T[]): T[] {
  const current = input();
  return current ? plan(current) : [];
}
