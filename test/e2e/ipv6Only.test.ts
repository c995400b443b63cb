import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { startNetwork, unreachablePairs as unreachable, weftRoutes } from '../helpers/dualStackCluster.js';
import { type Host, NetnsCluster, type Pod, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

function routeCount(host: Host, family: '-4' | '-6'): number {
  return weftRoutes(host, family).length;
}

describeAsRoot('IPv6-only vxlan network across 3 hosts', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3], { ipv6: true });
    pods = await startNetwork(cluster, { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd62::/48', Backend: { Type: 'vxlan' } }, () => ({ ipv4: 0, ipv6: 2 }));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('leases IPv6 only, as Flannel writes it, and programs no IPv4 state', async () => {
    const client = cluster.etcd.client();
    try {
      const keys = await client.getAll().prefix('/weft/primary/subnets/').keys();
      expect(keys.map((k) => k.slice('/weft/primary/subnets/'.length))).toEqual(expect.arrayContaining([expect.stringMatching(/^0\.0\.0\.0-0&fd62:0:0:[0-9a-f]+::-64$/)]));
      expect(keys).toHaveLength(3);
    } finally {
      client.close();
    }
    for (const host of cluster.hosts) {
      const env = (await cluster.readSubnetEnv(host))!;
      expect([...env.keys()]).toEqual(['FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ']);
      expect(routeCount(host, '-4')).toBe(0);
      await waitFor(() => inNs(host.ns, 'ip6tables-save', []).includes('-d fd62::/48'), 10_000, () => 'no ip6tables rules');
      expect(inNs(host.ns, 'iptables-save', [])).not.toContain('WEFT-');
      expect(inNs(host.ns, 'ip', ['-o', 'link'])).not.toContain('flannel.1:');
    }
  });

  it('gives pods IPv6 addresses only, and every pod pair pings', () => {
    for (const pod of pods) expect(pod.ip).toBe(pod.ipv6);
    expect(unreachable(cluster, pods, pods, 'ipv6')).toEqual([]);
  });
});

describeAsRoot('dual-stack network with one IPv4-only host', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3], { ipv6: true, ipv4OnlyHosts: [3] });
    const config = { Network: '10.163.0.0/16', EnableIPv6: true, IPv6Network: 'fd63::/48', Backend: { Type: 'vxlan' } };
    // Host 3 has no IPv6 underlay: no IPv6 routes there, and only one IPv6 peer for the others.
    pods = await startNetwork(cluster, config, (h) => ({ ipv4: 2, ipv6: h.index === 3 ? 0 : 1 }));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('reaches the IPv4-only host over IPv4 only, and the others over both families', async () => {
    const [p1, p2, p3] = pods as [Pod, Pod, Pod];
    expect(p3.ipv6).toBeUndefined();
    expect((await cluster.readSubnetEnv(cluster.hosts[2]!))!.has('FLANNEL_IPV6_SUBNET')).toBe(false);
    expect(await cluster.agentLog(cluster.hosts[2]!)).toContain('takes part over IPv4 only');
    expect(unreachable(cluster, pods, pods, 'ip')).toEqual([]);
    expect(unreachable(cluster, [p1, p2], [p1, p2], 'ipv6')).toEqual([]);
    expect(routeCount(cluster.hosts[2]!, '-6')).toBe(0);
  });
});
