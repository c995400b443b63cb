import ipaddr from 'ipaddr.js';
import type { BackendSelection, NetworkConfig } from '../config/networkConfig.js';
import { isPlainObject, lookupField } from '../util/jsonFields.js';
import {
  type Ipv4Subnet,
  formatSubnet,
  ipv4ToNumber,
  isUsableUnicastIpv4,
  lastAddress,
  parseIpv4,
  subnetContainsAddress,
  subnetContainsSubnet,
  subnetsEqual,
  subnetsOverlap,
} from '../net/ipv4.js';
import type { Ipv6Subnet } from '../net/ipv6.js';
import { type PeerIpv6, validateIpv6Claim } from './leaseIpv6.js';
import { parseLeaseKey, parseSubnetKey } from './subnetKey.js';

/** What a host publishes about itself; serialised exactly as Flannel's LeaseAttrs. */
export interface LeaseAttrs {
  readonly publicIP: string;
  readonly backendType: string;
  /** Backend-specific, e.g. {"VNI":1,"VtepMAC":"…"} for vxlan; null for host-gw. */
  readonly backendData: unknown;
  /** Set when the lease carries an IPv6 subnet. */
  readonly publicIPv6?: string;
  /** The IPv6 device's BackendData (vxlan: its own VtepMAC); absent for host-gw, as in Flannel. */
  readonly backendV6Data?: unknown;
}

/** A lease as read from the datastore, before any safety check. */
export interface RawLease {
  readonly key: string;
  readonly value: string;
}

/**
 * A peer lease that passed validation: every field is typed and safe to hand to the kernel.
 * `data` is the backend's own reading of BackendData (a tagged union in the backend layer); the
 * datastore layer carries it without knowing what it holds.
 */
export interface PeerLease<D = unknown> {
  readonly key: string;
  /**
   * The IPv4 part. In a network with IPv4 disabled these hold Flannel's zero values (0.0.0.0/0,
   * 0.0.0.0) and `data` is the IPv6 data; nothing IPv4 is planned there.
   */
  readonly subnet: Ipv4Subnet;
  readonly publicIP: string;
  readonly backendType: string;
  readonly data: D;
  /** Creation order in the datastore (etcd create_revision, Node creation time): larger is newer. */
  readonly created?: number;
  /** The IPv6 part, when the network has IPv6 enabled and the peer leased an IPv6 subnet. */
  readonly ipv6?: PeerIpv6<D> | undefined;
}

export type DecodeResult<D> = { readonly ok: true; readonly data: D } | { readonly ok: false; readonly reason: string };

/** The backend's check of a peer's BackendData, handed to the datastore layer by the agent. */
export type PeerDataDecoder<D> = (backendData: unknown) => DecodeResult<D>;

export type LeaseValidation<D> = { ok: true; lease: PeerLease<D> } | { ok: false; reason: string };

/** What this host knows of its underlay, against which a peer's PublicIP is checked. */
export interface UnderlayFacts {
  /** The external interface's subnet: its network and broadcast addresses are no host. */
  readonly subnet: Ipv4Subnet;
  /** This host's own addresses (PublicIP, interface address): a peer there would be ourselves. */
  readonly ownAddresses: readonly string[];
}

export interface LeaseValidationContext<D> {
  readonly config: NetworkConfig<BackendSelection>;
  readonly decodePeerData: PeerDataDecoder<D>;
  /** This host's own subnet: a peer claiming it (or overlapping it) would hijack our traffic. */
  readonly ownSubnet?: Ipv4Subnet;
  readonly ownIpv6Subnet?: Ipv6Subnet;
  /** Subnets no peer may claim, such as the underlay's own. */
  readonly forbidden?: readonly Ipv4Subnet[];
  readonly forbiddenIpv6?: readonly Ipv6Subnet[];
  /** The underlay as this host sees it; without it only the address class of PublicIP is checked. */
  readonly underlay?: UnderlayFacts;
  /**
   * Node podCIDRs are sized by kube-controller-manager (--node-cidr-mask-size), not by SubnetLen,
   * so in that mode any length inside Network is a valid claim.
   */
  readonly anySubnetLength?: boolean;
}

export function serializeLeaseAttrs(attrs: LeaseAttrs): string {
  return JSON.stringify({
    PublicIP: attrs.publicIP,
    PublicIPv6: attrs.publicIPv6 ?? null,
    BackendType: attrs.backendType,
    BackendData: attrs.backendData ?? null,
    ...(attrs.publicIPv6 !== undefined && attrs.backendV6Data !== undefined && attrs.backendV6Data !== null ? { BackendV6Data: attrs.backendV6Data } : {}),
  });
}

