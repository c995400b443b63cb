import type { DecodeResult } from '../../subnet/lease.js';
import { isPlainObject, lookupField } from '../../util/jsonFields.js';
import type { WireguardBackendConfig } from './config.js';
import { isWireguardPublicKey } from './keys.js';

/** What a wireguard peer's BackendData says, once checked. */
export interface WireguardPeerData {
  readonly backend: 'wireguard';
  readonly publicKey: string;
  /**
   * The peer's listen port for this family, absent where an older Flannel left Port out: then
   * every host listens on the configured port of the device that carries the family.
   */
  readonly port?: number;
}

/** This host's BackendData exactly as Flannel writes it: {"PublicKey":"…","Port":51820}. */
export function wireguardLeaseData(publicKey: string, port: number): { PublicKey: string; Port: number } {
  return { PublicKey: publicKey, Port: port };
}

/**
 * A peer's BackendData or BackendV6Data: a well-formed public key, and a port in 1..65535. Flannel
 * before Port existed wrote only PublicKey and every host listened on the configured port, so a
 * missing (or zero, Go's empty value) Port means ours for that family (ListenPort or
 * ListenPortV6), which the plan of each family fills in.
 */
export function decodeWireguardPeerData(_config: WireguardBackendConfig, backendData: unknown): DecodeResult<WireguardPeerData> {
  if (!isPlainObject(backendData)) return { ok: false, reason: 'BackendData is missing for a wireguard lease' };
  const publicKey = lookupField(backendData, 'PublicKey');
  if (!isWireguardPublicKey(publicKey)) {
    return { ok: false, reason: `PublicKey ${JSON.stringify(publicKey)} is not a base64 WireGuard public key` };
  }
  const rawPort = lookupField(backendData, 'Port') ?? 0;
  if (!Number.isInteger(rawPort) || (rawPort as number) < 0 || (rawPort as number) > 65_535) {
    return { ok: false, reason: `Port ${JSON.stringify(rawPort)} is not a UDP port (1..65535)` };
  }
  return { ok: true, data: { backend: 'wireguard', publicKey, ...(rawPort === 0 ? {} : { port: rawPort as number }) } };
}
