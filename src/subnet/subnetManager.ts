import type { EventEmitter } from 'node:events';
import type { NetworkConfig } from '../config/networkConfig.js';
import type { Ipv4Subnet } from '../net/ipv4.js';
import type { LeaseAttrs, PeerLease } from './lease.js';

/** This host's lease as the datastore holds it. */
export interface OwnLease {
  readonly subnet: Ipv4Subnet;
  /** undefined for a reservation, which never expires. */
  readonly expiration?: Date;
}

export interface AcquireRequest {
  readonly attrs: LeaseAttrs;
  readonly config: NetworkConfig;
  /** The subnet a previous run used (from subnet.env), tried before a random one. */
  readonly previousSubnet?: Ipv4Subnet;
}

/**
 * The seam between datastores and the rest of weft. Implementations (etcd, Kubernetes API) keep
 * the lease renewed and the peer set current; consumers read the full current state whenever
 * `change` fires, so a missed notification can only delay convergence, never lose a peer.
 *
 * Events: `change` (peers or own lease changed), `own-lease` (OwnLease: the subnet was
 * re-acquired and may differ), `datastore-error` (Error: a call failed and will be retried).
 */
export interface SubnetManager extends EventEmitter {
  getNetworkConfig(signal?: AbortSignal): Promise<NetworkConfig>;
  acquireLease(request: AcquireRequest): Promise<OwnLease>;
  /** Begins the peer watch, periodic relist and lease renewal; call after acquireLease. */
  start(): Promise<void>;
  ownLease(): OwnLease | undefined;
  peers(): readonly PeerLease[];
  /**
   * The first reconcile has programmed the kernel. The Kubernetes manager then clears the node's
   * NetworkUnavailable condition; etcd has nothing to announce.
   */
  dataPlaneReady(): Promise<void>;
  /** When a datastore call last succeeded (ms since epoch), for readiness. */
  lastContact(): number;
  close(): Promise<void>;
}
