import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import type { Ipv4Subnet } from '../../net/ipv4.js';
import type { Ipv6Subnet } from '../../net/ipv6.js';
import { Backoff } from '../../util/backoff.js';
import { ConfigError, SubnetExhaustedError, errorMessage } from '../../util/errors.js';
import type { LeaseValidationContext, UnderlayFacts } from '../lease.js';
import type { LeaseEvent } from '../leaseStore.js';
import { ManagerLifecycle } from '../lifecycle.js';
import { PeerWatch } from '../peerWatch.js';
import type { AcquireRequest, Datastore, DatastoreListener, OwnLease, SubnetLease } from '../subnetManager.js';
import { type EtcdAcquireInput, type EtcdAcquired, acquireEtcdLease, describeLease } from './acquire.js';
import { EtcdKeyLayout } from './keys.js';
import { EtcdRegistry, type HeldLease, type LeaseListing } from './registry.js';
import { type EtcdHeaderFacts, EtcdResetDetector } from './resetDetector.js';

export interface EtcdDatastoreOptions<C> extends DatastoreListener {
  /** Owned from here on: close() closes it. */
  readonly client: Etcd3;
  /** e.g. /coreos.com/network (no trailing slash). */
  readonly prefix: string;
  /** Reads <prefix>/config; throws ConfigError for a config to wait out. */
  readonly parseConfig: (json: string, source: string) => C;
  readonly logger: Logger;
  readonly renewMarginMinutes: number;
  readonly leaseTtlSeconds?: number;
  /** How often the peer set is rebuilt from a full listing, whatever the watch said. */
  readonly relistIntervalMs?: number;
  readonly random?: () => number;
  /** Subnets no peer may claim (the underlay's own); see validatePeerLease. */
  readonly forbiddenSubnets?: readonly Ipv4Subnet[];
  readonly forbiddenIpv6Subnets?: readonly Ipv6Subnet[];
  /** The underlay's facts a peer's PublicIP is checked against; see validatePeerClaim. */
  readonly underlay?: UnderlayFacts;
  /** How often etcd is pinged so readiness knows it is reachable even when nothing changes. */
  readonly probeIntervalMs?: number;
}

/**
 * Flannel's etcd v3 registry (layout in keys.ts), first phase: the network config, then this
 * host's lease (policy in acquire.ts), which yields an EtcdSubnetLease.
 */
export class EtcdDatastore<C extends NetworkConfig<BackendSelection>> implements Datastore<C> {
  private readonly lifecycle = new ManagerLifecycle();
  private readonly registry: EtcdRegistry;

  constructor(private readonly options: EtcdDatastoreOptions<C>) {
    this.registry = new EtcdRegistry(options.client, new EtcdKeyLayout(options.prefix), this.lifecycle, options.logger, options.leaseTtlSeconds);
    this.lifecycle.onClose(() => this.registry.close());
  }

  lastContact(): number {
    return this.lifecycle.lastContact();
  }

  close(): Promise<void> {
    return this.lifecycle.close();
  }

  /**
   * Reads <prefix>/config, waiting (and saying so) until it exists and is valid. A config that
   * fails validation is reported once per distinct value and waited out: an operator fixing it
   * should not have to restart every agent.
   */
  async readNetworkConfig(signal?: AbortSignal): Promise<C> {
    const { logger } = this.options;
    const configKey = this.registry.keys.configKey;
    const backoff = new Backoff(500, 10_000);
    let lastProblem = '';
    const report = (problem: string, fields: Record<string, unknown>): void => {
      const fingerprint = `${problem} ${JSON.stringify(fields)}`;
      if (fingerprint === lastProblem) return;
      lastProblem = fingerprint;
      logger.warn(problem, fields);
    };
    for (;;) {
      this.lifecycle.throwIfClosed(signal);
      try {
        const value = await this.registry.readConfig();
        if (value === null) {
          report('waiting for network config to appear in etcd', { key: configKey });
        } else {
          try {
            const config = this.options.parseConfig(value, configKey);
            if (config.subnetSource !== 'podCIDR') {
              throw new ConfigError('SubnetSource', config.subnetSource, 'applies only with --kube-subnet-mgr; etcd leases are always allocated from Network');
            }
            return config;
          } catch (err) {
            report('network config in etcd is invalid; waiting for a valid one', { key: configKey, error: errorMessage(err) });
          }
        }
        await this.lifecycle.pause(1_000, signal);
      } catch (err) {
        this.reportError('reading network config', err);
        await this.lifecycle.pause(backoff.next(), signal);
      }
    }
  }

