import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import { type Ipv4Subnet, formatSubnet, subnetsEqual, subnetsOverlap } from '../../net/ipv4.js';
import { type Ipv6Subnet, formatIpv6Subnet, ipv6SubnetsEqual } from '../../net/ipv6.js';
import { Backoff } from '../../util/backoff.js';
import { forbiddenNote } from '../allocator.js';
import { ConfigError, DatastoreError, SubnetExhaustedError, errorMessage } from '../../util/errors.js';
import type { LeaseAttrs, LeaseValidationContext, UnderlayFacts } from '../lease.js';
import { ManagerLifecycle } from '../lifecycle.js';
import { PeerWatch } from '../peerWatch.js';
import type { AcquireRequest, Datastore, DatastoreListener, OwnLease, SubnetLease } from '../subnetManager.js';
import type { NodeAnnotationKeys } from './annotations.js';
import { readNetConfigFile } from './netConfigFile.js';
import { type NodeApi, isConflict } from './nodeApi.js';
import { NodeInformer } from './nodeInformer.js';
import { chooseSubnetClaim, nodeListLeases, nodeName, otherClaims, ownPodCidr, ownSubnetClaim, storedNodeLease, validateNodeLease } from './nodeLease.js';
import { OwnNode } from './ownNode.js';

export interface KubeDatastoreOptions<C> extends DatastoreListener {
  readonly api: NodeApi;
  /** This node's name (NODE_NAME). */
  readonly nodeName: string;
  readonly keys: NodeAnnotationKeys;
  /** --net-config-path. */
  readonly netConfigPath: string;
  readonly parseConfig: (json: string, source: string) => C;
  readonly logger: Logger;
  readonly forbiddenSubnets?: readonly Ipv4Subnet[];
  readonly forbiddenIpv6Subnets?: readonly Ipv6Subnet[];
  /** The underlay's facts a peer's PublicIP is checked against; see validatePeerClaim. */
  readonly underlay?: UnderlayFacts;
  /** How often this node is re-read: readiness evidence, and repair of its annotations. */
  readonly probeIntervalMs?: number;
  readonly relistIntervalMs?: number;
  readonly watchTimeoutSeconds?: number;
  readonly random?: () => number;
}

const MAX_CLAIM_ATTEMPTS = 50;

/**
 * Subnets and peers from the Kubernetes API, as Flannel's kube subnet manager keeps them, plus a
 * mode Flannel lacks. With SubnetSource "podCIDR" the node's spec.podCIDR is the lease; with
 * "annotations" the node claims a subnet of the Network in its own annotation, so a second
 * network can run from the API without etcd. First phase: config, then the lease.
 */
export class KubeDatastore<C extends NetworkConfig<BackendSelection>> implements Datastore<C> {
  private readonly lifecycle = new ManagerLifecycle();
  private readonly node: OwnNode;

  constructor(private readonly options: KubeDatastoreOptions<C>) {
    this.node = new OwnNode({
      api: options.api,
      nodeName: options.nodeName,
      keys: options.keys,
      logger: options.logger,
      lifecycle: this.lifecycle,
      reportError: (what, err) => this.reportError(what, err),
    });
  }

  lastContact(): number {
    return this.lifecycle.lastContact();
  }

  close(): Promise<void> {
    return this.lifecycle.close();
  }

  readNetworkConfig(): Promise<C> {
    return readNetConfigFile(this.options.netConfigPath, this.options.parseConfig);
  }

