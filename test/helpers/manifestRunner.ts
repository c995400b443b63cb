import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import ipaddr from 'ipaddr.js';
import { CniRuntime, type CniResult, type NetworkConfigList, type RuntimeConf, defaultNetwork, parseNetworkConfig } from './cniRuntime.js';
import { layOutImage, parseDockerfile } from './dockerImage.js';
import { FakeKubeApi } from './fakeKubeApi.js';
import { type ClusterContext, type ContainerImage, DaemonPod } from './kubelet.js';
import { type ManifestDoc, REPO, docsOfKind, findDoc, loadManifests } from './kubeManifests.js';
import { KubeNode } from './kubeNode.js';
import { NetnsCluster, run, tryRun } from './netnsCluster.js';
import { waitFor } from './waitFor.js';

/**
 * The next best thing to `kubectl apply` on a real cluster, where there is no container engine
 * and no kube-apiserver: the manifests are read as data and executed the way the DaemonSet
 * controller, kubelet, the container runtime and Multus would execute them, on hosts that are
 * network namespaces (NetnsCluster), against the fake API server with RBAC from the manifests.
 * The image is the Dockerfile's final stage laid out from the local build.
 */

export interface ManifestClusterOptions {
  /** Manifest files in the order they are applied, relative to the repository. */
  readonly manifests: readonly string[];
  /** The image reference the Dockerfile is built as (README's `docker build -t`). */
  readonly image: string;
  /** kube-controller-manager's --cluster-cidr: each node's podCIDR is a /24 of it. */
  readonly clusterCIDR: string;
  readonly hosts?: number;
  /** Hosts (by index, from 1) whose iptables rules are in the legacy backend; the rest use nft. */
  readonly legacyIptablesHosts?: readonly number[];
}

/** A workload pod: a network namespace attached as the runtime (eth0) and Multus (net1...) attach it. */
export interface WorkloadPod {
  readonly name: string;
  readonly namespace: string;
  readonly node: KubeNode;
  /** The pod's network namespace (in /run/netns). */
  readonly ns: string;
  readonly containerId: string;
  readonly uid: string;
  /** Interface name → the address CNI gave it. */
  readonly ips: ReadonlyMap<string, string>;
  /** The NetworkAttachmentDefinitions asked for, as in k8s.v1.cni.cncf.io/networks. */
  readonly networks: readonly string[];
}

/** What Multus keeps per pod so that DEL uses exactly what ADD used (its CNIDir scratch file). */
interface MultusDelegate {
  readonly ifName: string;
  readonly network: string;
  readonly bytes: string;
  readonly list: boolean;
}

const BASE_IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NODE_CNI_BIN = '/opt/cni/bin';
/** Multus's defaults: binDir /opt/cni/bin, cniDir /var/lib/cni/multus. */
const MULTUS_CNI_DIR = '/var/lib/cni/multus';
/** The loopback network containerd sets up in every pod before the pod network. */
const LOOPBACK: NetworkConfigList = parseNetworkConfig('{"cniVersion":"0.3.1","name":"cni-loopback","type":"loopback"}', 'containerd loopback', false);

/** The index-th /24 of a CIDR, as the node IPAM controller hands out podCIDRs. */
function podCidr(clusterCidr: string, index: number): string {
  const [address, length] = ipaddr.IPv4.parseCIDR(clusterCidr);
  if (length > 24) throw new Error(`cluster CIDR ${clusterCidr} is smaller than a /24`);
  const base = address.toByteArray().reduce((n, b) => n * 256 + b, 0);
  const value = base + index * 256;
  return `${[24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.')}/24`;
}

function firstAddress(result: CniResult, what: string): string {
  const address = result.ips?.[0]?.address;
  if (!address) throw new Error(`${what}: the CNI result has no IP: ${JSON.stringify(result)}`);
  return address.split('/')[0]!;
}

export class ManifestCluster {
  private readonly daemonPods = new Map<string, DaemonPod>();
  private readonly retired: DaemonPod[] = [];
  readonly pods: WorkloadPod[] = [];

  private constructor(
    readonly netns: NetnsCluster,
    readonly api: FakeKubeApi,
    readonly nodes: readonly KubeNode[],
    private readonly ctx: ClusterContext,
  ) {}

  /** Hosts as fresh nodes (registered with the API server, podCIDRs assigned), the manifests read, the image laid out. Nothing runs yet. */
  static async create(options: ManifestClusterOptions): Promise<ManifestCluster> {
    const netns = await NetnsCluster.create([options.hosts ?? 3]);
    let api: FakeKubeApi | undefined;
    try {
      api = await FakeKubeApi.start({ host: netns.rootAddress });
      const docs = loadManifests(options.manifests);
      const spec = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
      const image: ContainerImage = { ...spec, ref: options.image, dir: join(netns.dir, 'image'), path: BASE_IMAGE_PATH };
      await layOutImage(spec, REPO, image.dir);
      const nodes: KubeNode[] = [];
      for (const host of netns.hosts) {
        const iptables = options.legacyIptablesHosts?.includes(host.index) ? 'legacy' : 'nft';
        const node = await KubeNode.create(host, `node-${host.index}`, podCidr(options.clusterCIDR, host.index), netns.rootAddress, iptables);
        api.createNode(node.name, { podCIDR: node.podCIDR });
        nodes.push(node);
      }
      const url = new URL(api.url);
      return new ManifestCluster(netns, api, nodes, { api, apiServer: { host: url.hostname, port: Number(url.port) }, docs, image });
    } catch (err) {
      await api?.stop();
      await netns.destroy();
      throw err;
    }
  }