  async acquire<D>(request: AcquireRequest<C, D>, signal?: AbortSignal): Promise<SubnetLease<D>> {
    const closeOnAbort = (): void => void this.close();
    signal?.addEventListener('abort', closeOnAbort, { once: true });
    try {
      const acquired = await acquireEtcdLease(
        {
          ...this.acquireInput(request),
          ...(request.previousSubnet ? { preferred: request.previousSubnet } : {}),
          ...(request.previousIpv6Subnet ? { preferredIpv6: request.previousIpv6Subnet } : {}),
        },
        this.acquireDeps(),
      );
      return new EtcdSubnetLease(request, acquired, {
        registry: this.registry,
        lifecycle: this.lifecycle,
        options: this.options,
        reacquire: (held) =>
          acquireEtcdLease(
            { ...this.acquireInput(request), preferred: held.subnet, ...(held.ipv6Subnet ? { preferredIpv6: held.ipv6Subnet } : {}) },
            this.acquireDeps(),
          ),
        reportError: (what, err) => this.reportError(what, err),
      });
    } finally {
      signal?.removeEventListener('abort', closeOnAbort);
    }
  }

  private acquireInput<D>(request: AcquireRequest<C, D>): EtcdAcquireInput {
    const forbidden = this.options.forbiddenSubnets;
    return { config: request.config, attrs: request.attrs, ...(forbidden ? { forbidden } : {}) };
  }

  private acquireDeps() {
    return {
      registry: this.registry,
      lifecycle: this.lifecycle,
      logger: this.options.logger,
      ...(this.options.random ? { random: this.options.random } : {}),
      reportError: (what: string, err: unknown) => this.reportError(what, err),
    };
  }

  private reportError(what: string, err: unknown): void {
    if (this.lifecycle.closed) return;
    this.options.logger.warn(`etcd: ${what} failed; will retry`, { error: errorMessage(err) });
    this.options.onDatastoreError?.(err instanceof Error ? err : new Error(String(err)));
  }
}

interface EtcdLeaseParts<C> {
  readonly registry: EtcdRegistry;
  readonly lifecycle: ManagerLifecycle;
  readonly options: EtcdDatastoreOptions<C>;
  readonly reacquire: (previous: HeldLease) => Promise<EtcdAcquired>;
  readonly reportError: (what: string, err: unknown) => void;
}

/**
 * Second phase: our lease kept renewed, and every peer lease watched and validated. The watch
 * processes every event of every response, resumes from the last revision it saw, relists after
 * compaction or a broken stream, and relists periodically anyway.
 */
class EtcdSubnetLease<C extends NetworkConfig<BackendSelection>, D> extends PeerWatch<D> {
  private readonly registry: EtcdRegistry;
  private held: HeldLease;
  /** The listing acquisition worked from, until start() hands it to the store. */
  private acquiredFrom: EtcdAcquired['listing'] | undefined;
  private watcher: Watcher | undefined;
  private cancelRenewal: () => void = () => undefined;
  private reacquiring: Promise<void> | undefined;
  private watchRestarting = false;
  private readonly resets = new EtcdResetDetector();
  /** Set while our lease is being re-created after etcd lost its history. */
  private recovering: Promise<void> | undefined;
  /** The value another writer put on our key (same --public-ip on two hosts, say); we do not fight over it. */
  private overwrittenWith: string | undefined;
  /** The last network config value reported as differing from the one we run with. */
  private reportedConfig: string | null | undefined;

