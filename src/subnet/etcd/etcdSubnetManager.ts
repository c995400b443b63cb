import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'winston';
import { type NetworkConfig, parseNetworkConfig } from '../../config/networkConfig.js';
import { ConfigError, DatastoreError, SubnetExhaustedError, errorMessage } from '../../util/errors.js';
import { type Ipv4Subnet, formatSubnet, subnetsEqual, subnetsOverlap } from '../../net/ipv4.js';
import { pickFreeSubnet, subnetInRange } from '../allocator.js';
import { type PeerLease, ownedSubnet, serializeLeaseAttrs } from '../lease.js';
import { type LeaseEvent, LeaseStore, type StoredLease } from '../leaseStore.js';
import { PeerSet } from '../peerSet.js';
import type { AcquireRequest, OwnLease, SubnetManager } from '../subnetManager.js';
import { parseSubnetKey, subnetToKey } from '../subnetKey.js';
import { Backoff } from '../../util/backoff.js';

export const DEFAULT_LEASE_TTL_SECONDS = 24 * 60 * 60;

export interface EtcdSubnetManagerOptions {
  /** Owned from here on: close() closes it. */
  readonly client: Etcd3;
  /** e.g. /coreos.com/network (no trailing slash). */
  readonly prefix: string;
  readonly logger: Logger;
  readonly renewMarginMinutes: number;
  readonly leaseTtlSeconds?: number;
  /** How often the peer set is rebuilt from a full listing, whatever the watch said. */
  readonly relistIntervalMs?: number;
  readonly random?: () => number;
  /** Subnets no peer may claim (the underlay's own); see validatePeerLease. */
  readonly forbiddenSubnets?: readonly Ipv4Subnet[];
  readonly onInvalidLease?: (key: string, reason: string) => void;
  readonly onWatchRestart?: (reason: WatchRestartReason) => void;
  /** How often etcd is pinged so readiness knows it is reachable even when nothing changes. */
  readonly probeIntervalMs?: number;
}

/** Bounded on purpose: it becomes a metric label. The log line carries the detail. */
export type WatchRestartReason = 'disconnected' | 'cancelled';

interface HeldLease {
  readonly subnet: Ipv4Subnet;
  readonly key: string;
  readonly value: string;
  /** mod_revision of our last write: renewal is conditional on nobody having changed the key since. */
  readonly modRevision: number;
  /** etcd lease ID granted by this process ('0' for a reservation). */
  readonly etcdLeaseId: string;
  readonly expiration?: Date;
}

const MAX_ACQUIRE_ATTEMPTS = 200;

/** An etcd key-value under <prefix>/subnets/ as the lease store keeps it. */
export function storedLeaseFromKv(kv: IKeyValue, subnetsPrefix: string): StoredLease {
  return {
    key: kv.key.toString().slice(subnetsPrefix.length),
    value: kv.value.toString(),
    revision: Number(kv.mod_revision),
    created: Number(kv.create_revision),
  };
}

/**
 * Flannel's etcd v3 registry, kept compatible key for key:
 *   <prefix>/config             network config JSON
 *   <prefix>/subnets/<a.b.c.d-len>  one lease per host, bound to a 24 h etcd lease
 * and made sturdier: the peer watch processes every event of every response, resumes from the
 * last revision it saw, relists after compaction or a broken stream, and relists periodically
 * anyway; every peer lease is validated before anyone sees it.
 */
export class EtcdSubnetManager extends EventEmitter implements SubnetManager {
  private readonly client: Etcd3;
  private readonly logger: Logger;
  private readonly subnetsPrefix: string;
  private readonly configKey: string;
  private readonly store = new LeaseStore();
  private peerSet: PeerSet | undefined;
  private config: NetworkConfig | undefined;
  private request: AcquireRequest | undefined;
  private held: HeldLease | undefined;
  private watcher: Watcher | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private reacquiring: Promise<void> | undefined;
  private watchRestarting = false;
  /** The listing the last successful acquire worked from: start() watches on from it. */
  private acquiredFrom: { leases: StoredLease[]; revision: number } | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private contactAt = 0;

  constructor(private readonly options: EtcdSubnetManagerOptions) {
    super();
    this.client = options.client;
    this.logger = options.logger;
    this.subnetsPrefix = `${options.prefix}/subnets/`;
    this.configKey = `${options.prefix}/config`;
  }

