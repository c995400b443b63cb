import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import type { BackendSelection, NetworkConfig } from '../config/networkConfig.js';
import { type ChainPlan, planIptables } from '../iptables/rules.js';
import { planIp6tables } from '../iptables/rules6.js';
import { IptablesKeeper, detectIptablesTools } from '../kernel/iptables.js';
import type { OwnLease } from '../subnet/subnetManager.js';
import type { AddressFamily } from './planes.js';

export interface FirewallInputs {
  readonly options: AgentOptions;
  readonly config: NetworkConfig<BackendSelection>;
  readonly ownLease: () => OwnLease;
  readonly logger: Logger;
  /** Someone else changed our rules and they were restored; by address family, for the metric. */
  readonly onRepair: (family: AddressFamily) => void;
  /** A stop may come while the tools are detected: nothing may start after it. */
  readonly stopping: () => boolean;
}

/** The running keepers: one per address family that has rules. */
export interface RunningFirewall {
  stop(): Promise<void>;
}

/**
 * Starts the iptables keepers (masquerade with --ip-masq, FORWARD accepts with
 * --iptables-forward-rules): iptables for the IPv4 network, ip6tables for the IPv6 one, each
 * with the same resync and atomic replacement. Undefined when nothing is wanted or a stop came
 * first.
 */
export async function startFirewall(inputs: FirewallInputs): Promise<RunningFirewall | undefined> {
  const { options, config } = inputs;
  if (!options.ipMasq && !options.iptablesForwardRules) return undefined;
  const flags = { ipMasq: options.ipMasq, forwardRules: options.iptablesForwardRules };
  const families: Array<{ family: 4 | 6; plans: () => readonly ChainPlan[] }> = [];
  if (config.enableIPv4) {
    families.push({ family: 4, plans: () => planIptables({ network: config.network, ownSubnet: inputs.ownLease().subnet, ...flags }) });
  }
  const ipv6 = config.ipv6;
  if (ipv6) {
    families.push({
      family: 6,
      plans: () => {
        const ownSubnet = inputs.ownLease().ipv6Subnet;
        return ownSubnet ? planIp6tables({ network: ipv6.network, ownSubnet, ...flags }) : [];
      },
    });
  }
  const keepers: IptablesKeeper[] = [];
  for (const { family, plans } of families) {
    const tools = await detectIptablesTools(family);
    if (inputs.stopping()) break;
    const onRepair = (): void => inputs.onRepair(family === 4 ? 'ipv4' : 'ipv6');
    const keeper = new IptablesKeeper({ tools, resyncSeconds: options.iptablesResyncSeconds, logger: inputs.logger, onRepair, plans });
    keepers.push(keeper);
    await keeper.start();
  }
  if (keepers.length === 0) return undefined;
  return { stop: async () => void (await Promise.all(keepers.map((k) => k.stop()))) };
}
