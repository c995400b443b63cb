import { Secret } from '../util/secret.js';

/** One peer of a WireGuard device, as `wg show <dev> dump` reports it. */
export interface WireguardPeerState {
  readonly publicKey: string;
  readonly presharedKey?: Secret;
  /** "a.b.c.d:port"; absent until set or learnt. */
  readonly endpoint?: string;
  readonly allowedIps: readonly string[];
  /** Unix seconds of the latest handshake; 0 when there has been none. */
  readonly latestHandshake: number;
  readonly rxBytes: number;
  readonly txBytes: number;
  /** Seconds; 0 when off. */
  readonly keepalive: number;
}

/** What `wg` can read of a device: never its private key, which the parser drops. */
export interface WireguardConfigState {
  readonly publicKey?: string;
  readonly listenPort: number;
  readonly peers: readonly WireguardPeerState[];
}

/** A WireGuard device: the link (kernel `wireguard`, or the `tun` of wireguard-go) and its config. */
export interface WireguardDeviceState {
  readonly name: string;
  /** `wireguard` (kernel module) or `tun` (userspace wireguard-go). */
  readonly kind: string;
  readonly mtu: number;
  readonly up: boolean;
  /** IPv4 addresses as "a.b.c.d/len". */
  readonly addresses: readonly string[];
  /** Undefined when `wg` cannot reach the device: no module device, no wireguard-go serving it. */
  readonly config?: WireguardConfigState;
}

const NONE = '(none)';

function numberField(text: string | undefined): number {
  const value = Number(text);
  return Number.isFinite(value) ? value : 0;
}

function parsePeerLine(fields: readonly string[]): WireguardPeerState | undefined {
  const [publicKey, psk, endpoint, allowed, handshake, rx, tx, keepalive] = fields;
  if (!publicKey || fields.length < 8) return undefined;
  return {
    publicKey,
    ...(psk && psk !== NONE ? { presharedKey: new Secret(psk) } : {}),
    ...(endpoint && endpoint !== NONE ? { endpoint } : {}),
    allowedIps: allowed && allowed !== NONE ? allowed.split(',').filter((a) => a !== '') : [],
    latestHandshake: numberField(handshake),
    rxBytes: numberField(rx),
    txBytes: numberField(tx),
    keepalive: keepalive === 'off' ? 0 : numberField(keepalive),
  };
}

/**
 * `wg show <dev> dump`: a line for the interface (private key, public key, listen port, fwmark),
 * then one per peer. The private key is never kept: nothing downstream may see it.
 */
export function parseWgDump(text: string): WireguardConfigState | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = lines[0]?.split('\t');
  if (!head || head.length < 4) return undefined;
  const publicKey = head[1];
  const peers: WireguardPeerState[] = [];
  for (const line of lines.slice(1)) {
    const peer = parsePeerLine(line.split('\t'));
    if (peer) peers.push(peer);
  }
  return { ...(publicKey && publicKey !== NONE ? { publicKey } : {}), listenPort: numberField(head[2]), peers };
}
