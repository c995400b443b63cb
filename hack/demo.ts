// The local multi-host demo: real etcd, three hosts as network namespaces each running the
// compiled `weft agent`, two pods per host attached through the real CNI plugins, and a
// connectivity matrix of real pings between every pair of pods.
//
//   bash hack/demo.sh [--backend vxlan|host-gw] [--hosts N] [--dual-stack]
//
// --dual-stack gives the underlay IPv6 addresses and the network an IPv6Network: every pod gets
// an address of each family, and the matrix pings both.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { NetnsCluster, type Pod } from '../test/helpers/netnsCluster.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'vxlan' },
    hosts: { type: 'string', default: '3' },
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

const cluster = await NetnsCluster.create([hostCount], { ipv6: dualStack });
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
  // Each cell pings every address of the target pod: "ok" or "ok/ok" (IPv4/IPv6).
  const matrix = [['from \\ to', ...pods.map((p) => p.ip)]];
  let failures = 0;
  for (const from of pods) {
    matrix.push([
      from.ip,
      ...pods.map((to) => {
        if (to === from) return '-';
        return [to.ip, ...(to.ipv6 ? [to.ipv6] : [])]
          .map((address) => {
            const ok = cluster.ping(from, address, 1, 2);
            if (!ok) failures++;
            return ok ? 'ok' : 'FAIL';
          })
          .join('/');
      }),
    ]);
  }
  console.log(`\nconnectivity (one ping each way between every pair of pods${dualStack ? ', IPv4/IPv6' : ''}):\n`);
  console.log(table(matrix));
  const route = cluster.hosts[0]!;
  console.log(`\nkernel state on host1 (ip route show proto 87):`);
  const routes = [...(cluster.ipJson(route, ['route', 'show', 'proto', '87']) as unknown[]), ...(dualStack ? (cluster.ipJson(route, ['-6', 'route', 'show', 'proto', '87']) as unknown[]) : [])];
  for (const r of routes as Array<{ dst: string; gateway: string; dev: string }>) {
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
