import type { EtcdConnectionConfig } from '../subnet/etcd/client.js';

/**
 * What the agent runs with: the agent layer owns this shape, and the CLI maps `weft agent`'s
 * flags and environment onto it (cli/agentOptions.ts).
 */
export interface AgentOptions {
  readonly etcd: EtcdConnectionConfig;
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach?: string;
  readonly publicIp?: string;
  readonly publicIpv6?: string;
  readonly subnetFile: string;
  readonly subnetLeaseRenewMarginMinutes: number;
  readonly ipMasq: boolean;
  /** Masquerade without --random-fully (Flannel's --ip-masq-fully-random-disable). */
  readonly ipMasqFullyRandomDisable: boolean;
  /** A blackhole route for this node's own subnet (Flannel's --ip-blackhole-route). */
  readonly ipBlackholeRoute: boolean;
  readonly iptablesForwardRules: boolean;
  readonly iptablesResyncSeconds: number;
  readonly healthzIp: string;
  readonly healthzPort: number;
  readonly kubeSubnetMgr: boolean;
  /** This node's name in Kubernetes mode (NODE_NAME, which a DaemonSet sets from spec.nodeName). */
  readonly nodeName?: string;
  /** The agent's own pod (POD_NAME, POD_NAMESPACE): Flannel finds its node from it without NODE_NAME. */
  readonly podName?: string;
  readonly podNamespace?: string;
  readonly kubeconfigFile?: string;
  readonly kubeApiUrl?: string;
  readonly kubeAnnotationPrefix: string;
  /** Clear NetworkUnavailable once routes are in place (Kubernetes mode). */
  readonly setNodeNetworkUnavailable: boolean;
  readonly netConfigPath: string;
  /** The wireguard backend's private key file (WIREGUARD_KEY_FILE, as in Flannel). */
  readonly wireguardKeyFile?: string;
  readonly verbosity: number;
}
