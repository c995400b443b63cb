import type { Server } from 'node:http';
import type { Logger } from 'winston';
import type { AgentOptions } from './options.js';
import type { ActiveBackend } from '../backend/backend.js';
import { type AgentNetworkConfig, type PeerData, activateBackend } from '../backend/registry.js';
import type { IptablesKeeper } from '../kernel/iptables.js';
import { type HostFacts, kernelHostFacts } from '../kernel/hostFacts.js';
import { KernelMonitor } from '../kernel/kernelMonitor.js';
import { type KernelPort, iprouteKernel } from '../kernel/kernelPort.js';
import { kernelSupportsNexthops } from '../kernel/kernelReader.js';
import { type ExternalInterface, discoverExternalInterface, externalLinkOf } from '../net/externalInterface.js';
import { formatSubnet } from '../net/ipv4.js';
import type { Datastore, OwnLease, SubnetLease } from '../subnet/subnetManager.js';
import { errorMessage } from '../util/errors.js';
import { openDatastore } from './datastore.js';
import { startFirewall } from './firewall.js';
import { startHealthServer } from './healthServer.js';
import { AgentMetrics } from './metrics.js';
import { assessReadiness } from './readiness.js';
import { type ReconcileResult, Reconciler } from './reconciler.js';
import { type SubnetEnv, ensureSubnetEnv, readPreviousSubnet, writeSubnetEnv } from './subnetEnv.js';
import { ExternalLinkGuard } from './externalLinkGuard.js';

export { DATASTORE_STALE_MS } from './readiness.js';

export interface AgentDependencies {
  readonly hostFacts: HostFacts;
  readonly kernel: KernelPort;
  readonly supportsNexthops: () => Promise<boolean>;
}

/** A running agent; stop() leaves kernel state in place so traffic survives an upgrade. */
export interface RunningAgent {
  readonly lease: SubnetLease<PeerData>;
  readonly reconciler: Reconciler;
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
  reconciler?: Reconciler;
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
      reconciledPasses: () => progress.reconciler?.completedPasses ?? 0,
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
  const ext = await discoverExternalInterface(options, deps.hostFacts);
  logger.info('using external interface', { iface: ext.iface.name, ifaceAddress: ext.ifaceAddress, publicIP: ext.publicIP, mtu: ext.iface.mtu });
  const datastore = await openDatastore(options, ext, metrics, logger);
  progress.datastore = datastore;
  // A stop during start-up (say, while waiting for a podCIDR) ends every retry loop at once.
  const closeOnAbort = (): void => void datastore.close();
  signal?.addEventListener('abort', closeOnAbort, { once: true });
  try {
    const config = await datastore.readNetworkConfig(signal);
    logger.info('network config', { network: formatSubnet(config.network), subnetLen: config.subnetLen, backend: config.backend.type });
    const backend = await activateBackend(config.backend, {
      extLink: externalLinkOf(ext),
      network: config.network,
      kernel: deps.kernel,
      ...(options.wireguardKeyFile ? { wireguardKeyFile: options.wireguardKeyFile } : {}),
    });
    logger.info('backend ready', { type: backend.type, ...backend.summary });
    const previousSubnet = await readPreviousSubnet(options.subnetFile);
    const lease = await datastore.acquire(
      {
        config,
        attrs: { publicIP: ext.publicIP, backendType: backend.type, backendData: backend.leaseData },
        decodePeerData: backend.decodePeerData,
        ...(previousSubnet ? { previousSubnet } : {}),
      },
      signal,
    );
    progress.lease = lease;
    await writeEnv(options, config, backend, lease.ownLease(), logger);
    progress.subnetFileWritten = true;
    await lease.start();
    const useNexthops = await nexthopSupport;
    const agent = run({ options, config, ext, backend, lease, useNexthops, deps, metrics, logger });
    progress.reconciler = agent.reconciler;
    progress.linkGuard = agent.linkGuard;
    keepSubnetEnv(agent.reconciler, () => ({ network: config.network, subnet: lease.ownLease().subnet, mtu: backend.podMtu, ipMasq: options.ipMasq }), options.subnetFile, progress, logger);
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

async function writeEnv(options: AgentOptions, config: AgentNetworkConfig, backend: ActiveBackend, lease: OwnLease, logger: Logger): Promise<void> {
  await writeSubnetEnv(options.subnetFile, { network: config.network, subnet: lease.subnet, mtu: backend.podMtu, ipMasq: options.ipMasq });
  logger.info('wrote subnet file', { path: options.subnetFile, subnet: formatSubnet(lease.subnet) });
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
    address: ext.ifaceAddress,
    interfaces: () => deps.hostFacts.interfaces(),
    logger,
    onBack: () => reconciler.trigger('external interface back'),
  });
  const reconciler: Reconciler = new Reconciler({
    kernel: deps.kernel,
    plan: () => {
      // Without the interface every pass would fail; the guard says when it is back.
      if (!linkGuard.usable) return undefined;
      const peers = reconciler.admitPeers(lease.peers());
      return { desired: backend.plan(lease.ownLease().subnet, peers), peers: peers.length };
    },
    scope: { network: config.network, extLink: link.name, useNexthops: parts.useNexthops },
    logger,
  });
  const monitor = new KernelMonitor({
    ownDevices: backend.deviceName ? [backend.deviceName] : [],
    watchedLinks: [link.name],
    nexthops: parts.useNexthops,
    logger,
    onChange: () => {
      if (!linkGuard.usable) void linkGuard.check();
      reconciler.trigger('kernel changed');
    },
  });