  constructor(
    private readonly request: AcquireRequest<C, D>,
    acquired: EtcdAcquired,
    private readonly parts: EtcdLeaseParts<C>,
  ) {
    super(parts.lifecycle, parts.options.logger, etcdValidationContext(request, acquired.held, parts.options), parts.options.onInvalidLease);
    this.registry = parts.registry;
    this.held = acquired.held;
    this.acquiredFrom = acquired.listing;
    this.lifecycle.onClose(() => this.stopWatching());
  }

  ownLease(): OwnLease {
    const { subnet, ipv6Subnet, expiration } = this.held;
    return { subnet, ...(ipv6Subnet ? { ipv6Subnet } : {}), ...(expiration ? { expiration } : {}) };
  }

  override ownLeaseHeld(): boolean {
    return this.recovering === undefined && this.overwrittenWith === undefined;
  }

  async dataPlaneReady(): Promise<void> {
    // etcd has no node object to mark ready.
  }

  async start(): Promise<void> {
    // The listing acquisition just made is as good as a fresh one: the watch delivers everything
    // after it, our own write included. Skipping a second full list matters at 10000 leases.
    const from = this.acquiredFrom;
    this.acquiredFrom = undefined;
    let revision: number | undefined;
    if (from) {
      this.resets.check(from.header);
      this.resets.sawRevision(this.held.modRevision);
      this.store.replaceAll(from.leases, from.revision);
      revision = from.revision;
      this.emit('change');
    } else {
      revision = await this.relist();
    }
    if (revision !== undefined) await this.startWatch(revision + 1);
    this.scheduleRenewal();
    const options = this.parts.options;
    this.lifecycle.every(options.relistIntervalMs ?? 5 * 60_000, () => void this.relistQuietly('periodic relist'));
    // Every 10 s, as the API server in Kubernetes mode: each probe is a gRPC call costing about
    // 4 ms of CPU here, so at 5 s the probe alone was half the idle budget (docs/benchmarks.md).
    // Readiness allows 20 s without an answer either way, and a reset is also caught by the
    // relist after the watch reconnects.
    this.lifecycle.every(options.probeIntervalMs ?? 10_000, () => void this.probe());
  }

  private async probe(): Promise<void> {
    if (this.lifecycle.closed) return;
    try {
      const { header, config } = await this.registry.probe();
      if (!this.noticeReset(header)) this.noticeConfigChange(config);
    } catch (err) {
      this.parts.reportError('health probe', err);
    }
  }

  private async stopWatching(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    // etcd3 waits for etcd to confirm a cancel; the lifecycle bounds that wait on a dead connection.
    await watcher?.cancel();
  }

  private scheduleRenewal(): void {
    this.cancelRenewal();
    const expiration = this.held.expiration;
    if (!expiration) return;
    const due = expiration.getTime() - this.parts.options.renewMarginMinutes * 60_000 - Date.now();
    this.cancelRenewal = this.lifecycle.after(Math.max(0, due), () => void this.renew());
  }

  /**
   * Moves our key onto a fresh 24 h etcd lease, but only if nobody changed it since our last
   * write; otherwise the lease is no longer ours to renew and we acquire again.
   */
  private async renew(): Promise<void> {
    if (this.lifecycle.closed) return;
    const held = this.held;
    try {
      const renewed = await this.registry.renew(held);
      if (!renewed) {
        this.logger.warn('our lease changed or vanished in etcd; acquiring again', describeHeld(held));
        await this.reacquire();
        return;
      }
      this.held = renewed;
      this.resets.sawRevision(renewed.modRevision);
      this.logger.info('renewed lease', { ...describeHeld(held), expires: renewed.expiration?.toISOString() });
      this.scheduleRenewal();
      this.emit('change');
    } catch (err) {
      this.parts.reportError('renewing lease', err);
      this.cancelRenewal();
      this.cancelRenewal = this.lifecycle.after(5_000, () => void this.renew());
    }
  }

