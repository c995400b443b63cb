import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EtcdServer } from './etcdServer.js';
import { parseEnvFile } from '../../src/agent/subnetEnv.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const AGENT_BIN = join(REPO, 'dist', 'bundle', 'weft.mjs');
export const CNI_PATH = '/usr/lib/cni';
/** weft's CNI plugin (type flannel), the static executable `npm run build` makes. */
export const CNI_PLUGIN = join(REPO, 'dist', 'cni', 'flannel');

export function run(file: string, args: readonly string[], input?: string): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(input !== undefined ? { input } : {}) });
}

export function tryRun(file: string, args: readonly string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: run(file, args) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export function inNs(ns: string, file: string, args: readonly string[], input?: string): string {
  return run('ip', ['netns', 'exec', ns, file, ...args], input);
}

/** True when this process can build namespaces (root with the needed kernel features). */
export function canBuildNamespaces(): boolean {
  if (process.getuid?.() !== 0) return false;
  return tryRun('ip', ['netns', 'list']).ok;
}

export interface UnderlaySegment {
  /** Underlay bridge namespace. */
  readonly ns: string;
  /** Third octet of 192.168.<octet>.0/24. */
  readonly octet: number;
  /** The segment's IPv6 prefix (fd00:<tag>:<octet>::/64), when the cluster has an IPv6 underlay. */
  readonly ipv6Prefix?: string;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly args: readonly string[];
}

export interface Pod {
  readonly name: string;
  readonly ns: string;
  /** The pod's first address (IPv4, or IPv6 in an IPv6-only network). */
  readonly ip: string;
  /** The pod's IPv6 address, when its network gave it one. */
  readonly ipv6?: string;
  readonly host: Host;
  readonly network: string;
}

export interface Host {
  readonly index: number;
  readonly ns: string;
  readonly ip: string;
  /** The host's IPv6 underlay address, when it has one. */
  readonly ipv6?: string;
  readonly segment: UnderlaySegment;
  readonly dir: string;
  agents: Map<string, AgentProcess>;
  pods: Pod[];
}

/**
 * Directories a host's processes see in place of the machine's, as `target -> source`. Every
 * host namespace shares this machine's file system; wireguard-go and `wg` meet at
 * /run/wireguard/<dev>.sock, so hosts with a device of the same name each need their own.
 */
export type HostBinds = Readonly<Record<string, string>>;

/**
 * argv that runs `argv` inside the host namespace with `binds` mounted. `ip netns exec` gives
 * the command a mount namespace of its own, so the bind mounts stay private to it and to the
 * processes it starts.
 */
export function inHost(host: Host, argv: readonly string[], binds: HostBinds = {}): string[] {
  const entries = Object.entries(binds);
  if (entries.length === 0) return ['ip', 'netns', 'exec', host.ns, ...argv];
  const mounts = entries.map((_, i) => `mkdir -p "$${2 * i + 1}" "$${2 * i + 2}" && mount --bind "$${2 * i + 2}" "$${2 * i + 1}"`).join(' && ');
  const shifts = entries.map(() => 'shift 2').join('; ');
  return ['ip', 'netns', 'exec', host.ns, 'sh', '-c', `${mounts} && ${shifts} && exec "$@"`, 'sh', ...entries.flat(), ...argv];
}

export interface NetworkSpec {
  /** Name used for file names and the etcd prefix, e.g. "primary". */
  readonly name: string;
  readonly config: object;
  readonly vni?: number;
  /** CNI bridge name inside each host. */
  readonly bridge: string;
}

export interface ClusterOptions {
  /** Give every segment an IPv6 prefix and hosts IPv6 addresses beside their IPv4 ones. */
  readonly ipv6?: boolean;
  /** 1-based indexes of hosts that get no IPv6 address (an IPv4-only host on a dual-stack underlay). */
  readonly ipv4OnlyHosts?: readonly number[];
}

function randomTag(): string {
  return Math.random().toString(36).slice(2, 6);
}

/** Picks a 192.168.x.0/24 the root namespace does not use yet. */
function freeUnderlayOctets(count: number): number[] {
  const used = run('ip', ['-4', '-o', 'addr', 'show']);
  const picked: number[] = [];
  while (picked.length < count) {
    const octet = 100 + Math.floor(Math.random() * 150);
    if (!used.includes(`192.168.${octet}.`) && !picked.includes(octet)) picked.push(octet);
  }
  return picked;
}

/**
 * A cluster of hosts on one machine: each host a network namespace joined by veth to an underlay
 * bridge (in its own namespace), real etcd reachable from every host, real `weft agent`
 * processes, and pods attached through the real CNI bridge + host-local plugins.
 */
export class NetnsCluster {
  readonly hosts: Host[] = [];
  readonly segments: UnderlaySegment[] = [];
  private routerNs: string | undefined;
  private readonly cleanups: Array<() => void> = [];

  private constructor(
    readonly tag: string,
    readonly dir: string,
    readonly etcd: EtcdServer,
    private readonly rootLink: string,
  ) {}

  /**
   * Builds `hostsPerSegment.length` underlay segments. With more than one, a router namespace
   * joins them (hosts get routes to the other segments through it), as two racks would be.
   */
  static async create(hostsPerSegment: readonly number[] = [3], options: ClusterOptions = {}): Promise<NetnsCluster> {
    const tag = `w${randomTag()}`;
    const dir = await mkdtemp(join(tmpdir(), `weft-cluster-${tag}-`));
    const octets = freeUnderlayOctets(hostsPerSegment.length);
    // Unique-local prefixes keyed by the underlay octet: like the 192.168.x.0/24s, only this cluster uses them.
    const ipv6Prefix = (octet: number): string | undefined => (options.ipv6 ? `fd00:0:${octet.toString(16)}::` : undefined);
    // etcd listens on the root side of a veth into the first segment, so both the test (root
    // namespace) and every host reach it without any route leaving this machine.
    const rootLink = `${tag}r`;
    const first = octets[0]!;
    const segments: UnderlaySegment[] = octets.map((octet, i) => {
      const prefix = ipv6Prefix(octet);
      return { ns: `${tag}-ul${i}`, octet, ...(prefix ? { ipv6Prefix: prefix } : {}) };
    });
    for (const segment of segments) {
      run('ip', ['netns', 'add', segment.ns]);
      inNs(segment.ns, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      inNs(segment.ns, 'ip', ['link', 'set', 'br0', 'up']);
    }
    run('ip', ['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'up0', 'netns', segments[0]!.ns]);
    inNs(segments[0]!.ns, 'ip', ['link', 'set', 'up0', 'master', 'br0', 'up']);
    run('ip', ['addr', 'add', `192.168.${first}.254/24`, 'dev', rootLink]);
    run('ip', ['link', 'set', rootLink, 'up']);
    const etcd = await EtcdServer.start({ listenAddress: `192.168.${first}.254` });
    const cluster = new NetnsCluster(tag, dir, etcd, rootLink);
    cluster.segments.push(...segments);
    if (segments.length > 1) cluster.buildRouter();
    let index = 0;
    for (let s = 0; s < segments.length; s++) {
      for (let h = 0; h < hostsPerSegment[s]!; h++) {
        index++;
        await cluster.addHost(segments[s]!, index, !options.ipv4OnlyHosts?.includes(index));
      }
    }
    return cluster;
  }

  get etcdEndpoint(): string {
    return this.etcd.endpoint;
  }

  /** The root namespace's address on the first segment: every host reaches services the test runs there. */
  get rootAddress(): string {
    return `192.168.${this.segments[0]!.octet}.254`;
  }

  /** A router namespace with a leg in every segment at .1, forwarding between them. */
  private buildRouter(): void {
    const ns = `${this.tag}-rt`;
    this.routerNs = ns;
    run('ip', ['netns', 'add', ns]);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    this.segments.forEach((segment, i) => {
      const leg = `leg${i}`;
      run('ip', ['link', 'add', `${this.tag}g${i}`, 'type', 'veth', 'peer', 'name', leg, 'netns', ns]);
      run('ip', ['link', 'set', `${this.tag}g${i}`, 'netns', segment.ns]);
      inNs(segment.ns, 'ip', ['link', 'set', `${this.tag}g${i}`, 'master', 'br0', 'up']);
      inNs(ns, 'ip', ['addr', 'add', `192.168.${segment.octet}.1/24`, 'dev', leg]);
      inNs(ns, 'ip', ['link', 'set', leg, 'up']);
      // etcd listens in the root namespace on the first segment; far hosts reach it via the router.
      if (i > 0) run('ip', ['route', 'add', `192.168.${segment.octet}.0/24`, 'via', `192.168.${this.segments[0]!.octet}.1`, 'dev', this.rootLink]);
    });
  }

  private async addHost(segment: UnderlaySegment, index: number, withIpv6: boolean): Promise<Host> {
    const ns = `${this.tag}-h${index}`;
    const ip = `192.168.${segment.octet}.${10 + index}`;
    const ipv6 = withIpv6 && segment.ipv6Prefix ? `${segment.ipv6Prefix}${(10 + index).toString(16)}` : undefined;
    const dir = join(this.dir, `h${index}`);
    await mkdir(dir, { recursive: true });
    run('ip', ['netns', 'add', ns]);
    const outer = `${this.tag}h${index}`;
    run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    run('ip', ['link', 'set', outer, 'netns', segment.ns]);
    inNs(segment.ns, 'ip', ['link', 'set', outer, 'master', 'br0', 'up']);
    // Duplicate address detection would leave every new IPv6 address (underlay, cni0, pods)
    // unusable for a second or two; nothing here can hold a duplicate.
    inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.accept_dad=0']);
    inNs(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    if (ipv6) inNs(ns, 'ip', ['addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad']);
    inNs(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    // Hosts on other segments (and etcd, on the first) are reached through the router.
    if (this.routerNs) {
      for (const other of this.segments) {
        if (other !== segment) inNs(ns, 'ip', ['route', 'add', `192.168.${other.octet}.0/24`, 'via', `192.168.${segment.octet}.1`]);
      }
    }
    const host: Host = { index, ns, ip, ...(ipv6 ? { ipv6 } : {}), segment, dir, agents: new Map(), pods: [] };
    this.hosts.push(host);
    return host;
  }

  async writeNetworkConfig(prefix: string, config: object): Promise<void> {
    const client = this.etcd.client();
    try {
      await client.put(`${prefix}/config`).value(JSON.stringify(config));
    } finally {
      client.close();
    }
  }

  subnetFile(host: Host, network = 'primary'): string {
    return join(host.dir, `${network}.env`);
  }

  /**
   * Starts the compiled `weft agent` inside the host namespace, as an executable: its shebang
   * carries the Node and malloc settings the image uses. `env` adds to the test's environment
   * (e.g. NODE_NAME).
   */
  startAgent(host: Host, network = 'primary', extraArgs: readonly string[] = [], env: Record<string, string> = {}, binds: HostBinds = {}): AgentProcess {
    const logPath = join(host.dir, `agent-${network}.log`);
    const args = [
      AGENT_BIN,
      'agent',
      '--etcd-endpoints', this.etcd.endpoint,
      '--etcd-prefix', `/weft/${network}`,
      // --iface is repeatable (first match wins), so the default must not shadow a caller's.
      ...(extraArgs.includes('--iface') ? [] : ['--iface', 'eth0']),
      '--subnet-file', this.subnetFile(host, network),
      ...extraArgs,
    ];
    const [file, ...argv] = inHost(host, args, binds);
    const child = spawn(file!, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const log = createWriteStream(logPath, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const agent = { child, logPath, args };
    host.agents.set(network, agent);
    return agent;
  }

  async stopAgent(host: Host, network = 'primary', signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const agent = host.agents.get(network);
    if (!agent) return null;
    host.agents.delete(network);
    // A process killed by a signal has exitCode null and signalCode set: it is gone all the same.
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) return agent.child.exitCode;
    const exited = new Promise<number | null>((resolve) => agent.child.once('exit', (code) => resolve(code)));
    agent.child.kill(signal);
    return exited;
  }

  async agentLog(host: Host, network = 'primary'): Promise<string> {
    return readFile(join(host.dir, `agent-${network}.log`), 'utf8').catch(() => '');
  }

  async readSubnetEnv(host: Host, network = 'primary'): Promise<Map<string, string> | undefined> {
    try {
      return parseEnvFile(await readFile(this.subnetFile(host, network), 'utf8'));
    } catch {
      return undefined;
    }
  }

  // Generous: on a loaded CI machine, six agents starting together have taken longer than 10 s.
  async waitForSubnetEnv(host: Host, network = 'primary', timeoutMs = 30_000): Promise<Map<string, string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const env = await this.readSubnetEnv(host, network);
      if (env?.get('FLANNEL_SUBNET') || env?.get('FLANNEL_IPV6_SUBNET')) return env;
      if (Date.now() > deadline) {
        throw new Error(`no ${network} subnet.env on ${host.ns} after ${timeoutMs} ms; agent log:\n${await this.agentLog(host, network)}`);
      }
      await sleep(20);
    }
  }

  /**
   * Attaches a pod namespace to the host through weft's CNI plugin, which reads that host's
   * subnet.env and delegates to the real bridge and host-local plugins, as a runtime would.
   */
  async addPod(host: Host, network = 'primary', bridge = 'cni0', podNs?: string, ifname = 'eth0'): Promise<Pod> {
    await this.waitForSubnetEnv(host, network);
    const name = podNs ?? `${host.ns}-p${host.pods.length + 1}`;
    if (!podNs) {
      run('ip', ['netns', 'add', name]);
      inNs(name, 'sysctl', ['-qw', 'net.ipv6.conf.default.accept_dad=0']);
    }
    const output = this.cni(host, 'ADD', name, network, bridge, ifname);
    const result = JSON.parse(output) as { ips: Array<{ address: string }> };
    const ip = result.ips[0]!.address.split('/')[0]!;
    const ipv6 = result.ips.find((a) => a.address.includes(':'))?.address.split('/')[0];
    inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
    const pod: Pod = { name, ns: name, ip, ...(ipv6 ? { ipv6 } : {}), host, network };
    host.pods.push(pod);
    return pod;
  }

  /** The network config a runtime would hand weft's plugin for this host and network. */
  cniConfig(host: Host, network = 'primary', bridge = 'cni0'): object {
    return {
      cniVersion: '1.0.0',
      name: `${this.tag}-${network}`,
      type: 'flannel',
      subnetFile: this.subnetFile(host, network),
      dataDir: join(host.dir, `cni-${network}`),
      // As in manifests/weft.yml: pods on the primary network get their default route from it.
      delegate: { bridge, ...(network === 'primary' ? { isDefaultGateway: true } : {}) },
      // Every host shares this machine's /var/lib/cni; keep host-local's leases per host.
      ipam: { dataDir: join(host.dir, `ipam-${network}`) },
    };
  }

  /** Runs weft's CNI plugin in the host namespace exactly as a runtime does; returns stdout. */
  cni(host: Host, command: string, podNs: string, network = 'primary', bridge = 'cni0', ifname = 'eth0', config?: object): string {
    return execFileSync('ip', ['netns', 'exec', host.ns, CNI_PLUGIN], {
      input: JSON.stringify(config ?? this.cniConfig(host, network, bridge)),
      encoding: 'utf8',
      env: {
        ...process.env,
        CNI_COMMAND: command,
        CNI_CONTAINERID: `${podNs}-${network}`,
        CNI_NETNS: `/var/run/netns/${podNs}`,
        CNI_IFNAME: ifname,
        CNI_PATH,
      },
    });
  }

  /**
   * Pings in the background while the test does something else; resolves with ping's own
   * counts. `limit` is either a packet count (`-c`) or a deadline in seconds (`-w`).
   */
  pingInBackground(from: Pick<Pod, 'ns'>, to: string, intervalSeconds: number, limit: { count: number } | { seconds: number }): Promise<{ sent: number; received: number }> {
    const bound = 'count' in limit ? ['-c', String(limit.count)] : ['-w', String(limit.seconds)];
    const ping = spawn('ip', ['netns', 'exec', from.ns, 'ping', '-n', '-q', '-i', String(intervalSeconds), ...bound, to], { stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    ping.stdout.on('data', (d: Buffer) => (output += d.toString()));
    return new Promise((resolve) =>
      ping.once('exit', () => {
        const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
        resolve({ sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) });
      }),
    );
  }

  /** A pod on each host with eth0 on one network and net1 on another, as Multus attaches them. */
  async addDualHomedPods(first: string, second: string): Promise<{ first: Pod[]; second: Pod[] }> {
    const pods = { first: [] as Pod[], second: [] as Pod[] };
    for (const host of this.hosts) {
      const pod = await this.addPod(host, first, 'cni0');
      pods.first.push(pod);
      pods.second.push(await this.addPod(host, second, 'cni1', pod.ns, 'net1'));
    }
    return pods;
  }

  ping(from: Pod | Host, to: string, count = 1, timeoutSeconds = 2): boolean {
    return tryRun('ip', ['netns', 'exec', from.ns, 'ping', '-n', '-q', '-c', String(count), '-W', String(timeoutSeconds), to]).ok;
  }

  /** A TCP round trip: a one-shot echo server in `to`, a client in `from`. */
  async tcpCheck(from: { ns: string }, to: { ns: string; ip: string }, port = 7070): Promise<boolean> {
    return (await this.tcpSource(from, to, port)) !== undefined;
  }

  /** The source address `to` sees for a TCP connection from `from`; undefined if none arrived. */
  async tcpSource(from: { ns: string }, to: { ns: string; ip: string }, port = 7070): Promise<string | undefined> {
    const script = join(REPO, 'test', 'helpers', 'tcpEcho.mjs');
    const server = spawn('ip', ['netns', 'exec', to.ns, process.execPath, script, 'server', to.ip, String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    server.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout?.once('data', () => resolve());
        server.once('exit', () => reject(new Error('echo server exited')));
      });
      if (!tryRun('ip', ['netns', 'exec', from.ns, process.execPath, script, 'client', to.ip, String(port)]).ok) return undefined;
      // The client ran synchronously; the server's "from …" line is read once the loop turns.
      if (server.exitCode === null) await new Promise((resolve) => server.once('exit', resolve));
      return /from (\S+)/.exec(output)?.[1]?.replace(/^::ffff:/, '');
    } finally {
      server.kill();
    }
  }

  /**
   * A namespace on the first underlay segment standing in for "the internet": no route to any
   * pod. With an IPv6 underlay it has an IPv6 address (`ipv6`) there too.
   */
  addOutsideHost(): { ns: string; ip: string; ipv6?: string } {
    const segment = this.segments[0]!;
    const ns = `${this.tag}-out`;
    const ip = `192.168.${segment.octet}.200`;
    const ipv6 = segment.ipv6Prefix ? `${segment.ipv6Prefix}c8` : undefined;
    run('ip', ['netns', 'add', ns]);
    run('ip', ['link', 'add', `${this.tag}o`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    run('ip', ['link', 'set', `${this.tag}o`, 'netns', segment.ns]);
    inNs(segment.ns, 'ip', ['link', 'set', `${this.tag}o`, 'master', 'br0', 'up']);
    inNs(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    if (ipv6) inNs(ns, 'ip', ['addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad']);
    inNs(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return { ns, ip, ...(ipv6 ? { ipv6 } : {}) };
  }

  ipJson(host: Host, args: readonly string[]): unknown {
    return JSON.parse(inNs(host.ns, 'ip', ['-j', ...args]) || '[]');
  }

  async destroy(): Promise<void> {
    for (const host of this.hosts) {
      for (const network of [...host.agents.keys()]) await this.stopAgent(host, network, 'SIGKILL');
    }
    for (const cleanup of this.cleanups) cleanup();
    const namespaces = run('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`${this.tag}-`));
    // Daemons the agents left behind (wireguard-go outlives its agent, as a kernel device would)
    // would keep their namespace alive after `ip netns del`.
    for (const ns of namespaces) {
      for (const pid of tryRun('ip', ['netns', 'pids', ns]).output.split('\n').filter((p) => /^\d+$/.test(p))) {
        tryRun('kill', ['-9', pid]);
      }
    }
    for (const ns of namespaces) tryRun('ip', ['netns', 'del', ns]);
    tryRun('ip', ['link', 'del', this.rootLink]);
    await this.etcd.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
