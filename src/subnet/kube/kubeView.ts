import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import type { Ipv4Subnet } from '../../net/ipv4.js';
import type { Ipv6Subnet } from '../../net/ipv6.js';
import { ConfigError } from '../../util/errors.js';
import type { PeerDataDecoder, PeerLease, UnderlayFacts } from '../lease.js';
import { LeaseStore } from '../leaseStore.js';
import { PeerSet } from '../peerSet.js';
import { type NodeAnnotationKeys, nodeAnnotationKeys } from './annotations.js';
import { type KubeConnectionOptions, loadKubeConfig } from './kubeConfig.js';
import { readNetConfigFile } from './netConfigFile.js';
import { NodeApi } from './nodeApi.js';
import { nodeListLeases, nodeName, ownPodCidr, ownSubnetClaim, validateNodeLease } from './nodeLease.js';

export interface KubeViewOptions<C> extends KubeConnectionOptions {
  readonly nodeName: string | undefined;
  readonly kubeAnnotationPrefix: string;
  readonly netConfigPath: string;
  readonly forbidden: readonly Ipv4Subnet[];
  readonly forbiddenIpv6: readonly Ipv6Subnet[];
  readonly underlay: UnderlayFacts;
  readonly parseConfig: (json: string, source: string) => C;
}

export interface KubeView<C, D> {
  readonly config: C;
  readonly ownSubnet?: Ipv4Subnet;
  readonly ownIpv6Subnet?: Ipv6Subnet;
  readonly peers: readonly PeerLease<D>[];
}

function ownSubnetsOf(node: V1Node, keys: NodeAnnotationKeys, config: NetworkConfig<BackendSelection>): { ipv4?: Ipv4Subnet; ipv6?: Ipv6Subnet } {
  if (config.subnetSource === 'annotations') return { ipv4: ownSubnetClaim(node, keys) };
  const wantIpv6 = config.ipv6 !== undefined && annotationsOf(node)[keys.publicIPv6] !== undefined;
  const result = ownPodCidr(node, keys, config, [], wantIpv6);
  return result.kind === 'ok' ? { ipv4: result.subnet, ...(result.ipv6Subnet ? { ipv6: result.ipv6Subnet } : {}) } : {};
}

function annotationsOf(node: V1Node): Record<string, string> {
  return node.metadata?.annotations ?? {};
}

/**
 * One read of the API server, as the agent would see it, for `weft status`: no watch, no writes.
 * `decoderFor` gives the backend's check of peer data once the config names the backend.
 */
export async function readKubeView<C extends NetworkConfig<BackendSelection>, D>(
  options: KubeViewOptions<C>,
  decoderFor: (config: C) => Promise<PeerDataDecoder<D>>,
  logger: Logger,
): Promise<KubeView<C, D>> {
  if (!options.nodeName) throw new ConfigError('NODE_NAME', options.nodeName, 'must name this node with --kube-subnet-mgr');
  const api = new NodeApi(loadKubeConfig(options));
  const keys = nodeAnnotationKeys(options.kubeAnnotationPrefix);
  const config = await readNetConfigFile(options.netConfigPath, options.parseConfig);
  const { items } = await api.list();
  const self = items.find((n) => nodeName(n) === options.nodeName);
  const own = self ? ownSubnetsOf(self, keys, config) : {};
  const ownSubnet = own.ipv4;
  const ownIpv6Subnet = own.ipv6;
  const store = new LeaseStore();
  store.replaceAll(nodeListLeases(items, options.nodeName, keys, config.subnetSource, 1), 1);
  const context = {
    config,
    decodePeerData: await decoderFor(config),
    ...(ownSubnet ? { ownSubnet } : {}),
    ...(ownIpv6Subnet ? { ownIpv6Subnet } : {}),
    forbidden: options.forbidden,
    forbiddenIpv6: options.forbiddenIpv6,
    underlay: options.underlay,
    anySubnetLength: config.subnetSource === 'podCIDR',
  };
  return { config, ...(ownSubnet ? { ownSubnet } : {}), ...(ownIpv6Subnet ? { ownIpv6Subnet } : {}), peers: new PeerSet(store, context, logger, undefined, validateNodeLease).peers() };
}
