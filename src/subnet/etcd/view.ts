import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import type { Ipv4Subnet } from '../../net/ipv4.js';
import type { Ipv6Subnet } from '../../net/ipv6.js';
import { EtcdError } from 'etcd3';
import { DatastoreError, errorMessage } from '../../util/errors.js';
import type { PeerDataDecoder, PeerLease, UnderlayFacts } from '../lease.js';
import { LeaseStore } from '../leaseStore.js';
import { ManagerLifecycle } from '../lifecycle.js';
import { ownedLeaseSubnets } from '../ownedLease.js';
import { PeerSet } from '../peerSet.js';
import { type EtcdConnectionConfig, createEtcdClient } from './client.js';
import { EtcdKeyLayout } from './keys.js';
import { EtcdRegistry } from './registry.js';

const GRPC_STATUS = /^\d+ [A-Z_]+: /;

/** How long `weft status` waits for etcd before it says so. */
const ETCD_DEADLINE_MS = 5_000;

/**
 * An etcd client error as one line an operator can act on, in place of the gRPC client's dump
 * ("14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED …
 * Resolution note: …"). Any other error is returned as it is.
 */
export function etcdFailure(endpoints: readonly string[], err: unknown): unknown {
  const text = errorMessage(err);
  // gRPC's own errors ("14 UNAVAILABLE: …") reach here unwrapped when no connection was ever made.
  if (!(err instanceof EtcdError) && !GRPC_STATUS.test(text)) return err;
  const cause = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note|$)/.exec(text)?.[1] ?? text.replace(GRPC_STATUS, '').split('\n')[0]!;
  return new DatastoreError(`cannot reach etcd at ${endpoints.join(',')}: ${cause.trim() || 'no answer'}`, { cause: err });
}

export interface EtcdView<C, D> {
  readonly config: C;
  readonly ownSubnet?: Ipv4Subnet;
  readonly ownIpv6Subnet?: Ipv6Subnet;
  /** ISO time; absent for a reservation, which never expires. */
  readonly expiration?: string;
  readonly peers: readonly PeerLease<D>[];
}

export interface EtcdViewOptions<C> {
  readonly connection: EtcdConnectionConfig;
  readonly parseConfig: (json: string, source: string) => C;
  /** This host's PublicIP (PublicIPv6 in an IPv6-only network): its lease is the one naming it. */
  readonly publicIP: string;
  readonly publicIPv6?: string;
  readonly forbidden: readonly Ipv4Subnet[];
  readonly forbiddenIpv6: readonly Ipv6Subnet[];
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
  const endpoints = options.connection.endpoints;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatastoreError(`cannot reach etcd at ${endpoints.join(',')}: no answer within ${ETCD_DEADLINE_MS / 1000} s`)), ETCD_DEADLINE_MS);
  });
  try {
    return await Promise.race([readView(registry, keys, options, decoderFor, logger), deadline]);
  } catch (err) {
    throw etcdFailure(endpoints, err);
  } finally {
    clearTimeout(timer);
    registry.close();
  }
}

async function readView<C extends NetworkConfig<BackendSelection>, D>(
  registry: EtcdRegistry,
  keys: EtcdKeyLayout,
  options: EtcdViewOptions<C>,
  decoderFor: (config: C) => Promise<PeerDataDecoder<D>>,
  logger: Logger,
): Promise<EtcdView<C, D>> {
  const configText = await registry.readConfig();
  if (configText === null) throw new DatastoreError(`no network config at ${keys.configKey}`);
  const config = options.parseConfig(configText, keys.configKey);
  const listing = await registry.listLeases();
  const store = new LeaseStore();
  store.replaceAll(listing.leases, listing.revision);
  const attrs = { publicIP: options.publicIP, ...(options.publicIPv6 ? { publicIPv6: options.publicIPv6 } : {}) };
  const ownIndex = listing.leases.findIndex((lease) => ownedLeaseSubnets(lease.key, lease.value, config, attrs) !== undefined);
  const ownLease = listing.leases[ownIndex];
  const own = ownLease ? ownedLeaseSubnets(ownLease.key, ownLease.value, config, attrs) : undefined;
  const ownKv = listing.kvs[ownIndex];
  const remaining = ownKv ? await registry.remainingSeconds(String(ownKv.lease)) : 0;
  const context = {
    config,
    decodePeerData: await decoderFor(config),
    ...(own ? { ownSubnet: own.ipv4 } : {}),
    ...(own?.ipv6 ? { ownIpv6Subnet: own.ipv6 } : {}),
    forbidden: options.forbidden,
    forbiddenIpv6: options.forbiddenIpv6,
    underlay: options.underlay,
  };
  return {
    config,
    ...(own ? { ownSubnet: own.ipv4 } : {}),
    ...(own?.ipv6 ? { ownIpv6Subnet: own.ipv6 } : {}),
    ...(remaining > 0 ? { expiration: new Date(Date.now() + remaining * 1000).toISOString() } : {}),
    peers: new PeerSet(store, context, logger).peers(),
  };
}