  /** Acquires again after our key vanished, preferring the subnet we had so routes stay valid. */
  private reacquire(): Promise<void> {
    // A reset's recovery re-creates the lease itself, once the network config is back.
    if (this.recovering) return this.recovering;
    if (this.reacquiring || this.lifecycle.closed) return this.reacquiring ?? Promise.resolve();
    const previous = this.held;
    this.reacquiring = (async () => {
      try {
        const { held } = await this.parts.reacquire(previous);
        this.held = held;
        this.overwrittenWith = undefined;
        this.resets.sawRevision(held.modRevision);
        this.peerSet.setContext(etcdValidationContext(this.request, held, this.parts.options));
        this.scheduleRenewal();
        if (previous.key !== held.key) this.logger.warn('lease re-acquired with a different subnet', describeHeld(held));
        this.emit('own-lease', this.ownLease());
        this.emit('change');
      } catch (err) {
        if (!this.lifecycle.closed) this.emit('fatal', err instanceof Error ? err : new Error(String(err)));
      } finally {
        this.reacquiring = undefined;
      }
    })();
    return this.reacquiring;
  }

  /**
   * A change of Network, SubnetLen or backend cannot be applied to a running data plane (every
   * route, the device and our lease depend on them), so the agent keeps the config it started
   * with; it says so once per distinct value instead of ignoring the change silently.
   */
  private noticeConfigChange(value: string | null): void {
    let differs: string | undefined;
    if (value === null) {
      differs = 'was deleted';
    } else {
      try {
        if (configFingerprint(this.parts.options.parseConfig(value, this.registry.keys.configKey)) !== configFingerprint(this.request.config)) differs = 'changed';
      } catch (err) {
        differs = `changed to an invalid one (${errorMessage(err)})`;
      }
    }
    if (differs === undefined) {
      this.reportedConfig = undefined;
      return;
    }
    if (this.reportedConfig === value) return;
    this.reportedConfig = value;
    this.logger.warn(`the network config in etcd ${differs}; this agent keeps running with the one it started with: restart it to apply a new one`, {
      key: this.registry.keys.configKey,
    });
  }

  /** Returns the listing's revision, or undefined when it showed an etcd reset (recovery then takes over). */
  private async relist(): Promise<number | undefined> {
    const listing = await this.registry.listLeases();
    if (this.noticeReset(listing.header)) return undefined;
    const { leases, revision } = listing;
    if (this.store.replaceAll(leases, revision)) this.emit('change');
    this.checkOwnKeyPresent();
    this.checkOwnKeyOurs();
    return revision;
  }

  /** True when `header` shows that etcd lost its history; starts the recovery (once). */
  private noticeReset(header: EtcdHeaderFacts): boolean {
    if (this.recovering) return true;
    const reason = this.resets.check(header);
    if (reason === undefined || this.lifecycle.closed) return false;
    this.recovering = this.recoverFromReset(reason).finally(() => {
      this.recovering = undefined;
    });
    return true;
  }

