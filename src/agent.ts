import type { Logger } from 'winston';
import type { AgentOptions } from './cli/agentOptions.js';
import { type NetworkConfig, podMtu } from './config/networkConfig.js';
import { errorMessage } from './errors.js';
import { type PlanInput, vxlanDeviceName } from './backend/plan.js';
import { randomVtepMac } from './backend/vtepMac.js';
import { type HostFacts, kernelHostFacts } from './kernel/hostFacts.js';
import { KernelMonitor } from './kernel/kernelMonitor.js';
import { type KernelPort, iprouteKernel } from './kernel/kernelPort.js';
import { kernelSupportsNexthops } from './kernel/kernelReader.js';
import { type TrafficRules, startTrafficRules } from './trafficRules.js';
import { checkBrNetfilter } from './net/brNetfilter.js';
import { type ExternalInterface, discoverExternalInterface, externalLinkOf } from './net/externalInterface.js';
import { formatSubnet } from './net/ipv4.js';
import { type ReconcileResult, Reconciler } from './reconciler.js';
import { AgentMetrics } from './metrics.js';
import { type Readiness, startHealthServer } from './healthServer.js';
import type { Server } from 'node:http';
import { createEtcdClient } from './subnet/etcdClient.js';
import { EtcdSubnetManager } from './subnet/etcdSubnetManager.js';
import type { LeaseAttrs } from './subnet/lease.js';
import type { OwnLease, SubnetManager } from './subnet/subnetManager.js';
import { readPreviousSubnet, writeSubnetEnv } from './subnetEnv.js';

/** Readiness wants a datastore answer at least this recent (etcd is probed every 5 s, the API server every 10 s). */
export const DATASTORE_STALE_MS = 20_000;

export interface AgentDependencies {
  readonly hostFacts: HostFacts;
  readonly kernel: KernelPort;
  readonly supportsNexthops: () => Promise<boolean>;
}

/** A running agent; stop() leaves kernel state in place so traffic survives an upgrade. */
export interface RunningAgent {
  readonly subnetManager: SubnetManager;
  readonly reconciler: Reconciler;
  readonly metrics: AgentMetrics;
  stop(): Promise<void>;
  /** Settles when the agent hits an unrecoverable error (e.g. the subnet range is exhausted on re-acquire). */
  readonly fatal: Promise<never>;
}

/** The VTEP MAC must survive restarts: peers hold it in their FDB and ARP tables. */
async function currentVtepMac(kernel: KernelPort, vni: number): Promise<string> {
  const actual = await kernel.read(vxlanDeviceName(vni), false);
  return actual.device?.kind === 'vxlan' && actual.device.mac ? actual.device.mac : randomVtepMac();
}

async function createSubnetManager(
  options: AgentOptions,
  ext: ExternalInterface,
  metrics: AgentMetrics,
  logger: Logger,
  kubeNode: KubeNode | undefined,
): Promise<SubnetManager> {
  // A peer claiming the underlay's own subnet would reroute host-to-host traffic into a tunnel.
  const forbiddenSubnets = [ext.ifaceSubnet];
  const onInvalidLease = (): void => metrics.invalidLeases.inc();
  const onWatchRestart = (reason: string): void => metrics.watchRestarts.inc({ reason });
  let manager: SubnetManager;
  if (kubeNode) {
    const { kube, kubeConfig, nodeName } = kubeNode;
    logger.info('using the Kubernetes API', { server: kube.apiServerOf(kubeConfig), node: nodeName });
    manager = new kube.KubeSubnetManager({
      api: new kube.NodeApi(kubeConfig),
      nodeName,
      keys: kube.nodeAnnotationKeys(options.kubeAnnotationPrefix),
      netConfigPath: options.netConfigPath,
      logger,
      forbiddenSubnets,
      onInvalidLease,
      onWatchRestart,
    });
  } else {
    manager = new EtcdSubnetManager({
      client: await createEtcdClient(options.etcd),
      prefix: options.etcd.prefix,
      logger,
      renewMarginMinutes: options.subnetLeaseRenewMarginMinutes,
      forbiddenSubnets,
      onInvalidLease,
      onWatchRestart,
    });
  }
  manager.on('datastore-error', () => metrics.datastoreErrors.inc());
  return manager;
}

type KubeModule = typeof import('./subnet/kube/index.js');
type KubeNode = { readonly kube: KubeModule; readonly kubeConfig: ReturnType<KubeModule['loadKubeConfig']>; readonly nodeName: string; readonly publicIp?: string };