  async acquire<D>(request: AcquireRequest<C, D>, signal?: AbortSignal): Promise<SubnetLease<D>> {
    // A stop while waiting for a podCIDR ends every retry loop at once.
    const closeOnAbort = (): void => void this.close();
    signal?.addEventListener('abort', closeOnAbort, { once: true });
    try {
      const { config, attrs } = request;
      if (config.subnetSource === 'annotations' && config.ipv6) {
        throw new ConfigError('SubnetSource', config.subnetSource, 'leases IPv4 subnets only; a network with EnableIPv6 takes its subnets from spec.podCIDRs ("podCIDR")');
      }
      const subnets: OwnSubnets =
        config.subnetSource === 'annotations'
          ? { ipv4: await this.claimSubnet(config, attrs, request.previousSubnet) }
          : await this.podCidrLease(config, attrs);
      return new KubeSubnetLease(request, subnets, {
        node: this.node,
        lifecycle: this.lifecycle,
        options: this.options,
        reportError: (what, err) => this.reportError(what, err),
      });
    } finally {
      signal?.removeEventListener('abort', closeOnAbort);
    }
  }

  private async podCidrLease(config: C, attrs: LeaseAttrs): Promise<OwnSubnets> {
    let waitingLogged = false;
    for (;;) {
      const node = await this.node.read();
      const result = ownPodCidr(node, this.options.keys, config, this.options.forbiddenSubnets, attrs.publicIPv6 !== undefined);
      if (result.kind === 'ok') {
        await this.node.publish(node, attrs);
        return { ipv4: result.subnet, ...(result.ipv6Subnet ? { ipv6: result.ipv6Subnet } : {}) };
      }
      if (!waitingLogged) {
        this.options.logger.info('waiting for node.spec.podCIDR(s) to be assigned (kube-controller-manager --allocate-node-cidrs)', { node: this.node.name });
        waitingLogged = true;
      }
      await this.lifecycle.pause(1_000);
      this.lifecycle.throwIfClosed();
    }
  }

