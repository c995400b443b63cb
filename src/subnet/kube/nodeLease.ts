import type { V1Node } from '@kubernetes/client-node';
import type { BackendSelection, NetworkConfig, SubnetSource } from '../../config/networkConfig.js';
import { ConfigError } from '../../util/errors.js';
import { type Ipv4Subnet, formatSubnet, isUsableUnicastIpv4, parseIpv4, parseIpv4Cidr, subnetContainsSubnet, subnetsOverlap } from '../../net/ipv4.js';
import { type Ipv6Subnet, formatIpv6, formatIpv6Subnet, ipv6SubnetContainsSubnet, ipv6ToBigInt, isUsableUnicastIpv6, parseIpv6, parseIpv6Cidr } from '../../net/ipv6.js';
import { forbiddenOverlap, pickFreeSubnet, subnetInRange } from '../allocator.js';
import { type LeaseAttrs, type LeaseValidation, type LeaseValidationContext, type RawLease, validatePeerClaim } from '../lease.js';
import type { StoredLease } from '../leaseStore.js';
import type { NodeAnnotationKeys } from './annotations.js';

export function nodeName(node: V1Node): string {
  return node.metadata?.name ?? '';
}

function annotationsOf(node: V1Node): Record<string, string> {
  return node.metadata?.annotations ?? {};
}

/**
 * The subnet text a node claims: spec.podCIDR (or the first IPv4 entry of spec.podCIDRs on a
 * dual-stack node) in podCIDR mode, the node's own subnet annotation in annotations mode.
 */
export function claimedSubnetText(node: V1Node, keys: NodeAnnotationKeys, source: SubnetSource): string | undefined {
  if (source === 'annotations') return annotationsOf(node)[keys.subnet] || undefined;
  const cidrs = [node.spec?.podCIDR, ...(node.spec?.podCIDRs ?? [])].filter((c): c is string => typeof c === 'string' && c !== '');
  return cidrs.find((c) => !c.includes(':')) ?? cidrs[0];
}

/**
 * A node as a lease: the node name as key, and as value Flannel's lease attributes plus the
 * claimed subnet, assembled from the annotations without judging them (validateNodeLease does).
 * Nodes that do not say `kube-subnet-manager: "true"` are not running this network at all and
 * give undefined, so they are simply not peers rather than invalid ones.
 */
export function nodeLease(node: V1Node, keys: NodeAnnotationKeys, source: SubnetSource): RawLease | undefined {
  const annotations = annotationsOf(node);
  if (annotations[keys.kubeSubnetManager] !== 'true') return undefined;
  // A node that publishes no public-ipv6 takes part over IPv4 only, whatever podCIDRs it holds.
  const publicIPv6 = annotations[keys.publicIPv6];
  const ipv6Subnet = publicIPv6 !== undefined && source === 'podCIDR' ? claimedIpv6SubnetText(node) : undefined;
  return {
    key: nodeName(node),
    value: JSON.stringify({
      Subnet: claimedSubnetText(node, keys, source) ?? null,
      PublicIP: annotations[keys.publicIP] ?? null,
      BackendType: annotations[keys.backendType] ?? null,
      BackendData: annotationJson(annotations[keys.backendData]) ?? null,
      ...(ipv6Subnet ? { IPv6Subnet: ipv6Subnet, PublicIPv6: publicIPv6, BackendV6Data: annotationJson(annotations[keys.backendV6Data]) ?? null } : {}),
    }),
  };
}

/** An annotation holding JSON, parsed; malformed text is kept as text so validation names it. */
function annotationJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The IPv6 entry of spec.podCIDRs (or an IPv6 spec.podCIDR on an IPv6-only node). */
export function claimedIpv6SubnetText(node: V1Node): string | undefined {
  const cidrs = [node.spec?.podCIDR, ...(node.spec?.podCIDRs ?? [])].filter((c): c is string => typeof c === 'string' && c !== '');
  return cidrs.find((c) => c.includes(':'));
}

/**
 * The peer leases in a node listing, ready for LeaseStore.replaceAll: every node but `self` that
 * runs this network. When two nodes claim one subnet the older node wins, by creation time.
 */
export function nodeListLeases(nodes: readonly V1Node[], self: string, keys: NodeAnnotationKeys, source: SubnetSource, revision: number): StoredLease[] {
  const leases: StoredLease[] = [];
  for (const node of nodes) {
    if (nodeName(node) === self) continue;
    const lease = storedNodeLease(node, keys, source, revision);
    if (lease) leases.push(lease);
  }
  return leases;
}

/** nodeLease as LeaseStore keeps it, at `revision`. */
export function storedNodeLease(node: V1Node, keys: NodeAnnotationKeys, source: SubnetSource, revision: number): StoredLease | undefined {
  const lease = nodeLease(node, keys, source);
  // A literal, not a spread: see validatePeerClaim on V8 giving spread objects a map each.
  return lease ? { key: lease.key, value: lease.value, revision, created: creationOrder(node, revision) } : undefined;
}

