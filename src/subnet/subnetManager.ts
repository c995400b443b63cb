import type { EventEmitter } from 'node:events';
import type { BackendSelection, NetworkConfig } from '../config/networkConfig.js';
import type { Ipv4Subnet } from '../net/ipv4.js';
import type { Ipv6Subnet } from '../net/ipv6.js';
import type { LeaseAttrs, PeerDataDecoder, PeerLease } from './lease.js';
import type { PeerChangeCursor } from './peerSet.js';

/** This host's lease as the datastore holds it. */
export interface OwnLease {
  /** 0.0.0.0/0 in a network with IPv4 disabled, as in Flannel. */
  readonly subnet: Ipv4Subnet;
  /** Present when this host leased an IPv6 subnet. */
  readonly ipv6Subnet?: Ipv6Subnet;
  /** undefined for a reservation or a node's podCIDR, which never expire. */
  readonly expiration?: Date;
}

export interface AcquireRequest<C, D> {
  readonly config: C;
  readonly attrs: LeaseAttrs;
  /** The subnet a previous run used (from subnet.env), tried before a random one. */
  readonly previousSubnet?: Ipv4Subnet;
  readonly previousIpv6Subnet?: Ipv6Subnet;
  /** The backend's check of each peer's BackendData. */
  readonly decodePeerData: PeerDataDecoder<D>;
}

/** Bounded on purpose: it becomes a metric label. The log line carries the detail. */
/** 'reset': etcd lost its history (restored or rebuilt); see etcd/resetDetector.ts. */
export type WatchRestartReason = 'disconnected' | 'cancelled' | 'expired' | 'reset';

/** What a datastore reports as it works; the agent turns these into metrics. */
export interface DatastoreListener {
  /** A call failed and will be retried. */
  readonly onDatastoreError?: (error: Error) => void;
  readonly onInvalidLease?: (key: string, reason: string) => void;
  readonly onWatchRestart?: (reason: WatchRestartReason) => void;
}

/**
 * The first phase of a datastore (etcd or the Kubernetes API): read the network config, then
 * acquire this host's lease. Acquiring yields a SubnetLease, ready to use: there is no object
 * that exists before its lease does.
 */
export interface Datastore<C extends NetworkConfig<BackendSelection>> {
  /** Waits (and says why) until the config exists and is valid, unless `signal` or close() ends it. */
  readNetworkConfig(signal?: AbortSignal): Promise<C>;
  acquire<D>(request: AcquireRequest<C, D>, signal?: AbortSignal): Promise<SubnetLease<D>>;
  /** When a datastore call last succeeded (ms since epoch), for readiness. */
  lastContact(): number;
  /** Ends every retry loop and closes the connection; idempotent. Closes the SubnetLease too. */
  close(): Promise<void>;
}

/** Events of a held lease: the full state is read back through ownLease() and peers(). */
export interface SubnetLeaseEvents {
  /** Peers or the own lease changed. */
  change: [];
  /** The lease was re-acquired and its subnet may differ. */
  'own-lease': [OwnLease];
  /** Unrecoverable, e.g. the subnet range is exhausted on re-acquire. */
  fatal: [Error];
}

/**
 * The second phase: a held lease kept renewed, and the peer set kept current. Consumers read the
 * full current state whenever `change` fires, so a missed notification can only delay
 * convergence, never lose a peer.
 */
export interface SubnetLease<D> extends EventEmitter<SubnetLeaseEvents> {
  ownLease(): OwnLease;
  /** False while the datastore does not hold our lease (e.g. being re-created after an etcd reset): readiness says so. */
  ownLeaseHeld(): boolean;
  peers(): readonly PeerLease<D>[];
  /** The accepted peer under a lease key, if any. */
  peer(key: string): PeerLease<D> | undefined;
  /** A consumer's own record of which peers changed, so it can act on those alone (see PeerSet). */
  peerChanges(): PeerChangeCursor;
  /** Begins the peer watch, periodic relist and lease renewal. */
  start(): Promise<void>;
  /**
   * The first reconcile has programmed the kernel. The Kubernetes datastore then clears the
   * node's NetworkUnavailable condition; etcd has nothing to announce.
   */
  dataPlaneReady(): Promise<void>;
  lastContact(): number;
  close(): Promise<void>;
}
