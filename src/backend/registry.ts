import { type NetworkConfig, parseNetworkDocument } from '../config/networkConfig.js';
import type { PeerDataDecoder } from '../subnet/lease.js';
import { ConfigError } from '../util/errors.js';
import type { ActiveBackend, BackendDefinition, BackendEnvironment } from './backend.js';
import { hostGwBackend } from './hostgw/index.js';
import { vxlanBackend } from './vxlan/index.js';
import { wireguardBackend } from './wireguard/index.js';

/**
 * Every backend weft knows, by the name net-conf.json's Backend.Type uses. Adding a backend is a
 * folder beside vxlan/ and host-gw/ plus one line here; the config and peer-data unions below
 * follow from this table.
 */
const BACKENDS = {
  vxlan: vxlanBackend,
  'host-gw': hostGwBackend,
  wireguard: wireguardBackend,
};

type Registry = typeof BACKENDS;
type BackendType = keyof Registry;
type ConfigOf<B> = B extends BackendDefinition<infer C, unknown> ? C : never;
type DataOf<B> = B extends { decodePeerData: (...args: never[]) => infer R } ? (R extends { readonly ok: true; readonly data: infer D } ? D : never) : never;
type ConfigByType = { [K in BackendType]: ConfigOf<Registry[K]> };

/** A typed Backend config of any registered backend, tagged by `type`. */
export type BackendConfig = ConfigByType[BackendType];
/** A peer's checked BackendData, tagged by `backend`. */
export type PeerData = { [K in BackendType]: DataOf<Registry[K]> }[BackendType];
/** The network config with its Backend read by its backend. */
export type AgentNetworkConfig = NetworkConfig<BackendConfig>;

// The same table, typed so that indexing it by a config's type gives the backend of that config.
const TYPED: { [K in BackendType]: BackendDefinition<ConfigByType[K], PeerData> } = BACKENDS;

function isBackendType(type: string): type is BackendType {
  return Object.prototype.hasOwnProperty.call(BACKENDS, type);
}

function definitionOf<K extends BackendType>(config: ConfigByType[K] & { readonly type: K }): BackendDefinition<ConfigByType[K], PeerData> {
  return TYPED[config.type];
}

/** net-conf.json (or etcd's <prefix>/config) with its Backend checked by the backend it names. */
export function resolveBackend(document: NetworkConfig): AgentNetworkConfig {
  const { type, fields } = document.backend;
  if (!isBackendType(type)) {
    throw new ConfigError('Backend.Type', type, `must be one of ${Object.keys(BACKENDS).map((t) => `"${t}"`).join(', ')}`);
  }
  return { ...document, backend: TYPED[type].parseConfig(fields) };
}

/** Parses and validates a network config document, Backend included. */
export function parseNetworkConfig(json: string, source = 'network config'): AgentNetworkConfig {
  return resolveBackend(parseNetworkDocument(json, source));
}

/** FLANNEL_MTU for this backend over a link of `externalMtu`. */
export function podMtu(config: BackendConfig, externalMtu: number): number {
  return definitionOf(config).podMtu(config, externalMtu);
}

/** The check a peer's BackendData must pass for this config's backend. */
export function peerDataDecoder(config: BackendConfig): PeerDataDecoder<PeerData> {
  const definition = definitionOf(config);
  return (backendData) => definition.decodePeerData(config, backendData);
}

/** The backend for this config, prepared for this host. */
export async function activateBackend(config: BackendConfig, env: BackendEnvironment): Promise<ActiveBackend> {
  const definition = definitionOf(config);
  const runtime = await definition.activate(config, env);
  return {
    ...runtime,
    type: config.type,
    podMtu: definition.podMtu(config, env.extLink.mtu),
    decodePeerData: peerDataDecoder(config),
  };
}
