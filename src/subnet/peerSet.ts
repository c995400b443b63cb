import type { Logger } from 'winston';
import { type LeaseValidation, type LeaseValidationContext, type PeerLease, type RawLease, validatePeerLease } from './lease.js';
import type { LeaseStore } from './leaseStore.js';
import { leaseSubnetsToKey } from './subnetKey.js';
import { formatSubnet } from '../net/ipv4.js';
import { formatIpv6Subnet } from '../net/ipv6.js';
import { type KeyedReason, ReportOncePerKey } from '../util/reportOncePerKey.js';

export type InvalidLeaseListener = (key: string, reason: string) => void;

/** Invalid leases named one by one per update; the rest are summed up in one line (10000 garbage keys are not 10000 lines). */
const INVALID_LINES_PER_UPDATE = 10;

/** How a stored lease becomes a peer: etcd keys name the subnet, Node leases carry it in the value. */
export type LeaseValidator<D> = (lease: RawLease, context: LeaseValidationContext<D>) => LeaseValidation<D>;

/** What changed in the peer set since a consumer last looked. */
export interface PeerChanges {
  /** Everything may have changed (the validation context did): read the whole set again. */
  readonly reset: boolean;
  /** Keys whose accepted peer appeared, changed or went away; look each up with PeerSet.get(). */
  readonly keys: ReadonlySet<string>;
}

/** One consumer's view of the changes (each data-plane plane keeps its own). */
export interface PeerChangeCursor {
  take(): PeerChanges;
}

interface Verdict<D> {
  readonly value: string;
  readonly created: number;
  /** The validated peer, with its creation order; absent for an invalid lease. */
  readonly peer?: PeerLease<D>;
}

class Cursor implements PeerChangeCursor {
  reset = true;
  keys = new Set<string>();

  constructor(private readonly sync: () => void) {}

  take(): PeerChanges {
    this.sync();
    const changes = { reset: this.reset, keys: this.keys };
    this.reset = false;
    this.keys = new Set();
    return changes;
  }
}

/**
 * The validated view of a LeaseStore: only leases that pass validatePeerLease, and of two leases
 * claiming one subnet only the first. It is kept up to date key by key from the store's journal
 * of touched keys, so one changed lease costs the validation of that lease and of the few that
 * claim the same subnets, not of all 10000; each distinct bad lease is reported exactly once.
 */
export class PeerSet<D> {
  private readonly verdicts = new Map<string, Verdict<D>>();
  private readonly accepted = new Map<string, PeerLease<D>>();
  /** Keys with a valid lease, by the IPv4 subnet address and IPv6 subnet address they claim. */
  private readonly ipv4Claims = new Map<number, Claimants>();
  private readonly ipv6Claims = new Map<bigint, Claimants>();
  private readonly conflicts = new Map<string, string>();
  private readonly conflictReports = new ReportOncePerKey();
  private readonly cursors = new Set<Cursor>();
  private syncedVersion = -1;
  private everything = true;
  private sorted: PeerLease<D>[] | undefined;

  constructor(
    private readonly store: LeaseStore,
    private context: LeaseValidationContext<D>,
    private readonly logger: Logger,
    private readonly onInvalid?: InvalidLeaseListener,
    private readonly validate: LeaseValidator<D> = validatePeerLease,
  ) {}

  /** Our own subnet changes after a re-acquire; every verdict depends on it. */
  setContext(context: LeaseValidationContext<D>): void {
    this.context = context;
    this.everything = true;
    this.syncedVersion = -1;
  }

  /** All accepted peers, by subnet. Built only when asked for after a change. */
  peers(): readonly PeerLease<D>[] {
    this.sync();
    if (!this.sorted) {
      this.sorted = [...this.accepted.values()].sort((a, b) => a.subnet.address - b.subnet.address || a.key.localeCompare(b.key));
    }
    return this.sorted;
  }

  /** The accepted peer under `key`, if any. */
  get(key: string): PeerLease<D> | undefined {
    this.sync();
    return this.accepted.get(key);
  }

  /** A new consumer of changes; its first take() says reset. */
  changes(): PeerChangeCursor {
    const cursor = new Cursor(() => this.sync());
    this.cursors.add(cursor);
    return cursor;
  }

