import type { Logger } from 'winston';
import type { AgentOptions } from '../agent/options.js';
import type { ActiveBackend } from '../backend/backend.js';
import { type AgentNetworkConfig, type PeerData, activateBackend, parseNetworkConfig } from '../backend/registry.js';
import { kernelHostFacts } from '../kernel/hostFacts.js';
import { iprouteKernel } from '../kernel/kernelPort.js';
import { kernelSupportsNexthops, readActualState } from '../kernel/kernelReader.js';
import { discoverExternalInterface, externalLinkOf } from '../net/externalInterface.js';
import { type Ipv4Subnet, formatSubnet } from '../net/ipv4.js';
import { underlayFacts } from '../agent/datastore.js';
import { readEtcdView } from '../subnet/etcd/view.js';
import type { PeerDataDecoder, PeerLease } from '../subnet/lease.js';
import { DatastoreError } from '../util/errors.js';
import { type HostStatus, peerStatuses } from './peerStatus.js';

interface DatastoreView {
  readonly config: AgentNetworkConfig;
  readonly ownSubnet?: Ipv4Subnet;
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
  const forbidden = [ext.ifaceSubnet];
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
      ...(options.wireguardKeyFile ? { wireguardKeyFile: options.wireguardKeyFile } : {}),
    });
    return backend.decodePeerData;
  };
  const view: DatastoreView = options.kubeSubnetMgr
    ? await (await import('../subnet/kube/index.js')).readKubeView(
        {
          ...(options.kubeconfigFile ? { kubeconfigFile: options.kubeconfigFile } : {}),
          ...(options.kubeApiUrl ? { kubeApiUrl: options.kubeApiUrl } : {}),
          nodeName: options.nodeName,
          kubeAnnotationPrefix: options.kubeAnnotationPrefix,
          netConfigPath: options.netConfigPath,
          forbidden,
          underlay,
          parseConfig: parseNetworkConfig,
        },
        decoderFor,
        logger,
      )
    : await readEtcdView({ connection: options.etcd, parseConfig: parseNetworkConfig, publicIP: ext.publicIP, forbidden, underlay }, decoderFor, logger);
  if (!backend) throw new DatastoreError('the datastore view was read without its backend');
  const { config, ownSubnet, expiration, peers } = view;
  const useNexthops = await kernelSupportsNexthops();
  const network = formatSubnet(config.network);
  if (!ownSubnet) return { backend: config.backend.type, network, peers: [], skipped: [], healthy: false };
  const desired = backend.plan(ownSubnet, peers);
  const actual = await readActualState(desired.device?.name, useNexthops, desired.wireguard?.map((w) => w.name));
  const statuses = peerStatuses(peers, desired, actual, useNexthops, backend.peerChecker(desired, actual));
  const device = backend.deviceName ? { name: backend.deviceName, present: actual.device !== undefined, problems: backend.deviceProblems(desired, actual) } : undefined;
  return {
    backend: config.backend.type,
    network,
    lease: { subnet: formatSubnet(ownSubnet), ...(expiration ? { expiration } : {}) },
    ...(device ? { device } : {}),
    ...(backend.statusColumn ? { detailColumn: backend.statusColumn } : {}),
    peers: statuses,
    skipped: desired.skipped,
    healthy: statuses.every((p) => p.problems.length === 0) && (device?.problems.length ?? 0) === 0,
  };
}
