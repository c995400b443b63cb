import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { ConfigError, DatastoreError, errorMessage } from '../../util/errors.js';
import { isUsableUnicastIpv4, parseIpv4 } from '../../net/ipv4.js';
import { isUsableUnicastIpv6, parseIpv6 } from '../../net/ipv6.js';
import type { NodeAnnotationKeys } from './annotations.js';
import { CoreV1Api, type KubeConfig } from './kubernetesClient.js';
import { NodeApi } from './nodeApi.js';

/** Reads one pod; undefined when it does not exist. */
export type PodReader = (namespace: string, name: string) => Promise<V1Pod | undefined>;

/**
 * This node's name as Flannel finds it: NODE_NAME, or else the node the agent's own pod runs on,
 * read from the pod POD_NAMESPACE/POD_NAME (kube-flannel.yml sets those two from the downward API).
 */
export async function resolveNodeName(env: NodeJS.ProcessEnv, readPod: PodReader): Promise<string> {
  const nodeName = env['NODE_NAME'];
  if (nodeName) return nodeName;
  const podName = env['POD_NAME'];
  const namespace = env['POD_NAMESPACE'];
  if (!podName || !namespace) {
    throw new ConfigError(
      'NODE_NAME',
      nodeName,
      'must name this node with --kube-subnet-mgr, or POD_NAME and POD_NAMESPACE must name the agent\'s pod (a DaemonSet sets them from the downward API)',
    );
  }
  let pod: V1Pod | undefined;
  try {
    pod = await readPod(namespace, podName);
  } catch (err) {
    throw new DatastoreError(`error retrieving pod spec for '${namespace}/${podName}': ${errorMessage(err)}`, { cause: err });
  }
  if (!pod) throw new ConfigError('POD_NAME', `${namespace}/${podName}`, 'names no pod in the API server');
  const fromSpec = pod.spec?.nodeName;
  if (!fromSpec) throw new ConfigError('POD_NAME', `${namespace}/${podName}`, 'names a pod with no spec.nodeName: it is not scheduled');
  return fromSpec;
}

/** The API server's pods, read with the agent's credentials (Flannel's ClusterRole grants pods get). */
export function podReader(config: KubeConfig): PodReader {
  const core = config.makeApiClient(CoreV1Api);
  return async (namespace, name) => {
    try {
      return await core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  };
}

/** The public addresses an operator set on the node for Flannel, `<prefix>/node-public-ip(v6)`. */
export interface NodePublicIps {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/**
 * Flannel's stored public IPs: `<prefix>/node-public-ip` on this node replaces --public-ip, and
 * `<prefix>/node-public-ipv6` replaces --public-ipv6 (used only where the network has IPv6).
 */
export function nodePublicIps(node: V1Node | undefined, keys: NodeAnnotationKeys): NodePublicIps {
  const annotations = node?.metadata?.annotations ?? {};
  const ipv4 = annotations[keys.nodePublicIP];
  const ipv6 = annotations[keys.nodePublicIPv6];
  if (ipv4) {
    const address = parseIpv4(ipv4.trim());
    if (!address || !isUsableUnicastIpv4(address)) {
      throw new ConfigError(`node ${node?.metadata?.name ?? ''} annotation ${keys.nodePublicIP}`, ipv4, 'must be a unicast IPv4 address');
    }
  }
  if (ipv6) {
    const address = parseIpv6(ipv6.trim());
    if (!address || !isUsableUnicastIpv6(address)) {
      throw new ConfigError(`node ${node?.metadata?.name ?? ''} annotation ${keys.nodePublicIPv6}`, ipv6, 'must be a unicast IPv6 address');
    }
  }
  return { ...(ipv4 ? { ipv4: ipv4.trim() } : {}), ...(ipv6 ? { ipv6: ipv6.trim() } : {}) };
}

export interface KubeNodeIdentity {
  readonly nodeName: string;
  /** From the node-public-ip annotation, when set: it wins over --public-ip. */
  readonly publicIp?: string;
  /** From the node-public-ipv6 annotation, when set: it wins over --public-ipv6. */
  readonly publicIpv6?: string;
}

/** Who this agent is in the cluster, read once at start-up, before the external interface is chosen. */
export async function kubeNodeIdentity(config: KubeConfig, keys: NodeAnnotationKeys, env: NodeJS.ProcessEnv, logger: Logger): Promise<KubeNodeIdentity> {
  const nodeName = await resolveNodeName(env, podReader(config));
  let node: V1Node | undefined;
  try {
    node = await new NodeApi(config).get(nodeName);
  } catch (err) {
    // The subnet manager waits for the API server; without it the annotation cannot matter yet.
    logger.warn('could not read this node for its node-public-ip annotation; using the detected address', { node: nodeName, error: errorMessage(err) });
  }
  const ips = nodePublicIps(node, keys);
  if (ips.ipv4) logger.info('using the public IP from the node annotation', { node: nodeName, annotation: keys.nodePublicIP, publicIP: ips.ipv4 });
  if (ips.ipv6) logger.info('using the public IPv6 address from the node annotation', { node: nodeName, annotation: keys.nodePublicIPv6, publicIPv6: ips.ipv6 });
  return { nodeName, ...(ips.ipv4 ? { publicIp: ips.ipv4 } : {}), ...(ips.ipv6 ? { publicIpv6: ips.ipv6 } : {}) };
}
