import type { BackendDefinition } from '../backend.js';
import { type VxlanBackendConfig, parseVxlanConfig, vxlanDeviceName, vxlanPodMtu } from './config.js';
import { type VxlanPeerData, decodeVxlanPeerData, vxlanLeaseData } from './leaseData.js';
import { planVxlan } from './plan.js';
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
    // The VTEP MAC must survive restarts: peers hold it in their FDB and ARP tables.
    const existing = (await env.kernel.read(deviceName, false)).device;
    const vtepMac = existing?.kind === 'vxlan' && existing.mac ? existing.mac : randomVtepMac();
    return {
      deviceName,
      leaseData: vxlanLeaseData(config, vtepMac),
      statusColumn: 'VTEP MAC',
      summary: { device: deviceName, vtepMac },
      plan: (ownSubnet, peers) => planVxlan({ config, extLink: env.extLink, vtepMac, ownSubnet, peers }),
      peerChecker: vxlanPeerChecker,
      deviceProblems: vxlanDeviceProblems,
    };
  },
};