  private sync(): void {
    if (this.syncedVersion === this.store.version && !this.everything) return;
    const touched = this.store.takeTouched();
    const everything = this.everything;
    if (everything) {
      for (const key of this.verdicts.keys()) touched.add(key);
      for (const lease of this.store.all()) touched.add(lease.key);
      this.verdicts.clear();
      this.ipv4Claims.clear();
      this.ipv6Claims.clear();
    }
    this.everything = false;
    this.syncedVersion = this.store.version;
    if (touched.size === 0) return;
    // Leases that shared a subnet with a touched lease's old claim may win it now.
    const seeds = new Set(touched);
    const changed = this.revalidate(touched, seeds);
    if (everything) for (const key of this.accepted.keys()) changed.add(key);
    if (everything) this.accepted.clear();
    this.resolveConflicts(this.claimGroup(seeds), changed);
    if (changed.size === 0 && !everything) return;
    this.sorted = undefined;
    for (const cursor of this.cursors) {
      if (everything) cursor.reset = true;
      for (const key of changed) cursor.keys.add(key);
    }
  }

  /**
   * Validates the touched keys again; returns those whose lease went away. Adds to `rivals` every
   * key that claimed the same subnet as a touched lease did before.
   */
  private revalidate(touched: ReadonlySet<string>, rivals: Set<string>): Set<string> {
    const gone = new Set<string>();
    let invalid = 0;
    for (const key of touched) {
      const previous = this.verdicts.get(key);
      if (previous?.peer) {
        for (const rival of this.rivalsOf(previous.peer)) rivals.add(rival);
        this.unclaim(previous.peer);
      }
      const lease = this.store.get(key);
      if (!lease) {
        this.verdicts.delete(key);
        if (this.accepted.delete(key)) gone.add(key);
        continue;
      }
      const created = lease.created ?? lease.revision;
      let verdict = previous;
      if (!verdict || verdict.value !== lease.value) {
        const result = this.validate(lease, this.context);
        if (!result.ok && !this.isOwnKey(key)) {
          if (++invalid <= INVALID_LINES_PER_UPDATE) this.logger.warn('ignoring invalid lease', { key, reason: result.reason });
          this.onInvalid?.(key, result.reason);
        }
        verdict = result.ok ? { value: lease.value, created, peer: { ...result.lease, created } } : { value: lease.value, created };
      } else if (verdict.created !== created && verdict.peer) {
        verdict = { value: lease.value, created, peer: { ...verdict.peer, created } };
      }
      this.verdicts.set(key, verdict);
      if (verdict.peer) this.claim(verdict.peer);
      else if (this.accepted.delete(key)) gone.add(key);
    }
    if (invalid > INVALID_LINES_PER_UPDATE) {
      this.logger.warn(`ignoring ${invalid - INVALID_LINES_PER_UPDATE} more invalid leases (weft_invalid_leases_total counts them all)`);
    }
    return gone;
  }

  private claimsIpv4(): boolean {
    return this.context.config.enableIPv4;
  }

  private *rivalsOf(peer: PeerLease<D>): Iterable<string> {
    if (this.claimsIpv4()) yield* claimants(this.ipv4Claims.get(peer.subnet.address));
    if (peer.ipv6) yield* claimants(this.ipv6Claims.get(peer.ipv6.subnet.address));
  }

  private claim(peer: PeerLease<D>): void {
    if (this.claimsIpv4()) addTo(this.ipv4Claims, peer.subnet.address, peer.key);
    if (peer.ipv6) addTo(this.ipv6Claims, peer.ipv6.subnet.address, peer.key);
  }

  private unclaim(peer: PeerLease<D>): void {
    removeFrom(this.ipv4Claims, peer.subnet.address, peer.key);
    if (peer.ipv6) removeFrom(this.ipv6Claims, peer.ipv6.subnet.address, peer.key);
  }

  /**
   * The touched keys and every valid lease linked to them through a shared IPv4 or IPv6 subnet,
   * transitively: who wins a subnet can change who wins the other subnet of the loser's lease.
   */
  private claimGroup(touched: ReadonlySet<string>): string[] {
    const group = new Set<string>();
    const pending = [...touched];
    while (pending.length > 0) {
      const key = pending.pop()!;
      if (group.has(key)) continue;
      group.add(key);
      const peer = this.verdicts.get(key)?.peer;
      if (!peer) continue;
      for (const other of this.rivalsOf(peer)) if (!group.has(other)) pending.push(other);
    }
    return [...group];
  }

