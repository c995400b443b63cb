import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import { type AgentNetworkConfig, parseNetworkConfig } from '../backend/registry.js';
import type { ExternalInterface } from '../net/externalInterface.js';
import { createEtcdClient } from '../subnet/etcd/client.js';
import { EtcdDatastore } from '../subnet/etcd/etcdSubnetManager.js';
import type { UnderlayFacts } from '../subnet/lease.js';
import type { Datastore } from '../subnet/subnetManager.js';
import { ConfigError } from '../util/errors.js';
import type { AgentMetrics } from './metrics.js';

/** What validation checks a peer's PublicIP against: no host of ours, nor the segment's network or broadcast address. */
export function underlayFacts(ext: ExternalInterface): UnderlayFacts {
  return { subnet: ext.ifaceSubnet, ownAddresses: [...new Set([ext.publicIP, ext.ifaceAddress])] };
}

/** The datastore the flags name: etcd, or the Kubernetes API with --kube-subnet-mgr. */
export async function openDatastore(options: AgentOptions, ext: ExternalInterface, metrics: AgentMetrics, logger: Logger): Promise<Datastore<AgentNetworkConfig>> {
  const common = {
    logger,
    parseConfig: parseNetworkConfig,
    // A peer claiming the underlay's own subnet would reroute host-to-host traffic into a tunnel.
    forbiddenSubnets: [ext.ifaceSubnet],
    // A peer whose PublicIP is no host on the underlay would fail in the kernel on every pass.
    underlay: underlayFacts(ext),
    onDatastoreError: () => metrics.datastoreErrors.inc(),
    onInvalidLease: () => metrics.invalidLeases.inc(),
    onWatchRestart: (reason: string) => metrics.watchRestarts.inc({ reason }),
  };
  if (!options.kubeSubnetMgr) {
    return new EtcdDatastore({
      ...common,
      client: await createEtcdClient(options.etcd),
      prefix: options.etcd.prefix,
      renewMarginMinutes: options.subnetLeaseRenewMarginMinutes,
    });
  }
  if (!options.nodeName) {
    throw new ConfigError('NODE_NAME', options.nodeName, 'must name this node with --kube-subnet-mgr (a DaemonSet sets it from spec.nodeName)');
  }
  // Loaded on demand: the Kubernetes client is most of the bundle, and etcd mode never needs it.
  const kube = await import('../subnet/kube/index.js');
  const kubeConfig = kube.loadKubeConfig(options);
  logger.info('using the Kubernetes API', { server: kube.apiServerOf(kubeConfig), node: options.nodeName });
  return new kube.KubeDatastore({
    ...common,
    api: new kube.NodeApi(kubeConfig),
    nodeName: options.nodeName,
    keys: kube.nodeAnnotationKeys(options.kubeAnnotationPrefix),
    netConfigPath: options.netConfigPath,
  });
}
