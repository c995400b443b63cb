import { ConfigError } from '../util/errors.js';
import {
  type Ipv4Subnet,
  formatIpv4,
  formatSubnet,
  maskOf,
  parseIpv4,
  parseIpv4Cidr,
  ipv4ToNumber,
  subnetContainsAddress,
  subnetSize,
  lastAddress,
} from '../net/ipv4.js';
import { lookupField, optionalBoolean, requireObject } from '../util/jsonFields.js';
import { type Ipv6NetworkConfig, resolveIpv6Network } from './ipv6Network.js';

/** What every backend's config has: its type, lowercased as Flannel compares it. */
export interface BackendSelection {
  readonly type: string;
}

/**
 * The network config's Backend object before a backend has read it: the datastore layer knows
 * only its type. The backend registry (src/backend/registry.ts) turns it into a typed config.
 */
export interface BackendSection extends BackendSelection {
  readonly fields: Record<string, unknown>;
}

export interface NetworkConfig<B extends BackendSelection = BackendSection> {
  /**
   * With EnableIPv4 false these IPv4 fields hold Flannel's zero values (0.0.0.0/0, length 0):
   * nothing IPv4 is leased, planned or written then, so code reads them only when enableIPv4.
   */
  readonly network: Ipv4Subnet;
  readonly subnetLen: number;
  readonly subnetMin: number;
  readonly subnetMax: number;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  /** Present exactly when enableIPv6. */
  readonly ipv6?: Ipv6NetworkConfig;
  readonly backend: B;
  /** Flannel's EnableNFTables: masquerade and forward rules in native nftables instead of iptables. */
  readonly enableNFTables: boolean;
  /**
   * Where a host's subnet comes from in Kubernetes mode (weft's own key, not Flannel's):
   * "podCIDR" (default) takes node.spec.podCIDR as Flannel does; "annotations" makes weft
   * allocate from this Network itself and record the claim in a node annotation, which lets a
   * second network run in Kubernetes mode beside the primary one.
   */
  readonly subnetSource: SubnetSource;
}

export type SubnetSource = 'podCIDR' | 'annotations';
const SUBNET_SOURCES: readonly SubnetSource[] = ['podCIDR', 'annotations'];

/**
 * Parses the network config JSON exactly as Flannel reads it (Go's encoding/json: key names match
 * case-insensitively, unknown keys are ignored) and applies Flannel's defaults. Every rejection
 * names the field and the value.
 */
export function parseNetworkDocument(json: string, source = 'network config'): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(source, json.slice(0, 80), `is not valid JSON: ${(err as Error).message}`);
  }
  return validateNetworkDocument(raw);
}

export function validateNetworkDocument(raw: unknown): NetworkConfig {
  const root = requireObject(raw, 'network config');
  const enableIPv4 = optionalBoolean(root, 'EnableIPv4', true);
  const enableIPv6 = optionalBoolean(root, 'EnableIPv6', false);
  if (!enableIPv4 && !enableIPv6) {
    throw new ConfigError('EnableIPv4', false, 'leaves no address family: set EnableIPv6 with an IPv6Network for an IPv6-only network');
  }
  const common = {
    enableIPv4,
    enableIPv6,
    ...(enableIPv6 ? { ipv6: resolveIpv6Network(root) } : {}),
    backend: backendSection(lookupField(root, 'Backend')),
    enableNFTables: optionalBoolean(root, 'EnableNFTables', false),
    subnetSource: parseSubnetSource(lookupField(root, 'SubnetSource')),
  };
  if (!enableIPv4) return { network: { address: 0, prefixLength: 0 }, subnetLen: 0, subnetMin: 0, subnetMax: 0, ...common };

  const networkRaw = lookupField(root, 'Network');
  if (typeof networkRaw !== 'string' || networkRaw === '') {
    throw new ConfigError('Network', networkRaw, 'is required and must be an IPv4 CIDR such as "10.244.0.0/16"');
  }
  const parsed = parseIpv4Cidr(networkRaw);
  if (!parsed.ok) throw new ConfigError('Network', networkRaw, parsed.reason);
  const network = parsed.subnet;

  const subnetLen = resolveSubnetLen(root, network);
  const size = subnetSize(subnetLen);
  const subnetMin = resolveBound(root, 'SubnetMin', network, subnetLen, network.address + size);
  const subnetMax = resolveBound(root, 'SubnetMax', network, subnetLen, lastAddress(network) + 1 - size);
  if (subnetMin > subnetMax) {
    throw new ConfigError(
      'SubnetMin',
      formatIpv4(subnetMin),
      `is above SubnetMax ${formatIpv4(subnetMax)}, so no subnet can be leased`,
    );
  }

  return { network, subnetLen, subnetMin, subnetMax, ...common };
}

function parseSubnetSource(raw: unknown): SubnetSource {
  if (raw === undefined || raw === null || raw === '') return 'podCIDR';
  const source = SUBNET_SOURCES.find((s) => typeof raw === 'string' && s.toLowerCase() === raw.toLowerCase());
  if (!source) throw new ConfigError('SubnetSource', raw, `must be one of ${SUBNET_SOURCES.map((s) => `"${s}"`).join(', ')}`);
  return source;
}

function resolveSubnetLen(root: Record<string, unknown>, network: Ipv4Subnet): number {
  const raw = lookupField(root, 'SubnetLen');
  if (raw === undefined || raw === null || raw === 0) {
    // Flannel's rule: four subnets of at least four addresses, the first of them unused.
    if (network.prefixLength > 28) {
      throw new ConfigError('Network', formatSubnet(network), 'network is too small. Minimum useful network prefix is /28');
    }
    // /24 per host for networks of /22 and larger, otherwise 4 subnets' worth.
    return network.prefixLength <= 22 ? 24 : network.prefixLength + 2;
  }
  if (!Number.isInteger(raw)) throw new ConfigError('SubnetLen', raw, 'must be an integer prefix length');
  const len = raw as number;
  if (len > 30) throw new ConfigError('SubnetLen', len, 'must be at most 30 so each host has usable addresses');
  if (len < network.prefixLength + 2) {
    throw new ConfigError(
      'SubnetLen',
      len,
      `must be at least ${network.prefixLength + 2} so Network /${network.prefixLength} holds four or more subnets`,
    );
  }
  return len;
}

function resolveBound(
  root: Record<string, unknown>,
  field: 'SubnetMin' | 'SubnetMax',
  network: Ipv4Subnet,
  subnetLen: number,
  fallback: number,
): number {
  const raw = lookupField(root, field);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const address = typeof raw === 'string' ? parseIpv4(raw) : undefined;
  if (!address) throw new ConfigError(field, raw, 'must be an IPv4 address');
  const value = ipv4ToNumber(address);
  if (!subnetContainsAddress(network, value)) {
    throw new ConfigError(field, raw, `is outside Network ${formatIpv4(network.address)}/${network.prefixLength}`);
  }
  if (((value & maskOf(subnetLen)) >>> 0) !== value) {
    throw new ConfigError(field, raw, `is not on a /${subnetLen} (SubnetLen) boundary`);
  }
  return value;
}

/** Flannel's default backend is vxlan; its type is matched case-insensitively ("VXLAN" works). */
function backendSection(raw: unknown): BackendSection {
  if (raw === undefined || raw === null) return { type: 'vxlan', fields: {} };
  const fields = requireObject(raw, 'Backend');
  const type = lookupField(fields, 'Type') ?? 'vxlan';
  if (typeof type !== 'string' || type === '') throw new ConfigError('Backend.Type', type, 'must be a backend name such as "vxlan"');
  return { type: type.toLowerCase(), fields };
}
