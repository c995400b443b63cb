import type { Logger } from 'winston';
import type { ActiveBackend } from '../backend/backend.js';
import type { AgentNetworkConfig, PeerData } from '../backend/registry.js';
import type { KernelPort } from '../kernel/kernelPort.js';
import type { ExternalLink } from '../net/externalInterface.js';
import type { SubnetLease } from '../subnet/subnetManager.js';
import { Reconciler } from './reconciler.js';

export type AddressFamily = 'ipv4' | 'ipv6';

/** One address family's data plane: its own reconciler, kernel view and ownership scope. */
export interface Plane {
  readonly family: AddressFamily;
  readonly reconciler: Reconciler;
  readonly deviceName: string | undefined;
}

export interface PlaneInputs {
  readonly config: AgentNetworkConfig;
  readonly backend: ActiveBackend;
  readonly lease: SubnetLease<PeerData>;
  readonly link: ExternalLink;
  readonly kernel: KernelPort;
  readonly kernelIpv6: KernelPort;
  readonly useNexthops: boolean;
  readonly logger: Logger;
  /** True while no pass can succeed (the external interface is gone): plan nothing. */
  readonly paused?: () => boolean;
}

/**
 * The planes this host runs: IPv4 unless the network disables it, IPv6 when the backend prepared
 * an IPv6 plane (the network enables IPv6 and this host has an IPv6 underlay). Each family is
 * planned, diffed and applied on its own, so an IPv6 problem never holds up IPv4 routes, and the
 * IPv4 plane is exactly what it was before dual-stack.
 */
export function buildPlanes(inputs: PlaneInputs): Plane[] {
  const { config, backend, lease, link, logger } = inputs;
  const planes: Plane[] = [];
  if (config.enableIPv4) {
    const reconciler: Reconciler = new Reconciler({
      kernel: inputs.kernel,
      plan: () => {
        if (inputs.paused?.()) return undefined;
        const peers = reconciler.admitPeers(lease.peers());
        return { desired: backend.plan(lease.ownLease().subnet, peers), peers: peers.length };
      },
      scope: { network: config.network, extLink: link.name, useNexthops: inputs.useNexthops },
      logger,
    });
    planes.push({ family: 'ipv4', deviceName: backend.deviceName, reconciler });
  }
  const ipv6 = backend.ipv6;
  if (ipv6 && config.ipv6) {
    planes.push({
      family: 'ipv6',
      deviceName: ipv6.deviceName,
      reconciler: new Reconciler({
        kernel: inputs.kernelIpv6,
        // No per-peer backoff here: PeerBackoff recognises a peer's failing batch lines by its
        // IPv4 addresses, and the IPv6 plane's lines carry none.
        plan: () => {
          const own = lease.ownLease().ipv6Subnet;
          if (!own || inputs.paused?.()) return undefined;
          const peers = lease.peers();
          return { desired: ipv6.plan(own, peers), peers: countIpv6Peers(peers) };
        },
        scope: { network: config.ipv6.network, extLink: link.name, useNexthops: false },
        logger: logger.child({ family: 'ipv6' }),
      }),
    });
  }
  return planes;
}

export function countIpv6Peers(peers: readonly { readonly ipv6?: unknown }[]): number {
  let count = 0;
  for (const peer of peers) if (peer.ipv6) count++;
  return count;
}
