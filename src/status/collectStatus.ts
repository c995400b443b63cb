import type { Logger } from 'winston';
import type { AgentOptions } from '../agent/options.js';
import type { ActiveBackend } from '../backend/backend.js';
import { type AgentNetworkConfig, type PeerData, activateBackend, parseNetworkConfig } from '../backend/registry.js';
import { kernelHostFacts } from '../kernel/hostFacts.js';
import { iprouteKernel } from '../kernel/kernelPort.js';
import { kernelSupportsNexthops, readActualState } from '../kernel/kernelReader.js';
import type { ActualState } from '../kernel/kernelState.js';
import { discoverExternalInterface, externalLinkOf } from '../net/externalInterface.js';
import { type Ipv4Subnet, formatSubnet } from '../net/ipv4.js';
import { type Ipv6Subnet, formatIpv6Subnet } from '../net/ipv6.js';
import { nodeIdentityEnv, underlayFacts } from '../agent/datastore.js';
import { readEtcdView } from '../subnet/etcd/view.js';
import type { PeerDataDecoder, PeerLease } from '../subnet/lease.js';
import { DatastoreError } from '../util/errors.js';
import { ipv6PeerStatuses } from './ipv6Status.js';
import { type FamilyStatus, type HostStatus, peerStatuses } from './peerStatus.js';

interface DatastoreView {
  readonly config: AgentNetworkConfig;
  readonly ownSubnet?: Ipv4Subnet;
  readonly ownIpv6Subnet?: Ipv6Subnet;
  /** ISO time; absent for a reservation or a node's podCIDR, which never expire. */
  readonly expiration?: string;
  readonly peers: readonly PeerLease<PeerData>[];
}

/**
 * Reads the datastore (etcd, or the Kubernetes API with --kube-subnet-mgr) and the kernel
 * directly, with the agent's own flags, and reports whether this host's kernel matches what its
 * agent should have programmed. Needs no running agent.
 */
