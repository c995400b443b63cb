import type { Secret } from '../../util/secret.js';
import type { BackendDefinition, BackendEnvironment, Ipv6Runtime } from '../backend.js';
import { WIREGUARD_DEVICE, WIREGUARD_DEVICE_V6, type WireguardBackendConfig, parseWireguardConfig, wireguardPodMtu } from './config.js';
import { DEFAULT_WIREGUARD_KEY_FILE, loadOrCreatePrivateKey, readPrivateKey } from './keyFile.js';
import { publicKeyOf } from './keys.js';
import { type WireguardPeerData, decodeWireguardPeerData, wireguardLeaseData } from './leaseData.js';
import { planWireguard } from './plan.js';
import { planWireguardIpv6 } from './planIpv6.js';
import { wireguardDeviceProblems, wireguardPeerChecker } from './status.js';

/** What both planes share: the one key pair of this host, as Flannel gives both devices the key file's key. */
interface HostKeys {
  readonly privateKey: Secret | undefined;
  readonly publicKey: string;
}

/**
 * wireguard: the device flannel-wg with one WireGuard peer and one route per peer subnet,
 * wire-compatible with Flannel's backend (key file, BackendData, ports, MTU); on an IPv6 network
 * in separate mode also flannel-wg-v6, published as BackendV6Data.
 */
export const wireguardBackend: BackendDefinition<WireguardBackendConfig, WireguardPeerData> = {
  type: 'wireguard',
  parseConfig: parseWireguardConfig,
  podMtu: wireguardPodMtu,
  decodePeerData: decodeWireguardPeerData,
  async activate(config, env) {
    const keyFile = env.wireguardKeyFile ?? DEFAULT_WIREGUARD_KEY_FILE;
    // The key is kept across restarts so peers keep reaching us; only the agent creates it.
    // `weft status` reads it if it is there, and otherwise checks the peers without it.
    const loaded = env.inspectOnly ? { key: await readPrivateKey(keyFile), created: false } : await loadOrCreatePrivateKey(keyFile);
    const privateKey = loaded.key;
    const publicKey = privateKey ? publicKeyOf(privateKey) : '';
    const keys: HostKeys = { privateKey, publicKey };
    const ipv6 = activateIpv6(config, env, keys);
    return {
      ...(ipv6 ? { ipv6 } : {}),
      deviceName: WIREGUARD_DEVICE,
      leaseData: wireguardLeaseData(publicKey, config.listenPort),
      statusColumn: 'HANDSHAKE',
      summary: {
        device: WIREGUARD_DEVICE,
        publicKey,
        listenPort: config.listenPort,
        keyFile,
        keyCreated: loaded.created,
        ...(env.ipv6 && !ipv6 ? { ipv6: `not carried: Mode "${config.mode}" shares one device between the families, which weft does not support yet (use "separate")` } : {}),
      },
      plan: (ownSubnet, peers) =>
        planWireguard({ config, extLink: env.extLink, network: env.network, privateKey, publicKey, ownSubnet, peers }),
      peerChecker: (desired, actual) => wireguardPeerChecker(desired, actual),
      deviceProblems: wireguardDeviceProblems,
    };
  },
};

/**
 * Separate mode's flannel-wg-v6: the same key on ListenPortV6, published as BackendV6Data
 * `{"PublicKey","Port"}` as Flannel writes it. The other modes put both families on one device,
 * which two planes (each syncing the whole device) cannot share, so they get no IPv6 plane.
 */
function activateIpv6(config: WireguardBackendConfig, env: BackendEnvironment, keys: HostKeys): Ipv6Runtime | undefined {
  const network = env.ipv6Network;
  if (!env.ipv6 || !network || config.mode !== 'separate') return undefined;
  return {
    deviceName: WIREGUARD_DEVICE_V6,
    leaseData: wireguardLeaseData(keys.publicKey, config.listenPortV6),
    summary: { ipv6Device: WIREGUARD_DEVICE_V6, listenPortV6: config.listenPortV6 },
    plan: (ownSubnet, peers) => planWireguardIpv6({ config, extLink: env.extLink, network, ...keys, ownSubnet, peers }),
  };
}
