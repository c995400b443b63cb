import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { type NetworkConfig, parseNetworkConfig } from '../../config/networkConfig.js';
import { ConfigError, DatastoreError, SubnetExhaustedError, errorMessage } from '../../util/errors.js';
import { type Ipv4Subnet, formatSubnet, subnetsEqual, subnetsOverlap } from '../../net/ipv4.js';
import { Backoff } from '../../util/backoff.js';
import type { LeaseAttrs, PeerLease } from '../lease.js';
import { LeaseStore } from '../leaseStore.js';
import { PeerSet } from '../peerSet.js';
import type { AcquireRequest, OwnLease, SubnetManager } from '../subnetManager.js';
import type { NodeAnnotationKeys } from './annotations.js';
import { type NodeApi, isConflict } from './nodeApi.js';
import { NodeInformer, type NodeWatchRestartReason } from './nodeInformer.js';
import {
  annotationChanges,
  chooseSubnetClaim,
  desiredAnnotations,
  nodeListLeases,
  nodeName,
  otherClaims,
  ownPodCidr,
  ownSubnetClaim,
  storedNodeLease,
  validateNodeLease,
} from './nodeLease.js';

export interface KubeSubnetManagerOptions {
  readonly api: NodeApi;
  /** This node's name (NODE_NAME). */
  readonly nodeName: string;
  readonly keys: NodeAnnotationKeys;
  /** --net-config-path. */
  readonly netConfigPath: string;
  readonly logger: Logger;
  readonly forbiddenSubnets?: readonly Ipv4Subnet[];
  readonly onInvalidLease?: (key: string, reason: string) => void;
  readonly onWatchRestart?: (reason: NodeWatchRestartReason) => void;
  /** How often this node is re-read: readiness evidence, and repair of its annotations. */
  readonly probeIntervalMs?: number;
  readonly relistIntervalMs?: number;
  readonly watchTimeoutSeconds?: number;
  readonly random?: () => number;
}

const MAX_CLAIM_ATTEMPTS = 50;

/** net-conf.json comes from a mounted ConfigMap: a missing or invalid file is a deployment error. */
export async function readNetConfigFile(path: string): Promise<NetworkConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--net-config-path', path, `cannot be read: ${errorMessage(err)}`);
  }
  return parseNetworkConfig(text, path);
}

/**
 * Subnets and peers from the Kubernetes API, as Flannel's kube subnet manager keeps them, plus a
 * mode Flannel lacks. With SubnetSource "podCIDR" the node's spec.podCIDR is the lease; with
 * "annotations" the node claims a subnet of the Network in its own annotation, so a second
 * network can run from the API without etcd. Peers are the other nodes that publish this
 * network's annotations, validated exactly like etcd leases.
 */