  /**
   * etcd was restored from an old backup or rebuilt on empty data dirs: every revision we hold is
   * from a history that no longer exists, our lease is gone and the watch waits for a revision
   * the new history may reach only much later. Our lease is re-created with the same subnet once
   * the network config is back (an operator restores it; until then there is nothing to join),
   * and the store and the watch start over from the new history.
   */
  private async recoverFromReset(reason: string): Promise<void> {
    const previous = this.held;
    this.parts.options.onWatchRestart?.('reset');
    this.logger.warn('etcd lost its history; re-creating our lease with the same subnet and relisting', { reason, ...describeHeld(previous) });
    const stale = this.watcher;
    this.watcher = undefined;
    // Not awaited: a watcher that is reconnecting may never confirm the cancel.
    void stale?.cancel().catch(() => undefined);
    const backoff = new Backoff(500, 10_000);
    while (!this.lifecycle.closed) {
      try {
        await this.waitForNetworkConfig();
        const { held } = await this.parts.reacquire(previous);
        const listing = await this.registry.listLeases();
        this.adoptHistory(held, listing);
        await this.startWatch(listing.revision + 1);
        break;
      } catch (err) {
        if (err instanceof SubnetExhaustedError) {
          this.emit('fatal', err);
          return;
        }
        this.parts.reportError('re-creating our lease after an etcd reset', err);
        await this.lifecycle.pause(backoff.next()).catch(() => undefined);
      }
    }
    if (this.lifecycle.closed) return;
    this.logger.info('lease re-created after the etcd reset', { ...describeHeld(this.held), revision: this.held.modRevision });
  }

  private adoptHistory(held: HeldLease, listing: LeaseListing): void {
    const previous = this.held;
    this.resets.rebase(listing.header);
    this.resets.sawRevision(held.modRevision);
    this.held = held;
    this.overwrittenWith = undefined;
    this.store.rebase(listing.leases, listing.revision);
    this.scheduleRenewal();
    if (previous.key !== held.key) {
      this.peerSet.setContext(etcdValidationContext(this.request, held, this.parts.options));
      this.logger.warn('lease re-acquired with a different subnet', describeHeld(held));
      this.emit('own-lease', this.ownLease());
    }
    this.emit('change');
  }

  private async waitForNetworkConfig(): Promise<void> {
    let said = false;
    while (!this.lifecycle.closed) {
      const value = await this.registry.readConfig();
      if (value !== null) return;
      if (!said) this.logger.warn('waiting for the network config to be restored in etcd before re-creating our lease', { key: this.registry.keys.configKey });
      said = true;
      await this.lifecycle.pause(1_000);
    }
  }

  private async relistQuietly(what: string): Promise<void> {
    // A call on a closed client would make etcd3 dial again and keep the process alive.
    if (this.lifecycle.closed) return;
    try {
      await this.relist();
    } catch (err) {
      this.parts.reportError(what, err);
    }
  }

  private ownLeaseName(): string {
    return this.registry.keys.leaseName(this.held.key);
  }

  private checkOwnKeyPresent(): void {
    if (this.lifecycle.closed) return;
    if (!this.store.get(this.ownLeaseName())) {
      this.logger.warn('our lease is gone from etcd; acquiring again', describeHeld(this.held));
      void this.reacquire();
    }
  }

  /**
   * Another writer put its own value on our key: two hosts with one --public-ip, or a stray tool.
   * Taking it back would start a tug of war between two live agents, so we say so once and report
   * not ready instead; renewal, which is conditional on our last write, then acquires anew.
   */
  private checkOwnKeyOurs(): void {
    const stored = this.store.get(this.ownLeaseName());
    if (!stored || stored.revision <= this.held.modRevision) return;
    if (stored.value === this.held.value) {
      if (this.overwrittenWith !== undefined) this.logger.info('our lease holds our value again', describeHeld(this.held));
      this.overwrittenWith = undefined;
      return;
    }
    if (this.overwrittenWith === stored.value) return;
    this.overwrittenWith = stored.value;
    this.logger.error('our lease was overwritten by another writer (another host with our --public-ip?); not taking it back, reporting not ready', {
      ...describeHeld(this.held),
      key: this.held.key,
      value: stored.value,
    });
  }

