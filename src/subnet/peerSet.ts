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

/**
 * The validated view of a LeaseStore: only leases that pass validatePeerLease. Validation results
 * are cached per (key, value) so a relist of 10000 unchanged leases costs no re-validation, and
 * each distinct bad lease is reported exactly once rather than on every resync.
 */
export class PeerSet<D> {
  private readonly verdicts = new Map<string, { value: string; peer?: PeerLease<D> }>();
  private cachedVersion = -1;
  private cachedPeers: PeerLease<D>[] = [];
  private readonly conflictReports = new ReportOncePerKey();

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
    this.verdicts.clear();
    this.cachedVersion = -1;
  }

  peers(): readonly PeerLease<D>[] {
    if (this.cachedVersion === this.store.version) return this.cachedPeers;
    const candidates: Array<{ peer: PeerLease<D>; created: number }> = [];
    const seen = new Set<string>();
    let invalid = 0;
    for (const lease of this.store.all()) {
      seen.add(lease.key);
      let verdict = this.verdicts.get(lease.key);
      if (!verdict || verdict.value !== lease.value) {
        const result = this.validate(lease, this.context);
        verdict = result.ok ? { value: lease.value, peer: result.lease } : { value: lease.value };
        this.verdicts.set(lease.key, verdict);
        if (!result.ok && !this.isOwnKey(lease.key)) {
          if (++invalid <= INVALID_LINES_PER_UPDATE) this.logger.warn('ignoring invalid lease', { key: lease.key, reason: result.reason });
          this.onInvalid?.(lease.key, result.reason);
        }
      }
      if (verdict.peer) candidates.push({ peer: verdict.peer, created: lease.created ?? lease.revision });
    }
    if (invalid > INVALID_LINES_PER_UPDATE) {
      this.logger.warn(`ignoring ${invalid - INVALID_LINES_PER_UPDATE} more invalid leases (weft_invalid_leases_total counts them all)`);
    }
    for (const key of this.verdicts.keys()) if (!seen.has(key)) this.verdicts.delete(key);
    const peers = this.resolveConflicts(candidates);
    peers.sort((a, b) => a.subnet.address - b.subnet.address || a.key.localeCompare(b.key));
    this.cachedPeers = peers;
    this.cachedVersion = this.store.version;
    return peers;
  }

  /**
   * Two keys can name one subnet ("10.5.1.0-24" and "10.5.1.0-24&fd00::-64"), and a second
   * claim would otherwise steal the first host's traffic. The first claim (oldest key) wins;
   * later ones are rejected and reported once.
   */
  private resolveConflicts(candidates: Array<{ peer: PeerLease<D>; created: number }>): PeerLease<D>[] {
    // Keys compared by code unit, not localeCompare: this sort runs over every peer on every
    // change, and ties are common (an etcd transaction, or nodes registered in the same ms).
    candidates.sort((a, b) => a.created - b.created || (a.peer.key < b.peer.key ? -1 : a.peer.key > b.peer.key ? 1 : 0));
    const owners = new Map<number, PeerLease<D>>();
    const ipv6Owners = new Map<bigint, PeerLease<D>>();
    const accepted: PeerLease<D>[] = [];
    const conflicts: KeyedReason[] = [];
    const ipv4 = this.context.config.enableIPv4;
    for (const { peer, created } of candidates) {
      const owner = ipv4 ? owners.get(peer.subnet.address) : undefined;
      if (owner) {
        conflicts.push({ key: peer.key, reason: `subnet ${formatSubnet(peer.subnet)} is already claimed by ${owner.key}` });
        continue;
      }
      const ipv6Owner = peer.ipv6 && ipv6Owners.get(peer.ipv6.subnet.address);
      if (peer.ipv6 && ipv6Owner) {
        conflicts.push({ key: peer.key, reason: `IPv6 subnet ${formatIpv6Subnet(peer.ipv6.subnet)} is already claimed by ${ipv6Owner.key}` });
        continue;
      }
      if (ipv4) owners.set(peer.subnet.address, peer);
      if (peer.ipv6) ipv6Owners.set(peer.ipv6.subnet.address, peer);
      // A backend may need the order too (vxlan: which of two leases with one VtepMAC is newer).
      accepted.push({ ...peer, created });
    }
    this.conflictReports.update(conflicts, ({ key, reason }) => {
      this.logger.warn('ignoring invalid lease', { key, reason });
      this.onInvalid?.(key, reason);
    });
    return accepted;
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
