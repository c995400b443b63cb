import type { BackendDefinition } from '../backend.js';
import type { BackendEnvironment, Ipv6Runtime } from '../backend.js';
import { type VxlanBackendConfig, parseVxlanConfig, vxlanDeviceName, vxlanIpv6DeviceName, vxlanPodMtu } from './config.js';
import { type VxlanPeerData, decodeVxlanPeerData, vxlanLeaseData } from './leaseData.js';
import { groupByIpv6VtepMac, groupByVtepMac } from './macConflicts.js';
import { planVxlan } from './plan.js';
import { planVxlanIpv6 } from './planIpv6.js';
import { vxlanPeerChecker, vxlanDeviceProblems } from './status.js';
import { randomVtepMac } from './vtepMac.js';

/** vxlan: a `flannel.<VNI>` device with per-peer FDB, ARP and route entries. */
export const vxlanBackend: BackendDefinition<VxlanBackendConfig, VxlanPeerData> = {
  type: 'vxlan',
  parseConfig: parseVxlanConfig,
  podMtu: vxlanPodMtu,
  decodePeerData: decodeVxlanPeerData,
  async activate(config, env) {
    const deviceName = vxlanDeviceName(config.vni);
    const vtepMac = await keptVtepMac(env, deviceName);
    const ipv6 = env.ipv6 ? await activateIpv6(config, env) : undefined;
    return {
      ...(ipv6 ? { ipv6 } : {}),
      deviceName,
      leaseData: vxlanLeaseData(config, vtepMac),
      statusColumn: 'VTEP MAC',
      summary: { device: deviceName, vtepMac },
      plan: (ownSubnet, peers) => planVxlan({ config, extLink: env.extLink, vtepMac, ownSubnet, peers }),
      groupOf: groupByVtepMac,
      peerChecker: vxlanPeerChecker,
      deviceProblems: vxlanDeviceProblems,
    };
  },
};

/** The VTEP MAC must survive restarts: peers hold it in their FDB and neighbour tables. */
async function keptVtepMac(env: BackendEnvironment, deviceName: string): Promise<string> {
  const existing = (await env.kernel.read(deviceName, false)).device;
  return existing?.kind === 'vxlan' && existing.mac ? existing.mac : randomVtepMac();
}

/** flannel-v6.<VNI> with its own VTEP MAC, published as BackendV6Data. */
async function activateIpv6(config: VxlanBackendConfig, env: BackendEnvironment): Promise<Ipv6Runtime> {
  const deviceName = vxlanIpv6DeviceName(config.vni);
  const vtepMac = await keptVtepMac(env, deviceName);
  return {
    deviceName,
    leaseData: vxlanLeaseData(config, vtepMac),
    summary: { ipv6Device: deviceName, ipv6VtepMac: vtepMac },
    plan: (ownSubnet, peers) => planVxlanIpv6({ config, extLink: env.extLink, vtepMac, ownSubnet, peers }),
    groupOf: groupByIpv6VtepMac,
  };
}
