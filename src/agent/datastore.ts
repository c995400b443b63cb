import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import { type AgentNetworkConfig, parseNetworkConfig } from '../backend/registry.js';
import type { ExternalInterface } from '../net/externalInterface.js';
import { createEtcdClient } from '../subnet/etcd/client.js';
import { EtcdDatastore } from '../subnet/etcd/etcdSubnetManager.js';
import type { UnderlayFacts } from '../subnet/lease.js';
import type { Datastore } from '../subnet/subnetManager.js';
import type { AgentMetrics } from './metrics.js';

/** What validation checks a peer's PublicIP against: no host of ours, nor the segment's network or broadcast address. */
export function underlayFacts(ext: ExternalInterface): UnderlayFacts {
  return { subnet: ext.ifaceSubnet, ownAddresses: [...new Set([ext.publicIP, ext.ifaceAddress])] };
}

type KubeModule = typeof import('../subnet/kube/index.js');

/** Kubernetes mode: the API connection and who this node is, found before anything else uses them. */
export interface KubeNode {
  readonly kube: KubeModule;
  readonly kubeConfig: ReturnType<KubeModule['loadKubeConfig']>;
  readonly nodeName: string;
  /** From the node's node-public-ip annotation, which replaces --public-ip. */
  readonly publicIp?: string;
  /** From node-public-ipv6, which replaces --public-ipv6. */
  readonly publicIpv6?: string;
}

/** The environment Flannel finds its node by: NODE_NAME, or the agent's own pod. */
export function nodeIdentityEnv(options: AgentOptions): NodeJS.ProcessEnv {
  return {
    ...(options.nodeName ? { NODE_NAME: options.nodeName } : {}),
    ...(options.podName ? { POD_NAME: options.podName } : {}),
    ...(options.podNamespace ? { POD_NAMESPACE: options.podNamespace } : {}),
  };
}

export async function identifyKubeNode(options: AgentOptions, logger: Logger): Promise<KubeNode> {
  // Loaded on demand: the Kubernetes client is most of the bundle, and etcd mode never needs it.
  const kube = await import('../subnet/kube/index.js');
  const kubeConfig = kube.loadKubeConfig(options);
  const identity = await kube.kubeNodeIdentity(kubeConfig, kube.nodeAnnotationKeys(options.kubeAnnotationPrefix), nodeIdentityEnv(options), logger);
  return { kube, kubeConfig, ...identity };
}

/** The datastore the flags name: etcd, or the Kubernetes API with --kube-subnet-mgr (and its node). */
export async function openDatastore(
  options: AgentOptions,
  ext: ExternalInterface,
  metrics: AgentMetrics,
  logger: Logger,
  kubeNode: KubeNode | undefined,
): Promise<Datastore<AgentNetworkConfig>> {
  const common = {
    logger,
    parseConfig: parseNetworkConfig,
    // A peer claiming the underlay's own subnet would reroute host-to-host traffic into a tunnel.
    forbiddenSubnets: ext.hasIpv4 ? [ext.ifaceSubnet] : [],
    ...(ext.ipv6 ? { forbiddenIpv6Subnets: [ext.ipv6.subnet] } : {}),
    // A peer whose PublicIP is no host on the underlay would fail in the kernel on every pass.
    underlay: underlayFacts(ext),
    onDatastoreError: () => metrics.datastoreErrors.inc(),
    onInvalidLease: () => metrics.invalidLeases.inc(),
    onWatchRestart: (reason: string) => metrics.watchRestarts.inc({ reason }),
  };
  if (!kubeNode) {
    return new EtcdDatastore({
      ...common,
      client: await createEtcdClient(options.etcd),
      prefix: options.etcd.prefix,
      renewMarginMinutes: options.subnetLeaseRenewMarginMinutes,
    });
  }
  const { kube, kubeConfig, nodeName } = kubeNode;
  logger.info('using the Kubernetes API', { server: kube.apiServerOf(kubeConfig), node: nodeName });
  return new kube.KubeDatastore({
    ...common,
    api: new kube.NodeApi(kubeConfig),
    nodeName,
    keys: kube.nodeAnnotationKeys(options.kubeAnnotationPrefix),
    netConfigPath: options.netConfigPath,
  });
}
