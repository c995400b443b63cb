import { ConfigError } from '../../util/errors.js';

/** The node annotation keys one weft network reads and writes, all under one prefix. */
export interface NodeAnnotationKeys {
  readonly prefix: string;
  readonly kubeSubnetManager: string;
  readonly backendType: string;
  readonly backendData: string;
  readonly publicIP: string;
  /** Set by an operator, never by weft: the address peers should use instead of the detected one. */
  readonly publicIPOverwrite: string;
  /** Set by an operator, never by weft: read at start-up in place of --public-ip, as Flannel does. */
  readonly nodePublicIP: string;
  readonly nodePublicIPv6: string;
  /** The IPv6 plane's counterparts (dual-stack and IPv6-only networks), named as Flannel names them. */
  readonly backendV6Data: string;
  readonly publicIPv6: string;
  readonly publicIPv6Overwrite: string;
  /** Secondary mode only: the subnet this node allocated for itself from the network. */
  readonly subnet: string;
}

export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';

/**
 * Flannel's prefix rules, so both agents find each other's annotations: at most one "/"; a bare
 * domain gets "/" appended ("example.com" → "example.com/backend-type"), a "domain/name" prefix
 * gets "-" ("example.com/net" → "example.com/net-backend-type"); the result must be an FQDN
 * followed by "/" and an optional lowercase name ending in "-".
 */
export function normalizeAnnotationPrefix(prefix: string): string {
  const slashes = prefix.split('/').length - 1;
  if (slashes > 1) throw new ConfigError('--kube-annotation-prefix', prefix, 'may contain at most one "/"');
  let normalized = slashes === 0 ? `${prefix}/` : prefix;
  if (!normalized.endsWith('/') && !normalized.endsWith('-')) normalized += '-';
  if (!/^(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/.test(normalized)) {
    throw new ConfigError('--kube-annotation-prefix', prefix, 'must be a lowercase domain name, optionally followed by /name (e.g. flannel.alpha.coreos.com)');
  }
  return normalized;
}

export function nodeAnnotationKeys(prefix: string): NodeAnnotationKeys {
  const p = normalizeAnnotationPrefix(prefix);
  return {
    prefix: p,
    kubeSubnetManager: `${p}kube-subnet-manager`,
    backendType: `${p}backend-type`,
    backendData: `${p}backend-data`,
    publicIP: `${p}public-ip`,
    publicIPOverwrite: `${p}public-ip-overwrite`,
    nodePublicIP: `${p}node-public-ip`,
    nodePublicIPv6: `${p}node-public-ipv6`,
    backendV6Data: `${p}backend-v6-data`,
    publicIPv6: `${p}public-ipv6`,
    publicIPv6Overwrite: `${p}public-ipv6-overwrite`,
    subnet: `${p}subnet`,
  };
}