  /**
   * Claims a subnet in this node's annotation. Every node writes only its own Node object, so the
   * resourceVersion precondition cannot stop two nodes taking one subnet; the re-check after the
   * write can. A node that sees anyone else holding its subnet after writing gives it up and tries
   * another. When both racers see each other both retry (random picks and jitter break the tie);
   * when only one does, the other was provably first.
   */
  private async claimSubnet(config: C, attrs: LeaseAttrs, previous: Ipv4Subnet | undefined): Promise<Ipv4Subnet> {
    const { keys, logger } = this.options;
    const self = this.node.name;
    const backoff = new Backoff(200, 5_000, this.options.random);
    let preferred: Ipv4Subnet | undefined = previous;
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      this.lifecycle.throwIfClosed();
      const before = await this.node.listAll();
      const node = before.find((n) => nodeName(n) === self);
      if (!node) {
        logger.info('waiting for this node to be registered', { node: self });
        await this.lifecycle.pause(1_000);
        continue;
      }
      const forbidden = this.options.forbiddenSubnets ?? [];
      const subnet = chooseSubnetClaim(config, otherClaims(before, self, keys), [ownSubnetClaim(node, keys), preferred], this.options.random, forbidden);
      if (!subnet) {
        const range = { min: config.subnetMin, max: config.subnetMax, subnetLen: config.subnetLen };
        throw new SubnetExhaustedError(
          `no free subnet left in Network ${formatSubnet(config.network)} (SubnetLen ${config.subnetLen}${forbiddenNote(range, forbidden)}) for node ${self}`,
        );
      }
      try {
        await this.node.publish(node, attrs, { [keys.subnet]: formatSubnet(subnet) });
      } catch (err) {
        if (!isConflict(err)) throw err;
        continue;
      }
      const rivals = otherClaims(await this.node.listAll(), self, keys).filter((c) => subnetsOverlap(c.subnet, subnet));
      if (rivals.length === 0) {
        logger.info('claimed subnet', { node: self, subnet: formatSubnet(subnet) });
        return subnet;
      }
      logger.warn('subnet claim collided with another node; choosing again', { subnet: formatSubnet(subnet), rivals: rivals.map((r) => r.node) });
      preferred = undefined;
      await this.withdrawClaim(subnet);
      await this.lifecycle.pause(backoff.next());
    }
    throw new DatastoreError(`could not claim a subnet for node ${self} after ${MAX_CLAIM_ATTEMPTS} attempts`);
  }

  private async withdrawClaim(subnet: Ipv4Subnet): Promise<void> {
    const keys = this.options.keys;
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      const node = await this.node.read();
      const claim = ownSubnetClaim(node, keys);
      if (!claim || !subnetsEqual(claim, subnet)) return;
      try {
        await this.options.api.patchAnnotations(this.node.name, { [keys.subnet]: null, [keys.kubeSubnetManager]: null }, node.metadata?.resourceVersion);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  private reportError(what: string, err: unknown): void {
    if (this.lifecycle.closed) return;
    this.options.logger.warn(`Kubernetes API call failed: ${what}; retrying`, { error: errorMessage(err) });
    this.options.onDatastoreError?.(err instanceof Error ? err : new Error(String(err)));
  }
}

/** This node's subnets: IPv4 (Flannel's empty net in an IPv6-only network) and, leased, IPv6. */
interface OwnSubnets {
  readonly ipv4: Ipv4Subnet;
  readonly ipv6?: Ipv6Subnet;
}

interface KubeLeaseParts<C> {
  readonly node: OwnNode;
  readonly lifecycle: ManagerLifecycle;
  readonly options: KubeDatastoreOptions<C>;
  readonly reportError: (what: string, err: unknown) => void;
}

/**
 * Second phase: peers are the other nodes that publish this network's annotations, validated
 * exactly like etcd leases; our own node's annotations are kept in place.
 */
class KubeSubnetLease<C extends NetworkConfig<BackendSelection>, D> extends PeerWatch<D> {
  private own: OwnSubnets;
  private revision = 0;
  private repairing: Promise<void> | undefined;
  /** The newest version of this node seen while a repair ran: repaired next, so no change is skipped. */
  private repairNext: V1Node | undefined;

  constructor(
    private readonly request: AcquireRequest<C, D>,
    subnets: OwnSubnets,
    private readonly parts: KubeLeaseParts<C>,
  ) {
    super(parts.lifecycle, parts.options.logger, nodeValidationContext(request, subnets, parts.options), parts.options.onInvalidLease, validateNodeLease);
    this.own = subnets;
    this.lifecycle.onClose(() => this.repairing);
  }

  ownLease(): OwnLease {
    return { subnet: this.own.ipv4, ...(this.own.ipv6 ? { ipv6Subnet: this.own.ipv6 } : {}) };
  }

  async start(): Promise<void> {
    const { options } = this.parts;
    const self = options.nodeName;
    const source = this.request.config.subnetSource;
    const keys = options.keys;
    const informer = new NodeInformer({
      api: options.api,
      logger: this.logger,
      ...(options.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
      ...(options.relistIntervalMs !== undefined ? { relistIntervalMs: options.relistIntervalMs } : {}),
      onContact: () => this.lifecycle.touch(),
      onError: (what, err) => this.parts.reportError(what, err),
      ...(options.onWatchRestart ? { onRestart: options.onWatchRestart } : {}),
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
    this.lifecycle.onClose(() => informer.close());
    await informer.start();
    this.lifecycle.every(options.probeIntervalMs ?? 10_000, () => void this.probe());
  }

  /**
   * Once routes are in place, tell the scheduler this node's network works, as Flannel does. Only
   * the podCIDR network is the node's primary network; a secondary one must not speak for it.
   */
  async dataPlaneReady(): Promise<void> {
    if (this.request.config.subnetSource !== 'podCIDR') return;
    const backoff = new Backoff(500, 10_000);
    const now = new Date();
    while (!this.lifecycle.closed) {
      try {
        await this.parts.options.api.patchCondition(this.parts.node.name, {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'WeftIsUp',
          message: 'weft is running on this node',
          lastTransitionTime: now,
          lastHeartbeatTime: now,
        });
        this.lifecycle.touch();
        this.logger.info('cleared NetworkUnavailable on this node', { node: this.parts.node.name });
        return;
      } catch (err) {
        this.parts.reportError('clearing NetworkUnavailable', err);
        await this.lifecycle.pause(backoff.next());
      }
    }
  }

  /** A cheap read that proves the API server answers, and puts back anything removed from our node. */
  private async probe(): Promise<void> {
    try {
      const node = await this.parts.options.api.get(this.parts.node.name);
      this.lifecycle.touch();
      if (node) await this.repairOwnNode(node);
      else this.logger.warn('this node is not registered in the API server', { node: this.parts.node.name });
    } catch (err) {
      this.parts.reportError('probing this node', err);
    }
  }

  /**
   * Level-triggered upkeep of our own Node: annotations someone removed are written back, and a
   * podCIDR that changed (the node was deleted and registered again) becomes our new lease.
   */
  private async repairOwnNode(node: V1Node): Promise<void> {
    if (this.lifecycle.closed) return;
    if (this.repairing) {
      this.repairNext = node;
      return;
    }
    this.repairing = (async () => {
      for (let next: V1Node | undefined = node; next && !this.lifecycle.closed; next = this.repairNext) {
        this.repairNext = undefined;
        await this.repairOnce(next).catch((err: unknown) => this.parts.reportError('repairing this node', err));
      }
    })().finally(() => (this.repairing = undefined));
    await this.repairing;
  }

  private async repairOnce(node: V1Node): Promise<void> {
    const { config, attrs } = this.request;
    const keys = this.parts.options.keys;
    if (config.subnetSource === 'podCIDR') {
      const result = ownPodCidr(node, keys, config, [], this.own.ipv6 !== undefined);
      if (result.kind === 'ok' && !sameSubnets(result, this.own)) {
        const describe = (s: OwnSubnets) => `${formatSubnet(s.ipv4)}${s.ipv6 ? ` ${formatIpv6Subnet(s.ipv6)}` : ''}`;
        const next = { ipv4: result.subnet, ...(result.ipv6Subnet ? { ipv6: result.ipv6Subnet } : {}) };
        this.logger.warn('node.spec.podCIDR changed; following it', { from: describe(this.own), to: describe(next) });
        this.own = next;
        this.peerSet.setContext(nodeValidationContext(this.request, this.own, this.parts.options));
        this.emit('own-lease', this.ownLease());
        this.emit('change');
      }
      await this.parts.node.publish(node, attrs);
    } else {
      await this.parts.node.publish(node, attrs, { [keys.subnet]: formatSubnet(this.own.ipv4) });
    }
  }
}

/** Node podCIDRs are sized by kube-controller-manager, so in that mode any length inside Network is valid. */
function nodeValidationContext<C extends NetworkConfig<BackendSelection>, D>(
  request: AcquireRequest<C, D>,
  own: OwnSubnets,
  options: Pick<KubeDatastoreOptions<C>, 'forbiddenSubnets' | 'forbiddenIpv6Subnets' | 'underlay'>,
): LeaseValidationContext<D> {
  return {
    config: request.config,
    decodePeerData: request.decodePeerData,
    ownSubnet: own.ipv4,
    ...(own.ipv6 ? { ownIpv6Subnet: own.ipv6 } : {}),
    forbidden: options.forbiddenSubnets ?? [],
    forbiddenIpv6: options.forbiddenIpv6Subnets ?? [],
    ...(options.underlay ? { underlay: options.underlay } : {}),
    anySubnetLength: request.config.subnetSource === 'podCIDR',
  };
}

function sameSubnets(result: { subnet: Ipv4Subnet; ipv6Subnet?: Ipv6Subnet }, own: OwnSubnets): boolean {
  const sameIpv6 = result.ipv6Subnet && own.ipv6 ? ipv6SubnetsEqual(result.ipv6Subnet, own.ipv6) : result.ipv6Subnet === own.ipv6;
  return subnetsEqual(result.subnet, own.ipv4) && sameIpv6;
}
