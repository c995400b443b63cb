import type { RawLease } from './lease.js';

export interface StoredLease extends RawLease {
  /** Datastore revision that last wrote this key (etcd mod_revision / k8s resourceVersion order). */
  readonly revision: number;
  /** Revision that created the key: when two leases claim one subnet, the first claim wins. */
  readonly created?: number;
}

export type LeaseEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number; readonly created?: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

/**
 * The latest known value of every lease key, fed by two unordered sources: watch events and
 * periodic full relists. Each key remembers the revision that produced its state (tombstones
 * included), so an event or a list that is older than what we already hold can never resurrect a
 * deleted lease or roll a lease back. Pure state: no I/O.
 */
export class LeaseStore {
  private readonly live = new Map<string, StoredLease>();
  private readonly tombstones = new Map<string, number>();
  private generation = 0;
  /** Keys whose value appeared, changed or went away since takeTouched() last ran. */
  private touched = new Set<string>();

  /** Applies watch events in order; returns true when anything changed. */
  apply(events: readonly LeaseEvent[]): boolean {
    let changed = false;
    for (const event of events) {
      const known = this.revisionOf(event.key);
      if (event.revision <= known) continue;
      if (event.type === 'put') {
        const previous = this.live.get(event.key);
        this.tombstones.delete(event.key);
        this.live.set(event.key, { key: event.key, value: event.value, revision: event.revision, created: event.created ?? event.revision });
        if (previous?.value !== event.value) {
          changed = true;
          this.touch(event.key);
        }
      } else {
        if (this.live.delete(event.key)) {
          changed = true;
          this.touch(event.key);
        }
        this.tombstones.set(event.key, event.revision);
      }
    }
    if (changed) this.generation++;
    return changed;
  }

  /**
   * Replaces the contents with a full listing taken at `listRevision`. Keys written after that
   * revision (seen through the watch) are kept as they are; tombstones at or below it are no
   * longer needed and are dropped.
   */
  replaceAll(listing: readonly StoredLease[], listRevision: number): boolean {
    let changed = false;
    const listed = new Map(listing.map((lease) => [lease.key, lease]));
    for (const [key, current] of this.live) {
      if (!listed.has(key) && current.revision <= listRevision) {
        this.live.delete(key);
        this.touch(key);
        changed = true;
      }
    }
    for (const lease of listing) {
      if (lease.revision <= this.revisionOf(lease.key)) continue;
      const previous = this.live.get(lease.key);
      this.tombstones.delete(lease.key);
      this.live.set(lease.key, lease);
      if (previous?.value !== lease.value) {
        changed = true;
        this.touch(lease.key);
      }
    }
    for (const [key, revision] of this.tombstones) {
      if (revision <= listRevision) this.tombstones.delete(key);
    }
    if (changed) this.generation++;
    return changed;
  }

  /**
   * Replaces the contents with a listing from a new history (etcd restored or rebuilt): the
   * revisions remembered from the old one say nothing about the new one's, so none is kept.
   */
  rebase(listing: readonly StoredLease[], listRevision: number): void {
    for (const key of this.live.keys()) this.touch(key);
    this.live.clear();
    this.tombstones.clear();
    this.generation++;
    this.replaceAll(listing, listRevision);
  }

  get(key: string): StoredLease | undefined {
    return this.live.get(key);
  }

  all(): IterableIterator<StoredLease> {
    return this.live.values();
  }

  get size(): number {
    return this.live.size;
  }

  /** Increases on every change; lets consumers cache derived views cheaply. */
  get version(): number {
    return this.generation;
  }

  /**
   * The keys touched since the last call, for the one consumer that keeps a view of the store
   * up to date by key (PeerSet), so that a change costs work for that key, not for every key.
   */
  takeTouched(): Set<string> {
    const touched = this.touched;
    this.touched = new Set();
    return touched;
  }

  private touch(key: string): void {
    this.touched.add(key);
  }

  private revisionOf(key: string): number {
    return this.live.get(key)?.revision ?? this.tombstones.get(key) ?? 0;
  }
}
