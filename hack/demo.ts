// The local multi-host demo: three hosts as network namespaces, two pods per host attached
// through the real CNI plugins, and a connectivity matrix of real pings between every pair.
// By default each host runs the compiled `weft agent` against a real etcd. With --manifests the
// hosts run README's install instead: manifests/*.yml executed as a cluster would execute them
// (test/helpers/manifestRunner.ts), Kubernetes mode, and a second network through Multus.
//
//   bash hack/demo.sh [--backend vxlan|host-gw] [--hosts N] [--dual-stack] [--manifests]
//
// --dual-stack gives the underlay IPv6 addresses and the network an IPv6Network: every pod gets
// an address of each family, and both are pinged.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { docsOfKind, findDoc, loadManifests } from '../test/helpers/kubeManifests.js';
import { ManifestCluster, type WorkloadPod } from '../test/helpers/manifestRunner.js';
import { NetnsCluster, type Pod } from '../test/helpers/netnsCluster.js';
import { readmeInstall } from '../test/helpers/readmeInstall.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'vxlan' },
    hosts: { type: 'string', default: '3' },
    manifests: { type: 'boolean', default: false },
    'dual-stack': { type: 'boolean', default: false },
  },
});
const dualStack = values['dual-stack'] === true;
const backend = values.backend === 'host-gw' ? 'host-gw' : 'vxlan';
const hostCount = Math.max(2, Math.min(8, Number(values.hosts) || 3));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** Prints one ping between every ordered pair; returns how many failed. */
function pingMatrix<P>(title: string, pods: readonly P[], address: (p: P) => string, ping: (from: P, to: P) => boolean): number {
  const matrix = [['from \\ to', ...pods.map(address)]];
  let failures = 0;
  for (const from of pods) {
    matrix.push([
      address(from),
      ...pods.map((to) => {
        if (to === from) return '-';
        const ok = ping(from, to);
        if (!ok) failures++;
        return ok ? 'ok' : 'FAIL';
      }),
    ]);
  }
  console.log(`\n${title}:\n`);
  console.log(table(matrix));
  return failures;
}

/** On a terminal the cluster stays up until Enter; without one it is torn down at once. */
async function holdOpen(podNs: string, address: string): Promise<void> {
  if (!process.stdin.isTTY) return;
  console.log(`\nthe cluster stays up: try e.g.  ip netns exec ${podNs} ping ${address}`);
  console.log('press Enter (or Ctrl-C) to tear it down.');
  await new Promise((resolve) => process.stdin.once('data', resolve));
}

/** Runs `show` on a cluster, then tears it down however the demo ends. */
async function withCluster<C extends { destroy(): Promise<void> }>(cluster: C, show: (cluster: C) => Promise<number>): Promise<void> {
  let tornDown = false;
  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    process.stdout.write('\ntearing down ... ');
    await cluster.destroy();
    process.stdout.write('done\n');
  };
  process.on('SIGINT', () => void teardown().then(() => process.exit(0)));
  try {
    const failures = await show(cluster);
    console.log(failures === 0 ? '\nall pods reach each other across hosts.' : `\n${failures} pairs failed.`);
    process.exitCode = failures === 0 ? 0 : 1;
  } finally {
    await teardown();
    process.stdin.pause();
  }
}

