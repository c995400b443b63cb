import type { Server } from 'node:http';
import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import type { ActiveBackend } from '../backend/backend.js';
import { type AgentNetworkConfig, type PeerData, activateBackend } from '../backend/registry.js';
import { type HostFacts, kernelHostFacts } from '../kernel/hostFacts.js';
import { KernelMonitor } from '../kernel/kernelMonitor.js';
import { type KernelPort, iprouteKernel, iprouteKernelFor } from '../kernel/kernelPort.js';
import { kernelSupportsNexthops } from '../kernel/kernelReader.js';
import { type ExternalInterface, discoverExternalInterface, externalLinkOf } from '../net/externalInterface.js';
import { formatSubnet } from '../net/ipv4.js';
import { formatIpv6Subnet } from '../net/ipv6.js';
import type { Datastore, OwnLease, SubnetLease } from '../subnet/subnetManager.js';
import { ConfigError, InterfaceSelectionError, errorMessage } from '../util/errors.js';
import { identifyKubeNode, openDatastore } from './datastore.js';
import { checkBrNetfilter } from '../net/brNetfilter.js';
import { type TrafficRules, startTrafficRules } from './trafficRules.js';
import { startHealthServer } from './healthServer.js';
import { AgentMetrics } from './metrics.js';
import { assessReadiness } from './readiness.js';
import { type Plane, buildPlanes, countPeers, hasIpv6Lease } from './planes.js';
import { LEASES_CHANGED, type ReconcileResult, type Reconciler, programmedKernel } from './reconciler.js';
import { type SubnetEnv, ensureSubnetEnv, readPreviousSubnets, writeSubnetEnv } from './subnetEnv.js';
import { ExternalLinkGuard } from './externalLinkGuard.js';

export interface AgentDependencies {
  readonly hostFacts: HostFacts;
  readonly kernel: KernelPort;
  /** The IPv6 plane's kernel (ip -6); the real one unless a test substitutes its own. */
  readonly kernelIpv6?: KernelPort;
  readonly supportsNexthops: () => Promise<boolean>;
}

/** A running agent; stop() leaves kernel state in place so traffic survives an upgrade. */
export interface RunningAgent {
  readonly lease: SubnetLease<PeerData>;
  /** The first plane's reconciler (IPv4, or IPv6 in an IPv6-only network). */
  readonly reconciler: Reconciler;
  readonly planes: readonly Plane[];
  readonly metrics: AgentMetrics;
  stop(): Promise<void>;
  /** Settles when the agent hits an unrecoverable error (e.g. the subnet range is exhausted on re-acquire). */
  readonly fatal: Promise<never>;
}

/** Start-up progress, as /readyz reports it. */
interface StartupProgress {
  datastore?: Datastore<AgentNetworkConfig>;
  lease?: SubnetLease<PeerData>;
  subnetFileWritten: boolean;
  planes?: readonly Plane[];
  linkGuard?: ExternalLinkGuard;
}

/** Everything a running agent is made of, once start-up has produced it. */
interface AgentParts {
  readonly options: AgentOptions;
  readonly config: AgentNetworkConfig;
  readonly ext: ExternalInterface;
  readonly backend: ActiveBackend;
  readonly lease: SubnetLease<PeerData>;
  readonly useNexthops: boolean;
  readonly deps: AgentDependencies;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
}

/**
 * Brings the agent up: interface, datastore config, backend, lease, subnet.env, then the
 * reconcile loop. Returns once subnet.env is written and the peer watch runs.
 */
