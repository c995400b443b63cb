import type { DecodeResult } from '../../subnet/lease.js';
import { isPlainObject, lookupField } from '../../util/jsonFields.js';
import type { VxlanBackendConfig } from './config.js';

/** What a vxlan peer's BackendData says, once checked. */
export interface VxlanPeerData {
  readonly backend: 'vxlan';
  readonly vni: number;
  readonly vtepMac: string;
}

/** This host's BackendData, exactly as Flannel writes it: {"VNI":1,"VtepMAC":"…"}. */
export function vxlanLeaseData(config: VxlanBackendConfig, vtepMac: string): { VNI: number; VtepMAC: string } {
  return { VNI: config.vni, VtepMAC: vtepMac };
}

const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** A MAC usable as a VTEP address: well-formed, not multicast/broadcast, not all zeros. */
export function parseUnicastMac(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const mac = text.toLowerCase();
  if (!MAC_PATTERN.test(mac)) return undefined;
  const firstOctet = parseInt(mac.slice(0, 2), 16);
  if ((firstOctet & 1) === 1 || mac === '00:00:00:00:00:00') return undefined;
  return mac;
}

/** A peer's BackendData: a unicast VtepMAC, and our VNI (Flannel omits VNI in old leases). */
export function decodeVxlanPeerData(config: VxlanBackendConfig, backendData: unknown): DecodeResult<VxlanPeerData> {
  if (!isPlainObject(backendData)) return { ok: false, reason: 'BackendData is missing for a vxlan lease' };
  const vtepMac = parseUnicastMac(lookupField(backendData, 'VtepMAC'));
  if (!vtepMac) {
    return { ok: false, reason: `VtepMAC ${JSON.stringify(lookupField(backendData, 'VtepMAC'))} is not a unicast MAC` };
  }
  const vni = lookupField(backendData, 'VNI') ?? config.vni;
  if (vni !== config.vni) return { ok: false, reason: `VNI ${JSON.stringify(vni)} does not match ours (${config.vni})` };
  return { ok: true, data: { backend: 'vxlan', vni: config.vni, vtepMac } };
}
