import type { PeerLease } from '../subnet/lease.js';
import type { PeerGrouping } from './backend.js';
import { type OwnershipScope, convergedState, diffKernelState } from './diff.js';
import type { KernelPlan } from '../kernel/kernelPlan.js';
import type { DesiredRoute, DesiredState, SkippedPeer } from './desiredState.js';
import type { PeerData } from './registry.js';

type Peer = PeerLease<PeerData>;

export interface DesiredIndexOptions {
  /** The backend's plan for some peers (every peer, or whole groups of them). */
  readonly plan: (peers: readonly Peer[]) => DesiredState;
  readonly groupOf: PeerGrouping;
  /** Which peers this plane counts (the IPv6 plane: those with an IPv6 lease). */
  readonly counts: (peer: Peer) => boolean;
}

/** Kernel operations for a change, and the plane's figures after it. */
export interface ChangePlan {
  readonly plan: KernelPlan;
  readonly peers: number;
  readonly skipped: readonly SkippedPeer[];
}

function peerOrder(a: Peer, b: Peer): number {
  return a.subnet.address - b.subnet.address || a.key.localeCompare(b.key);
}

/**
 * The desired state of one plane, indexed by peer group and by kernel entry, so that a lease
 * change is planned and diffed for the groups it touches alone: the entries those groups had,
 * against the entries they have now. Both come from the backend's own plan(), over whole groups
 * (see PeerGrouping), so the fast path cannot plan anything a full plan would not; the property
 * test in test/unit/desiredIndex.test.ts holds it to that. The entries are also what the kernel
 * holds once the last plan was applied, which lets the monitor's echo of our own writes be told
 * from someone else's change.
 */
export class DesiredIndex {
  /**
   * The peers as last planned. Not PeerSet's view: by the time update() runs, that already holds
   * the changed leases, and the entries to take out are those of the old ones.
   */
  private readonly peers = new Map<string, Peer>();
  /** The keys in each group: one key, kept as itself, for nearly every group. */
  private readonly groups = new Map<string, string | Set<string>>();
  private readonly routes = new Map<string, DesiredRoute>();
  private readonly nexthops = new Map<number, DesiredRoute>();
  private readonly neighs = new Map<string, string>();
  private readonly fdb = new Map<string, string>();
  private readonly skipped = new Map<string, string>();
  private device: DesiredState['device'];
  private counted = 0;

  constructor(private readonly options: DesiredIndexOptions) {}

  /** Plans every peer from scratch; the index then describes exactly the state returned. */
  rebuild(peers: readonly Peer[]): DesiredState {
    const desired = this.options.plan(peers);
    this.peers.clear();
    this.groups.clear();
    this.routes.clear();
    this.nexthops.clear();
    this.neighs.clear();
    this.fdb.clear();
    this.skipped.clear();
    this.counted = 0;
    this.device = desired.device;
    for (const peer of peers) this.join(peer);
    this.index(desired);
    return desired;
  }

  /**
   * Applies changed peers (undefined: gone) and returns the kernel operations that take the
   * kernel from the last plan to the new one, touching only the groups the changes were or are in.
   */
  update(changed: ReadonlyMap<string, Peer | undefined>, scope: OwnershipScope): ChangePlan {
    const groups = new Set<string>();
    for (const [key, peer] of changed) {
      const was = this.peers.get(key);
      if (was) groups.add(this.options.groupOf(was));
      if (peer) groups.add(this.options.groupOf(peer));
    }
    const before = this.planGroups(groups);
    for (const [key, peer] of changed) {
      this.leave(key);
      if (peer) this.join(peer);
    }
    const after = this.planGroups(groups);
    this.unindex(before);
    this.index(after);
    const device = this.device ? { device: this.device } : {};
    const plan = diffKernelState({ ...after, ...device }, convergedState({ ...before, ...device }, scope.useNexthops), scope);
    return { plan, peers: this.counted, skipped: this.skippedList() };
  }

  get peerCount(): number {
    return this.counted;
  }

  route(dst: string): DesiredRoute | undefined {
    return this.routes.get(dst);
  }

  nexthop(id: number): DesiredRoute | undefined {
    return this.nexthops.get(id);
  }

  neighbour(dst: string): string | undefined {
    return this.neighs.get(dst);
  }

  fdbDestination(mac: string): string | undefined {
    return this.fdb.get(mac);
  }

  skippedList(): SkippedPeer[] {
    const list: SkippedPeer[] = [];
    for (const [key, reason] of this.skipped) list.push({ key, reason });
    return list;
  }

  private planGroups(groups: ReadonlySet<string>): DesiredState {
    const peers: Peer[] = [];
    for (const group of groups) {
      const keys = this.groups.get(group);
      for (const key of keys === undefined ? [] : typeof keys === 'string' ? [keys] : keys) peers.push(this.peers.get(key)!);
    }
    if (peers.length === 0) return { routes: [], neighs: [], fdb: [], skipped: [] };
    return this.options.plan(peers.sort(peerOrder));
  }

  private join(peer: Peer): void {
    const group = this.options.groupOf(peer);
    const keys = this.groups.get(group);
    if (keys === undefined) this.groups.set(group, peer.key);
    else if (typeof keys === 'string') this.groups.set(group, new Set([keys, peer.key]));
    else keys.add(peer.key);
    this.peers.set(peer.key, peer);
    if (this.options.counts(peer)) this.counted++;
  }

  private leave(key: string): void {
    const peer = this.peers.get(key);
    if (!peer) return;
    const group = this.options.groupOf(peer);
    const keys = this.groups.get(group);
    if (typeof keys === 'string') this.groups.delete(group);
    else if (keys) {
      keys.delete(key);
      if (keys.size === 1) this.groups.set(group, keys.values().next().value!);
    }
    this.peers.delete(key);
    if (this.options.counts(peer)) this.counted--;
  }

  private index(state: DesiredState): void {
    for (const route of state.routes) {
      this.routes.set(route.dst, route);
      this.nexthops.set(route.nexthopId, route);
    }
    for (const n of state.neighs) this.neighs.set(n.dst, n.lladdr);
    for (const f of state.fdb) this.fdb.set(f.mac, f.dst);
    for (const s of state.skipped) this.skipped.set(s.key, s.reason);
  }

  private unindex(state: DesiredState): void {
    for (const route of state.routes) {
      this.routes.delete(route.dst);
      this.nexthops.delete(route.nexthopId);
    }
    for (const n of state.neighs) this.neighs.delete(n.dst);
    for (const f of state.fdb) this.fdb.delete(f.mac);
    for (const s of state.skipped) this.skipped.delete(s.key);
  }
}