/** Creation time orders claims; a node without one (never from a real API server) sorts by arrival. */
function creationOrder(node: V1Node, fallback: number): number {
  const created = node.metadata?.creationTimestamp;
  const time = created ? new Date(created).getTime() : NaN;
  return Number.isFinite(time) ? time : fallback;
}

/** validatePeerLease for node leases: the subnet comes from the value, everything else is shared. */
export function validateNodeLease<D>(lease: RawLease, ctx: LeaseValidationContext<D>): LeaseValidation<D> {
  let claim: { Subnet?: unknown; IPv6Subnet?: unknown };
  try {
    claim = JSON.parse(lease.value) as typeof claim;
  } catch {
    return { ok: false, reason: 'lease value is not JSON' };
  }
  let ipv6: Ipv6Subnet | undefined;
  if (ctx.config.ipv6 && claim.IPv6Subnet !== undefined) {
    const parsedIpv6 = typeof claim.IPv6Subnet === 'string' ? parseIpv6Cidr(claim.IPv6Subnet) : undefined;
    if (!parsedIpv6?.ok) return { ok: false, reason: `IPv6 subnet ${JSON.stringify(claim.IPv6Subnet)} is not an IPv6 CIDR` };
    ipv6 = parsedIpv6.subnet;
  }
  // An IPv6-only network leases no IPv4 subnet: Flannel's empty one stands in for it.
  if (!ctx.config.enableIPv4) return validatePeerClaim(lease.key, { address: 0, prefixLength: 0 }, lease.value, ctx, ipv6);
  const subnetText = claim.Subnet;
  if (typeof subnetText !== 'string') return { ok: false, reason: 'node has no subnet (podCIDR or subnet annotation)' };
  const parsed = parseIpv4Cidr(subnetText);
  if (!parsed.ok) return { ok: false, reason: `subnet ${JSON.stringify(subnetText)} ${parsed.reason}` };
  return validatePeerClaim(lease.key, parsed.subnet, lease.value, ctx, ipv6);
}

/**
 * The operator's public-ip-overwrite, when set: peers then reach this node there (a NAT address,
 * say) instead of at the detected address. A malformed value is an error, not silently ignored.
 */
export function publicIpOverwrite(node: V1Node, keys: NodeAnnotationKeys): string | undefined {
  const value = annotationsOf(node)[keys.publicIPOverwrite];
  if (value === undefined || value === '') return undefined;
  const address = parseIpv4(value);
  if (!address || !isUsableUnicastIpv4(address)) {
    throw new ConfigError(`node ${nodeName(node)} annotation ${keys.publicIPOverwrite}`, value, 'must be a unicast IPv4 address');
  }
  return address.toString();
}

/**
 * The IPv6 counterpart of publicIpOverwrite: public-ipv6-overwrite, when an operator set it.
 */
export function publicIpv6Overwrite(node: V1Node, keys: NodeAnnotationKeys): string | undefined {
  const value = annotationsOf(node)[keys.publicIPv6Overwrite];
  if (value === undefined || value === '') return undefined;
  const address = parseIpv6(value);
  if (!address || !isUsableUnicastIpv6(address)) {
    throw new ConfigError(`node ${nodeName(node)} annotation ${keys.publicIPv6Overwrite}`, value, 'must be a unicast IPv6 address');
  }
  return formatIpv6(ipv6ToBigInt(address));
}

/**
 * The annotations this host publishes, formatted exactly as Flannel writes them; the IPv6 ones
 * (backend-v6-data, public-ipv6) when this host leases an IPv6 subnet.
 */
export function desiredAnnotations(node: V1Node, keys: NodeAnnotationKeys, attrs: LeaseAttrs): Record<string, string> {
  return {
    [keys.kubeSubnetManager]: 'true',
    [keys.backendType]: attrs.backendType,
    [keys.backendData]: JSON.stringify(attrs.backendData ?? null),
    [keys.publicIP]: publicIpOverwrite(node, keys) ?? attrs.publicIP,
    ...(attrs.publicIPv6 !== undefined
      ? {
          [keys.backendV6Data]: JSON.stringify(attrs.backendV6Data ?? null),
          [keys.publicIPv6]: publicIpv6Overwrite(node, keys) ?? attrs.publicIPv6,
        }
      : {}),
  };
}

/** Only the annotations that differ, so an unchanged node is never written (and never wakes every watcher). */
export function annotationChanges(node: V1Node, desired: Record<string, string>): Record<string, string> | undefined {
  const current = annotationsOf(node);
  const changes = Object.fromEntries(Object.entries(desired).filter(([key, value]) => current[key] !== value));
  return Object.keys(changes).length > 0 ? changes : undefined;
}

export type PodCidrResult = { readonly kind: 'ok'; readonly subnet: Ipv4Subnet; readonly ipv6Subnet?: Ipv6Subnet } | { readonly kind: 'waiting' };

