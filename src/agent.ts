import type { Logger } from 'winston';
import type { AgentOptions } from './cli/agentOptions.js';
import { type NetworkConfig, podMtu } from './config/networkConfig.js';
import { errorMessage } from './errors.js';
import { type ExternalLink, type PlanInput, vxlanDeviceName } from './backend/plan.js';
import { randomVtepMac } from './backend/vtepMac.js';
import { type HostFacts, kernelHostFacts } from './kernel/hostFacts.js';
import { KernelMonitor } from './kernel/kernelMonitor.js';
import { type KernelPort, iprouteKernel } from './kernel/kernelPort.js';
import { kernelSupportsNexthops } from './kernel/kernelReader.js';
import { type ExternalInterface, discoverExternalInterface } from './net/externalInterface.js';
import { formatSubnet } from './net/ipv4.js';
import { Reconciler } from './reconciler.js';
import { createEtcdClient } from './subnet/etcdClient.js';
import { EtcdSubnetManager } from './subnet/etcdSubnetManager.js';
import type { LeaseAttrs } from './subnet/lease.js';
import type { OwnLease, SubnetManager } from './subnet/subnetManager.js';
import { readPreviousSubnet, writeSubnetEnv } from './subnetEnv.js';

export interface AgentDependencies {
  readonly hostFacts: HostFacts;
  readonly kernel: KernelPort;
  readonly supportsNexthops: () => Promise<boolean>;
}

/** A running agent; stop() leaves kernel state in place so traffic survives an upgrade. */
export interface RunningAgent {
  readonly subnetManager: SubnetManager;
  readonly reconciler: Reconciler;
  stop(): Promise<void>;
  /** Settles when the agent hits an unrecoverable error (e.g. the subnet range is exhausted on re-acquire). */
  readonly fatal: Promise<never>;
}

function externalLink(ext: ExternalInterface): ExternalLink {
  return { name: ext.iface.name, address: ext.ifaceAddress, mtu: ext.iface.mtu, subnet: ext.ifaceSubnet };
}

/** The VTEP MAC must survive restarts: peers hold it in their FDB and ARP tables. */
async function currentVtepMac(kernel: KernelPort, vni: number): Promise<string> {
  const actual = await kernel.read(vxlanDeviceName(vni), false);
  return actual.device?.kind === 'vxlan' && actual.device.mac ? actual.device.mac : randomVtepMac();
}

async function createSubnetManager(options: AgentOptions, ext: ExternalInterface, logger: Logger): Promise<SubnetManager> {
  const client = await createEtcdClient(options.etcd);
  return new EtcdSubnetManager({
    client,
    prefix: options.etcd.prefix,
    logger,
    renewMarginMinutes: options.subnetLeaseRenewMarginMinutes,
    // A peer claiming the underlay's own subnet would reroute host-to-host traffic into a tunnel.
    forbiddenSubnets: [ext.ifaceSubnet],
  });
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
  if (options.kubeSubnetMgr) {
    throw new Error('--kube-subnet-mgr is not available in this build yet; use the etcd datastore');
  }
  const ext = await discoverExternalInterface(options, deps.hostFacts);
  logger.info('using external interface', {
    iface: ext.iface.name,
    ifaceAddress: ext.ifaceAddress,
    publicIP: ext.publicIP,
    mtu: ext.iface.mtu,
  });
  const subnetManager = await createSubnetManager(options, ext, logger);
  try {
    const config = await subnetManager.getNetworkConfig(signal);
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
    await subnetManager.start();
    const useNexthops = await deps.supportsNexthops();
    return run(options, config, ext, vtepMac, useNexthops, subnetManager, deps, logger);
  } catch (err) {
    await subnetManager.close();
    throw err;
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
  logger: Logger,
): RunningAgent {
  const link = externalLink(ext);
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

  subnetManager.on('change', () => reconciler.trigger('leases changed'));
  subnetManager.on('own-lease', (lease: OwnLease) => {
    writeEnv(options, config, ext, lease, logger).catch((err: unknown) => logger.error('rewriting subnet file failed', { error: errorMessage(err) }));
  });
  subnetManager.on('error', (err: Error) => rejectFatal(err));
  // The monitor starts after the first pass: programming thousands of peers would otherwise
  // echo back through it line by line while the batch runs, slowing the batch itself. One more
  // pass covers anything that changed in between.
  const startMonitor = (): void => {
    reconciler.off('reconciled', startMonitor).off('failed', startMonitor);
    monitor.start();
    reconciler.trigger('kernel monitor started');
  };
  reconciler.on('reconciled', startMonitor).on('failed', startMonitor);
  reconciler.start();

  return {
    subnetManager,
    reconciler,
    fatal,
    async stop() {
      monitor.stop();
      reconciler.stop();
      await subnetManager.close();
    },
  };
}
