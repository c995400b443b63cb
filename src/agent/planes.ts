import type { Logger } from 'winston';
import type { ActiveBackend, PeerGrouping } from '../backend/backend.js';
import { DesiredIndex } from '../backend/desiredIndex.js';
import type { DesiredState } from '../backend/desiredState.js';
import type { OwnershipScope } from '../backend/diff.js';
import type { AgentNetworkConfig, PeerData } from '../backend/registry.js';
import type { KernelPort } from '../kernel/kernelPort.js';
import type { ExternalLink } from '../net/externalInterface.js';
import type { Ipv6Subnet } from '../net/ipv6.js';
import type { PeerLease } from '../subnet/lease.js';
import type { SubnetLease } from '../subnet/subnetManager.js';
import { accountedFor } from './kernelEcho.js';
import { Reconciler, type ReconcilerOptions } from './reconciler.js';

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
      logger,
      ...planning({
        family: 'ipv4',
        lease,
        paused: inputs.paused,
        deviceName: backend.deviceName,
        scope: { network: config.network, extLink: link.name, useNexthops: inputs.useNexthops },
        plan: (peers) => backend.plan(lease.ownLease().subnet, peers),
        groupOf: backend.groupOf,
        counts: () => true,
        admit: (peers) => reconciler.admitPeers(peers),
        ready: () => true,
      }),
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
        logger: logger.child({ family: 'ipv6' }),
        ...planning({
          family: 'ipv6',
          lease,
          paused: inputs.paused,
          deviceName: ipv6.deviceName,
          scope: { network: config.ipv6.network, extLink: link.name, useNexthops: false },
          plan: (peers) => ipv6.plan(ownIpv6Subnet(lease), peers),
          groupOf: ipv6.groupOf,
          counts: hasIpv6Lease,
          // No per-peer backoff here: PeerBackoff recognises a peer's failing batch lines by its
          // IPv4 addresses, and the IPv6 plane's lines carry none.
          admit: (peers) => peers,
          ready: () => lease.ownLease().ipv6Subnet !== undefined,
        }),
      }),
    });
  }
  return planes;
}

interface PlanningInputs {
  readonly family: AddressFamily;
  readonly lease: SubnetLease<PeerData>;
  readonly paused: (() => boolean) | undefined;
  readonly deviceName: string | undefined;
  readonly scope: OwnershipScope;
  readonly plan: (peers: readonly PeerLease<PeerData>[]) => DesiredState;
  readonly groupOf: PeerGrouping | undefined;
  readonly counts: (peer: PeerLease<PeerData>) => boolean;
  /** The peers a full pass may plan (see Reconciler.admitPeers). */
  readonly admit: (peers: readonly PeerLease<PeerData>[]) => readonly PeerLease<PeerData>[];
  /** False while the plane has nothing to plan for (no IPv6 subnet yet). */
  readonly ready: () => boolean;
}

/**
 * How a plane plans: in full from every peer, and, where the backend groups its peers, from the
 * changed peers alone through a DesiredIndex that the full pass rebuilds each time.
 */
function planning(inputs: PlanningInputs): Pick<ReconcilerOptions, 'plan' | 'planChanges' | 'expects' | 'scope'> {
  const { lease, scope, groupOf, counts } = inputs;
  const usable = (): boolean => inputs.ready() && !inputs.paused?.();
  if (!groupOf) {
    return {
      scope,
      plan: () => {
        if (!usable()) return undefined;
        const peers = inputs.admit(lease.peers());
        return { desired: inputs.plan(peers), peers: countPeers(peers, counts) };
      },
    };
  }
  const index = new DesiredIndex({ plan: inputs.plan, groupOf, counts });
  const changes = lease.peerChanges();
  const echo = { family: inputs.family, deviceName: inputs.deviceName, useNexthops: scope.useNexthops };
  return {
    scope,
    plan: () => {
      if (!usable()) return undefined;
      // Whatever changed so far is in this plan; the fast path starts from here.
      changes.take();
      const desired = index.rebuild(inputs.admit(lease.peers()));
      return { desired, peers: index.peerCount };
    },
    planChanges: () => {
      if (!usable()) return undefined;
      const taken = changes.take();
      if (taken.reset) return undefined;
      const changed = new Map<string, PeerLease<PeerData> | undefined>();
      for (const key of taken.keys) changed.set(key, lease.peer(key));
      return index.update(changed, scope);
    },
    expects: (event) => accountedFor(event, index, echo),
  };
}

/** Planning runs only once ready() saw the subnet; its absence here is a bug, not a state. */
function ownIpv6Subnet(lease: SubnetLease<PeerData>): Ipv6Subnet {
  const subnet = lease.ownLease().ipv6Subnet;
  if (!subnet) throw new Error('the IPv6 plane planned without an IPv6 subnet');
  return subnet;
}

export function countPeers(peers: readonly PeerLease<PeerData>[], counts: (peer: PeerLease<PeerData>) => boolean): number {
  let count = 0;
  for (const peer of peers) if (counts(peer)) count++;
  return count;
}

/** The peers the IPv6 plane counts. */
export function hasIpv6Lease(peer: PeerLease<PeerData>): boolean {
  return peer.ipv6 !== undefined;
}