/**
 * This node's own subnet in podCIDR mode. Empty means the controller manager has not assigned one
 * yet (wait); anything unparsable or outside Network is an operator error that waiting cannot fix.
 */
export function ownPodCidr(
  node: V1Node,
  keys: NodeAnnotationKeys,
  config: NetworkConfig<BackendSelection>,
  forbidden: readonly Ipv4Subnet[] = [],
  wantIpv6 = false,
): PodCidrResult {
  const ipv6 = wantIpv6 ? ownIpv6PodCidr(node, config) : undefined;
  if (ipv6?.kind === 'waiting') return ipv6;
  const ipv6Subnet = ipv6?.subnet;
  if (!config.enableIPv4) return { kind: 'ok', subnet: { address: 0, prefixLength: 0 }, ...(ipv6Subnet ? { ipv6Subnet } : {}) };
  const text = claimedSubnetText(node, keys, 'podCIDR');
  if (!text) return { kind: 'waiting' };
  const field = `node ${nodeName(node)} spec.podCIDR`;
  const parsed = parseIpv4Cidr(text);
  if (!parsed.ok) throw new ConfigError(field, text, parsed.reason);
  if (!subnetContainsSubnet(config.network, parsed.subnet)) {
    throw new ConfigError(field, text, `is outside Network ${formatSubnet(config.network)} of --net-config-path; kube-controller-manager's --cluster-cidr and net-conf.json must agree`);
  }
  const blocked = forbiddenOverlap(parsed.subnet, forbidden);
  if (blocked) {
    throw new ConfigError(field, text, `overlaps the underlay ${formatSubnet(blocked)}, so every peer would reject it; kube-controller-manager's --cluster-cidr must not include the node network`);
  }
  return { kind: 'ok', subnet: parsed.subnet, ...(ipv6Subnet ? { ipv6Subnet } : {}) };
}

/** This node's IPv6 podCIDR: waiting until assigned; outside IPv6Network is an operator error. */
function ownIpv6PodCidr(node: V1Node, config: NetworkConfig<BackendSelection>): { kind: 'ok'; subnet: Ipv6Subnet } | { kind: 'waiting' } {
  const text = claimedIpv6SubnetText(node);
  if (!text || !config.ipv6) return { kind: 'waiting' };
  const field = `node ${nodeName(node)} spec.podCIDRs`;
  const parsed = parseIpv6Cidr(text);
  if (!parsed.ok) throw new ConfigError(field, text, parsed.reason);
  if (!ipv6SubnetContainsSubnet(config.ipv6.network, parsed.subnet)) {
    throw new ConfigError(field, text, `is outside IPv6Network ${formatIpv6Subnet(config.ipv6.network)} of --net-config-path; kube-controller-manager's --cluster-cidr and net-conf.json must agree`);
  }
  return { kind: 'ok', subnet: parsed.subnet };
}

export interface SubnetClaim {
  readonly node: string;
  readonly subnet: Ipv4Subnet;
}

/** Every other node's well-formed subnet annotation: the claims an allocation must avoid. */
export function otherClaims(nodes: readonly V1Node[], self: string, keys: NodeAnnotationKeys): SubnetClaim[] {
  const claims: SubnetClaim[] = [];
  for (const node of nodes) {
    const name = nodeName(node);
    if (name === self) continue;
    const text = annotationsOf(node)[keys.subnet];
    const parsed = text ? parseIpv4Cidr(text) : undefined;
    if (parsed?.ok) claims.push({ node: name, subnet: parsed.subnet });
  }
  return claims;
}

/**
 * Annotations mode: the subnet this node should claim. Its current claim is kept when it is still
 * valid and nobody else holds it (restarts keep their subnet); then the subnet.env one; otherwise
 * a random free one, so racing nodes rarely collide in the first place.
 */
export function chooseSubnetClaim(
  config: NetworkConfig<BackendSelection>,
  others: readonly SubnetClaim[],
  candidates: readonly (Ipv4Subnet | undefined)[],
  random: () => number = Math.random,
  forbidden: readonly Ipv4Subnet[] = [],
): Ipv4Subnet | undefined {
  const range = { min: config.subnetMin, max: config.subnetMax, subnetLen: config.subnetLen };
  // The underlay is as good as taken: every peer would reject a claim there.
  const taken = [...others.map((c) => c.subnet), ...forbidden];
  const free = (s: Ipv4Subnet): boolean => subnetInRange(range, s) && !taken.some((t) => subnetsOverlap(t, s));
  return candidates.find((c): c is Ipv4Subnet => c !== undefined && free(c)) ?? pickFreeSubnet(range, taken, random);
}

/** The subnet claim on a node in annotations mode, if well-formed. */
export function ownSubnetClaim(node: V1Node, keys: NodeAnnotationKeys): Ipv4Subnet | undefined {
  const text = annotationsOf(node)[keys.subnet];
  const parsed = text ? parseIpv4Cidr(text) : undefined;
  return parsed?.ok ? parsed.subnet : undefined;
}
