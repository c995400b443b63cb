import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import type { Ipv4Subnet } from '../../net/ipv4.js';
import { DatastoreError } from '../../util/errors.js';
import { type PeerDataDecoder, type PeerLease, type UnderlayFacts, ownedSubnet } from '../lease.js';
import { LeaseStore } from '../leaseStore.js';
import { ManagerLifecycle } from '../lifecycle.js';
import { PeerSet } from '../peerSet.js';
import { type EtcdConnectionConfig, createEtcdClient } from './client.js';
import { EtcdKeyLayout } from './keys.js';
import { EtcdRegistry } from './registry.js';

export interface EtcdView<C, D> {
  readonly config: C;
  readonly ownSubnet?: Ipv4Subnet;
  /** ISO time; absent for a reservation, which never expires. */
  readonly expiration?: string;
  readonly peers: readonly PeerLease<D>[];
}

export interface EtcdViewOptions<C> {
  readonly connection: EtcdConnectionConfig;
  readonly parseConfig: (json: string, source: string) => C;
  /** This host's PublicIP: its lease is the one naming it. */
  readonly publicIP: string;
  readonly forbidden: readonly Ipv4Subnet[];
  readonly underlay: UnderlayFacts;
}

/**
 * One read of etcd, through the same key layout and registry as the agent, for `weft status`:
 * no watch, no writes. `decoderFor` gives the backend's check of peer data for the config read.
 */
export async function readEtcdView<C extends NetworkConfig<BackendSelection>, D>(
  options: EtcdViewOptions<C>,
  decoderFor: (config: C) => Promise<PeerDataDecoder<D>>,
  logger: Logger,
): Promise<EtcdView<C, D>> {
  const keys = new EtcdKeyLayout(options.connection.prefix);
  const lifecycle = new ManagerLifecycle();
  const registry = new EtcdRegistry(await createEtcdClient(options.connection), keys, lifecycle, logger);
  try {
    const configText = await registry.readConfig();
    if (configText === null) throw new DatastoreError(`no network config at ${keys.configKey}`);
    const config = options.parseConfig(configText, keys.configKey);
    const listing = await registry.listLeases();
    const store = new LeaseStore();
    store.replaceAll(listing.leases, listing.revision);
    const ownIndex = listing.leases.findIndex((lease) => ownedSubnet(lease.key, lease.value, config, options.publicIP) !== undefined);
    const ownLease = listing.leases[ownIndex];
    const ownSubnet = ownLease ? ownedSubnet(ownLease.key, ownLease.value, config, options.publicIP) : undefined;
    const ownKv = listing.kvs[ownIndex];
    const remaining = ownKv ? await registry.remainingSeconds(String(ownKv.lease)) : 0;
    const context = { config, decodePeerData: await decoderFor(config), ...(ownSubnet ? { ownSubnet } : {}), forbidden: options.forbidden, underlay: options.underlay };
    return {
      config,
      ...(ownSubnet ? { ownSubnet } : {}),
      ...(remaining > 0 ? { expiration: new Date(Date.now() + remaining * 1000).toISOString() } : {}),
      peers: new PeerSet(store, context, logger).peers(),
    };
  } finally {
    registry.close();
  }
}