/** Reads the attributes of any lease value; undefined when it is not even shaped like one. */
export function parseLeaseAttrs(value: string): LeaseAttrs | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isPlainObject(raw)) return undefined;
  const publicIP = lookupField(raw, 'PublicIP');
  const backendType = lookupField(raw, 'BackendType');
  if (typeof publicIP !== 'string' || typeof backendType !== 'string') return undefined;
  const publicIPv6 = lookupField(raw, 'PublicIPv6');
  const backendV6Data = lookupField(raw, 'BackendV6Data');
  return {
    publicIP,
    backendType,
    backendData: lookupField(raw, 'BackendData') ?? null,
    ...(typeof publicIPv6 === 'string' ? { publicIPv6 } : {}),
    ...(backendV6Data !== undefined ? { backendV6Data } : {}),
  };
}

/**
 * Decides whether a peer lease is safe to route. Datastore content is untrusted: a lease that
 * claims our subnet, lies outside Network, or names a broadcast endpoint would let one bad record
 * black-hole or hijack traffic, so anything not provably well-formed is rejected with a reason.
 */
export function validatePeerLease<D>(raw: RawLease, ctx: LeaseValidationContext<D>): LeaseValidation<D> {
  const subnets = parseLeaseKey(raw.key);
  if (!subnets) return { ok: false, reason: `key ${JSON.stringify(raw.key)} is not a subnet key like 10.5.52.0-24` };
  return validatePeerClaim(raw.key, subnets.ipv4, raw.value, ctx, subnets.ipv6);
}

/**
 * The checks every datastore shares once the claimed subnet is known: `key` names the claim in
 * logs, `value` carries Flannel's lease attributes (PublicIP, BackendType, BackendData).
 */
export function validatePeerClaim<D>(
  key: string,
  subnet: Ipv4Subnet,
  value: string,
  ctx: LeaseValidationContext<D>,
  ipv6Subnet?: Ipv6Subnet,
): LeaseValidation<D> {
  const { config } = ctx;
  if (!config.enableIPv4) return validateIpv6OnlyClaim(key, subnet, value, ctx, ipv6Subnet);
  if (!subnetContainsSubnet(config.network, subnet)) {
    return { ok: false, reason: `subnet ${formatSubnet(subnet)} is outside Network ${formatSubnet(config.network)}` };
  }
  if (subnet.address === 0) {
    // Its nexthop object would need ID 0, which the kernel reads as "pick one for me".
    return { ok: false, reason: `subnet ${formatSubnet(subnet)} starts at 0.0.0.0 and cannot be routed` };
  }
  if (!ctx.anySubnetLength && subnet.prefixLength !== config.subnetLen) {
    return { ok: false, reason: `subnet ${formatSubnet(subnet)} is not a /${config.subnetLen} (SubnetLen)` };
  }
  if (ctx.ownSubnet && (subnetsEqual(subnet, ctx.ownSubnet) || subnetsOverlap(subnet, ctx.ownSubnet))) {
    return { ok: false, reason: `subnet ${formatSubnet(subnet)} is this host's own subnet` };
  }
  for (const forbidden of ctx.forbidden ?? []) {
    if (subnetsOverlap(subnet, forbidden)) {
      return { ok: false, reason: `subnet ${formatSubnet(subnet)} overlaps protected ${formatSubnet(forbidden)}` };
    }
  }
  const attrs = parseLeaseAttrs(value);
  if (!attrs) return { ok: false, reason: 'value is not a lease JSON object with PublicIP and BackendType' };
  const publicIP = parseIpv4(attrs.publicIP);
  if (!publicIP || !isUsableUnicastIpv4(publicIP)) {
    return { ok: false, reason: `PublicIP ${JSON.stringify(attrs.publicIP)} is not a unicast IPv4 address` };
  }
  const unroutable = unusablePeerAddress(publicIP, ctx);
  if (unroutable) return { ok: false, reason: `PublicIP ${publicIP.toString()} ${unroutable}` };
  if (attrs.backendType !== config.backend.type) {
    return {
      ok: false,
      reason: `BackendType ${JSON.stringify(attrs.backendType)} does not match ours (${config.backend.type})`,
    };
  }
  const decoded = ctx.decodePeerData(attrs.backendData);
  if (!decoded.ok) return { ok: false, reason: decoded.reason };
  const ipv6 = peerIpv6(ipv6Subnet, attrs, ctx);
  if (!ipv6.ok) return ipv6;
  // A literal, not a spread of shared fields: V8 (Node 20) gives every object built by spreading
  // and then adding keys a map of its own, about 300 bytes per peer and 3 MB at 10000 peers.
  return {
    ok: true,
    lease: { key, subnet, publicIP: publicIP.toString(), backendType: attrs.backendType, data: decoded.data, ipv6: ipv6.data },
  };
}