  /**
   * Two keys can name one subnet ("10.5.1.0-24" and "10.5.1.0-24&fd00::-64"), and a second
   * claim would otherwise steal the first host's traffic. The first claim (oldest key) wins;
   * later ones are rejected and reported once. Decided over `group`, which holds every lease that
   * can affect the outcome for its members (claimGroup); `changed` collects accepted peers that
   * appeared, changed or went away.
   */
  private resolveConflicts(group: readonly string[], changed: Set<string>): void {
    const candidates: PeerLease<D>[] = [];
    for (const key of group) {
      const peer = this.verdicts.get(key)?.peer;
      if (peer) candidates.push(peer);
    }
    // Keys compared by code unit, not localeCompare: ties are common (an etcd transaction, or
    // nodes registered in the same ms), and a relist can put thousands of keys in one group.
    candidates.sort((a, b) => (a.created ?? 0) - (b.created ?? 0) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const owners = new Map<number, string>();
    const ipv6Owners = new Map<bigint, string>();
    const ipv4 = this.claimsIpv4();
    let conflictsChanged = false;
    for (const peer of candidates) {
      const owner = ipv4 ? owners.get(peer.subnet.address) : undefined;
      const ipv6Owner = peer.ipv6 ? ipv6Owners.get(peer.ipv6.subnet.address) : undefined;
      const reason = owner
        ? `subnet ${formatSubnet(peer.subnet)} is already claimed by ${owner}`
        : ipv6Owner && peer.ipv6
          ? `IPv6 subnet ${formatIpv6Subnet(peer.ipv6.subnet)} is already claimed by ${ipv6Owner}`
          : undefined;
      if (reason) {
        if (this.conflicts.get(peer.key) !== reason) conflictsChanged = true;
        this.conflicts.set(peer.key, reason);
        if (this.accepted.delete(peer.key)) changed.add(peer.key);
        continue;
      }
      if (this.conflicts.delete(peer.key)) conflictsChanged = true;
      if (ipv4) owners.set(peer.subnet.address, peer.key);
      if (peer.ipv6) ipv6Owners.set(peer.ipv6.subnet.address, peer.key);
      if (this.accepted.get(peer.key) !== peer) {
        this.accepted.set(peer.key, peer);
        changed.add(peer.key);
      }
    }
    for (const key of group) if (!this.verdicts.get(key)?.peer && this.conflicts.delete(key)) conflictsChanged = true;
    if (conflictsChanged) this.reportConflicts();
  }

  private reportConflicts(): void {
    const current: KeyedReason[] = [];
    for (const [key, reason] of this.conflicts) current.push({ key, reason });
    this.conflictReports.update(current, ({ key, reason }) => {
      this.logger.warn('ignoring invalid lease', { key, reason });
      this.onInvalid?.(key, reason);
    });
  }

  /**
   * Our own lease sits in the same store; it is not a peer, but it is not an attack either. Only
   * the exact key we write is exempt: another spelling of our subnet is a hijack attempt.
   */
  private isOwnKey(key: string): boolean {
    const { ownSubnet, ownIpv6Subnet } = this.context;
    return ownSubnet !== undefined && key === leaseSubnetsToKey({ ipv4: ownSubnet, ...(ownIpv6Subnet ? { ipv6: ownIpv6Subnet } : {}) });
  }
}

/**
 * Who claims one subnet: almost always one key, kept as the key itself; a Set only for the rare
 * contested subnet (10000 one-element Sets were about a megabyte).
 */
type Claimants = string | Set<string>;

function claimants(entry: Claimants | undefined): Iterable<string> {
  return entry === undefined ? [] : typeof entry === 'string' ? [entry] : entry;
}

function addTo<K>(index: Map<K, Claimants>, at: K, key: string): void {
  const entry = index.get(at);
  if (entry === undefined || entry === key) index.set(at, key);
  else if (typeof entry === 'string') index.set(at, new Set([entry, key]));
  else entry.add(key);
}

function removeFrom<K>(index: Map<K, Claimants>, at: K, key: string): void {
  const entry = index.get(at);
  if (entry === undefined) return;
  if (typeof entry === 'string') {
    if (entry === key) index.delete(at);
    return;
  }
  entry.delete(key);
  if (entry.size === 1) index.set(at, entry.values().next().value!);
}
