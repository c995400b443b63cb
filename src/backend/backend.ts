import type { BackendSelection } from '../config/networkConfig.js';
import type { KernelPort } from '../kernel/kernelPort.js';
import type { ActualState } from '../kernel/kernelState.js';
import type { ExternalLink } from '../net/externalInterface.js';
import type { Ipv4Subnet } from '../net/ipv4.js';
import type { Ipv6Subnet } from '../net/ipv6.js';
import type { DecodeResult, PeerLease } from '../subnet/lease.js';
import type { DesiredRoute, DesiredState } from './desiredState.js';
import type { PeerData } from './registry.js';

/**
 * A backend, registered by name in registry.ts the way Flannel registers its backends. It owns
 * everything specific to it: its Backend config fields, the BackendData it publishes and accepts,
 * the kernel state it wants, and what `weft status` checks per peer. See docs/architecture.md.
 */
export interface BackendDefinition<C extends BackendSelection, D> {
  readonly type: C['type'];
  /** The net-conf Backend object's fields (Type aside); errors name `Backend.<field>`. */
  parseConfig(fields: Record<string, unknown>): C;
  /** FLANNEL_MTU for pods on this host. */
  podMtu(config: C, externalMtu: number): number;
  /** A peer's BackendData: untrusted, so checked field by field. */
  decodePeerData(config: C, backendData: unknown): DecodeResult<D>;
  /** Prepares this host's side (e.g. keeps the VTEP MAC a previous run chose). */
  activate(config: C, env: BackendEnvironment): Promise<BackendRuntime>;
}

export interface BackendEnvironment {
  readonly extLink: ExternalLink;
  /** The pod network (Network). */
  readonly network: Ipv4Subnet;
  /** Where the wireguard backend keeps its private key (WIREGUARD_KEY_FILE); Flannel's default otherwise. */
  readonly wireguardKeyFile?: string;
  /** `weft status`: read what a backend keeps on disk, never create it. */
  readonly inspectOnly?: boolean;
  /** Read-only use: what a previous run left in the kernel. */
  readonly kernel: Pick<KernelPort, 'read'>;
  /** Prepare an IPv6 plane too (the network has IPv6 enabled and extLink an IPv6 address). */
  readonly ipv6: boolean;
  /** The IPv6 pod network (IPv6Network), where the network has one. */
  readonly ipv6Network?: Ipv6Subnet;
}

/** One peer as `weft status` shows it: the backend's own column, and what the kernel lacks. */
export interface PeerCheck {
  readonly column?: string;
  readonly problems: readonly string[];
}

export type PeerChecker = (peer: PeerLease<PeerData>, route: DesiredRoute | undefined) => PeerCheck;

/** A backend configured and prepared for this host. Pure from here on: it plans, it does not act. */
export interface BackendRuntime {
  /** The device this backend owns, if any: the kernel layer reads it and the monitor watches it. */
  readonly deviceName: string | undefined;
  /** BackendData this host publishes in its lease, serialised exactly as Flannel does. */
  readonly leaseData: unknown;
  /** Header of the backend's column in `weft status`, if it has one. */
  readonly statusColumn?: string;
  /** What the log says about this host's side, once at start. */
  readonly summary: Record<string, unknown>;
  plan(ownSubnet: Ipv4Subnet, peers: readonly PeerLease<PeerData>[]): DesiredState;
  readonly groupOf?: PeerGrouping;
  /** The IPv6 plane, when the environment asked for one. */
  readonly ipv6?: Ipv6Runtime;
  /** Backend-specific checks of peers beyond their routes (which status checks for every backend). */
  peerChecker(desired: DesiredState, actual: ActualState): PeerChecker;
  deviceProblems(desired: DesiredState, actual: ActualState): string[];
}

/**
 * A backend's IPv6 plane on this host: planned over each peer's IPv6 lease and diffed on its
 * own against the kernel's IPv6 tables, so the IPv4 plane's code and state are untouched.
 */
export interface Ipv6Runtime {
  readonly deviceName: string | undefined;
  /** BackendV6Data this host publishes, exactly as Flannel writes it. */
  readonly leaseData: unknown;
  readonly summary: Record<string, unknown>;
  plan(ownSubnet: Ipv6Subnet, peers: readonly PeerLease<PeerData>[]): DesiredState;
  readonly groupOf?: PeerGrouping;
}

/**
 * What lets a change be planned for the peers it touches alone (see DesiredIndex): peers whose
 * entries depend on each other share a group, and plan() over whole groups gives exactly their
 * part of plan() over every peer. vxlan groups by VtepMAC (one MAC, one FDB destination); host-gw
 * peers stand alone. A backend without it (wireguard: one device configuration holding every
 * peer) is planned as a whole on every change.
 */
export type PeerGrouping = (peer: PeerLease<PeerData>) => string;

/**
 * The group of a peer that depends on no other: its lease key. Group names are strings the peer
 * already holds (a key, a MAC), so 10000 groups cost no new strings; a lease key never looks
 * like a MAC, so the two kinds cannot meet.
 */
export function ownGroup(peer: PeerLease<PeerData>): string {
  return peer.key;
}

/** A runtime together with its type, MTU and peer-data check: what the agent holds. */
export interface ActiveBackend extends BackendRuntime {
  readonly type: string;
  readonly podMtu: number;
  decodePeerData(backendData: unknown): DecodeResult<PeerData>;
}
