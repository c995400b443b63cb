import type { ActualState } from '../../kernel/kernelState.js';
import type { WireguardDeviceState, WireguardPeerState } from '../../kernel/wireguardState.js';
import type { PeerLease } from '../../subnet/lease.js';
import type { PeerCheck, PeerChecker } from '../backend.js';
import type { DesiredRoute, DesiredState, DesiredWireguardDevice } from '../desiredState.js';
import type { PeerData } from '../registry.js';

/** "never", or how long ago the latest handshake was: WireGuard re-handshakes every 2 minutes on a live tunnel. */
export function handshakeAge(latestHandshake: number, nowSeconds: number): string {
  if (latestHandshake <= 0) return 'never';
  return `${Math.max(0, Math.round(nowSeconds - latestHandshake))}s ago`;
}

function deviceOf(desired: DesiredState, actual: ActualState): { want?: DesiredWireguardDevice; have?: WireguardDeviceState } {
  const want = desired.wireguard?.[0];
  const have = want ? actual.wireguard?.find((d) => d.name === want.name) : undefined;
  return { ...(want ? { want } : {}), ...(have ? { have } : {}) };
}

/** Per peer: the latest handshake as the column, and whether the device holds the peer as planned. */
export function wireguardPeerChecker(desired: DesiredState, actual: ActualState, nowSeconds = Date.now() / 1000): PeerChecker {
  const { want, have } = deviceOf(desired, actual);
  const present = new Map<string, WireguardPeerState>();
  for (const peer of have?.config?.peers ?? []) present.set(peer.publicKey, peer);
  const planned = new Map((want?.peers ?? []).map((p) => [p.publicKey, p]));
  return (peer: PeerLease<PeerData>, _route: DesiredRoute | undefined): PeerCheck => {
    if (peer.data.backend !== 'wireguard') return { problems: [] };
    const wanted = planned.get(peer.data.publicKey);
    const held = present.get(peer.data.publicKey);
    if (!held) return { column: 'never', problems: ['WireGuard peer missing'] };
    const problems: string[] = [];
    if (wanted && held.endpoint !== wanted.endpoint) problems.push(`endpoint ${held.endpoint ?? '-'}, want ${wanted.endpoint}`);
    if (wanted && held.allowedIps.join(',') !== wanted.allowedIps.join(',')) problems.push(`allowed IPs ${held.allowedIps.join(',') || '-'}, want ${wanted.allowedIps.join(',')}`);
    return { column: handshakeAge(held.latestHandshake, nowSeconds), problems };
  };
}

/** Problems with the device: missing, unreachable by `wg`, down, another MTU, key, port or address. */
export function wireguardDeviceProblems(desired: DesiredState, actual: ActualState): string[] {
  const { want, have } = deviceOf(desired, actual);
  if (!want) return [];
  if (!have) return ['device missing'];
  const problems: string[] = [];
  if (!have.config) problems.push('`wg` cannot reach the device (no WireGuard module device, no wireguard-go serving it)');
  if (!have.up) problems.push('down');
  if (have.mtu !== want.mtu) problems.push(`MTU ${have.mtu}, want ${want.mtu}`);
  if (!have.addresses.includes(want.address)) problems.push(`address ${want.address} missing`);
  if (have.config && have.config.publicKey !== want.publicKey) problems.push(`public key ${have.config.publicKey ?? 'unset'}, want ${want.publicKey}`);
  if (have.config && have.config.listenPort !== want.listenPort) problems.push(`listen port ${have.config.listenPort}, want ${want.listenPort}`);
  return problems;
}