  get docs(): readonly ManifestDoc[] {
    return this.ctx.docs;
  }

  get image(): ContainerImage {
    return this.ctx.image;
  }

  daemonSets(): ManifestDoc[] {
    return docsOfKind(this.ctx.docs, 'DaemonSet');
  }

  /** As the DaemonSet controller and every kubelet: a pod of every DaemonSet on every node, all at once. */
  async start(): Promise<void> {
    for (const ds of this.daemonSets()) {
      const namespace = ds.metadata.namespace ?? 'default';
      if (namespace !== 'default') findDoc(this.ctx.docs, 'Namespace', namespace);
    }
    await Promise.all(this.daemonSets().flatMap((ds) => this.nodes.map((node) => this.startDaemonPod(ds, node))));
  }

  private async startDaemonPod(ds: ManifestDoc, node: KubeNode): Promise<void> {
    this.daemonPods.set(`${ds.metadata.name}/${node.name}`, await DaemonPod.start(this.ctx, node, ds));
  }

  daemonPod(daemonSet: string, node: KubeNode): DaemonPod {
    const pod = this.daemonPods.get(`${daemonSet}/${node.name}`);
    if (!pod) throw new Error(`no ${daemonSet} pod on ${node.name}`);
    return pod;
  }

  /** `kubectl rollout status`: every pod of the DaemonSet ready; a container that died ends the wait at once. */
  async waitForRollout(daemonSet: string, timeoutMs: number): Promise<void> {
    await waitFor(
      () => {
        const pods = this.nodes.map((n) => this.daemonPod(daemonSet, n));
        if (pods.some((p) => p.problems().length)) throw new Error(`DaemonSet ${daemonSet} is crash-looping:\n${pods.map((p) => p.describe()).join('\n')}`);
        return pods.every((p) => p.ready);
      },
      timeoutMs,
      () => `DaemonSet ${daemonSet} not ready:\n${this.nodes.map((n) => this.daemonPod(daemonSet, n).describe()).join('\n')}`,
      100,
    );
  }

  /**
   * `kubectl rollout restart` under RollingUpdate with maxUnavailable 1: node by node, the old
   * pod is deleted, a new one runs its init containers over the existing installation and
   * starts, and the rollout waits for it to be ready before the next node.
   */
  async rolloutRestart(daemonSet: string, readyTimeoutMs: number): Promise<void> {
    const ds = findDoc(this.ctx.docs, 'DaemonSet', daemonSet);
    for (const node of this.nodes) {
      const old = this.daemonPod(daemonSet, node);
      await old.stop();
      this.retired.push(old);
      await this.startDaemonPod(ds, node);
      await waitFor(() => this.daemonPod(daemonSet, node).ready, readyTimeoutMs, () => this.daemonPod(daemonSet, node).describe(), 100);
    }
  }

  /** Everything kubelet would have had to act on (crashed containers, failed liveness probes), in every pod so far. */
  problems(): string[] {
    return [...this.daemonPods.values()].flatMap((p) => p.problems());
  }

  private runtime(node: KubeNode): CniRuntime {
    return new CniRuntime(node, [NODE_CNI_BIN]);
  }

  private multus(node: KubeNode): CniRuntime {
    return new CniRuntime(node, [NODE_CNI_BIN], MULTUS_CNI_DIR);
  }

