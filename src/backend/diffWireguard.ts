import type { WireguardDevicePlan } from '../kernel/kernelPlan.js';
import type { WireguardConfigState, WireguardDeviceState, WireguardPeerState } from '../kernel/wireguardState.js';
import { Secret } from '../util/secret.js';
import type { DesiredWireguardDevice, DesiredWireguardPeer } from './desiredState.js';

/** Link kinds a WireGuard device can have: the kernel module's, or wireguard-go's tun. */
const WIREGUARD_KINDS = new Set(['wireguard', 'tun']);
/** `wg` reads an all-zero preshared key as "none": writing it clears a key a past config set. */
const NO_PRESHARED_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

function sameAllowedIps(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((ip, i) => ip === sorted[i]);
}

function samePeer(want: DesiredWireguardPeer, have: WireguardPeerState | undefined, device: DesiredWireguardDevice): boolean {
  if (!have) return false;
  const presharedKeyMatches = device.presharedKey ? device.presharedKey.equals(have.presharedKey) : have.presharedKey === undefined;
  return have.endpoint === want.endpoint && sameAllowedIps(want.allowedIps, have.allowedIps) && have.keepalive === device.keepalive && presharedKeyMatches;
}

/** Does the device's configuration differ from the wanted one in anything `wg syncconf` sets? */
function configDiffers(want: DesiredWireguardDevice, have: WireguardConfigState): boolean {
  if (have.publicKey !== want.publicKey || have.listenPort !== want.listenPort) return true;
  if (have.peers.length !== want.peers.length) return true;
  const present = new Map<string, WireguardPeerState>();
  for (const peer of have.peers) present.set(peer.publicKey, peer);
  return want.peers.some((peer) => !samePeer(peer, present.get(peer.publicKey), want));
}

/** The whole configuration in `wg setconf` syntax; `wg syncconf` removes every peer it does not name. */
export function renderWireguardConfig(want: DesiredWireguardDevice): Secret {
  const lines = ['[Interface]', ...(want.privateKey ? [`PrivateKey = ${want.privateKey.reveal()}`] : []), `ListenPort = ${want.listenPort}`];
  const presharedKey = want.presharedKey?.reveal() ?? NO_PRESHARED_KEY;
  for (const peer of want.peers) {
    lines.push(
      '',
      '[Peer]',
      `PublicKey = ${peer.publicKey}`,
      `PresharedKey = ${presharedKey}`,
      `Endpoint = ${peer.endpoint}`,
      `AllowedIPs = ${peer.allowedIps.join(', ')}`,
      `PersistentKeepalive = ${want.keepalive}`,
    );
  }
  return new Secret(`${lines.join('\n')}\n`);
}

function linkLines(want: DesiredWireguardDevice, have: WireguardDeviceState | undefined): string[] {
  const lines: string[] = [];
  if (!have || have.mtu !== want.mtu || !have.up) lines.push(`link set ${want.name} mtu ${want.mtu} up`);
  // nodad: the address is this host's alone (its lease), and DAD would hold it tentative.
  if (!have?.addresses.includes(want.address)) lines.push(`addr replace ${want.address} dev ${want.name}${want.address.includes(':') ? ' nodad' : ''}`);
  for (const address of have?.addresses ?? []) {
    if (address !== want.address) lines.push(`addr del ${address} dev ${want.name}`);
  }
  return lines;
}

/**
 * What one WireGuard device needs: the link (created, or recreated when it is of another kind or
 * `wg` cannot reach it, as when the wireguard-go serving it died), its MTU and address, and one
 * `wg syncconf` when keys, port or peers differ. A converged device costs no command at all.
 */
export function diffWireguardDevice(want: DesiredWireguardDevice, have: WireguardDeviceState | undefined): WireguardDevicePlan {
  const recreate = have !== undefined && (!WIREGUARD_KINDS.has(have.kind) || have.config === undefined);
  const fresh = have === undefined || recreate;
  const current = fresh ? undefined : have;
  const needsConfig = !current?.config || configDiffers(want, current.config);
  return {
    name: want.name,
    recreate,
    create: fresh,
    link: linkLines(want, current),
    ...(needsConfig ? { config: renderWireguardConfig(want) } : {}),
  };
}

export function diffWireguard(wanted: readonly DesiredWireguardDevice[], actual: readonly WireguardDeviceState[]): WireguardDevicePlan[] {
  const byName = new Map<string, WireguardDeviceState>();
  for (const device of actual) byName.set(device.name, device);
  return wanted.map((want) => diffWireguardDevice(want, byName.get(want.name)));
}
