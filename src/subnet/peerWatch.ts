import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { LeaseValidationContext, PeerLease } from './lease.js';
import { LeaseStore } from './leaseStore.js';
import type { ManagerLifecycle } from './lifecycle.js';
import { type InvalidLeaseListener, type LeaseValidator, type PeerChangeCursor, PeerSet } from './peerSet.js';
import type { OwnLease, SubnetLease, SubnetLeaseEvents } from './subnetManager.js';

/**
 * What both datastores' second phase share: the raw leases, their validated view, and the
 * lifecycle of the connection. Subclasses fill the store from their watch and keep the lease.
 */
export abstract class PeerWatch<D> extends EventEmitter<SubnetLeaseEvents> implements SubnetLease<D> {
  protected readonly store = new LeaseStore();
  protected readonly peerSet: PeerSet<D>;

  protected constructor(
    protected readonly lifecycle: ManagerLifecycle,
    protected readonly logger: Logger,
    context: LeaseValidationContext<D>,
    onInvalid: InvalidLeaseListener | undefined,
    validate?: LeaseValidator<D>,
  ) {
    super();
    this.peerSet = new PeerSet(this.store, context, logger, onInvalid, validate);
  }

  abstract ownLease(): OwnLease;
  abstract start(): Promise<void>;
  abstract dataPlaneReady(): Promise<void>;

  ownLeaseHeld(): boolean {
    return true;
  }

  peers(): readonly PeerLease<D>[] {
    return this.peerSet.peers();
  }

  peer(key: string): PeerLease<D> | undefined {
    return this.peerSet.get(key);
  }

  peerChanges(): PeerChangeCursor {
    return this.peerSet.changes();
  }

  lastContact(): number {
    return this.lifecycle.lastContact();
  }

  close(): Promise<void> {
    return this.lifecycle.close();
  }
}
