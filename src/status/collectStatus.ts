import type { Logger } from 'winston';
import type { AgentOptions } from '../cli/agentOptions.js';
import { type NetworkConfig, parseNetworkConfig } from '../config/networkConfig.js';
import { DatastoreError, errorMessage } from '../errors.js';
import { planKernelState, vxlanDeviceName } from '../backend/plan.js';
import { kernelHostFacts } from '../kernel/hostFacts.js';
import { kernelSupportsNexthops, readActualState } from '../kernel/kernelReader.js';
import { type ExternalInterface, discoverExternalInterface, externalLinkOf } from '../net/externalInterface.js';
import { type Ipv4Subnet, formatSubnet } from '../net/ipv4.js';
import { type Etcd3, EtcdError } from 'etcd3';
import { createEtcdClient } from '../subnet/etcdClient.js';
import { storedLeaseFromKv } from '../subnet/etcdSubnetManager.js';
import { type PeerLease, ownedSubnet } from '../subnet/lease.js';
import { LeaseStore } from '../subnet/leaseStore.js';
import { PeerSet } from '../subnet/peerSet.js';
import { type HostStatus, deviceProblems, peerStatuses } from './peerStatus.js';

interface DatastoreView {
  readonly config: NetworkConfig;
  readonly ownSubnet?: Ipv4Subnet;
  /** ISO time; absent for a reservation or a node's podCIDR, which never expire. */
  readonly expiration?: string;
  readonly peers: readonly PeerLease[];
}

const GRPC_STATUS = /^\d+ [A-Z_]+: /;

/** How long `weft status` waits for etcd before it says so. */
const ETCD_DEADLINE_MS = 5_000;

/**
 * An etcd client error as one line an operator can act on, in place of the gRPC client's dump
 * ("14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED …
 * Resolution note: …"). Any other error is returned as it is.
 */
export function etcdFailure(endpoints: readonly string[], err: unknown): unknown {
  const text = errorMessage(err);
  // gRPC's own errors ("14 UNAVAILABLE: …") reach here unwrapped when no connection was ever made.
  if (!(err instanceof EtcdError) && !GRPC_STATUS.test(text)) return err;
  const cause = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note|$)/.exec(text)?.[1] ?? text.replace(GRPC_STATUS, '').split('\n')[0]!;
  return new DatastoreError(`cannot reach etcd at ${endpoints.join(',')}: ${cause.trim() || 'no answer'}`, { cause: err });
}

async function readEtcdView(options: AgentOptions, ext: ExternalInterface, logger: Logger): Promise<DatastoreView> {
  const client = await createEtcdClient(options.etcd);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatastoreError(`cannot reach etcd at ${options.etcd.endpoints.join(',')}: no answer within ${ETCD_DEADLINE_MS / 1000} s`)), ETCD_DEADLINE_MS);
  });
  try {
    return await Promise.race([readEtcd(client, options, ext, logger), deadline]);
  } catch (err) {
    throw etcdFailure(options.etcd.endpoints, err);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

async function readEtcd(client: Etcd3, options: AgentOptions, ext: ExternalInterface, logger: Logger): Promise<DatastoreView> {
  const configText = await client.get(`${options.etcd.prefix}/config`).string();
  if (configText === null) throw new DatastoreError(`no network config at ${options.etcd.prefix}/config`);
  const config = parseNetworkConfig(configText, `${options.etcd.prefix}/config`);
  const subnetsPrefix = `${options.etcd.prefix}/subnets/`;
  const listing = await client.getAll().prefix(subnetsPrefix).exec();
  const store = new LeaseStore();
  store.replaceAll(
    listing.kvs.map((kv) => storedLeaseFromKv(kv, subnetsPrefix)),
    Number(listing.header.revision),
  );
  const own = listing.kvs
    .map((kv) => ({ kv, subnet: ownedSubnet(kv.key.toString().slice(subnetsPrefix.length), kv.value.toString(), config, ext.publicIP) }))
    .find((candidate) => candidate.subnet !== undefined);
  const ownKv = own?.kv;
  const ownSubnet = own?.subnet;
  const ttl = ownKv && String(ownKv.lease) !== '0' ? await client.leaseClient.leaseTimeToLive({ ID: ownKv.lease }) : undefined;
  const peers = new PeerSet(store, { config, ...(ownSubnet ? { ownSubnet } : {}), forbidden: [ext.ifaceSubnet] }, logger).peers();
  return {
    config,
    ...(ownSubnet ? { ownSubnet } : {}),
    ...(ttl && Number(ttl.TTL) > 0 ? { expiration: new Date(Date.now() + Number(ttl.TTL) * 1000).toISOString() } : {}),
    peers,
  };
}

async function readKubeView(options: AgentOptions, ext: ExternalInterface, logger: Logger): Promise<DatastoreView> {
  const kube = await import('../subnet/kube/index.js');
  return kube.readKubeView(
    {
      ...(options.kubeconfigFile ? { kubeconfigFile: options.kubeconfigFile } : {}),
      ...(options.kubeApiUrl ? { kubeApiUrl: options.kubeApiUrl } : {}),
      // As the agent finds it: NODE_NAME, or the node of the pod POD_NAMESPACE/POD_NAME.
      nodeName: await kube.resolveNodeName(process.env, kube.podReader(kube.loadKubeConfig(options))),
      kubeAnnotationPrefix: options.kubeAnnotationPrefix,
      netConfigPath: options.netConfigPath,
      forbidden: [ext.ifaceSubnet],
    },
    logger,
  );
}

/**
 * Reads the datastore (etcd, or the Kubernetes API with --kube-subnet-mgr) and the kernel
 * directly, with the agent's own flags, and reports whether this host's kernel matches what its
 * agent should have programmed. Needs no running agent.
 */
export async function collectStatus(options: AgentOptions, logger: Logger): Promise<HostStatus> {
  const ext = await discoverExternalInterface(options, kernelHostFacts);
  const { config, ownSubnet, expiration, peers } = options.kubeSubnetMgr ? await readKubeView(options, ext, logger) : await readEtcdView(options, ext, logger);
  const useNexthops = await kernelSupportsNexthops();
  const deviceName = config.backend.type === 'vxlan' ? vxlanDeviceName(config.backend.vni) : undefined;
  const actual = await readActualState(deviceName, useNexthops);
  const network = formatSubnet(config.network);
  if (!ownSubnet) return { backend: config.backend.type, network, peers: [], skipped: [], healthy: false };
  const desired = planKernelState({
    backend: config.backend,
    ownSubnet,
    extLink: externalLinkOf(ext),
    ...(actual.device?.mac ? { vtepMac: actual.device.mac } : {}),
    peers,
  });
  const statuses = peerStatuses(peers, desired, actual, useNexthops);
  const device = deviceName ? { name: deviceName, present: actual.device !== undefined, problems: deviceProblems(desired, actual) } : undefined;
  return {
    backend: config.backend.type,
    network,
    lease: { subnet: formatSubnet(ownSubnet), ...(expiration ? { expiration } : {}) },
    ...(device ? { device } : {}),
    peers: statuses,
    skipped: desired.skipped,
    healthy: statuses.every((p) => p.problems.length === 0) && (device?.problems.length ?? 0) === 0,
  };
}
