import type { ExternalLink } from '../../net/externalInterface.js';
import { type Ipv4Subnet, formatIpv4, formatSubnet } from '../../net/ipv4.js';
import type { PeerLease } from '../../subnet/lease.js';
import type { Secret } from '../../util/secret.js';
import { type DesiredRoute, type DesiredState, type DesiredWireguardPeer, type SkippedPeer, holdsAddress, peerRoute } from '../desiredState.js';
import type { PeerData } from '../registry.js';
import { WIREGUARD_DEVICE, type WireguardBackendConfig, wireguardPodMtu } from './config.js';

export interface WireguardPlanInput {
  readonly config: WireguardBackendConfig;
  readonly extLink: ExternalLink;
  /** The pod network: no peer's endpoint may lie inside it, or the tunnel would carry itself. */
  readonly network: Ipv4Subnet;
  readonly privateKey: Secret | undefined;
  readonly publicKey: string;
  readonly ownSubnet: Ipv4Subnet;
  readonly peers: readonly PeerLease<PeerData>[];
}

/** One peer's claim in one family, as the family's plan reads it from the lease. */
export interface WireguardCandidate {
  readonly key: string;
  readonly data: PeerData;
  /** The endpoint's host part as `wg` writes it: a.b.c.d, or [IPv6]. */
  readonly endpointHost: string;
  /** Why the endpoint cannot be used (it lies inside the pod network), if it cannot. */
  readonly endpointProblem?: string;
  readonly allowedIp: string;
  readonly route: DesiredRoute;
}

/** The device of one family: its name, port and address, and what the plan of that family found. */
export interface WireguardFamilyPlan {
  readonly config: WireguardBackendConfig;
  readonly extLink: ExternalLink;
  readonly privateKey: Secret | undefined;
  readonly publicKey: string;
  readonly name: string;
  readonly listenPort: number;
  readonly address: string;
  /** "IPv6 " for the IPv6 plane, so a skip says which half of the lease it is about. */
  readonly label: string;
  readonly candidates: readonly WireguardCandidate[];
}

/**
 * The kernel state of one family's WireGuard device: per peer a WireGuard peer (its key, endpoint
 * and subnet as allowed IPs) and an onlink route for its subnet via the device. A key can belong
 * to one host only: a second lease with the same key, or one with ours, is skipped, since
 * WireGuard would move the peer's allowed IPs to whichever came last. Pure, like every plan.
 */
export function planWireguardFamily(input: WireguardFamilyPlan): DesiredState {
  const { config, label } = input;
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];
  const peers: DesiredWireguardPeer[] = [];
  const keyOwner = new Map<string, string>();
  for (const candidate of input.candidates) {
    const { key, data } = candidate;
    if (data.backend !== 'wireguard') {
      skipped.push({ key, reason: `lease carries ${data.backend} ${label}data, not wireguard's` });
      continue;
    }
    const { publicKey } = data;
    if (publicKey === input.publicKey) {
      skipped.push({ key, reason: `${label}PublicKey ${publicKey} is this host's own` });
      continue;
    }
    const owner = keyOwner.get(publicKey);
    if (owner) {
      skipped.push({ key, reason: `${label}PublicKey ${publicKey} is already used by ${owner}` });
      continue;
    }
    if (candidate.endpointProblem) {
      skipped.push({ key, reason: candidate.endpointProblem });
      continue;
    }
    keyOwner.set(publicKey, key);
    // A lease without Port comes from a Flannel that had every host on the configured port.
    peers.push({ publicKey, endpoint: `${candidate.endpointHost}:${data.port ?? input.listenPort}`, allowedIps: [candidate.allowedIp] });
    routes.push(candidate.route);
  }
  return {
    wireguard: [
      {
        name: input.name,
        mtu: wireguardPodMtu(config, input.extLink.mtu),
        address: input.address,
        listenPort: input.listenPort,
        ...(input.privateKey ? { privateKey: input.privateKey } : {}),
        publicKey: input.publicKey,
        ...(config.presharedKey ? { presharedKey: config.presharedKey } : {}),
        keepalive: config.persistentKeepaliveInterval,
        peers,
      },
    ],
    routes,
    neighs: [],
    fdb: [],
    skipped,
  };
}

/**
 * wireguard's IPv4 plane: flannel-wg on ListenPort with this lease's network address, a peer per
 * IPv4 lease at PublicIP:Port. The IPv6 plane (planIpv6.ts) is the same over flannel-wg-v6.
 */
export function planWireguard(input: WireguardPlanInput): DesiredState {
  const { network } = input;
  return planWireguardFamily({
    ...input,
    name: WIREGUARD_DEVICE,
    listenPort: input.config.listenPort,
    address: `${formatIpv4(input.ownSubnet.address)}/32`,
    label: '',
    candidates: input.peers.map((peer) => ({
      key: peer.key,
      data: peer.data,
      endpointHost: peer.publicIP,
      ...(holdsAddress(network, peer.publicIP) ? { endpointProblem: `endpoint ${peer.publicIP} lies inside the pod network ${formatSubnet(network)}` } : {}),
      allowedIp: formatSubnet(peer.subnet),
      route: peerRoute(peer.subnet, formatIpv4(peer.subnet.address), WIREGUARD_DEVICE, true),
    })),
  });
}
