import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeKubeApi } from '../helpers/fakeKubeApi.js';
import { flannelServiceAccountRules } from '../helpers/kubeManifests.js';
import { isJsonObject } from '../helpers/jsonPatches.js';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { AGENT_BIN, type Host, NetnsCluster, inNs, tryRun } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

const execFileAsync = promisify(execFile);

interface Link {
  mtu: number;
}

/** What a migrating Flannel operator relies on: its config, flags and Kubernetes conventions mean the same in weft. */
describeAsRoot('Flannel v0.28 compatibility', () => {
  let cluster: NetnsCluster;
  let api: FakeKubeApi;

  const exitOf = (host: Host, network: string): Promise<number | null> =>
    new Promise((resolve) => host.agents.get(network)!.child.once('exit', (code) => resolve(code)));

  beforeAll(async () => {
    cluster = await NetnsCluster.create([2]);
    api = await FakeKubeApi.start({ host: cluster.rootAddress, rules: flannelServiceAccountRules(), bookmarkIntervalMs: 2_000 });
  });
  afterAll(async () => {
    await cluster?.destroy();
    await api?.stop();
  });

  it('treats Backend.MTU as the outer MTU (device and pods get MTU - 50) and Backend.Type case-insensitively', async () => {
    const host = cluster.hosts[0]!;
    await cluster.writeNetworkConfig('/weft/mtu', { Network: '10.71.0.0/16', Backend: { Type: 'VXLAN', VNI: 7, MTU: 1400 } });
    cluster.startAgent(host, 'mtu', ['--etcd-prefix', '/weft/mtu']);
    const env = await cluster.waitForSubnetEnv(host, 'mtu');
    expect(env.get('FLANNEL_MTU')).toBe('1350');
    const mtu = () => {
      const link = tryRun('ip', ['netns', 'exec', host.ns, 'ip', '-j', 'link', 'show', 'dev', 'flannel.7']);
      return link.ok ? (JSON.parse(link.output) as Link[])[0]?.mtu : undefined;
    };
    await waitFor(() => mtu() === 1350, 5_000, () => `flannel.7 mtu ${mtu()}`);
    await cluster.stopAgent(host, 'mtu');
  });

  it('--ip-blackhole-route keeps a blackhole route for the own subnet; --ip-masq-fully-random-disable drops --random-fully', async () => {
    const host = cluster.hosts[1]!;
    await cluster.writeNetworkConfig('/weft/bh', { Network: '10.72.0.0/16', Backend: { Type: 'vxlan', VNI: 8 } });
    cluster.startAgent(host, 'bh', ['--etcd-prefix', '/weft/bh', '--ip-blackhole-route', '--ip-masq', '--ip-masq-fully-random-disable', '--iptables-resync', '1']);
    const subnet = (await cluster.waitForSubnetEnv(host, 'bh')).get('FLANNEL_SUBNET')!.replace(/\.1\//, '.0/');
    const blackholes = () => inNs(host.ns, 'ip', ['-4', 'route', 'show', 'type', 'blackhole', 'proto', '87']);
    await waitFor(() => blackholes().includes(`blackhole ${subnet} metric 1000000`), 5_000, blackholes);
    // No bridge here (as in Canal): an address of the subnet that no pod holds goes nowhere. The
    // kernel answers a route lookup that ends in a blackhole with EINVAL.
    expect(tryRun('ip', ['netns', 'exec', host.ns, 'ip', 'route', 'get', subnet.replace(/\.0\/\d+$/, '.77')])).toEqual({ ok: false, output: 'RTNETLINK answers: Invalid argument\n' });
    inNs(host.ns, 'ip', ['route', 'del', 'blackhole', subnet, 'proto', '87', 'metric', '1000000']);
    await waitFor(() => blackholes().includes(subnet), 3_000, () => 'blackhole route not restored');
    await waitFor(() => inNs(host.ns, 'iptables-save', ['-t', 'nat']).includes('weft masq" -j MASQUERADE'), 5_000);
    expect(inNs(host.ns, 'iptables-save', ['-t', 'nat'])).not.toContain('--random-fully');
    await cluster.stopAgent(host, 'bh');
  });

  it("finds the node from POD_NAME/POD_NAMESPACE, uses node-public-ip, and leaves NetworkUnavailable alone when asked", async () => {
    const [first, second] = cluster.hosts as [Host, Host];
    const conf = join(cluster.dir, 'net-conf-compat.json');
    await writeFile(conf, JSON.stringify({ Network: '10.73.0.0/16', Backend: { Type: 'vxlan', VNI: 9 } }));
    await writeFile(join(cluster.dir, 'kubeconfig-compat'), api.kubeconfig());
    // A second address on the first host, published through Flannel's node-public-ip annotation.
    const annotated = first.ip.replace(/\.\d+$/, '.123');
    inNs(first.ns, 'ip', ['addr', 'add', `${annotated}/24`, 'dev', 'eth0']);
    api.createNode('node-a', { podCIDR: '10.73.1.0/24' }, { 'flannel.alpha.coreos.com/node-public-ip': annotated });
    api.createNode('node-b', { podCIDR: '10.73.2.0/24' });
    api.createPod('kube-flannel', 'kube-flannel-ds-a', 'node-a');
    const kube = ['--kube-subnet-mgr', '--kubeconfig-file', join(cluster.dir, 'kubeconfig-compat'), '--net-config-path', conf, '--subnet-file'];
    cluster.startAgent(first, 'kube', [...kube, cluster.subnetFile(first, 'kube'), '--set-node-network-unavailable=false'], { POD_NAME: 'kube-flannel-ds-a', POD_NAMESPACE: 'kube-flannel' });
    cluster.startAgent(second, 'kube', [...kube, cluster.subnetFile(second, 'kube')], { NODE_NAME: 'node-b' });
    const networkUnavailable = (node: string) => {
      const status = api.node(node)?.['status'];
      const conditions = isJsonObject(status) && Array.isArray(status['conditions']) ? status['conditions'] : [];
      return conditions.find((c) => isJsonObject(c) && c['type'] === 'NetworkUnavailable') as { status: string; reason: string } | undefined;
    };
    await waitFor(() => networkUnavailable('node-b')?.status === 'False', 15_000, () => JSON.stringify(api.node('node-b')));
    expect((await cluster.waitForSubnetEnv(first, 'kube')).get('FLANNEL_SUBNET')).toBe('10.73.1.1/24');
    expect(api.annotations('node-a')['flannel.alpha.coreos.com/public-ip']).toBe(annotated);
    const routes = () => cluster.ipJson(second, ['route', 'show', 'proto', '87']) as Array<{ dst: string }>;
    await waitFor(() => routes().some((r) => r.dst === '10.73.1.0/24'), 10_000);
    expect(inNs(second.ns, 'bridge', ['fdb', 'show', 'dev', 'flannel.9'])).toContain(`dst ${annotated}`);
    await sleep(1_000);
    expect(networkUnavailable('node-a')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
    // `weft status` finds its node the same way. Run asynchronously: the fake API server answers from this process.
    const status = await execFileAsync('ip', ['netns', 'exec', first.ns, AGENT_BIN, 'status', '--iface', 'eth0', ...kube.slice(0, -1)], {
      encoding: 'utf8',
      env: { ...process.env, POD_NAME: 'kube-flannel-ds-a', POD_NAMESPACE: 'kube-flannel' },
    });
    expect(status.stderr).toBe('');
    expect(status.stdout).toContain('10.73.1.0/24');
    await cluster.stopAgent(first, 'kube');
    await cluster.stopAgent(second, 'kube');
  });

  it('exits 2, naming the field, on bad Kubernetes-mode configuration', async () => {
    const host = cluster.hosts[0]!;
    const kube = ['--kube-subnet-mgr', '--kubeconfig-file', join(cluster.dir, 'kubeconfig-compat')];
    const env = { NODE_NAME: '', POD_NAME: '', POD_NAMESPACE: '' };
    cluster.startAgent(host, 'noname', kube, env);
    expect(await exitOf(host, 'noname')).toBe(2);
    expect(await cluster.agentLog(host, 'noname')).toMatch(/NODE_NAME: must name this node/);
    const bad = join(cluster.dir, 'net-conf-bad.json');
    await writeFile(bad, JSON.stringify({ Network: '10.74.0.0/30' }));
    cluster.startAgent(host, 'badconf', [...kube, '--net-config-path', bad], { NODE_NAME: 'node-a' });
    expect(await exitOf(host, 'badconf')).toBe(2);
    expect(await cluster.agentLog(host, 'badconf')).toMatch(/Minimum useful network prefix is \/28/);
  });

  it('prints the version for `weft agent --version` and `weft version`', () => {
    const agent = spawnSync(AGENT_BIN, ['agent', '--version'], { encoding: 'utf8' });
    const command = spawnSync(AGENT_BIN, ['version'], { encoding: 'utf8' });
    expect([agent.status, command.status]).toEqual([0, 0]);
    expect(agent.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(command.stdout).toBe(agent.stdout);
  });

  it('`weft status` with etcd down prints one clear line and exits 1', () => {
    const host = cluster.hosts[0]!;
    const status = spawnSync('ip', ['netns', 'exec', host.ns, AGENT_BIN, 'status', '--etcd-endpoints', 'http://127.0.0.1:1', '--iface', 'eth0'], { encoding: 'utf8' });
    expect(status.status).toBe(1);
    expect(status.stderr).toBe('weft status: cannot reach etcd at http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n');
  });
});