  let rejectFatal: (err: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => (rejectFatal = reject));
  fatal.catch(() => undefined);

  const updateLeaseMetrics = (): void => {
    metrics.peers.set({ backend: backend.type }, lease.peers().length);
    const expiration = lease.ownLease().expiration;
    metrics.leaseExpiry.set(expiration ? expiration.getTime() / 1000 : 0);
  };
  updateLeaseMetrics();
  lease.on('change', () => {
    updateLeaseMetrics();
    reconciler.trigger('leases changed');
  });
  reconciler.on('reconciled', (result: ReconcileResult) => {
    metrics.reconcileDuration.observe(result.durationMs / 1000);
    metrics.peersNotRouted.set(result.skipped);
    metrics.kernelOperations.inc({ result: 'applied' }, result.applied);
    metrics.kernelOperations.inc({ result: 'failed' }, result.failed);
    metrics.peersHeldBack.set(result.heldBack);
    if (result.failed > 0) void linkGuard.check();
    const unprompted = result.reasons.some((r) => r === 'kernel changed' || r === 'resync');
    if (unprompted && result.applied > 0) metrics.driftRepairs.inc();
  });
  lease.on('own-lease', (own) => {
    writeEnv(options, config, backend, own, logger).catch((err: unknown) => logger.error('rewriting subnet file failed', { error: errorMessage(err) }));
  });
  reconciler.on('failed', () => void linkGuard.check());
  lease.on('fatal', (err) => rejectFatal(err));

  let stopping = false;
  let firewall: IptablesKeeper | undefined;
  let firewallStarting: Promise<void> | undefined;
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
    firewallStarting = startFirewall({
      options,
      config,
      ownLease: () => lease.ownLease(),
      logger,
      onRepair: () => metrics.driftRepairs.inc(),
      stopping: () => stopping,
    })
      .then((keeper) => {
        firewall = keeper;
      })
      .catch((err: unknown) => {
        logger.error('starting the iptables keeper failed', { error: errorMessage(err) });
      });
  };
  reconciler.on('reconciled', startMonitor).on('failed', startMonitor);
  reconciler.once('reconciled', () => void lease.dataPlaneReady());
  reconciler.start();

  return {
    lease,
    reconciler,
    metrics,
    fatal,
    linkGuard,
    async stop() {
      stopping = true;
      linkGuard.stop();
      monitor.stop();
      reconciler.stop();
      await firewallStarting;
      await firewall?.stop();
      await lease.close();
    },
  };
}
