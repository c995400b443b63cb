import { ConfigError } from '../errors.js';
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
import { lookupField, requireObject } from './jsonFields.js';

export type BackendType = 'vxlan' | 'host-gw';

export interface VxlanBackendConfig {
  readonly type: 'vxlan';
  readonly vni: number;
  /** UDP port; 0 means the kernel default (8472), as in Flannel. */
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
  /**
   * The outer (underlay) MTU, as in Flannel: the device and the pods get this minus the VXLAN
   * overhead. 0 means the external interface's MTU.
   */
  readonly mtu: number;
}

export interface HostGwBackendConfig {
  readonly type: 'host-gw';
}

export type BackendConfig = VxlanBackendConfig | HostGwBackendConfig;

export interface NetworkConfig {
  readonly network: Ipv4Subnet;
  readonly subnetLen: number;
  readonly subnetMin: number;
  readonly subnetMax: number;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly ipv6Network?: string;
  readonly backend: BackendConfig;
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

export const VXLAN_DEFAULT_VNI = 1;
export const VXLAN_KERNEL_DEFAULT_PORT = 8472;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;
/** The smallest MTU an IPv4 host must accept (RFC 791); the outer MTU needs the overhead on top. */
const MIN_OUTER_MTU = 576 + VXLAN_OVERHEAD;

/**
 * Parses the network config JSON exactly as Flannel reads it (Go's encoding/json: key names match
 * case-insensitively, unknown keys are ignored) and applies Flannel's defaults. Every rejection
 * names the field and the value.
 */
export function parseNetworkConfig(json: string, source = 'network config'): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(source, json.slice(0, 80), `is not valid JSON: ${(err as Error).message}`);
  }
  return validateNetworkConfig(raw);
}

export function validateNetworkConfig(raw: unknown): NetworkConfig {
  const root = requireObject(raw, 'network config');
  const enableIPv4 = optionalBoolean(root, 'EnableIPv4', true);
  const enableIPv6 = optionalBoolean(root, 'EnableIPv6', false);
  if (!enableIPv4) {
    throw new ConfigError('EnableIPv4', false, 'IPv6-only networks are not supported by weft yet');
  }
  if (enableIPv6) {
    throw new ConfigError('EnableIPv6', true, 'dual-stack networks are not supported by weft yet');
  }
  const ipv6Network = lookupField(root, 'IPv6Network');
  if (ipv6Network !== undefined && ipv6Network !== null && ipv6Network !== '' && typeof ipv6Network !== 'string') {
    throw new ConfigError('IPv6Network', ipv6Network, 'must be a string in CIDR notation');
  }

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

  return {
    network,
    subnetLen,
    subnetMin,
    subnetMax,
    enableIPv4,
    enableIPv6,
    ...(typeof ipv6Network === 'string' && ipv6Network !== '' ? { ipv6Network } : {}),
    backend: parseBackend(lookupField(root, 'Backend')),
    enableNFTables: optionalBoolean(root, 'EnableNFTables', false),
    subnetSource: parseSubnetSource(lookupField(root, 'SubnetSource')),
  };
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

function parseBackend(raw: unknown): BackendConfig {
  if (raw === undefined || raw === null) return vxlanDefaults();
  const backend = requireObject(raw, 'Backend');
  const typeRaw = lookupField(backend, 'Type') ?? 'vxlan';
  // Flannel looks backends up by the lower-cased name, so "VXLAN" and "Host-GW" work there too.
  const type = typeof typeRaw === 'string' ? typeRaw.toLowerCase() : typeRaw;
  if (type === 'vxlan') {
    return {
      type: 'vxlan',
      vni: integerInRange(backend, 'VNI', VXLAN_DEFAULT_VNI, 1, 16_777_215),
      port: integerInRange(backend, 'Port', 0, 0, 65_535),
      gbp: optionalBoolean(backend, 'GBP', false, 'Backend.'),
      learning: optionalBoolean(backend, 'Learning', false, 'Backend.'),
      directRouting: optionalBoolean(backend, 'DirectRouting', false, 'Backend.'),
      mtu: integerInRange(
        backend,
        'MTU',
        0,
        0,
        65_535,
        (v) => v === 0 || v >= MIN_OUTER_MTU,
        `must be 0 (the external interface's MTU) or at least ${MIN_OUTER_MTU}: it is the outer MTU, and the device gets ${VXLAN_OVERHEAD} less`,
      ),
    };
  }
  if (type === 'host-gw') return { type: 'host-gw' };
  throw new ConfigError('Backend.Type', typeRaw, 'must be "vxlan" or "host-gw"');
}

function vxlanDefaults(): VxlanBackendConfig {
  return { type: 'vxlan', vni: VXLAN_DEFAULT_VNI, port: 0, gbp: false, learning: false, directRouting: false, mtu: 0 };
}

function optionalBoolean(obj: Record<string, unknown>, field: string, fallback: boolean, path = ''): boolean {
  const raw = lookupField(obj, field);
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== 'boolean') throw new ConfigError(`${path}${field}`, raw, 'must be true or false');
  return raw;
}

function integerInRange(
  obj: Record<string, unknown>,
  field: string,
  fallback: number,
  min: number,
  max: number,
  extra?: (value: number) => boolean,
  extraReason?: string,
): number {
  const raw = lookupField(obj, field);
  if (raw === undefined || raw === null) return fallback;
  if (!Number.isInteger(raw) || (raw as number) < min || (raw as number) > max) {
    throw new ConfigError(`Backend.${field}`, raw, `must be an integer in ${min}..${max}`);
  }
  if (extra && !extra(raw as number)) throw new ConfigError(`Backend.${field}`, raw, extraReason ?? 'is invalid');
  return raw as number;
}

/** The kernel's VXLAN port when the config leaves it at 0. */
export function effectiveVxlanPort(backend: VxlanBackendConfig): number {
  return backend.port === 0 ? VXLAN_KERNEL_DEFAULT_PORT : backend.port;
}

/**
 * MTU of the vxlan device and of the pods (subnet.env). Backend.MTU is the outer MTU, as in
 * Flannel's vxlan backend, so both get it minus the encapsulation.
 */
export function podMtu(backend: BackendConfig, externalMtu: number): number {
  if (backend.type === 'host-gw') return externalMtu;
  return (backend.mtu > 0 ? backend.mtu : externalMtu) - VXLAN_OVERHEAD;
}