  private async startWatch(fromRevision: number): Promise<void> {
    const watcher = await this.registry.watch(fromRevision);
    if (this.lifecycle.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => {
      // A watcher left behind by a reset recovery may still deliver the new history's events.
      if (this.watcher === watcher) this.onWatchResponse(response);
    });
    let resumed = false;
    watcher.on('disconnected', (err: Error) => {
      resumed = true;
      this.parts.options.onWatchRestart?.('disconnected');
      this.parts.reportError('watch stream', err);
    });
    // etcd3 reconnects on its own, but on every (re)connect it moves its resume point to the
    // creation response's header revision, the store's current one, before the catch-up events
    // have arrived: a second disconnect in that window would skip them. A relist after every
    // reconnect closes that gap; the revision-aware store keeps it from rolling anything back.
    watcher.on('connected', () => {
      this.lifecycle.touch();
      if (!resumed) return;
      resumed = false;
      void this.relistQuietly('relist after watch reconnect');
    });
    watcher.on('error', (err: Error) => {
      if (this.watcher === watcher) void this.restartWatch(watcher, err);
    });
  }

  private onWatchResponse(response: IWatchResponse): void {
    this.lifecycle.touch();
    const keys = this.registry.keys;
    const events: LeaseEvent[] = response.events.map((event) => {
      const key = keys.leaseName(event.kv.key.toString());
      const revision = Number(event.kv.mod_revision);
      this.resets.sawRevision(revision);
      return event.type === 'Delete'
        ? { type: 'delete', key, revision }
        : { type: 'put', key, value: event.kv.value.toString(), revision, created: Number(event.kv.create_revision) };
    });
    if (this.store.apply(events)) this.emit('change');
    const ownName = this.ownLeaseName();
    if (events.some((e) => e.key === ownName && e.type === 'delete')) this.checkOwnKeyPresent();
    if (events.some((e) => e.key === ownName && e.type === 'put')) this.checkOwnKeyOurs();
  }

  /**
   * etcd cancelled the watch, typically because the revision we resume from was compacted away
   * while we were disconnected: the events in between are gone, so list everything and watch
   * anew from the listing's revision. etcd3 has already dropped a cancelled watcher; calling
   * cancel() on it again would wait forever for a confirmation that never comes.
   */
  private async restartWatch(cancelled: Watcher, cause: Error): Promise<void> {
    if (this.watcher === cancelled) this.watcher = undefined;
    if (this.watchRestarting || this.lifecycle.closed) return;
    this.watchRestarting = true;
    this.parts.options.onWatchRestart?.('cancelled');
    this.logger.warn('etcd watch cancelled (e.g. history compacted); relisting and watching again', { error: errorMessage(cause) });
    const backoff = new Backoff(200, 10_000);
    while (!this.lifecycle.closed) {
      try {
        const revision = await this.relist();
        if (revision !== undefined) await this.startWatch(revision + 1);
        break;
      } catch (err) {
        this.parts.reportError('re-establishing watch', err);
        await this.lifecycle.pause(backoff.next());
      }
    }
    this.watchRestarting = false;
  }
}

function describeHeld(held: HeldLease): Record<string, string> {
  return describeLease({ ipv4: held.subnet, ...(held.ipv6Subnet ? { ipv6: held.ipv6Subnet } : {}) });
}

function etcdValidationContext<C extends NetworkConfig<BackendSelection>, D>(
  request: AcquireRequest<C, D>,
  held: HeldLease,
  options: EtcdDatastoreOptions<C>,
): LeaseValidationContext<D> {
  const { forbiddenSubnets: forbidden, forbiddenIpv6Subnets: forbiddenIpv6, underlay } = options;
  return {
    config: request.config,
    decodePeerData: request.decodePeerData,
    ownSubnet: held.subnet,
    ...(held.ipv6Subnet ? { ownIpv6Subnet: held.ipv6Subnet } : {}),
    ...(forbidden ? { forbidden } : {}),
    ...(forbiddenIpv6 ? { forbiddenIpv6 } : {}),
    ...(underlay ? { underlay } : {}),
  };
}

/** A parsed config as comparable text (IPv6 subnets hold bigints, which JSON cannot write as they are). */
function configFingerprint(config: unknown): string {
  return JSON.stringify(config, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}
