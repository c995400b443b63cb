import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CniNode } from './cniRuntime.js';
import { type Bind, isolatedCommand, resolveInRoot } from './isolatedProcess.js';
import { type Host, inNs } from './netnsCluster.js';

/**
 * The directories of a node's file system kept per node; the rest of a node's root is this
 * machine's, unchanged by anything run "on the node" (writes there land in a throwaway layer).
 * They cover every hostPath weft's manifests use, the CNI config and plugin directories and the
 * runtime's CNI state (results cache, host-local leases, plugins' dataDir).
 */
export const NODE_DIRS = ['/etc/cni', '/opt/cni', '/var/lib/cni', '/run'] as const;

/** The standard plugins a node image carries in /opt/cni/bin before any network add-on is installed. */
export const NODE_IMAGE_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;
const PLUGIN_SOURCE = '/usr/lib/cni';

/** A host of the netns cluster as a Kubernetes node: its file system and its container runtime's view. */
export class KubeNode implements CniNode {
  readonly root: string;

  private constructor(
    readonly host: Host,
    readonly name: string,
    readonly podCIDR: string,
    /** The iptables backend the node's own rules are in: what the agent must detect and use. */
    readonly iptables: 'nft' | 'legacy',
  ) {
    this.root = join(host.dir, 'node');
  }

  /**
   * A fresh node: the kept directories (empty, as on a new node), the node image's standard
   * plugins in /opt/cni/bin, and a default route (nodes have one, and the agent picks its
   * interface from it when the manifest names none). A legacy-iptables node already holds a
   * rule there, as one whose kube-proxy uses iptables-legacy does; legacy iptables needs
   * CAP_NET_RAW where nft needs only CAP_NET_ADMIN.
   */
  static async create(host: Host, name: string, podCIDR: string, gateway: string, iptables: 'nft' | 'legacy'): Promise<KubeNode> {
    const node = new KubeNode(host, name, podCIDR, iptables);
    for (const dir of NODE_DIRS) await mkdir(join(node.root, dir), { recursive: true, mode: 0o755 });
    await mkdir(join(node.root, 'etc/cni/net.d'), { recursive: true });
    await mkdir(join(node.root, 'opt/cni/bin'), { recursive: true });
    for (const plugin of NODE_IMAGE_PLUGINS) await copyFile(join(PLUGIN_SOURCE, plugin), join(node.root, 'opt/cni/bin', plugin));
    await mkdir(join(host.dir, 'scratch'), { recursive: true });
    inNs(host.ns, 'ip', ['route', 'add', 'default', 'via', gateway]);
    if (iptables === 'legacy') {
      inNs(host.ns, 'iptables-legacy', ['-N', 'LEGACY-NODE']);
      inNs(host.ns, 'iptables-legacy', ['-A', 'LEGACY-NODE', '-j', 'RETURN']);
    }
    return node;
  }

  /** Where a path of the node's file system lives on this machine; a path outside NODE_DIRS is refused. */
  nodePath(path: string): string {
    const resolved = resolveInRoot(path);
    if (!NODE_DIRS.some((dir) => resolved === dir || resolved.startsWith(`${dir}/`))) {
      throw new Error(`${path} is outside the node directories the harness keeps (${NODE_DIRS.join(', ')})`);
    }
    return join(this.root, resolved);
  }

  /**
   * Where a hostPath of this node lives on this machine: device paths are this machine's own
   * (every node shares its kernel), anything else must be under NODE_DIRS.
   */
  hostPath(path: string): string {
    const resolved = resolveInRoot(path);
    return resolved.startsWith('/dev/') ? resolved : this.nodePath(resolved);
  }

  /** The node's kept directories, bound over this machine's root, and the machine's network namespace handles. */
  nodeBinds(): Bind[] {
    return [...NODE_DIRS.map((dir) => ({ source: join(this.root, dir), target: dir })), { source: '/run/netns', target: '/run/netns', recursive: true }];
  }

  /** A fresh empty directory for one isolated process's scratch tmpfs. */
  scratchDir(): Promise<string> {
    return mkdtemp(join(this.host.dir, 'scratch', 'p'));
  }

  /** Runs a program as the node's container runtime runs CNI plugins: root, all capabilities, in the host's network namespace. */
  async exec(argv: readonly string[], env: Readonly<Record<string, string>>, stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const scratch = await this.scratchDir();
    try {
      const { file, args } = isolatedCommand({ netns: this.host.ns, scratch, binds: this.nodeBinds(), argv, env, cwd: '/', containerKernelView: false });
      const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end(stdin);
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => resolve(c ?? -1));
      });
      return { code, stdout, stderr };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