export async function collectStatus(options: AgentOptions, logger: Logger): Promise<HostStatus> {
  const ext = await discoverExternalInterface(options, kernelHostFacts);
  const extLink = externalLinkOf(ext);
  const forbidden = ext.hasIpv4 ? [ext.ifaceSubnet] : [];
  const forbiddenIpv6 = ext.ipv6 ? [ext.ipv6.subnet] : [];
  const underlay = underlayFacts(ext);
  let backend: ActiveBackend | undefined;
  // The backend is prepared as the agent would (vxlan reads the device's VTEP MAC) once the
  // datastore has said which backend the network uses.
  const decoderFor = async (config: AgentNetworkConfig): Promise<PeerDataDecoder<PeerData>> => {
    backend = await activateBackend(config.backend, {
      extLink,
      network: config.network,
      kernel: iprouteKernel,
      inspectOnly: true,
      ipv6: config.ipv6 !== undefined && ext.ipv6 !== undefined,
      ...(config.ipv6 ? { ipv6Network: config.ipv6.network } : {}),
      ...(options.wireguardKeyFile ? { wireguardKeyFile: options.wireguardKeyFile } : {}),
    });
    return backend.decodePeerData;
  };
  // Loaded on demand, as in the agent: etcd mode never needs the Kubernetes client.
  const kube = options.kubeSubnetMgr ? await import('../subnet/kube/index.js') : undefined;
  const view: DatastoreView = kube
    ? await kube.readKubeView(
        {
          ...(options.kubeconfigFile ? { kubeconfigFile: options.kubeconfigFile } : {}),
          ...(options.kubeApiUrl ? { kubeApiUrl: options.kubeApiUrl } : {}),
          // As the agent finds it: NODE_NAME, or the node of the pod POD_NAMESPACE/POD_NAME.
          nodeName: await kube.resolveNodeName(nodeIdentityEnv(options), kube.podReader(kube.loadKubeConfig(options))),
          kubeAnnotationPrefix: options.kubeAnnotationPrefix,
          netConfigPath: options.netConfigPath,
          forbidden,
          forbiddenIpv6,
          underlay,
          parseConfig: parseNetworkConfig,
        },
        decoderFor,
        logger,
      )
    : await readEtcdView(
        {
          connection: options.etcd,
          parseConfig: parseNetworkConfig,
          publicIP: ext.publicIP,
          ...(ext.ipv6 ? { publicIPv6: ext.ipv6.publicIP } : {}),
          forbidden,
          forbiddenIpv6,
          underlay,
        },
        decoderFor,
        logger,
      );
  if (!backend) throw new DatastoreError('the datastore view was read without its backend');
  const { config, ownSubnet, expiration, peers } = view;
  const ipv6 = await ipv6Status(backend, view);
  const ipv6Healthy = !ipv6 || (ipv6.lease !== undefined && ipv6.peers.every((p) => p.problems.length === 0) && (ipv6.device?.problems.length ?? 0) === 0);
  if (!config.enableIPv4) {
    // An IPv6-only network: the IPv6 plane is the whole status.
    return { backend: config.backend.type, network: '-', peers: [], skipped: [], ...(ipv6 ? { ipv6 } : {}), healthy: ipv6 !== undefined && ipv6Healthy };
  }
  const useNexthops = await kernelSupportsNexthops();
  const network = formatSubnet(config.network);
  if (!ownSubnet) return { backend: config.backend.type, network, peers: [], skipped: [], ...(ipv6 ? { ipv6 } : {}), healthy: false };
  const desired = backend.plan(ownSubnet, peers);
  const actual = await readActualState(desired.device?.name, useNexthops, desired.wireguard?.map((w) => w.name));
  const statuses = peerStatuses(peers, desired, actual, useNexthops, backend.peerChecker(desired, actual));
  const device = backend.deviceName ? { name: backend.deviceName, present: devicePresent(backend.deviceName, actual), problems: backend.deviceProblems(desired, actual) } : undefined;
  return {
    backend: config.backend.type,
    network,
    lease: { subnet: formatSubnet(ownSubnet), ...(expiration ? { expiration } : {}) },
    ...(device ? { device } : {}),
    ...(backend.statusColumn ? { detailColumn: backend.statusColumn } : {}),
    peers: statuses,
    skipped: desired.skipped,
    ...(ipv6 ? { ipv6 } : {}),
    healthy: statuses.every((p) => p.problems.length === 0) && (device?.problems.length ?? 0) === 0 && ipv6Healthy,
  };
}

/** A backend's device is a vxlan device or a WireGuard one, which the kernel reader reports apart. */
function devicePresent(name: string, actual: ActualState): boolean {
  return actual.device?.name === name || (actual.wireguard ?? []).some((d) => d.name === name);
}

/** The IPv6 plane's status, when the network and this host have one. */
async function ipv6Status(backend: ActiveBackend, view: DatastoreView): Promise<FamilyStatus | undefined> {
  const plane = backend.ipv6;
  const network = view.config.ipv6;
  if (!plane || !network) return undefined;
  const own = view.ownIpv6Subnet;
  if (!own) return { network: formatIpv6Subnet(network.network), peers: [], skipped: [] };
  const desired = plane.plan(own, view.peers);
  const actual = await readActualState(desired.device?.name, false, desired.wireguard?.map((w) => w.name), 6);
  return {
    network: formatIpv6Subnet(network.network),
    lease: { subnet: formatIpv6Subnet(own) },
    ...(plane.deviceName ? { device: { name: plane.deviceName, present: devicePresent(plane.deviceName, actual), problems: backend.deviceProblems(desired, actual) } } : {}),
    ...(plane.deviceName && backend.statusColumn ? { detailColumn: backend.statusColumn } : {}),
    peers: ipv6PeerStatuses(view.peers, desired, actual),
    skipped: desired.skipped,
  };
}
