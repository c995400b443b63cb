import type { Logger } from 'winston';
import { nexthopIdFor } from '../backend/desiredState.js';
import type { BatchFailure } from '../kernel/iprouteBatch.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { PeerLease } from '../subnet/lease.js';

/** What identifies a peer's lines in a batch: its subnet (routes, neighbours, nexthop IDs) and its PublicIP (gateways, FDB). */
export type PeerIdentity = Pick<PeerLease, 'key' | 'subnet' | 'publicIP'>;

/** Consecutive failing passes a peer is retried at the reconciler's pace before it is held back. */
export const FAILURES_BEFORE_HOLD = 3;
export const FIRST_HOLD_MS = 2_000;
export const MAX_HOLD_MS = 60_000;

interface PeerRecord {
  /** The value the record is about: a changed lease starts afresh. */
  readonly lease: PeerIdentity;
  failures: number;
  holds: number;
  heldUntil: number;
  lastError: string;
}

export interface PeerBackoffOptions {
  readonly logger: Logger;
  /** A hold ended: the peer should be tried again. */
  readonly onRelease: () => void;
  readonly now?: () => number;
}

/**
 * Per-peer backoff for peers the kernel keeps refusing (a gateway it cannot reach, say). Without
 * it one such peer makes every pass fail and retry within a second, forever; held back, it is
 * left out of the plan and tried again after 2 s, 4 s, … up to a minute, while every other peer
 * is programmed as usual. A lease that changes, or a pass in which the peer's lines all succeed,
 * clears its record.
 */
export class PeerBackoff {
  private readonly records = new Map<string, PeerRecord>();
  private admitted: readonly PeerIdentity[] = [];
  private releaseTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: PeerBackoffOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The peers to plan this pass: all but those held back. Remembered for afterPass(). */
  admit<P extends PeerIdentity>(peers: readonly P[]): P[] {
    const now = this.now();
    const current = new Set<string>();
    const admitted = peers.filter((peer) => {
      current.add(peer.key);
      const record = this.records.get(peer.key);
      if (record && !sameLease(record.lease, peer)) {
        this.records.delete(peer.key);
        return true;
      }
      return !record || record.heldUntil <= now;
    });
    for (const key of this.records.keys()) if (!current.has(key)) this.records.delete(key);
    this.admitted = admitted;
    this.scheduleRelease();
    return admitted;
  }

  /** No peer has a failure on record: nothing for a pass to count against anyone. */
  idle(): boolean {
    return this.records.size === 0;
  }

  /** Peers held back right now, for metrics. */
  heldCount(): number {
    const now = this.now();
    let held = 0;
    for (const record of this.records.values()) if (record.heldUntil > now) held++;
    return held;
  }

  /** Charges each failed batch line to the admitted peer it names; peers with none succeeded. */
  afterPass(failures: readonly BatchFailure[]): void {
    const failed = failingPeers(this.admitted, failures);
    const now = this.now();
    for (const peer of this.admitted) {
      const error = failed.get(peer.key);
      const record = this.records.get(peer.key);
      if (error === undefined) {
        if (record && record.holds > 0) this.options.logger.info('peer programmed again after backoff', { key: peer.key });
        this.records.delete(peer.key);
        continue;
      }
      const next = record ?? { lease: peer, failures: 0, holds: 0, heldUntil: 0, lastError: error };
      next.failures++;
      next.lastError = error;
      this.records.set(peer.key, next);
      if (next.failures < FAILURES_BEFORE_HOLD) continue;
      const holdMs = Math.min(MAX_HOLD_MS, FIRST_HOLD_MS * 2 ** next.holds);
      next.holds++;
      next.heldUntil = now + holdMs;
      // Said once per peer; later holds of the same peer only lengthen.
      if (next.holds === 1) {
        this.options.logger.warn('peer held back: the kernel keeps refusing its entries; retrying with backoff', {
          key: peer.key,
          publicIP: peer.publicIP,
          error,
          retryInMs: holdMs,
        });
      }
    }
    this.scheduleRelease();
  }

  stop(): void {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
  }

  private scheduleRelease(): void {
    this.stop();
    const now = this.now();
    let next = Infinity;
    for (const record of this.records.values()) if (record.heldUntil > now) next = Math.min(next, record.heldUntil);
    if (next === Infinity) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      this.options.onRelease();
    }, next - now);
    this.releaseTimer.unref();
  }
}

function sameLease(a: PeerIdentity, b: PeerIdentity): boolean {
  return a.publicIP === b.publicIP && a.subnet.address === b.subnet.address && a.subnet.prefixLength === b.subnet.prefixLength;
}

/**
 * Which peer each failed line belongs to, by the words in it: a route or neighbour names the
 * peer's subnet address, a nexthop its ID, an FDB entry or a host-gw route its PublicIP.
 * A line naming no admitted peer (the device, a stale entry's removal) is charged to nobody.
 */
export function failingPeers(peers: readonly PeerIdentity[], failures: readonly BatchFailure[]): Map<string, string> {
  const failed = new Map<string, string>();
  if (failures.length === 0) return failed;
  const byWord = new Map<string, string[]>();
  const index = (word: string, key: string): void => {
    const keys = byWord.get(word);
    if (keys) keys.push(key);
    else byWord.set(word, [key]);
  };
  for (const peer of peers) {
    index(formatIpv4(peer.subnet.address), peer.key);
    index(String(nexthopIdFor(peer.subnet)), peer.key);
    index(peer.publicIP, peer.key);
  }
  for (const failure of failures) {
    for (const word of failure.command.split(/[\s/]+/)) {
      for (const key of byWord.get(word) ?? []) if (!failed.has(key)) failed.set(key, failure.error);
    }
  }
  return failed;
}