/** Kubernetes mode: the API connection, this node's name and its stored public IP, before anything else uses them. */
async function identifyKubeNode(options: AgentOptions, logger: Logger): Promise<KubeNode> {
  // Loaded on demand: the Kubernetes client is most of the bundle, and etcd mode never needs it.
  const kube = await import('./subnet/kube/index.js');
  const kubeConfig = kube.loadKubeConfig(options);
  return { kube, kubeConfig, ...(await kube.kubeNodeIdentity(kubeConfig, kube.nodeAnnotationKeys(options.kubeAnnotationPrefix), logger)) };
}

/** Progress of start-up and health of the running parts, for /readyz. */
class ReadinessState {
  subnetManager: SubnetManager | undefined;
  reconciler: Reconciler | undefined;
  subnetFileWritten = false;

  readiness(now = Date.now()): Readiness {
    const lastContact = this.subnetManager?.lastContact() ?? 0;
    const sinceContact = lastContact > 0 ? now - lastContact : Infinity;
    const checks = {
      lease: { ok: this.subnetManager?.ownLease() !== undefined },
      subnetFile: { ok: this.subnetFileWritten },
      reconciled: { ok: (this.reconciler?.completedPasses ?? 0) > 0 },
      datastore: {
        ok: sinceContact <= DATASTORE_STALE_MS,
        detail: Number.isFinite(sinceContact) ? `last answer ${(sinceContact / 1000).toFixed(1)} s ago` : 'never reached',
      },
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}

/**
 * Brings the agent up: interface, datastore config, lease, subnet.env, then the reconcile loop.
 * Returns once subnet.env is written and the peer watch runs.
 */
export async function startAgent(
  options: AgentOptions,
  logger: Logger,
  deps: AgentDependencies = { hostFacts: kernelHostFacts, kernel: iprouteKernel, supportsNexthops: kernelSupportsNexthops },
  signal?: AbortSignal,
): Promise<RunningAgent> {
  const metrics = new AgentMetrics();
  const state = new ReadinessState();
  // Up before anything else, so /healthz answers and /readyz explains a slow start.
  const health =
    options.healthzPort > 0
      ? await startHealthServer({ host: options.healthzIp, port: options.healthzPort, readiness: () => state.readiness(), metrics, logger })
      : undefined;
  try {
    return await bringUp(options, logger, deps, metrics, state, health, signal);
  } catch (err) {
    health?.close();
    throw err;
  }
}

async function bringUp(
  options: AgentOptions,
  logger: Logger,
  deps: AgentDependencies,
  metrics: AgentMetrics,
  state: ReadinessState,
  health: Server | undefined,
  signal: AbortSignal | undefined,
): Promise<RunningAgent> {
  // A kernel probe that needs nothing else: it runs while the datastore is consulted, not on the
  // way to the first reconcile. Its failure is taken where it is awaited.
  const nexthopSupport = deps.supportsNexthops();
  nexthopSupport.catch(() => undefined);
  const kubeNode = options.kubeSubnetMgr ? await identifyKubeNode(options, logger) : undefined;
  const ext = await discoverExternalInterface(kubeNode?.publicIp ? { ...options, publicIp: kubeNode.publicIp } : options, deps.hostFacts);
  logger.info('using external interface', {
    iface: ext.iface.name,
    ifaceAddress: ext.ifaceAddress,
    publicIP: ext.publicIP,
    mtu: ext.iface.mtu,
  });
  const subnetManager = await createSubnetManager(options, ext, metrics, logger, kubeNode);
  state.subnetManager = subnetManager;
  // A stop during start-up (say, while waiting for a podCIDR) ends every retry loop at once.
  const closeOnAbort = (): void => void subnetManager.close();
  signal?.addEventListener('abort', closeOnAbort, { once: true });
  try {
    const config = await subnetManager.getNetworkConfig(signal);
    await checkBrNetfilter();
    logger.info('network config', { network: formatSubnet(config.network), subnetLen: config.subnetLen, backend: config.backend.type });
    const vtepMac = config.backend.type === 'vxlan' ? await currentVtepMac(deps.kernel, config.backend.vni) : undefined;
    const attrs: LeaseAttrs = {
      publicIP: ext.publicIP,
      backendType: config.backend.type,
      backendData: config.backend.type === 'vxlan' ? { VNI: config.backend.vni, VtepMAC: vtepMac } : null,
    };
    const previousSubnet = await readPreviousSubnet(options.subnetFile);
    const lease = await subnetManager.acquireLease({ attrs, config, ...(previousSubnet ? { previousSubnet } : {}) });
    await writeEnv(options, config, ext, lease, logger);
    state.subnetFileWritten = true;
    await subnetManager.start();
    const useNexthops = await nexthopSupport;
    const agent = run(options, config, ext, vtepMac, useNexthops, subnetManager, deps, metrics, logger);
    state.reconciler = agent.reconciler;
    return {
      ...agent,
      async stop() {
        await agent.stop();
        health?.close();
      },
    };
  } catch (err) {
    await subnetManager.close();
    throw err;
  } finally {
    signal?.removeEventListener('abort', closeOnAbort);
  }
}

async function writeEnv(options: AgentOptions, config: NetworkConfig, ext: ExternalInterface, lease: OwnLease, logger: Logger): Promise<void> {
  await writeSubnetEnv(options.subnetFile, {
    network: config.network,
    subnet: lease.subnet,
    mtu: podMtu(config.backend, ext.iface.mtu),
    ipMasq: options.ipMasq,
  });
  logger.info('wrote subnet file', { path: options.subnetFile, subnet: formatSubnet(lease.subnet) });
}

function run(
  options: AgentOptions,
  config: NetworkConfig,
  ext: ExternalInterface,
  vtepMac: string | undefined,
  useNexthops: boolean,
  subnetManager: SubnetManager,
  deps: AgentDependencies,
  metrics: AgentMetrics,
  logger: Logger,
): RunningAgent {
  const link = externalLinkOf(ext);
  const inputs = (): PlanInput | undefined => {
    const own = subnetManager.ownLease();
    if (!own) return undefined;
    return {
      backend: config.backend,
      ownSubnet: own.subnet,
      extLink: link,
      peers: subnetManager.peers(),
      ...(vtepMac ? { vtepMac } : {}),
    };
  };
  const reconciler = new Reconciler({
    kernel: deps.kernel,
    inputs,
    scope: { network: config.network, extLink: link.name, useNexthops },
    logger,
  });
  const monitor = new KernelMonitor({
    ownDevices: config.backend.type === 'vxlan' ? [vxlanDeviceName(config.backend.vni)] : [],
    watchedLinks: [link.name],
    nexthops: useNexthops,
    logger,
    onChange: () => reconciler.trigger('kernel changed'),
  });

  let rejectFatal: (err: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => (rejectFatal = reject));
  fatal.catch(() => undefined);

  const updateLeaseMetrics = (): void => {
    metrics.peers.set({ backend: config.backend.type }, subnetManager.peers().length);
    const expiration = subnetManager.ownLease()?.expiration;
    metrics.leaseExpiry.set(expiration ? expiration.getTime() / 1000 : 0);
  };
  updateLeaseMetrics();
  subnetManager.on('change', () => {
    updateLeaseMetrics();
    reconciler.trigger('leases changed');
  });
  reconciler.on('reconciled', (result: ReconcileResult) => {
    metrics.reconcileDuration.observe(result.durationMs / 1000);
    metrics.kernelOperations.inc({ result: 'applied' }, result.applied);
    metrics.kernelOperations.inc({ result: 'failed' }, result.failed);
    const unprompted = result.reasons.some((r) => r === 'kernel changed' || r === 'resync');
    if (unprompted && result.applied > 0) metrics.driftRepairs.inc();
  });
  subnetManager.on('own-lease', (lease: OwnLease) => {
    writeEnv(options, config, ext, lease, logger).catch((err: unknown) => logger.error('rewriting subnet file failed', { error: errorMessage(err) }));
  });
  subnetManager.on('error', (err: Error) => rejectFatal(err));

  let stopping = false;
  let rules: TrafficRules | undefined;
  let iptablesStarting: Promise<void> | undefined;
  const startIptables = async (): Promise<void> => {
    rules = await startTrafficRules(
      { options, network: config.network, nftables: config.enableNFTables, ownSubnet: () => subnetManager.ownLease()?.subnet, logger, onRepair: () => metrics.driftRepairs.inc() },
      () => stopping,
    );
  };
  // The monitor and the iptables keeper start after the first pass. Programming thousands of
  // peers would otherwise echo back through the monitor line by line while the batch runs, and
  // the keeper's iptables processes would compete with it for the CPU. One more pass covers
  // anything that changed in between.
  const startMonitor = (): void => {
    reconciler.off('reconciled', startMonitor).off('failed', startMonitor);
    // A pass that was running when the stop came still reports; nothing may start after it.
    if (stopping) return;
    monitor.start();
    reconciler.trigger('kernel monitor started');
    iptablesStarting = startIptables().catch((err: unknown) => {
      logger.error('starting the iptables keeper failed', { error: errorMessage(err) });
    });
  };
  reconciler.on('reconciled', startMonitor).on('failed', startMonitor);
  if (options.setNodeNetworkUnavailable) reconciler.once('reconciled', () => void subnetManager.dataPlaneReady());
  reconciler.start();

  return {
    subnetManager,
    reconciler,
    metrics,
    fatal,
    async stop() {
      stopping = true;
      monitor.stop();
      reconciler.stop();
      await iptablesStarting;
      await rules?.stop();
      await subnetManager.close();
    },
  };
}
