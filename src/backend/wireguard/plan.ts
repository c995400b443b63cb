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

/**
 * The kernel state wireguard needs: the device flannel-wg (this host's key and port, the lease's
 * network address), per peer a WireGuard peer (its key, PublicIP:Port, its subnet as allowed
 * IPs) and an onlink route for its subnet via the device. A key can belong to one host only: a
 * second lease with the same key, or one with ours, is skipped, since WireGuard would move the
 * peer's allowed IPs to whichever came last. Pure, like every plan.
 *
 * An IPv6 network would add a second device, flannel-wg-v6 on ListenPortV6 in separate mode, from
 * the leases' BackendV6Data: DesiredState.wireguard is a list for that reason.
 */
export function planWireguard(input: WireguardPlanInput): DesiredState {
  const { config, network } = input;
  const routes: DesiredRoute[] = [];
  const skipped: SkippedPeer[] = [];
  const peers: DesiredWireguardPeer[] = [];
  const keyOwner = new Map<string, string>();
  for (const peer of input.peers) {
    if (peer.data.backend !== 'wireguard') {
      skipped.push({ key: peer.key, reason: `lease carries ${peer.data.backend} data, not wireguard's` });
      continue;
    }
    const { publicKey, port } = peer.data;
    if (publicKey === input.publicKey) {
      skipped.push({ key: peer.key, reason: `PublicKey ${publicKey} is this host's own` });
      continue;
    }
    const owner = keyOwner.get(publicKey);
    if (owner) {
      skipped.push({ key: peer.key, reason: `PublicKey ${publicKey} is already used by ${owner}` });
      continue;
    }
    if (holdsAddress(network, peer.publicIP)) {
      skipped.push({ key: peer.key, reason: `endpoint ${peer.publicIP} lies inside the pod network ${formatSubnet(network)}` });
      continue;
    }
    keyOwner.set(publicKey, peer.key);
    peers.push({ publicKey, endpoint: `${peer.publicIP}:${port}`, allowedIps: [formatSubnet(peer.subnet)] });
    routes.push(peerRoute(peer.subnet, formatIpv4(peer.subnet.address), WIREGUARD_DEVICE, true));
  }
  return {
    wireguard: [
      {
        name: WIREGUARD_DEVICE,
        mtu: wireguardPodMtu(config, input.extLink.mtu),
        address: `${formatIpv4(input.ownSubnet.address)}/32`,
        listenPort: config.listenPort,
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