/**
 * The IPv6 part of a lease in a network with IPv6 enabled. A peer without one (an IPv4-only
 * host) is still an IPv4 peer; a malformed one rejects the whole lease, as any bad field does.
 */
function peerIpv6<D>(subnet: Ipv6Subnet | undefined, attrs: LeaseAttrs, ctx: LeaseValidationContext<D>): DecodeResult<PeerIpv6<D> | undefined> {
  const network = ctx.config.ipv6;
  if (!network || !subnet) return { ok: true, data: undefined };
  return validateIpv6Claim(subnet, attrs.publicIPv6, attrs.backendV6Data, {
    network,
    decodePeerData: ctx.decodePeerData,
    ...(ctx.ownIpv6Subnet ? { ownSubnet: ctx.ownIpv6Subnet } : {}),
    ...(ctx.forbiddenIpv6 ? { forbidden: ctx.forbiddenIpv6 } : {}),
    ...(ctx.anySubnetLength ? { anySubnetLength: true } : {}),
  });
}

/**
 * IPv6-only networks: Flannel writes the empty IPv4 net ("0.0.0.0-0&…") and PublicIP 0.0.0.0;
 * anything else in the IPv4 part is not a lease of this network.
 */
function validateIpv6OnlyClaim<D>(key: string, subnet: Ipv4Subnet, value: string, ctx: LeaseValidationContext<D>, ipv6Subnet: Ipv6Subnet | undefined): LeaseValidation<D> {
  if (subnet.address !== 0 || subnet.prefixLength !== 0) {
    return { ok: false, reason: `subnet ${formatSubnet(subnet)} is IPv4, but this network has EnableIPv4 false` };
  }
  if (!ipv6Subnet) return { ok: false, reason: 'lease has no IPv6 subnet, which an IPv6-only network needs' };
  const attrs = parseLeaseAttrs(value);
  if (!attrs) return { ok: false, reason: 'value is not a lease JSON object with PublicIP and BackendType' };
  if (attrs.backendType !== ctx.config.backend.type) {
    return { ok: false, reason: `BackendType ${JSON.stringify(attrs.backendType)} does not match ours (${ctx.config.backend.type})` };
  }
  const ipv6 = peerIpv6(ipv6Subnet, attrs, ctx);
  if (!ipv6.ok) return ipv6;
  const claim = ipv6.data!;
  return { ok: true, lease: { key, subnet, publicIP: '0.0.0.0', backendType: attrs.backendType, data: claim.data, ipv6: claim } };
}

/**
 * Why a unicast PublicIP still cannot be a peer's tunnel endpoint or gateway, or undefined when it
 * can. The kernel would refuse such a nexthop on every pass (or, for vxlan, send the peer's
 * traffic into the overlay or to every host on the segment).
 */
function unusablePeerAddress<D>(address: ipaddr.IPv4, ctx: LeaseValidationContext<D>): string | undefined {
  const value = ipv4ToNumber(address);
  if (subnetContainsAddress(ctx.config.network, value)) return `is inside the pod network ${formatSubnet(ctx.config.network)}`;
  const underlay = ctx.underlay;
  if (!underlay) return undefined;
  if (underlay.ownAddresses.some((own) => parseIpv4(own)?.toString() === address.toString())) return "is this host's own address";
  // /31 and /32 links have no network or broadcast address (RFC 3021).
  if (underlay.subnet.prefixLength <= 30) {
    if (value === underlay.subnet.address) return `is the network address of the underlay ${formatSubnet(underlay.subnet)}`;
    if (value === lastAddress(underlay.subnet)) return `is the broadcast address of the underlay ${formatSubnet(underlay.subnet)}`;
  }
  return undefined;
}

/** True when the lease value names this address as its PublicIP, the test Flannel uses to find "our" lease. */
export function leaseNamesPublicIP(value: string, publicIP: string): boolean {
  const attrs = parseLeaseAttrs(value);
  if (!attrs) return false;
  const parsed = parseIpv4(attrs.publicIP);
  return parsed !== undefined && ipaddr.IPv4.parse(publicIP).toString() === parsed.toString();
}

/**
 * The subnet of a lease that belongs to the host at `publicIP` under `config`: it names that
 * PublicIP and fits the Network with the configured length. Reservations may sit outside
 * [SubnetMin, SubnetMax], so the range is not checked. Undefined for anyone else's lease.
 */
export function ownedSubnet(key: string, value: string, config: NetworkConfig<BackendSelection>, publicIP: string): Ipv4Subnet | undefined {
  const subnet = parseSubnetKey(key);
  if (!subnet || subnet.prefixLength !== config.subnetLen || !subnetContainsSubnet(config.network, subnet)) return undefined;
  // The substring test spares a JSON parse of every other host's lease.
  return value.includes(publicIP) && leaseNamesPublicIP(value, publicIP) ? subnet : undefined;
}
