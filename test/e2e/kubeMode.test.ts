import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeKubeApi } from '../helpers/fakeKubeApi.js';
import { isJsonObject } from '../helpers/jsonPatches.js';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { AGENT_BIN, type Host, NetnsCluster, type Pod } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(240_000);

const HEALTH_PORT = 9475;
const SECONDARY_PREFIX = 'weft2.weft.io';

interface Route {
  dst: string;
  dev: string;
}

/**
 * The netns cluster in Kubernetes mode: every agent talks to the fake API server (in the root
 * namespace, over HTTPS) through a kubeconfig, exactly as a DaemonSet pod would with its
 * service account. The primary network takes podCIDRs; a secondary one (VNI 2) allocates its
 * own subnets through node annotations.
 */
describeAsRoot('Kubernetes API mode in network namespaces', () => {
  let cluster: NetnsCluster;
  let api: FakeKubeApi;
  const primary: Pod[] = [];
  const secondary: Pod[] = [];
  let kubeconfig: string;

  const nodeName = (host: Host): string => `node-${host.index}`;
  const routesFor = (host: Host, prefix: string): Route[] =>
    (cluster.ipJson(host, ['route', 'show', 'proto', '87']) as Route[]).filter((r) => r.dst.startsWith(prefix));

  async function readyz(host: Host): Promise<number> {
    return (await fetch(`http://${host.ip}:${HEALTH_PORT}/readyz`).catch(() => ({ status: 0 }))).status;
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3]);
    api = await FakeKubeApi.start({ host: cluster.rootAddress, bookmarkIntervalMs: 2_000 });
    kubeconfig = join(cluster.dir, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeconfig());
    const primaryConf = join(cluster.dir, 'net-conf.json');
    await writeFile(primaryConf, JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }));
    const secondaryConf = join(cluster.dir, 'net-conf-2.json');
    await writeFile(secondaryConf, JSON.stringify({ Network: '10.250.0.0/16', SubnetSource: 'annotations', Backend: { Type: 'vxlan', VNI: 2 } }));
    for (const host of cluster.hosts) api.createNode(nodeName(host), { podCIDR: `10.244.${host.index}.0/24` });
    for (const host of cluster.hosts) {
      const env = { NODE_NAME: nodeName(host) };
      const kube = ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig];
      cluster.startAgent(host, 'primary', [...kube, '--net-config-path', primaryConf, '--healthz-ip', host.ip, '--healthz-port', String(HEALTH_PORT)], env);
      cluster.startAgent(host, 'secondary', [...kube, '--net-config-path', secondaryConf, '--kube-annotation-prefix', SECONDARY_PREFIX], env);
    }
    const pods = await cluster.addDualHomedPods('primary', 'secondary');
    primary.push(...pods.first);
    secondary.push(...pods.second);
    await waitFor(
      () => cluster.hosts.every((h) => routesFor(h, '10.244.').length === 2 && routesFor(h, '10.250.').length === 2),
      15_000,
      () => 'routes not programmed',
    );
  });
  afterAll(async () => {
    await cluster?.destroy();
    await api?.stop();
  });

  it('leases each node its podCIDR and publishes Flannel annotations', async () => {
    for (const host of cluster.hosts) {
      expect((await cluster.readSubnetEnv(host, 'primary'))!.get('FLANNEL_SUBNET')).toBe(`10.244.${host.index}.1/24`);
      const annotations = api.annotations(nodeName(host));
      expect(annotations['flannel.alpha.coreos.com/kube-subnet-manager']).toBe('true');
      expect(annotations['flannel.alpha.coreos.com/public-ip']).toBe(host.ip);
      expect(JSON.parse(annotations['flannel.alpha.coreos.com/backend-data']!)).toMatchObject({ VNI: 1 });
    }
  });

  it('clears NetworkUnavailable once routes are programmed', async () => {
    await waitFor(
      () =>
        cluster.hosts.every((h) => {
          const status = api.node(nodeName(h))?.['status'];
          const conditions = isJsonObject(status) && Array.isArray(status['conditions']) ? status['conditions'] : [];
          return conditions.some((c) => isJsonObject(c) && c['type'] === 'NetworkUnavailable' && c['status'] === 'False');
        }),
      10_000,
    );
  });

  it('allocates distinct secondary subnets through annotations, beside the primary network', async () => {
    const subnets = new Set<string>();
    for (const host of cluster.hosts) {
      const claimed = api.annotations(nodeName(host))[`${SECONDARY_PREFIX}/subnet`]!;
      expect(claimed).toMatch(/^10\.250\.\d+\.0\/24$/);
      subnets.add(claimed);
      expect((await cluster.readSubnetEnv(host, 'secondary'))!.get('FLANNEL_SUBNET')).toBe(claimed.replace('.0/24', '.1/24'));
      expect(routesFor(host, '10.250.').every((r) => r.dev === 'flannel.2')).toBe(true);
    }
    expect(subnets.size).toBe(3);
  });

  it('carries pod traffic across hosts on both networks', async () => {
    const results = await Promise.all([
      cluster.pingInBackground(primary[0]!, primary[2]!.ip, 0.2, { seconds: 3 }),
      cluster.pingInBackground(secondary[0]!, secondary[2]!.ip, 0.2, { seconds: 3 }),
    ]);
    for (const r of results) {
      expect(r.sent).toBeGreaterThan(5);
      expect(r.received).toBe(r.sent);
    }
  });

  it('weft status reads the API server and the kernel: all peers match on both networks', async () => {
    const host = cluster.hosts[1]!;
    // Asynchronous on purpose: the API server lives in this process and must keep answering.
    const run = async (extra: string[]): Promise<{ code: number; json: { lease: { subnet: string }; peers: Array<{ problems: string[] }> } }> => {
      const args = ['netns', 'exec', host.ns, AGENT_BIN, 'status', '--json', '--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--iface', 'eth0', ...extra];
      const child = spawn('ip', args, { env: { ...process.env, NODE_NAME: nodeName(host) }, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
      return { code, json: JSON.parse(stdout || '{}') as never };
    };
    const primaryStatus = await run(['--net-config-path', join(cluster.dir, 'net-conf.json')]);
    expect(primaryStatus.code).toBe(0);
    expect(primaryStatus.json.lease.subnet).toBe(`10.244.${host.index}.0/24`);
    expect(primaryStatus.json.peers).toHaveLength(2);
    const secondaryStatus = await run(['--net-config-path', join(cluster.dir, 'net-conf-2.json'), '--kube-annotation-prefix', SECONDARY_PREFIX]);
    expect(secondaryStatus.code).toBe(0);
    expect(secondaryStatus.json.peers.every((p) => p.problems.length === 0)).toBe(true);
  });

  it('refuses to start without NODE_NAME, saying so', async () => {
    const host = cluster.hosts[0]!;
    const agent = cluster.startAgent(host, 'nameless', ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', join(cluster.dir, 'net-conf.json')], { NODE_NAME: '' });
    const code = await new Promise<number | null>((resolve) => agent.child.once('exit', (c) => resolve(c)));
    // A missing node name is bad configuration: exit 2, as README says.
    expect(code).toBe(2);
    expect(await cluster.agentLog(host, 'nameless')).toMatch(/NODE_NAME: must name this node/);
  });

  it('stops cleanly on SIGTERM while still waiting for a podCIDR', async () => {
    const host = cluster.hosts[0]!;
    api.createNode('node-unassigned', {});
    cluster.startAgent(host, 'waiting', ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', join(cluster.dir, 'net-conf.json')], { NODE_NAME: 'node-unassigned' });
    await waitFor(async () => (await cluster.agentLog(host, 'waiting')).includes('waiting for node.spec.podCIDR'), 10_000);
    expect(await cluster.stopAgent(host, 'waiting')).toBe(0);
    api.deleteNode('node-unassigned');
  });

  it('removes a deleted node from every peer', async () => {
    api.createNode('node-ghost', { podCIDR: '10.244.99.0/24' }, {
      'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      'flannel.alpha.coreos.com/backend-type': 'vxlan',
      'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:99:00:00:00:01"}',
      'flannel.alpha.coreos.com/public-ip': '192.168.250.99',
    });
    await waitFor(() => cluster.hosts.every((h) => routesFor(h, '10.244.').length === 3), 10_000);
    api.deleteNode('node-ghost');
    await waitFor(() => cluster.hosts.every((h) => routesFor(h, '10.244.').length === 2), 10_000);
  });

  it('keeps the data plane through a 60 s API server outage, reports it, and recovers without a restart', async () => {
    const host = cluster.hosts[0]!;
    await waitFor(async () => (await readyz(host)) === 200, 15_000, () => 'never ready');
    const pinged = cluster.pingInBackground(primary[0]!, primary[1]!.ip, 0.2, { seconds: 75 });
    await api.stop();
    const downAt = Date.now();
    await waitFor(async () => (await readyz(host)) === 503, 40_000, () => 'readiness never turned false');
    // A node that joins while the API server is away must show up once it is back.
    api.createNode('node-late', { podCIDR: '10.244.98.0/24' }, {
      'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      'flannel.alpha.coreos.com/backend-type': 'vxlan',
      'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:98:00:00:00:01"}',
      'flannel.alpha.coreos.com/public-ip': '192.168.250.98',
    });
    await sleep(Math.max(0, 60_000 - (Date.now() - downAt)));
    expect(routesFor(host, '10.244.')).toHaveLength(2);
    await api.resume();
    await waitFor(async () => (await readyz(host)) === 200, 40_000, () => 'readiness never came back');
    await waitFor(() => routesFor(host, '10.244.').length === 3, 20_000, () => 'new node not programmed after the outage');
    const result = await pinged;
    expect(result.sent).toBeGreaterThan(300);
    expect(result.received).toBe(result.sent);
    for (const h of cluster.hosts) expect(h.agents.get('primary')!.child.exitCode).toBeNull();
  });
});