export class KubeSubnetManager extends EventEmitter implements SubnetManager {
  private readonly store = new LeaseStore();
  private readonly logger: Logger;
  private peerSet: PeerSet | undefined;
  private config: NetworkConfig | undefined;
  private attrs: LeaseAttrs | undefined;
  private own: Ipv4Subnet | undefined;
  private informer: NodeInformer | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private revision = 0;
  private contactAt = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private repairing: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: KubeSubnetManagerOptions) {
    super();
    this.logger = options.logger;
  }

  lastContact(): number {
    return this.contactAt;
  }

  ownLease(): OwnLease | undefined {
    return this.own ? { subnet: this.own } : undefined;
  }

  peers(): readonly PeerLease[] {
    return this.peerSet?.peers() ?? [];
  }

  async getNetworkConfig(): Promise<NetworkConfig> {
    this.config = await readNetConfigFile(this.options.netConfigPath);
    return this.config;
  }

  async acquireLease(request: AcquireRequest): Promise<OwnLease> {
    this.config = request.config;
    this.attrs = request.attrs;
    const subnet =
      request.config.subnetSource === 'annotations'
        ? await this.claimSubnet(request.previousSubnet)
        : await this.podCidrLease();
    this.setOwn(subnet);
    return { subnet };
  }

  async start(): Promise<void> {
    if (!this.own) throw new DatastoreError('start() called before acquireLease()');
    const self = this.options.nodeName;
    const source = this.config!.subnetSource;
    const keys = this.options.keys;
    this.informer = new NodeInformer({
      api: this.options.api,
      logger: this.logger,
      ...(this.options.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: this.options.watchTimeoutSeconds } : {}),
      ...(this.options.relistIntervalMs !== undefined ? { relistIntervalMs: this.options.relistIntervalMs } : {}),
      onContact: () => this.touch(),
      onError: (what, err) => this.reportError(what, err),
      ...(this.options.onWatchRestart ? { onRestart: this.options.onWatchRestart } : {}),
      // Every list and event gets a fresh local revision: the informer delivers them in order,
      // so this is the order LeaseStore needs, without comparing opaque resourceVersions.
      onList: (nodes) => {
        const revision = ++this.revision;
        if (this.store.replaceAll(nodeListLeases(nodes, self, keys, source, revision), revision)) this.emit('change');
      },
      onEvent: (type, node) => {
        const name = nodeName(node);
        if (name === self) {
          if (type !== 'DELETED') void this.repairOwnNode(node);
          return;
        }
        const revision = ++this.revision;
        const lease = type === 'DELETED' ? undefined : storedNodeLease(node, keys, source, revision);
        const changed = this.store.apply([lease ? { type: 'put', ...lease } : { type: 'delete', key: name, revision }]);
        if (changed) this.emit('change');
      },
    });
    await this.informer.start();
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeIntervalMs ?? 10_000);
    this.probeTimer.unref();
  }

  /**
   * Once routes are in place, tell the scheduler this node's network works, as Flannel does. Only
   * the podCIDR network is the node's primary network; a secondary one must not speak for it.
   */
  async dataPlaneReady(): Promise<void> {
    if (this.config?.subnetSource !== 'podCIDR') return;
    const backoff = new Backoff(500, 10_000);
    const now = new Date();
    while (!this.closed) {
      try {
        await this.options.api.patchCondition(this.options.nodeName, {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'WeftIsUp',
          message: 'weft is running on this node',
          lastTransitionTime: now,
          lastHeartbeatTime: now,
        });
        this.touch();
        this.logger.info('cleared NetworkUnavailable on this node', { node: this.options.nodeName });
        return;
      } catch (err) {
        this.reportError('clearing NetworkUnavailable', err);
        await this.pause(backoff.next());
      }
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
    clearInterval(this.probeTimer);
    await this.informer?.close();
    await this.repairing;
  }

  // ---- podCIDR mode ----

  private async podCidrLease(): Promise<Ipv4Subnet> {
    let waitingLogged = false;
    for (;;) {
      const node = await this.readOwnNode();
      const result = ownPodCidr(node, this.options.keys, this.config!);
      if (result.kind === 'ok') {
        await this.publish(node);
        return result.subnet;
      }
      if (!waitingLogged) {
        this.logger.info('waiting for node.spec.podCIDR to be assigned (kube-controller-manager --allocate-node-cidrs)', { node: this.options.nodeName });
        waitingLogged = true;
      }
      await this.pause(1_000);
      this.throwIfClosed();
    }
  }

  /** Publishes this node's annotations when they differ; a 409 means a newer node: read it and retry. */
  private async publish(node: V1Node, extra: Record<string, string> = {}): Promise<V1Node> {
    let current = node;
    for (let attempt = 1; ; attempt++) {
      const changes = annotationChanges(current, { ...desiredAnnotations(current, this.options.keys, this.attrs!), ...extra });
      if (!changes) return current;
      try {
        const updated = await this.options.api.patchAnnotations(this.options.nodeName, changes, current.metadata?.resourceVersion);
        this.touch();
        this.logger.info('published node annotations', { node: this.options.nodeName, annotations: Object.keys(changes) });
        return updated;
      } catch (err) {
        if (!isConflict(err) || attempt >= MAX_CLAIM_ATTEMPTS) throw err;
        this.logger.debug('node changed under our patch (409); retrying on a fresh read', { node: this.options.nodeName });
        current = await this.readOwnNode();
      }
    }
  }

  // ---- annotations mode ----

  /**
   * Claims a subnet in this node's annotation. Every node writes only its own Node object, so the
   * resourceVersion precondition cannot stop two nodes taking one subnet; the re-check after the
   * write can. A node that sees anyone else holding its subnet after writing gives it up and tries
   * another. When both racers see each other both retry (random picks and jitter break the tie);
   * when only one does, the other was provably first.
   */
  private async claimSubnet(previous: Ipv4Subnet | undefined): Promise<Ipv4Subnet> {
    const keys = this.options.keys;
    const self = this.options.nodeName;
    const backoff = new Backoff(200, 5_000, this.options.random);
    let preferred: Ipv4Subnet | undefined = previous;
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      this.throwIfClosed();
      const before = await this.listNodes();
      const node = before.find((n) => nodeName(n) === self);
      if (!node) {
        this.logger.info('waiting for this node to be registered', { node: self });
        await this.pause(1_000);
        continue;
      }
      const subnet = chooseSubnetClaim(this.config!, otherClaims(before, self, keys), [ownSubnetClaim(node, keys), preferred], this.options.random);
      if (!subnet) {
        throw new SubnetExhaustedError(`no free subnet left in ${formatIpv4Range(this.config!)} for node ${self}`);
      }
      try {
        await this.publish(node, { [keys.subnet]: formatSubnet(subnet) });
      } catch (err) {
        if (!isConflict(err)) throw err;
        continue;
      }
      const rivals = otherClaims(await this.listNodes(), self, keys).filter((c) => subnetsOverlap(c.subnet, subnet));
      if (rivals.length === 0) {
        this.logger.info('claimed subnet', { node: self, subnet: formatSubnet(subnet) });
        return subnet;
      }
      this.logger.warn('subnet claim collided with another node; choosing again', {
        subnet: formatSubnet(subnet),
        rivals: rivals.map((r) => r.node),
      });
      preferred = undefined;
      await this.withdrawClaim(subnet);
      await this.pause(backoff.next());
    }
    throw new DatastoreError(`could not claim a subnet for node ${self} after ${MAX_CLAIM_ATTEMPTS} attempts`);
  }

  private async withdrawClaim(subnet: Ipv4Subnet): Promise<void> {
    const keys = this.options.keys;
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      const node = await this.readOwnNode();
      const claim = ownSubnetClaim(node, keys);
      if (!claim || !subnetsEqual(claim, subnet)) return;
      try {
        await this.options.api.patchAnnotations(this.options.nodeName, { [keys.subnet]: null, [keys.kubeSubnetManager]: null }, node.metadata?.resourceVersion);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  // ---- upkeep ----

  /** A cheap read that proves the API server answers, and puts back anything removed from our node. */
  private async probe(): Promise<void> {
    try {
      const node = await this.options.api.get(this.options.nodeName);
      this.touch();
      if (node) await this.repairOwnNode(node);
      else this.logger.warn('this node is not registered in the API server', { node: this.options.nodeName });
    } catch (err) {
      this.reportError('probing this node', err);
    }
  }

  /**
   * Level-triggered upkeep of our own Node: annotations someone removed are written back, and a
   * podCIDR that changed (the node was deleted and registered again) becomes our new lease.
   */
  private async repairOwnNode(node: V1Node): Promise<void> {
    if (this.repairing || this.closed || !this.own) return;
    this.repairing = (async () => {
      const keys = this.options.keys;
      if (this.config!.subnetSource === 'podCIDR') {
        const result = ownPodCidr(node, keys, this.config!);
        if (result.kind === 'ok' && !subnetsEqual(result.subnet, this.own!)) {
          this.logger.warn('node.spec.podCIDR changed; following it', { from: formatSubnet(this.own!), to: formatSubnet(result.subnet) });
          this.setOwn(result.subnet);
          this.emit('own-lease', { subnet: result.subnet });
          this.emit('change');
        }
        await this.publish(node);
      } else {
        await this.publish(node, { [keys.subnet]: formatSubnet(this.own!) });
      }
    })()
      .catch((err: unknown) => this.reportError('repairing this node', err))
      .finally(() => (this.repairing = undefined));
    await this.repairing;
  }

  private setOwn(subnet: Ipv4Subnet): void {
    this.own = subnet;
    const context = {
      config: this.config!,
      ownSubnet: subnet,
      forbidden: this.options.forbiddenSubnets ?? [],
      anySubnetLength: this.config!.subnetSource === 'podCIDR',
    };
    if (this.peerSet) this.peerSet.setContext(context);
    else this.peerSet = new PeerSet(this.store, context, this.logger, this.options.onInvalidLease, validateNodeLease);
  }

  private async readOwnNode(): Promise<V1Node> {
    const backoff = new Backoff(500, 10_000);
    for (;;) {
      this.throwIfClosed();
      try {
        const node = await this.options.api.get(this.options.nodeName);
        this.touch();
        if (node) return node;
        this.logger.info('waiting for this node to be registered', { node: this.options.nodeName });
      } catch (err) {
        this.reportError('reading this node', err);
      }
      await this.pause(backoff.next());
    }
  }

  private async listNodes(): Promise<V1Node[]> {
    const backoff = new Backoff(500, 10_000);
    for (;;) {
      this.throwIfClosed();
      try {
        const listing = await this.options.api.list();
        this.touch();
        return listing.items;
      } catch (err) {
        this.reportError('listing nodes', err);
      }
      await this.pause(backoff.next());
    }
  }

  private reportError(what: string, err: unknown): void {
    if (this.closed) return;
    this.logger.warn(`Kubernetes API call failed: ${what}; retrying`, { error: errorMessage(err) });
    this.emit('datastore-error', err);
  }

  private touch(): void {
    this.contactAt = Date.now();
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  private throwIfClosed(): void {
    if (this.closed) throw new DatastoreError('subnet manager closed');
  }
}

function formatIpv4Range(config: NetworkConfig): string {
  return `Network ${formatSubnet(config.network)} (SubnetLen ${config.subnetLen})`;
}