export async function startAgent(
  options: AgentOptions,
  logger: Logger,
  deps: AgentDependencies = { hostFacts: kernelHostFacts, kernel: iprouteKernel, supportsNexthops: kernelSupportsNexthops },
  signal?: AbortSignal,
): Promise<RunningAgent> {
  const metrics = new AgentMetrics();
  const progress: StartupProgress = { subnetFileWritten: false };
  const readiness = () =>
    assessReadiness({
      lastContact: () => progress.datastore?.lastContact() ?? 0,
      leased: () => progress.lease?.ownLeaseHeld() ?? false,
      subnetFileWritten: () => progress.subnetFileWritten,
      reconciledPasses: () => Math.min(...(progress.planes ?? []).map((p) => p.reconciler.programmingPasses)),
      externalInterface: () => progress.linkGuard?.usable ?? true,
    });
  // Up before anything else, so /healthz answers and /readyz explains a slow start.
  const health =
    options.healthzPort > 0 ? await startHealthServer({ host: options.healthzIp, port: options.healthzPort, readiness, metrics, logger }) : undefined;
  try {
    return await bringUp(options, logger, deps, metrics, progress, health, signal);
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
  progress: StartupProgress,
  health: Server | undefined,
  signal: AbortSignal | undefined,
): Promise<RunningAgent> {
  // A kernel probe that needs nothing else: it runs while the datastore is consulted, not on the
  // way to the first reconcile. Its failure is taken where it is awaited.
  const nexthopSupport = deps.supportsNexthops();
  nexthopSupport.catch(() => undefined);
  const kubeNode = options.kubeSubnetMgr ? await identifyKubeNode(options, logger) : undefined;
  // Flannel's node-public-ip(v6) annotations stand in for --public-ip and --public-ipv6.
  const selection = {
    ...options,
    ...(kubeNode?.publicIp ? { publicIp: kubeNode.publicIp } : {}),
    ...(kubeNode?.publicIpv6 ? { publicIpv6: kubeNode.publicIpv6 } : {}),
  };
  const ext = await discoverExternalInterface(selection, deps.hostFacts);
  logger.info('using external interface', {
    iface: ext.iface.name,
    ...(ext.hasIpv4 ? { ifaceAddress: ext.ifaceAddress, publicIP: ext.publicIP } : {}),
    ...(ext.ipv6 ? { ifaceIpv6Address: ext.ipv6.ifaceAddress, publicIPv6: ext.ipv6.publicIP } : {}),
    mtu: ext.iface.mtu,
  });
  const datastore = await openDatastore(options, ext, metrics, logger, kubeNode);
  progress.datastore = datastore;
  // A stop during start-up (say, while waiting for a podCIDR) ends every retry loop at once.
  const closeOnAbort = (): void => void datastore.close();
  signal?.addEventListener('abort', closeOnAbort, { once: true });
  try {
    const config = await datastore.readNetworkConfig(signal);
    // Flannel's check applies to IPv4 networks: bridged IPv4 traffic must pass through netfilter.
    if (config.enableIPv4) await checkBrNetfilter();
    logger.info('network config', {
      ...(config.enableIPv4 ? { network: formatSubnet(config.network), subnetLen: config.subnetLen } : {}),
      ...(config.ipv6 ? { ipv6Network: formatIpv6Subnet(config.ipv6.network), ipv6SubnetLen: config.ipv6.subnetLen } : {}),
      backend: config.backend.type,
    });
    const leaseIpv6 = checkFamilies(config, ext, logger);
    const backend = await activateBackend(config.backend, {
      extLink: externalLinkOf(ext),
      network: config.network,
      kernel: deps.kernel,
      ipv6: leaseIpv6,
      ...(config.ipv6 ? { ipv6Network: config.ipv6.network } : {}),
      ...(options.wireguardKeyFile ? { wireguardKeyFile: options.wireguardKeyFile } : {}),
    });
    logger.info('backend ready', { type: backend.type, ...backend.summary, ...backend.ipv6?.summary });
    // A backend without an IPv6 plane here (wireguard's one-device modes) would leave an IPv6-only
    // network with no plane at all: refuse, rather than run and carry nothing.
    if (!config.enableIPv4 && !backend.ipv6) {
      throw new ConfigError('Backend', config.backend.type, 'has no IPv6 plane in this configuration, so it cannot carry an IPv6-only network (wireguard: use Mode "separate")');
    }
    const previous = await readPreviousSubnets(options.subnetFile);
    const lease = await datastore.acquire(
      {
        config,
        attrs: {
          // An IPv6-only lease carries Flannel's empty IPv4 attributes.
          publicIP: config.enableIPv4 ? ext.publicIP : '0.0.0.0',
          backendType: backend.type,
          backendData: config.enableIPv4 ? backend.leaseData : null,
          ...(ext.ipv6 && backend.ipv6 ? { publicIPv6: ext.ipv6.publicIP, backendV6Data: backend.ipv6.leaseData } : {}),
        },
        decodePeerData: backend.decodePeerData,
        ...(previous.ipv4 ? { previousSubnet: previous.ipv4 } : {}),
        ...(previous.ipv6 ? { previousIpv6Subnet: previous.ipv6 } : {}),
      },
      signal,
    );
    progress.lease = lease;
    await writeEnv(options, config, backend, lease.ownLease(), logger);
    progress.subnetFileWritten = true;
    await lease.start();
    const useNexthops = await nexthopSupport;
    const agent = run({ options, config, ext, backend, lease, useNexthops, deps, metrics, logger });
    progress.planes = agent.planes;
    progress.linkGuard = agent.linkGuard;
    keepSubnetEnv(agent.reconciler, () => subnetEnvOf(options, config, backend, lease.ownLease()), options.subnetFile, progress, logger);
    return {
      ...agent,
      async stop() {
        await agent.stop();
        health?.close();
      },
    };
  } catch (err) {
    await datastore.close();
    throw err;
  } finally {
    signal?.removeEventListener('abort', closeOnAbort);
  }
}

/**
 * Which families this host can take part in. IPv4 needs an IPv4 underlay. IPv6 needs an IPv6 one;
 * in a dual-stack network a host without it joins over IPv4 only (Flannel refuses to start), so
 * one host lacking IPv6 does not take the whole node down. Returns whether to lease IPv6.
 */
function checkFamilies(config: AgentNetworkConfig, ext: ExternalInterface, logger: Logger): boolean {
  if (config.enableIPv4 && !ext.hasIpv4) {
    throw new InterfaceSelectionError(`the network has IPv4 enabled, but interface ${ext.iface.name} has no usable IPv4 address`);
  }
  if (!config.ipv6) return false;
  if (ext.ipv6) return true;
  if (!config.enableIPv4) {
    throw new InterfaceSelectionError(`the network is IPv6-only, but interface ${ext.iface.name} has no global IPv6 address`);
  }
  logger.warn('the network has IPv6 enabled but the external interface has no global IPv6 address; this host takes part over IPv4 only', {
    iface: ext.iface.name,
  });
  return false;
}

function subnetEnvOf(options: AgentOptions, config: AgentNetworkConfig, backend: ActiveBackend, lease: OwnLease): SubnetEnv {
  const ipv6 = config.ipv6 && lease.ipv6Subnet ? { network: config.ipv6.network, subnet: lease.ipv6Subnet } : undefined;
  return {
    network: config.network,
    subnet: lease.subnet,
    ipv4: config.enableIPv4,
    ...(ipv6 ? { ipv6 } : {}),
    mtu: backend.podMtu,
    ipMasq: options.ipMasq,
  };
}

async function writeEnv(options: AgentOptions, config: AgentNetworkConfig, backend: ActiveBackend, lease: OwnLease, logger: Logger): Promise<void> {
  const env = subnetEnvOf(options, config, backend, lease);
  await writeSubnetEnv(options.subnetFile, env);
  logger.info('wrote subnet file', {
    path: options.subnetFile,
    ...(config.enableIPv4 ? { subnet: formatSubnet(lease.subnet) } : {}),
    ...(env.ipv6 ? { ipv6Subnet: formatIpv6Subnet(env.ipv6.subnet) } : {}),
  });
}

/**
 * subnet.env deleted or edited at runtime would fail every pod's CNI ADD: it is checked at every
 * resync and rewritten, and readiness reports it unwritten while that fails.
 */
function keepSubnetEnv(reconciler: Reconciler, env: () => SubnetEnv, path: string, progress: StartupProgress, logger: Logger): void {
  reconciler.on('reconciled', (result: ReconcileResult) => {
    if (!result.reasons.includes('resync')) return;
    ensureSubnetEnv(path, env()).then(
      (rewritten) => {
        if (rewritten) logger.warn('subnet file was missing or changed; rewrote it', { path });
        progress.subnetFileWritten = true;
      },
      (err: unknown) => {
        if (progress.subnetFileWritten) logger.error('rewriting subnet file failed', { error: errorMessage(err) });
        progress.subnetFileWritten = false;
      },
    );
  });
}

function run(parts: AgentParts): RunningAgent & { readonly linkGuard: ExternalLinkGuard } {
  const { options, config, ext, backend, lease, deps, metrics, logger } = parts;
  const link = externalLinkOf(ext);
  const linkGuard = new ExternalLinkGuard({
    iface: ext.iface.name,
    // An interface chosen for its IPv6 address alone has no IPv4 one to lose.
    ...(ext.hasIpv4 ? { address: ext.ifaceAddress } : {}),
    interfaces: () => deps.hostFacts.interfaces(),
    logger,
    onBack: () => triggerAll('external interface back'),
  });
  const planes = buildPlanes({
    config,
    backend,
    lease,
    link,
    kernel: deps.kernel,
    kernelIpv6: deps.kernelIpv6 ?? iprouteKernelFor(6),
    useNexthops: parts.useNexthops,
    logger,
    // Without the interface every pass would fail; the guard says when it is back.
    paused: () => !linkGuard.usable,
  });
  const reconciler = planes[0]!.reconciler;
  const triggerAll = (reason: string): void => planes.forEach((p) => p.reconciler.trigger(reason));
  const monitor = new KernelMonitor({
    ownDevices: planes.flatMap((p) => (p.deviceName ? [p.deviceName] : [])),
    watchedLinks: [link.name],
    nexthops: parts.useNexthops,
    logger,
    onEvents: (events) => {
      if (!linkGuard.usable) void linkGuard.check();
      for (const plane of planes) plane.reconciler.kernelChanged(events);
    },
    onRestart: () => triggerAll('kernel monitor restarted'),
  });

  let rejectFatal: (err: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => (rejectFatal = reject));
  fatal.catch(() => undefined);

  const updateLeaseExpiry = (): void => {
    const expiration = lease.ownLease().expiration;
    metrics.leaseExpiry.set(expiration ? expiration.getTime() / 1000 : 0);
  };
  updateLeaseExpiry();
  const initialPeers = lease.peers();
  if (config.enableIPv4) metrics.peers.set({ backend: backend.type, family: 'ipv4' }, initialPeers.length);
  if (config.ipv6) metrics.peers.set({ backend: backend.type, family: 'ipv6' }, countPeers(initialPeers, hasIpv6Lease));
  // After that the peer count comes from each pass, not from every change: counting rebuilds the
  // validated peer list, and a burst of 500 single writes at 10000 peers did that 500 times in a row.
  lease.on('change', () => {
    updateLeaseExpiry();
    triggerAll(LEASES_CHANGED);
  });
  for (const { family, reconciler: planeReconciler } of planes) {
    // A labelled counter shows no series until its first increment; scrapers want a 0 first.
    metrics.driftRepairs.inc({ family }, 0);
    planeReconciler.on('reconciled', (result: ReconcileResult) => {
      // Held-back peers are valid leases too; the pass only left them out of its plan.
      metrics.peers.set({ backend: backend.type, family }, result.peers + result.heldBack);
      metrics.reconcileDuration.observe({ family, kind: result.incremental ? 'fast' : 'full' }, result.durationMs / 1000);
      metrics.peersNotRouted.set({ family }, result.skipped);
      metrics.kernelOperations.inc({ result: 'applied', family }, result.applied);
      metrics.kernelOperations.inc({ result: 'failed', family }, result.failed);
      metrics.peersHeldBack.set({ family }, result.heldBack);
      const unprompted = result.reasons.some((r) => r === 'kernel changed' || r === 'kernel monitor restarted' || r === 'resync');
      if (unprompted && result.applied > 0) metrics.driftRepairs.inc({ family });
      if (result.failed > 0) void linkGuard.check();
    });
    planeReconciler.on('failed', () => void linkGuard.check());
  }
  lease.on('own-lease', (own) => {
    trafficRules?.recheck();
    writeEnv(options, config, backend, own, logger).catch((err: unknown) => logger.error('rewriting subnet file failed', { error: errorMessage(err) }));
  });
  lease.on('fatal', (err) => rejectFatal(err));

  let stopping = false;
  let trafficRules: TrafficRules | undefined;
  let trafficRulesStarting: Promise<void> | undefined;
  // The iptables keeper starts after the first pass: its iptables processes would compete with
  // programming thousands of peers for the CPU.
  const startKeepers = (): void => {
    reconciler.off('reconciled', startKeepers).off('failed', startKeepers);
    // A pass that was running when the stop came still reports; nothing may start after it.
    if (stopping) return;
    const ipv6 = config.ipv6;
    trafficRulesStarting = startTrafficRules(
      {
        options,
        ...(config.enableIPv4 ? { network: config.network } : {}),
        ...(ipv6 ? { ipv6: { network: ipv6.network, ownSubnet: () => lease.ownLease().ipv6Subnet } } : {}),
        nftables: config.enableNFTables,
        ownSubnet: () => lease.ownLease().subnet,
        logger,
        onRepair: (family) => metrics.driftRepairs.inc({ family }),
      },
      () => stopping,
    )
      .then((rules) => {
        trafficRules = rules;
      })
      .catch((err: unknown) => {
        logger.error('starting the iptables keeper failed', { error: errorMessage(err) });
      });
  };
  reconciler.on('reconciled', startKeepers).on('failed', startKeepers);
  // NetworkUnavailable is cleared by the first pass that programmed the kernel, not by one in
  // which every operation failed.
  const onFirstProgramming = (result: ReconcileResult): void => {
    if (!programmedKernel(result)) return;
    reconciler.off('reconciled', onFirstProgramming);
    if (options.setNodeNetworkUnavailable) void lease.dataPlaneReady();
  };
  reconciler.on('reconciled', onFirstProgramming);
  // The monitor watches from before the first pass, so nothing can change unseen between that
  // pass and the watch; the first pass's own writes echo back and are recognised as ours
  // (kernelEcho.ts), which is what used to cost a second full pass at start.
  monitor.start();
  for (const plane of planes) plane.reconciler.start();

  return {
    lease,
    reconciler,
    planes,
    metrics,
    fatal,
    linkGuard,
    async stop() {
      stopping = true;
      linkGuard.stop();
      monitor.stop();
      for (const plane of planes) plane.reconciler.stop();
      await trafficRulesStarting;
      await trafficRules?.stop();
      await lease.close();
    },
  };
}
