import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { defaultNetwork } from '../helpers/cniRuntime.js';
import { REPO, findDoc, loadManifests, podTemplate } from '../helpers/kubeManifests.js';
import { type KubeNode, NODE_IMAGE_PLUGINS } from '../helpers/kubeNode.js';
import { ManifestCluster, type WorkloadPod } from '../helpers/manifestRunner.js';
import { containerCapabilities } from '../helpers/podSpec.js';
import { readmeInstall } from '../helpers/readmeInstall.js';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { run, tryRun } from '../helpers/netnsCluster.js';
import { chainNames } from '../../src/iptables/rules.js';
import { parseIpv4Cidr } from '../../src/net/ipv4.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(180_000);

const install = readmeInstall(readFileSync(join(REPO, 'README.md'), 'utf8'));
const SECONDARY = 'weft2';

/** Decodes a /proc/<pid>/status capability mask into names, using the kernel's numbering as setpriv lists it. */
function capabilityNames(mask: string): string[] {
  const names = run('setpriv', ['--list-caps']).trim().split('\n');
  const bits = BigInt(`0x${mask}`);
  return names.filter((_, bit) => (bits >> BigInt(bit)) & 1n).map((n) => n.toUpperCase());
}

/** Pings until stopped; resolves with ping's own counts. */
function pingUntilStopped(from: WorkloadPod, ifName: string, to: string): { stop: () => Promise<{ sent: number; received: number }> } {
  const ping = spawn('ip', ['netns', 'exec', from.ns, 'ping', '-n', '-q', '-i', '0.2', '-I', ifName, to], { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  ping.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => ping.once('exit', () => resolve()));
  return {
    stop: async () => {
      ping.kill('SIGINT');
      await exited;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
      return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
    },
  };
}

/**
 * README's install commands executed as a cluster would execute them: the image built from the
 * Dockerfile, both manifests applied, their DaemonSets run by a kubelet-like harness on three
 * hosts (network namespaces) against the fake API server, pods attached by the runtime's CNI
 * step and by Multus. See test/helpers/manifestRunner.ts.
 */
describeAsRoot('the manifests, run as a cluster runs them', () => {
  let cluster: ManifestCluster;
  const pods: WorkloadPod[] = [];
  const onBoth = (): WorkloadPod[] => pods.filter((p) => p.networks.includes(SECONDARY));

  /** Every ordered pair of pods that should reach each other on an interface, and whether they do. */
  function unreachable(group: readonly WorkloadPod[], ifName: string): string[] {
    return group.flatMap((from) => group.filter((to) => to !== from && !cluster.ping(from, ifName, to.ips.get(ifName)!)).map((to) => `${from.name} -> ${to.name} on ${ifName}`));
  }

  beforeAll(async () => {
    // kube-controller-manager's --cluster-cidr must match the primary net-conf.json (see manifests/weft.yml).
    const netConf = (findDoc(loadManifests(install.applied), 'ConfigMap', 'weft-cfg')['data'] as Record<string, string>)['net-conf.json']!;
    // One node's rules are in iptables-legacy, where writing needs NET_RAW as well as NET_ADMIN.
    cluster = await ManifestCluster.create({ manifests: install.applied, image: install.image, clusterCIDR: (JSON.parse(netConf) as { Network: string }).Network, legacyIptablesHosts: [3] });
    await cluster.start();
    await cluster.waitForRollout('weft', 30_000);
    await cluster.waitForRollout(SECONDARY, 30_000);
    for (const node of cluster.nodes) {
      pods.push(await cluster.addPod(node, `${node.name}-a`));
      pods.push(await cluster.addPod(node, `${node.name}-b`, [SECONDARY]));
    }
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("applies what README's install section says, with the image it builds", () => {
    expect(install.kindLoaded).toBe(install.image);
    const shipped = readdirSync(join(REPO, 'manifests'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yml')).map((f) => `manifests/${f}`);
    expect([...install.applied].sort()).toEqual(shipped.sort());
    expect(install.applied[0]).toBe('manifests/weft.yml');
  });

  it('installs the plugin the image ships and the conflist the ConfigMap holds, and nothing else', () => {
    const data = findDoc(cluster.docs, 'ConfigMap', 'weft-cfg')['data'] as Record<string, string>;
    for (const node of cluster.nodes) {
      expect(readdirSync(node.nodePath('/opt/cni/bin')).sort()).toEqual([...NODE_IMAGE_PLUGINS, 'flannel'].sort());
      expect(readFileSync(node.nodePath('/opt/cni/bin/flannel')).equals(readFileSync(join(REPO, 'dist/cni/flannel')))).toBe(true);
      expect(readdirSync(node.nodePath('/etc/cni/net.d'))).toEqual(['10-weft.conflist']);
      expect(readFileSync(node.nodePath('/etc/cni/net.d/10-weft.conflist'), 'utf8')).toBe(data['cni-conf.json']);
    }
  });

  it('runs every agent with exactly the capabilities its securityContext grants', () => {
    for (const ds of cluster.daemonSets()) {
      const declared = new Map<string, IContainer>(podTemplate(ds).spec.containers.map((c) => [c.name, c]));
      for (const node of cluster.nodes) {
        for (const container of cluster.daemonPod(ds.metadata.name, node).containers) {
          const status = readFileSync(`/proc/${container.child.pid}/status`, 'utf8');
          const effective = capabilityNames(/^CapEff:\s+(\S+)/m.exec(status)![1]!);
          expect(effective.sort()).toEqual(containerCapabilities(declared.get(container.name)!).sort());
          expect(/^CapBnd:\s+(\S+)/m.exec(status)![1]).toBe(/^CapEff:\s+(\S+)/m.exec(status)![1]);
        }
      }
    }
  });

  it("installs the iptables chains each agent's flags ask for, in the backend the node's rules are in", async () => {
    const expected = cluster.daemonSets().flatMap((ds) => {
      const { spec } = podTemplate(ds);
      const configMap = spec.volumes!.find((v) => v.configMap)!.configMap!.name!;
      const parsed = parseIpv4Cidr((JSON.parse((findDoc(cluster.docs, 'ConfigMap', configMap)['data'] as Record<string, string>)['net-conf.json']!) as { Network: string }).Network);
      if (!parsed.ok) throw new Error(`${configMap}: Network ${parsed.reason}`);
      const chains = chainNames(parsed.subnet);
      return spec.containers[0]!.args!.includes('--ip-masq') ? [chains.masq, chains.forward] : [chains.forward];
    });
    expect(expected).toHaveLength(3);
    for (const node of cluster.nodes) {
      const saved = (): string => tryRun('ip', ['netns', 'exec', node.host.ns, `iptables-${node.iptables}-save`]).output;
      await waitFor(() => expected.every((chain) => saved().includes(`:${chain} `)), 10_000, () => `${node.name}: ${expected.join(', ')} not all in\n${saved()}`);
    }
  });

  it("keeps the agents inside the ClusterRole, and the API server refuses a pod's token anything else", async () => {
    expect(cluster.api.forbidden).toEqual([]);
    const token = readFileSync(join(cluster.daemonPod('weft', cluster.nodes[0]!).dir, 'volumes/kube-api-access/token'), 'utf8');
    const status = (method: string, path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(`${cluster.api.url}${path}`, { method, ca: cluster.api.caCertificate, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(method === 'PATCH' ? '{}' : undefined);
      });
    expect(await status('GET', '/api/v1/nodes')).toBe(200);
    expect(await status('PATCH', '/api/v1/nodes/node-1/status')).toBe(200);
    expect(await status('PATCH', '/api/v1/nodes/node-1')).toBe(403);
    expect(await status('GET', '/api/v1/namespaces/default/pods')).toBe(403);
    expect(await status('DELETE', '/api/v1/nodes/node-2')).toBe(403);
    expect(cluster.api.forbidden).toEqual(expect.arrayContaining([expect.stringContaining('cannot patch resource "nodes" in API group "" at the cluster scope')]));
  });

  it('passes the liveness and readiness probes as declared', async () => {
    const records = () => cluster.daemonSets().flatMap((ds) => cluster.nodes.flatMap((n) => cluster.daemonPod(ds.metadata.name, n).probeRecords));
    expect(records().map((r) => r.url)).toEqual(expect.arrayContaining([expect.stringMatching(/:9474\/healthz$/), expect.stringMatching(/:9474\/readyz$/), expect.stringMatching(/:9475\/healthz$/), expect.stringMatching(/:9475\/readyz$/)]));
    // Liveness runs every periodSeconds (10 s here): wait for each to have answered once.
    await waitFor(() => records().every((r) => r.successes > 0), 25_000, () => JSON.stringify(records().filter((r) => r.successes === 0)));
    expect(cluster.problems()).toEqual([]);
  });

  it('attaches every pod through the installed conflist and the secondary network through the NetworkAttachmentDefinition', () => {
    for (const pod of pods) {
      expect(pod.ips.get('eth0')).toMatch(new RegExp(`^${pod.node.podCIDR.split('.').slice(0, 3).join('\\.')}\\.`));
      if (pod.networks.length) expect(pod.ips.get('net1')).toMatch(/^10\.245\./);
    }
    expect(unreachable(pods, 'eth0')).toEqual([]);
    expect(unreachable(onBoth(), 'net1')).toEqual([]);
  });

  it('survives a DaemonSet rollout: the init containers reinstall over the running installation, running pods keep working', async () => {
    const [a1, , a3] = pods.filter((p) => !p.networks.length);
    const [b1, b2] = onBoth();
    const installed = cluster.nodes.map((n) => [statSync(n.nodePath('/opt/cni/bin/flannel')).mtimeMs, statSync(n.nodePath('/etc/cni/net.d/10-weft.conflist')).mtimeMs]);
    const primary = pingUntilStopped(a1!, 'eth0', a3!.ips.get('eth0')!);
    const secondary = pingUntilStopped(b1!, 'net1', b2!.ips.get('net1')!);
    await cluster.rolloutRestart('weft', 30_000);
    for (const result of [await primary.stop(), await secondary.stop()]) {
      expect(result.sent).toBeGreaterThan(20);
      expect(result.received).toBe(result.sent);
    }
    expect(cluster.problems()).toEqual([]);
    cluster.nodes.forEach((n, i) => {
      expect(statSync(n.nodePath('/opt/cni/bin/flannel')).mtimeMs).toBeGreaterThan(installed[i]![0]!);
      expect(statSync(n.nodePath('/etc/cni/net.d/10-weft.conflist')).mtimeMs).toBeGreaterThan(installed[i]![1]!);
    });
    // New pods come up through the reinstalled plugin and reach the pods from before the rollout.
    const node: KubeNode = cluster.nodes[1]!;
    pods.push(await cluster.addPod(node, `${node.name}-c`, [SECONDARY]));
    expect(unreachable(pods, 'eth0')).toEqual([]);
    expect(unreachable(onBoth(), 'net1')).toEqual([]);
    expect((await defaultNetwork(node)).plugins.map((p) => p['type'])).toEqual(['flannel', 'portmap']);
  });

  it('DEL leaves nothing behind: no leases, delegate files, cached results or veths', async () => {
    const before = await cluster.leftovers(cluster.nodes[0]!);
    for (const kind of [/^\/var\/lib\/cni\/networks\/cbr0\/10\.244\./, /^\/var\/lib\/cni\/networks\/weft2\/10\.245\./, /^\/var\/lib\/cni\/flannel\//, /^\/var\/lib\/cni\/weft2\//, /^\/var\/lib\/cni\/results\//, /^\/var\/lib\/cni\/multus\//, /^veth /]) {
      expect(before).toEqual(expect.arrayContaining([expect.stringMatching(kind)]));
    }
    for (const pod of [...pods]) await cluster.deletePod(pod);
    for (const node of cluster.nodes) expect(await cluster.leftovers(node)).toEqual([]);
  });
});