  async dataPlaneReady(): Promise<void> {
    // etcd has no node object to mark ready.
  }

  lastContact(): number {
    return this.contactAt;
  }

  ownLease(): OwnLease | undefined {
    if (!this.held) return undefined;
    return { subnet: this.held.subnet, ...(this.held.expiration ? { expiration: this.held.expiration } : {}) };
  }

  peers(): readonly PeerLease[] {
    return this.peerSet?.peers() ?? [];
  }

  /**
   * Reads <prefix>/config, waiting (and saying so) until it exists and is valid. A config that
   * fails validation is reported once per distinct value and waited out: an operator fixing it
   * should not have to restart every agent.
   */
  async getNetworkConfig(signal?: AbortSignal): Promise<NetworkConfig> {
    const backoff = new Backoff(500, 10_000);
    let lastProblem = '';
    const report = (problem: string, fields: Record<string, unknown>): void => {
      const fingerprint = `${problem} ${JSON.stringify(fields)}`;
      if (fingerprint === lastProblem) return;
      lastProblem = fingerprint;
      this.logger.warn(problem, fields);
    };
    for (;;) {
      this.throwIfStopped(signal);
      try {
        const value = await this.client.get(this.configKey).string();
        this.touch();
        if (value === null) {
          report('waiting for network config to appear in etcd', { key: this.configKey });
        } else {
          try {
            const config = parseNetworkConfig(value, this.configKey);
            if (config.subnetSource !== 'podCIDR') {
              throw new ConfigError('SubnetSource', config.subnetSource, 'applies only with --kube-subnet-mgr; etcd leases are always allocated from Network');
            }
            this.config = config;
            return config;
          } catch (err) {
            report('network config in etcd is invalid; waiting for a valid one', { key: this.configKey, error: errorMessage(err) });
          }
        }
        await sleep(1_000, undefined, { signal: this.mergedSignal(signal) }).catch(() => undefined);
      } catch (err) {
        this.reportDatastoreError('reading network config', err);
        await sleep(backoff.next(), undefined, { signal: this.mergedSignal(signal) }).catch(() => undefined);
      }
    }
  }

  async acquireLease(request: AcquireRequest): Promise<OwnLease> {
    this.request = request;
    this.config = request.config;
    this.held = await this.acquire(request, request.previousSubnet);
    this.peerSet = new PeerSet(this.store, this.validationContext(), this.logger, this.options.onInvalidLease);
    return this.ownLease()!;
  }

