import { ConfigError } from '../../util/errors.js';
import { lookupField, optionalInteger } from '../../util/jsonFields.js';
import { Secret } from '../../util/secret.js';
import { decodeWireguardKey } from './keys.js';

/**
 * Flannel's Mode: `separate` gives each family its own device (flannel-wg, flannel-wg-v6);
 * `auto`, `ipv4` and `ipv6` carry both families over flannel-wg. On an IPv4-only network every
 * mode means the one device flannel-wg.
 */
export type WireguardMode = 'separate' | 'auto' | 'ipv4' | 'ipv6';
const MODES: readonly WireguardMode[] = ['separate', 'auto', 'ipv4', 'ipv6'];

export interface WireguardBackendConfig {
  readonly type: 'wireguard';
  readonly listenPort: number;
  /** The port of flannel-wg-v6, the IPv6 device of separate mode. */
  readonly listenPortV6: number;
  readonly presharedKey?: Secret;
  /** Seconds; 0 is off. */
  readonly persistentKeepaliveInterval: number;
  readonly mode: WireguardMode;
  /** The underlay MTU to assume; 0 means the external interface's. */
  readonly mtu: number;
}

export const WIREGUARD_DEFAULT_PORT = 51820;
export const WIREGUARD_DEFAULT_PORT_V6 = 51821;
/** Outer IPv6 header (40, the larger family, as Flannel reserves) + UDP (8) + WireGuard data header (16) + tag (16). */
export const WIREGUARD_OVERHEAD = 80;
export const WIREGUARD_DEVICE = 'flannel-wg';
/** Separate mode's IPv6 device. */
export const WIREGUARD_DEVICE_V6 = 'flannel-wg-v6';

const PATH = 'Backend.';

function parseMode(fields: Record<string, unknown>): WireguardMode {
  const raw = lookupField(fields, 'Mode');
  if (raw === undefined || raw === null) return 'separate';
  if (typeof raw !== 'string' || !(MODES as readonly string[]).includes(raw)) {
    throw new ConfigError(`${PATH}Mode`, raw, `must be one of ${MODES.map((m) => `"${m}"`).join(', ')}`);
  }
  return raw as WireguardMode;
}

function parsePresharedKey(fields: Record<string, unknown>): Secret | undefined {
  const raw = lookupField(fields, 'PSK');
  if (raw === undefined || raw === null || raw === '') return undefined;
  // The key itself stays out of the error: it is a secret even when it is a malformed one.
  if (!decodeWireguardKey(raw)) throw new ConfigError(`${PATH}PSK`, '[redacted]', 'must be a base64 WireGuard key (44 characters, as `wg genpsk` prints)');
  return new Secret(raw as string);
}

/** Flannel's wireguard Backend fields and defaults; every rejection names `Backend.<field>`. */
export function parseWireguardConfig(fields: Record<string, unknown>): WireguardBackendConfig {
  const port = { min: 1, max: 65_535 };
  const presharedKey = parsePresharedKey(fields);
  return {
    type: 'wireguard',
    listenPort: optionalInteger(fields, 'ListenPort', WIREGUARD_DEFAULT_PORT, port, PATH),
    listenPortV6: optionalInteger(fields, 'ListenPortV6', WIREGUARD_DEFAULT_PORT_V6, port, PATH),
    ...(presharedKey ? { presharedKey } : {}),
    persistentKeepaliveInterval: optionalInteger(fields, 'PersistentKeepaliveInterval', 0, { min: 0, max: 65_535 }, PATH),
    mode: parseMode(fields),
    mtu: optionalInteger(
      fields,
      'MTU',
      0,
      { min: 0, max: 65_535, extra: { test: (v) => v === 0 || v - WIREGUARD_OVERHEAD >= 576, reason: `must be 0 (automatic) or at least ${576 + WIREGUARD_OVERHEAD}` } },
      PATH,
    ),
  };
}

/**
 * Flannel's MTU semantics differ from vxlan's: `MTU` is the underlay MTU (default: the external
 * interface's), and both the device and the pods get it minus the WireGuard overhead.
 */
export function wireguardPodMtu(config: WireguardBackendConfig, externalMtu: number): number {
  return (config.mtu > 0 ? config.mtu : externalMtu) - WIREGUARD_OVERHEAD;
}
