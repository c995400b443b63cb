import { type BackendDefinition, ownGroup } from '../backend.js';
import { type HostGwBackendConfig, parseHostGwConfig } from './config.js';
import { planHostGw } from './plan.js';
import { planHostGwIpv6 } from './planIpv6.js';

/** What a host-gw peer's lease tells beyond its subnet and PublicIP: nothing; BackendData is null. */
export interface HostGwPeerData {
  readonly backend: 'host-gw';
}

const HOST_GW_PEER: HostGwPeerData = { backend: 'host-gw' };

/** host-gw: plain routes via each peer's PublicIP on a shared L2 segment. */
export const hostGwBackend: BackendDefinition<HostGwBackendConfig, HostGwPeerData> = {
  type: 'host-gw',
  parseConfig: parseHostGwConfig,
  podMtu: (_config, externalMtu) => externalMtu,
  decodePeerData: () => ({ ok: true, data: HOST_GW_PEER }),
  async activate(_config, env) {
    return {
      deviceName: undefined,
      leaseData: null,
      summary: {},
      plan: (_ownSubnet, peers) => planHostGw(env.extLink, peers),
      groupOf: ownGroup,
      ...(env.ipv6
        ? {
            ipv6: { deviceName: undefined, leaseData: null, summary: {}, plan: (_ownSubnet, peers) => planHostGwIpv6(env.extLink, peers), groupOf: ownGroup },
          }
        : {}),
      peerChecker: () => () => ({ problems: [] }),
      deviceProblems: () => [],
    };
  },
};
