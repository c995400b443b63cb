import type { Logger } from 'winston';
import { type LeaseValidationContext, type PeerLease, validatePeerLease } from './lease.js';
import type { LeaseStore } from './leaseStore.js';
import { parseSubnetKey } from './subnetKey.js';
import { subnetsEqual } from '../net/ipv4.js';

export type InvalidLeaseListener = (key: string, reason: string) => void;

/**
 * The validated view of a LeaseStore: only leases that pass validatePeerLease. Validation results
 * are cached per (key, value) so a relist of 10000 unchanged leases costs no re-validation, and
 * each distinct bad lease is reported exactly once rather than on every resync.
 */
export class PeerSet {
  private readonly verdicts = new Map<string, { value: string; peer?: PeerLease }>();
  private cachedVersion = -1;
  private cachedPeers: PeerLease[] = [];

  constructor(
    private readonly store: LeaseStore,
    private context: LeaseValidationContext,
    private readonly logger: Logger,
    private readonly onInvalid?: InvalidLeaseListener,
  ) {}

  /** Our own subnet changes after a re-acquire; every verdict depends on it. */
  setContext(context: LeaseValidationContext): void {
    this.context = context;
    this.verdicts.clear();
    this.cachedVersion = -1;
  }

  peers(): readonly PeerLease[] {
    if (this.cachedVersion === this.store.version) return this.cachedPeers;
    const peers: PeerLease[] = [];
    const seen = new Set<string>();
    for (const lease of this.store.all()) {
      seen.add(lease.key);
      let verdict = this.verdicts.get(lease.key);
      if (!verdict || verdict.value !== lease.value) {
        const result = validatePeerLease(lease, this.context);
        verdict = result.ok ? { value: lease.value, peer: result.lease } : { value: lease.value };
        this.verdicts.set(lease.key, verdict);
        if (!result.ok && !this.isOwnKey(lease.key)) {
          this.logger.warn('ignoring invalid lease', { key: lease.key, reason: result.reason });
          this.onInvalid?.(lease.key, result.reason);
        }
      }
      if (verdict.peer) peers.push(verdict.peer);
    }
    for (const key of this.verdicts.keys()) if (!seen.has(key)) this.verdicts.delete(key);
    peers.sort((a, b) => a.subnet.address - b.subnet.address);
    this.cachedPeers = peers;
    this.cachedVersion = this.store.version;
    return peers;
  }

  /** Our own lease sits in the same store; it is not a peer, but it is not an attack either. */
  private isOwnKey(key: string): boolean {
    const subnet = parseSubnetKey(key);
    return subnet !== undefined && this.context.ownSubnet !== undefined && subnetsEqual(subnet, this.context.ownSubnet);
  }
}