async function etcdDemo(cluster: NetnsCluster): Promise<number> {
  console.log(`weft demo: ${hostCount} hosts, backend ${backend}${dualStack ? ', dual-stack' : ''}, etcd at ${cluster.etcdEndpoint}\n`);
  const ipv6 = dualStack ? { EnableIPv6: true, IPv6Network: 'fd44::/48' } : {};
  await cluster.writeNetworkConfig('/weft/primary', { Network: '10.244.0.0/16', ...ipv6, Backend: { Type: backend } });
  const started = Date.now();
  for (const host of cluster.hosts) cluster.startAgent(host);
  const envs = await Promise.all(cluster.hosts.map((host) => cluster.waitForSubnetEnv(host)));
  const envElapsed = Date.now() - started;
  const pods: Pod[] = [];
  const rows = [['host', 'namespace', 'underlay IP', 'subnet (FLANNEL_SUBNET)', ...(dualStack ? ['FLANNEL_IPV6_SUBNET'] : []), 'MTU', 'pods']];
  for (const [i, host] of cluster.hosts.entries()) {
    const env = envs[i]!;
    const hostPods = [await cluster.addPod(host), await cluster.addPod(host)];
    pods.push(...hostPods);
    const ipv6Subnet = dualStack ? [env.get('FLANNEL_IPV6_SUBNET') ?? '-'] : [];
    const addresses = hostPods.flatMap((p) => [p.ip, ...(p.ipv6 ? [p.ipv6] : [])]);
    rows.push([`host${host.index}`, host.ns, host.ip, env.get('FLANNEL_SUBNET')!, ...ipv6Subnet, env.get('FLANNEL_MTU')!, addresses.join(', ')]);
  }
  console.log(table(rows));
  console.log(`\nall subnet.env files written ${envElapsed} ms after the agents were started together`);
  // Give every agent a moment to see every peer, then measure real traffic.
  await sleep(500);
  let failures = pingMatrix('connectivity (one ping each way between every pair of pods)', pods, (p) => p.ip, (from, to) => cluster.ping(from, to.ip, 1, 2));
  if (dualStack) {
    failures += pingMatrix('IPv6 connectivity', pods, (p) => p.ipv6 ?? '-', (from, to) => to.ipv6 !== undefined && cluster.ping(from, to.ipv6, 1, 2));
  }
  console.log(`\nkernel state on host1 (ip route show proto 87${dualStack ? ', IPv4 and IPv6' : ''}):`);
  const host1 = cluster.hosts[0]!;
  const routes = [...(cluster.ipJson(host1, ['route', 'show', 'proto', '87']) as unknown[]), ...(dualStack ? (cluster.ipJson(host1, ['-6', 'route', 'show', 'proto', '87']) as unknown[]) : [])];
  for (const r of routes as Array<{ dst: string; gateway: string; dev: string }>) {
    console.log(`  ${r.dst} via ${r.gateway} dev ${r.dev}`);
  }
  await holdOpen(pods[0]!.ns, pods[pods.length - 1]!.ip);
  return failures;
}

async function manifestsDemo(cluster: ManifestCluster, applied: readonly string[]): Promise<number> {
  console.log(`weft demo from the manifests: ${applied.join(', ')} on ${hostCount} hosts, image ${cluster.image.ref} laid out from the Dockerfile, API at ${cluster.api.url}\n`);
  const started = Date.now();
  await cluster.start();
  for (const ds of cluster.daemonSets()) await cluster.waitForRollout(ds.metadata.name, 60_000);
  console.log(`DaemonSets ${cluster.daemonSets().map((d) => d.metadata.name).join(', ')} ready on every node ${Date.now() - started} ms after the init containers started`);
  const attachments = docsOfKind(cluster.docs, 'NetworkAttachmentDefinition').map((d) => d.metadata.name);
  const pods: WorkloadPod[] = [];
  const rows = [['node', 'namespace', 'podCIDR', 'pod', 'eth0', ...attachments.map((_, i) => `net${i + 1}`)]];
  for (const node of cluster.nodes) {
    for (const pod of [await cluster.addPod(node, `${node.name}-a`), await cluster.addPod(node, `${node.name}-b`, attachments)]) {
      pods.push(pod);
      rows.push([node.name, node.host.ns, node.podCIDR, pod.name, pod.ips.get('eth0')!, ...attachments.map((_, i) => pod.ips.get(`net${i + 1}`) ?? '-')]);
    }
  }
  console.log(`\n${table(rows)}`);
  let failures = pingMatrix('eth0 (one ping each way between every pair of pods)', pods, (p) => p.ips.get('eth0')!, (from, to) => cluster.ping(from, 'eth0', to.ips.get('eth0')!));
  attachments.forEach((name, i) => {
    const ifName = `net${i + 1}`;
    const attached = pods.filter((p) => p.ips.has(ifName));
    failures += pingMatrix(`${ifName} (${name}, through Multus's delegation)`, attached, (p) => p.ips.get(ifName)!, (from, to) => cluster.ping(from, ifName, to.ips.get(ifName)!));
  });
  await holdOpen(pods[0]!.ns, pods[pods.length - 1]!.ips.get('eth0')!);
  return failures;
}

if (values.manifests) {
  const install = readmeInstall(readFileSync('README.md', 'utf8'));
  // kube-controller-manager's --cluster-cidr must match the primary net-conf.json (see manifests/weft.yml).
  const netConf = JSON.parse((findDoc(loadManifests(install.applied), 'ConfigMap', 'weft-cfg')['data'] as Record<string, string>)['net-conf.json']!) as { Network: string };
  const cluster = await ManifestCluster.create({ manifests: install.applied, image: install.image, clusterCIDR: netConf.Network, hosts: hostCount });
  await withCluster(cluster, (c) => manifestsDemo(c, install.applied));
} else {
  await withCluster(await NetnsCluster.create([hostCount], { ipv6: dualStack }), etcdDemo);
}