  async start(): Promise<void> {
    if (!this.held) throw new DatastoreError('start() called before acquireLease()');
    // The listing acquisition just made is as good as a fresh one: the watch delivers everything
    // after it, our own write included. Skipping a second full list matters at 10000 leases.
    const from = this.acquiredFrom;
    this.acquiredFrom = undefined;
    let revision: number;
    if (from) {
      this.store.replaceAll(from.leases, from.revision);
      revision = from.revision;
      this.emit('change');
    } else {
      revision = await this.relist();
    }
    await this.startWatch(revision + 1);
    this.scheduleRenewal();
    const interval = this.options.relistIntervalMs ?? 5 * 60_000;
    this.relistTimer = setInterval(() => void this.relistQuietly('periodic relist'), interval);
    this.relistTimer.unref();
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeIntervalMs ?? 5_000);
    this.probeTimer.unref();
  }

  /** A cheap read that proves etcd answers; an idle watch proves nothing. */
  private async probe(): Promise<void> {
    try {
      await this.client.get(this.configKey).exec();
      this.touch();
    } catch (err) {
      this.reportDatastoreError('health probe', err);
    }
  }

  /** Idempotent: a stop during start-up and the start-up's own failure path may both close. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    clearTimeout(this.renewTimer);
    clearInterval(this.relistTimer);
    clearInterval(this.probeTimer);
    const watcher = this.watcher;
    this.watcher = undefined;
    // etcd3 waits for etcd to confirm a cancel; a dead connection must not hold up shutdown.
    if (watcher) await Promise.race([watcher.cancel().catch(() => undefined), sleep(1_000)]);
    this.client.close();
  }

  private validationContext() {
    return {
      config: this.config!,
      ...(this.held ? { ownSubnet: this.held.subnet } : {}),
      ...(this.options.forbiddenSubnets ? { forbidden: this.options.forbiddenSubnets } : {}),
    };
  }

  private touch(): void {
    this.contactAt = Date.now();
  }

  private reportDatastoreError(what: string, err: unknown): void {
    this.logger.warn(`etcd: ${what} failed; will retry`, { error: errorMessage(err) });
    this.emit('datastore-error', err instanceof Error ? err : new Error(String(err)));
  }

  private throwIfStopped(signal?: AbortSignal): void {
    if (this.closed) throw new DatastoreError('subnet manager closed');
    signal?.throwIfAborted();
  }

  private mergedSignal(signal?: AbortSignal): AbortSignal {
    return signal ? AbortSignal.any([signal, this.abort.signal]) : this.abort.signal;
  }

  /** Lists every lease: the raw material for allocation and the peer set. */
  private async listLeases(): Promise<{ leases: StoredLease[]; revision: number; kvs: IKeyValue[] }> {
    const response = await this.client.getAll().prefix(this.subnetsPrefix).exec();
    this.touch();
    const leases = response.kvs.map((kv) => storedLeaseFromKv(kv, this.subnetsPrefix));
    return { leases, revision: Number(response.header.revision), kvs: response.kvs };
  }

  /**
   * Flannel's order: the lease (or reservation) carrying our PublicIP; else the previous subnet if
   * it is free and valid; else a random free one. Each write is a transaction conditioned on the
   * key's state when we listed, so two agents can never both win a subnet; losers list again.
   */
  private async acquire(request: AcquireRequest, preferred: Ipv4Subnet | undefined): Promise<HeldLease> {
    const { config, attrs } = request;
    const value = serializeLeaseAttrs(attrs);
    const range = { min: config.subnetMin, max: config.subnetMax, subnetLen: config.subnetLen };
    const backoff = new Backoff(50, 5_000);
    for (let attempt = 1; attempt <= MAX_ACQUIRE_ATTEMPTS; attempt++) {
      this.throwIfStopped();
      let listing: Awaited<ReturnType<EtcdSubnetManager['listLeases']>>;
      try {
        listing = await this.listLeases();
      } catch (err) {
        this.reportDatastoreError('listing leases', err);
        await sleep(backoff.next(), undefined, { signal: this.abort.signal }).catch(() => undefined);
        attempt--;
        continue;
      }
      const taken: Ipv4Subnet[] = [];
      let mine: { kv: IKeyValue; subnet: Ipv4Subnet } | undefined;
      for (const [i, lease] of listing.leases.entries()) {
        const subnet = parseSubnetKey(lease.key);
        if (!subnet) continue;
        if (!mine && ownedSubnet(lease.key, lease.value, config, attrs.publicIP)) {
          mine = { kv: listing.kvs[i]!, subnet };
          continue;
        }
        taken.push(subnet);
      }

      try {
        this.acquiredFrom = { leases: listing.leases, revision: listing.revision };
        if (mine) {
          const held = await this.rewriteExisting(mine.kv, mine.subnet, value);
          if (held) return held;
        } else {
          const usablePreferred =
            preferred && subnetInRange(range, preferred) && !taken.some((t) => subnetsOverlap(t, preferred))
              ? preferred
              : undefined;
          const candidate = usablePreferred ?? pickFreeSubnet(range, taken, this.options.random);
          if (!candidate) {
            throw new SubnetExhaustedError(
              `no free /${config.subnetLen} left in ${formatSubnet(config.network)} between SubnetMin and SubnetMax ` +
                `(${taken.length} subnets taken); free a lease or widen the range`,
            );
          }
          const held = await this.createLease(candidate, value);
          if (held) return held;
        }
      } catch (err) {
        if (err instanceof SubnetExhaustedError) throw err;
        this.reportDatastoreError('writing lease', err);
        await sleep(backoff.next(), undefined, { signal: this.abort.signal }).catch(() => undefined);
        continue;
      }
      // Lost a race: someone wrote that key between our list and our transaction.
      this.logger.debug('lease transaction conflicted; listing again', { attempt });
      await sleep(Math.floor((this.options.random ?? Math.random)() * 20 * Math.min(attempt, 10)));
    }
    throw new DatastoreError(`could not acquire a lease after ${MAX_ACQUIRE_ATTEMPTS} conflicting attempts`);
  }

  private async grantLease(): Promise<{ id: string; expiration: Date }> {
    const ttl = this.options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    const granted = await this.client.leaseClient.leaseGrant({ TTL: ttl });
    return { id: String(granted.ID), expiration: new Date(Date.now() + Number(granted.TTL) * 1000) };
  }

  private async revokeLease(id: string): Promise<void> {
    if (id === '0') return;
    await this.client.leaseClient.leaseRevoke({ ID: id }).catch((err: unknown) => {
      this.logger.debug('revoking a superseded etcd lease failed; it will expire on its own', { error: errorMessage(err) });
    });
  }

  private async createLease(subnet: Ipv4Subnet, value: string): Promise<HeldLease | undefined> {
    const key = `${this.subnetsPrefix}${subnetToKey(subnet)}`;
    const lease = await this.grantLease();
    const result = await this.client
      .if(key, 'Create', '==', 0)
      .then(this.client.put(key).value(value).lease(lease.id))
      .commit();
    this.touch();
    if (!result.succeeded) {
      await this.revokeLease(lease.id);
      return undefined;
    }
    this.logger.info('acquired new lease', { subnet: formatSubnet(subnet), expires: lease.expiration.toISOString() });
    return { subnet, key, value, modRevision: Number(result.header.revision), etcdLeaseId: lease.id, expiration: lease.expiration };
  }

  /** Takes over the lease (or reservation) that already names our PublicIP, refreshing its attributes. */
  private async rewriteExisting(kv: IKeyValue, subnet: Ipv4Subnet, value: string): Promise<HeldLease | undefined> {
    const key = kv.key.toString();
    const reservation = String(kv.lease) === '0';
    const lease = reservation ? undefined : await this.grantLease();
    const put = this.client.put(key).value(value);
    if (lease) put.lease(lease.id);
    const result = await this.client.if(key, 'Mod', '==', Number(kv.mod_revision)).then(put).commit();
    this.touch();
    if (!result.succeeded) {
      if (lease) await this.revokeLease(lease.id);
      return undefined;
    }
    this.logger.info(reservation ? 'using reserved subnet' : 'reusing existing lease', { subnet: formatSubnet(subnet) });
    return {
      subnet,
      key,
      value,
      modRevision: Number(result.header.revision),
      etcdLeaseId: lease?.id ?? '0',
      ...(lease ? { expiration: lease.expiration } : {}),
    };
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const held = this.held;
    if (!held?.expiration || this.closed) return;
    const due = held.expiration.getTime() - this.options.renewMarginMinutes * 60_000 - Date.now();
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(0, due));
    this.renewTimer.unref();
  }

  /**
   * Moves our key onto a fresh 24 h etcd lease, but only if nobody changed it since our last
   * write; otherwise the lease is no longer ours to renew and we acquire again.
   */
  private async renew(): Promise<void> {
    const held = this.held;
    if (!held || this.closed) return;
    try {
      const lease = await this.grantLease();
      const result = await this.client
        .if(held.key, 'Mod', '==', held.modRevision)
        .then(this.client.put(held.key).value(held.value).lease(lease.id))
        .commit();
      this.touch();
      if (!result.succeeded) {
        await this.revokeLease(lease.id);
        this.logger.warn('our lease changed or vanished in etcd; acquiring again', { subnet: formatSubnet(held.subnet) });
        await this.reacquire();
        return;
      }
      // Record the new lease before the await below, so ownLease() never lags behind etcd.
      this.held = { ...held, modRevision: Number(result.header.revision), etcdLeaseId: lease.id, expiration: lease.expiration };
      await this.revokeLease(held.etcdLeaseId);
      this.logger.info('renewed lease', { subnet: formatSubnet(held.subnet), expires: lease.expiration.toISOString() });
      this.scheduleRenewal();
      this.emit('change');
    } catch (err) {
      this.reportDatastoreError('renewing lease', err);
      clearTimeout(this.renewTimer);
      this.renewTimer = setTimeout(() => void this.renew(), 5_000);
      this.renewTimer.unref();
    }
  }

  /** Acquires again after our key vanished, preferring the subnet we had so routes stay valid. */
  private reacquire(): Promise<void> {
    if (this.reacquiring || this.closed || !this.request) return this.reacquiring ?? Promise.resolve();
    const request = this.request;
    const previous = this.held;
    this.reacquiring = (async () => {
      try {
        const held = await this.acquire(request, previous?.subnet);
        this.held = held;
        this.peerSet?.setContext(this.validationContext());
        this.scheduleRenewal();
        if (!previous || !subnetsEqual(previous.subnet, held.subnet)) {
          this.logger.warn('lease re-acquired with a different subnet', { subnet: formatSubnet(held.subnet) });
        }
        this.emit('own-lease', this.ownLease());
        this.emit('change');
      } catch (err) {
        if (!this.closed) this.emit('error', err);
      } finally {
        this.reacquiring = undefined;
      }
    })();
    return this.reacquiring;
  }

  private async relist(): Promise<number> {
    const { leases, revision } = await this.listLeases();
    if (this.store.replaceAll(leases, revision)) this.emit('change');
    this.checkOwnKeyPresent();
    return revision;
  }

  private async relistQuietly(what: string): Promise<void> {
    // A call on a closed client would make etcd3 dial again and keep the process alive.
    if (this.closed) return;
    try {
      await this.relist();
    } catch (err) {
      this.reportDatastoreError(what, err);
    }
  }

  private checkOwnKeyPresent(): void {
    const held = this.held;
    if (!held || this.closed) return;
    const ownName = held.key.slice(this.subnetsPrefix.length);
    if (!this.store.get(ownName)) {
      this.logger.warn('our lease is gone from etcd; acquiring again', { subnet: formatSubnet(held.subnet) });
      void this.reacquire();
    }
  }

  private async startWatch(fromRevision: number): Promise<void> {
    const watcher = await this.client.watch().prefix(this.subnetsPrefix).startRevision(String(fromRevision)).create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => this.onWatchResponse(response));
    let resumed = false;
    watcher.on('disconnected', (err: Error) => {
      resumed = true;
      this.options.onWatchRestart?.('disconnected');
      this.reportDatastoreError('watch stream', err);
    });
    // etcd3 reconnects on its own, but on every (re)connect it moves its resume point to the
    // creation response's header revision, the store's current one, before the catch-up events
    // have arrived: a second disconnect in that window would skip them. A relist after every
    // reconnect closes that gap; the revision-aware store keeps it from rolling anything back.
    watcher.on('connected', () => {
      this.touch();
      if (!resumed) return;
      resumed = false;
      void this.relistQuietly('relist after watch reconnect');
    });
    watcher.on('error', (err: Error) => void this.restartWatch(watcher, err));
  }

  private onWatchResponse(response: IWatchResponse): void {
    this.touch();
    const events: LeaseEvent[] = response.events.map((event) => {
      const key = event.kv.key.toString().slice(this.subnetsPrefix.length);
      const revision = Number(event.kv.mod_revision);
      return event.type === 'Delete'
        ? { type: 'delete', key, revision }
        : { type: 'put', key, value: event.kv.value.toString(), revision, created: Number(event.kv.create_revision) };
    });
    if (this.store.apply(events)) this.emit('change');
    const ownName = this.held?.key.slice(this.subnetsPrefix.length);
    if (ownName && events.some((e) => e.key === ownName && e.type === 'delete')) this.checkOwnKeyPresent();
  }

  /**
   * etcd cancelled the watch, typically because the revision we resume from was compacted away
   * while we were disconnected: the events in between are gone, so list everything and watch
   * anew from the listing's revision. etcd3 has already dropped a cancelled watcher; calling
   * cancel() on it again would wait forever for a confirmation that never comes.
   */
  private async restartWatch(cancelled: Watcher, cause: Error): Promise<void> {
    if (this.watcher === cancelled) this.watcher = undefined;
    if (this.watchRestarting || this.closed) return;
    this.watchRestarting = true;
    this.options.onWatchRestart?.('cancelled');
    this.logger.warn('etcd watch cancelled (e.g. history compacted); relisting and watching again', { error: errorMessage(cause) });
    const backoff = new Backoff(200, 10_000);
    while (!this.closed) {
      try {
        const revision = await this.relist();
        await this.startWatch(revision + 1);
        break;
      } catch (err) {
        this.reportDatastoreError('re-establishing watch', err);
        await sleep(backoff.next(), undefined, { signal: this.abort.signal }).catch(() => undefined);
      }
    }
    this.watchRestarting = false;
  }
}
