import type { DesiredState } from '../../src/backend/desiredState.js';
import { planHostGw } from '../../src/backend/hostgw/plan.js';
import type { BackendConfig, PeerData } from '../../src/backend/registry.js';
import { planVxlan } from '../../src/backend/vxlan/plan.js';
import type { ExternalLink } from '../../src/net/externalInterface.js';
import type { Ipv4Subnet } from '../../src/net/ipv4.js';
import type { PeerLease } from '../../src/subnet/lease.js';

export interface PlanInput {
  readonly backend: BackendConfig;
  readonly ownSubnet: Ipv4Subnet;
  readonly extLink: ExternalLink;
  readonly vtepMac?: string;
  readonly peers: readonly PeerLease<PeerData>[];
}

/** Plans with whichever backend the config names, the way an activated backend would. */
export function planKernelState(input: PlanInput): DesiredState {
  const { backend, extLink, ownSubnet, peers } = input;
  return backend.type === 'vxlan' ? planVxlan({ config: backend, extLink, vtepMac: input.vtepMac ?? '', ownSubnet, peers }) : planHostGw(extLink, peers);
}