  private runtimeConf(pod: Pick<WorkloadPod, 'name' | 'namespace' | 'ns' | 'containerId' | 'uid'>, ifName: string): RuntimeConf {
    return {
      containerId: pod.containerId,
      netns: `/var/run/netns/${pod.ns}`,
      ifName,
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', pod.namespace],
        ['K8S_POD_NAME', pod.name],
        ['K8S_POD_INFRA_CONTAINER_ID', pod.containerId],
        ['K8S_POD_UID', pod.uid],
      ],
      // containerd always passes the pod's port mappings (none here) to plugins that declare the capability.
      capabilityArgs: { portMappings: [] },
    };
  }

  /** A NetworkAttachmentDefinition's spec.config, as Multus reads it: a conflist when it has plugins. */
  private attachment(reference: string, namespace: string): { network: string; bytes: string; list: boolean } {
    const [ns, name] = reference.includes('/') ? (reference.split('/', 2) as [string, string]) : [namespace, reference];
    const nad = findDoc(this.ctx.docs, 'NetworkAttachmentDefinition', name, ns);
    const bytes = (nad['spec'] as { config?: string } | undefined)?.config;
    if (!bytes) throw new Error(`NetworkAttachmentDefinition ${ns}/${name}: spec.config is empty (Multus's confDir lookup is not modelled)`);
    return { network: `${ns}/${name}`, bytes, list: 'plugins' in (JSON.parse(bytes) as object) };
  }

  /**
   * A pod on `node`, attached as on a real node: loopback and the default network (the first
   * config in the node's /etc/cni/net.d) by the runtime, then each requested
   * NetworkAttachmentDefinition by Multus as net1, net2...
   */
  async addPod(node: KubeNode, name: string, networks: readonly string[] = [], namespace = 'default'): Promise<WorkloadPod> {
    const pod = { name, namespace, ns: `${this.netns.tag}-${name}`, containerId: randomBytes(32).toString('hex'), uid: randomUUID() };
    run('ip', ['netns', 'add', pod.ns]);
    const runtime = this.runtime(node);
    await runtime.add(LOOPBACK, this.runtimeConf(pod, 'lo'));
    const ips = new Map<string, string>();
    const primary = await defaultNetwork(node);
    ips.set('eth0', firstAddress(await runtime.add(primary, this.runtimeConf(pod, 'eth0')), `${primary.source} on ${node.name}`));
    if (networks.length) {
      const delegates: MultusDelegate[] = networks.map((reference, i) => ({ ifName: `net${i + 1}`, ...this.attachment(reference, namespace) }));
      // Multus saves its delegates before running them, so DEL can undo a half-done ADD.
      const scratch = node.nodePath(`${MULTUS_CNI_DIR}/${pod.containerId}`);
      await mkdir(dirname(scratch), { recursive: true, mode: 0o700 });
      await writeFile(scratch, JSON.stringify(delegates), { mode: 0o600 });
      for (const d of delegates) {
        const list = parseNetworkConfig(d.bytes, `NetworkAttachmentDefinition ${d.network}`, d.list);
        ips.set(d.ifName, firstAddress(await this.multus(node).add(list, this.runtimeConf(pod, d.ifName)), `${d.network} on ${node.name}`));
      }
    }
    const workload: WorkloadPod = { ...pod, node, ips, networks };
    this.pods.push(workload);
    return workload;
  }

  /**
   * Tears a pod's networking down in the order Multus and the runtime do: Multus's delegates in
   * reverse from its saved copy, then the default network with the config now in /etc/cni/net.d
   * (containerd reloads it) and the cached result, then loopback; then the namespace goes.
   */
  async deletePod(pod: WorkloadPod): Promise<void> {
    const scratch = pod.node.nodePath(`${MULTUS_CNI_DIR}/${pod.containerId}`);
    if (existsSync(scratch)) {
      const delegates = JSON.parse(await readFile(scratch, 'utf8')) as MultusDelegate[];
      for (const d of [...delegates].reverse()) {
        await this.multus(pod.node).del(parseNetworkConfig(d.bytes, `NetworkAttachmentDefinition ${d.network}`, d.list), this.runtimeConf(pod, d.ifName));
      }
      await rm(scratch);
    }
    const runtime = this.runtime(pod.node);
    await runtime.del(await defaultNetwork(pod.node), this.runtimeConf(pod, 'eth0'));
    await runtime.del(LOOPBACK, this.runtimeConf(pod, 'lo'));
    run('ip', ['netns', 'del', pod.ns]);
    this.pods.splice(this.pods.indexOf(pod), 1);
  }

  /** One ping from a pod out of one of its interfaces. */
  ping(from: WorkloadPod, ifName: string, to: string): boolean {
    return tryRun('ip', ['netns', 'exec', from.ns, 'ping', '-n', '-q', '-c', '1', '-W', '2', '-I', ifName, to]).ok;
  }

  /**
   * What pods left behind on a node: any file under /var/lib/cni other than host-local's own
   * bookkeeping (lock, last_reserved_ip.N) - leases, plugin dataDir files, result caches, Multus
   * scratch files - and any veth but the host's uplink.
   */
  async leftovers(node: KubeNode): Promise<string[]> {
    const root = node.nodePath('/var/lib/cni');
    const files = existsSync(root) ? ((await readdir(root, { recursive: true, withFileTypes: true })) as Array<{ name: string; parentPath?: string; path?: string; isFile(): boolean }>) : [];
    const left = files
      .filter((f) => f.isFile() && !/^(lock|last_reserved_ip\.\d+)$/.test(f.name))
      .map((f) => `/var/lib/cni/${relative(root, join(f.parentPath ?? f.path ?? '', f.name))}`);
    const veths = (JSON.parse(run('ip', ['netns', 'exec', node.host.ns, 'ip', '-j', 'link', 'show', 'type', 'veth']) || '[]') as Array<{ ifname: string }>)
      .map((l) => l.ifname)
      .filter((name) => name !== 'eth0')
      .map((name) => `veth ${name}`);
    return [...left, ...veths];
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.daemonPods.values(), ...this.retired].map((p) => p.stop(0)));
    await this.api.stop();
    await this.netns.destroy();
  }
}
