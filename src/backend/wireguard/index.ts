import type { BackendDefinition } from '../backend.js';
import { WIREGUARD_DEVICE, type WireguardBackendConfig, parseWireguardConfig, wireguardPodMtu } from './config.js';
import { DEFAULT_WIREGUARD_KEY_FILE, loadOrCreatePrivateKey, readPrivateKey } from './keyFile.js';
import { publicKeyOf } from './keys.js';
import { type WireguardPeerData, decodeWireguardPeerData, wireguardLeaseData } from './leaseData.js';
import { planWireguard } from './plan.js';
import { wireguardDeviceProblems, wireguardPeerChecker } from './status.js';

/**
 * wireguard: the device flannel-wg with one WireGuard peer and one route per peer subnet,
 * wire-compatible with Flannel's backend (key file, BackendData, ports, MTU).
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
    return {
      deviceName: WIREGUARD_DEVICE,
      leaseData: wireguardLeaseData(publicKey, config.listenPort),
      statusColumn: 'HANDSHAKE',
      summary: { device: WIREGUARD_DEVICE, publicKey, listenPort: config.listenPort, keyFile, keyCreated: loaded.created },
      plan: (ownSubnet, peers) =>
        planWireguard({ config, extLink: env.extLink, network: env.network, privateKey, publicKey, ownSubnet, peers }),
      peerChecker: (desired, actual) => wireguardPeerChecker(desired, actual),
      deviceProblems: wireguardDeviceProblems,
    };
  },
};
