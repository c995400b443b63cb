// The local multi-host demo: real etcd, three hosts as network namespaces each running the
// compiled `weft agent`, two pods per host attached through the real CNI plugins, and a
// connectivity matrix of real pings between every pair of pods.
//
//   bash hack/demo.sh [--backend vxlan|host-gw] [--hosts N]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { NetnsCluster, type Pod } from '../test/helpers/netnsCluster.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'vxlan' },
    hosts: { type: 'string', default: '3' },
  },
});
const backend = values.backend === 'host-gw' ? 'host-gw' : 'vxlan';
const hostCount = Math.max(2, Math.min(8, Number(values.hosts) || 3));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

const cluster = await NetnsCluster.create([hostCount]);
let tornDown = false;
async function teardown(): Promise<void> {
  if (tornDown) return;
  tornDown = true;
  process.stdout.write('\ntearing down: agents, namespaces, etcd ... ');
  await cluster.destroy();
  process.stdout.write('done\n');
}
process.on('SIGINT', () => void teardown().then(() => process.exit(0)));

try {
  console.log(`weft demo: ${hostCount} hosts, backend ${backend}, etcd at ${cluster.etcdEndpoint}\n`);
  await cluster.writeNetworkConfig('/weft/primary', { Network: '10.244.0.0/16', Backend: { Type: backend } });
  const started = Date.now();
  for (const host of cluster.hosts) cluster.startAgent(host);
  const envs = await Promise.all(cluster.hosts.map((host) => cluster.waitForSubnetEnv(host)));
  const envElapsed = Date.now() - started;
  const pods: Pod[] = [];
  const rows = [['host', 'namespace', 'underlay IP', 'subnet (FLANNEL_SUBNET)', 'MTU', 'pods']];
  for (const [i, host] of cluster.hosts.entries()) {
    const env = envs[i]!;
    const hostPods = [await cluster.addPod(host), await cluster.addPod(host)];
    pods.push(...hostPods);
    rows.push([`host${host.index}`, host.ns, host.ip, env.get('FLANNEL_SUBNET')!, env.get('FLANNEL_MTU')!, hostPods.map((p) => p.ip).join(', ')]);
  }
  console.log(table(rows));
  console.log(`\nall subnet.env files written ${envElapsed} ms after the agents were started together`);

  // Give every agent a moment to see every peer, then measure real traffic.
  await sleep(500);
  const matrix = [['from \\ to', ...pods.map((p) => p.ip)]];
  let failures = 0;
  for (const from of pods) {
    matrix.push([
      from.ip,
      ...pods.map((to) => {
        if (to === from) return '-';
        const ok = cluster.ping(from, to.ip, 1, 2);
        if (!ok) failures++;
        return ok ? 'ok' : 'FAIL';
      }),
    ]);
  }
  console.log('\nconnectivity (one ping each way between every pair of pods):\n');
  console.log(table(matrix));
  const route = cluster.hosts[0]!;
  console.log(`\nkernel state on host1 (ip route show proto 87):`);
  for (const r of cluster.ipJson(route, ['route', 'show', 'proto', '87']) as Array<{ dst: string; gateway: string; dev: string }>) {
    console.log(`  ${r.dst} via ${r.gateway} dev ${r.dev}`);
  }
  console.log(failures === 0 ? '\nall pods reach each other across hosts.' : `\n${failures} pairs failed.`);
  if (process.stdin.isTTY) {
    console.log(`\nthe cluster stays up: try e.g.  ip netns exec ${pods[0]!.ns} ping ${pods[pods.length - 1]!.ip}`);
    console.log('press Enter (or Ctrl-C) to tear it down.');
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
  process.exitCode = failures === 0 ? 0 : 1;
} finally {
  await teardown();
  process.stdin.pause();
}
