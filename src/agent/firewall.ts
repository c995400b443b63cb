import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import type { BackendSelection, NetworkConfig } from '../config/networkConfig.js';
import { planIptables } from '../iptables/rules.js';
import { IptablesKeeper, detectIptablesTools } from '../kernel/iptables.js';
import type { OwnLease } from '../subnet/subnetManager.js';

export interface FirewallInputs {
  readonly options: AgentOptions;
  readonly config: NetworkConfig<BackendSelection>;
  readonly ownLease: () => OwnLease;
  readonly logger: Logger;
  readonly onRepair: () => void;
  /** A stop may come while the tools are detected: nothing may start after it. */
  readonly stopping: () => boolean;
}

/**
 * Starts the iptables keeper (masquerade with --ip-masq, FORWARD accepts with
 * --iptables-forward-rules); undefined when neither is wanted or a stop came first.
 */
export async function startFirewall(inputs: FirewallInputs): Promise<IptablesKeeper | undefined> {
  const { options, config } = inputs;
  if (!options.ipMasq && !options.iptablesForwardRules) return undefined;
  const tools = await detectIptablesTools();
  if (inputs.stopping()) return undefined;
  const keeper = new IptablesKeeper({
    tools,
    resyncSeconds: options.iptablesResyncSeconds,
    logger: inputs.logger,
    onRepair: inputs.onRepair,
    plans: () =>
      planIptables({ network: config.network, ownSubnet: inputs.ownLease().subnet, ipMasq: options.ipMasq, forwardRules: options.iptablesForwardRules }),
  });
  await keeper.start();
  return keeper;
}
