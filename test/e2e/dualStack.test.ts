import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { spawnSync } from 'node:child_process';
import { startNetwork, unreachablePairs, weftRoutes as routes } from '../helpers/dualStackCluster.js';
import { AGENT_BIN, NetnsCluster, type Pod, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

describeAsRoot('dual-stack vxlan across 3 hosts', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3], { ipv6: true });
    const config = { Network: '10.160.0.0/16', EnableIPv6: true, IPv6Network: 'fd60::/48', Backend: { Type: 'vxlan' } };
    pods = await startNetwork(cluster, config, () => ({ ipv4: 2, ipv6: 2 }));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('gives every pod both an IPv4 and an IPv6 address, and every pod pair pings over both families', () => {
    for (const pod of pods) expect(pod.ipv6).toMatch(/^fd60:0:0:[0-9a-f]+::[0-9a-f]+$/);
    expect(unreachablePairs(cluster, pods, pods, 'ip')).toEqual([]);
    expect(unreachablePairs(cluster, pods, pods, 'ipv6')).toEqual([]);
  });

  it("writes Flannel's dual-stack keys, lease values and subnet.env", async () => {
    const client = cluster.etcd.client();
    try {
      const leases = await client.getAll().prefix('/weft/primary/subnets/').strings();
      for (const host of cluster.hosts) {
        const env = (await cluster.readSubnetEnv(host))!;
        const subnet = env.get('FLANNEL_SUBNET')!.replace(/\.1\/24$/, '.0-24');
        const ipv6Subnet = env.get('FLANNEL_IPV6_SUBNET')!.replace(/::1\/64$/, '::-64');
        expect(env.get('FLANNEL_IPV6_NETWORK')).toBe('fd60::/48');
        const value = JSON.parse(leases[`/weft/primary/subnets/${subnet}&${ipv6Subnet}`]!) as Record<string, { VtepMAC?: string } | string>;
        expect(value).toMatchObject({ PublicIP: host.ip, PublicIPv6: host.ipv6, BackendType: 'vxlan' });
        const device = JSON.parse(inNs(host.ns, 'ip', ['-j', 'link', 'show', 'flannel-v6.1'])) as Array<{ address: string }>;
        expect((value['BackendV6Data'] as { VtepMAC: string }).VtepMAC).toBe(device[0]!.address);
        expect((value['BackendData'] as { VtepMAC: string }).VtepMAC).not.toBe(device[0]!.address);
      }
    } finally {
      client.close();
    }
  });

  it('weft status reports both families, and an IPv6 neighbour removed behind its back', async () => {
    const host = cluster.hosts[1]!;
    const status = () => {
      const args = ['netns', 'exec', host.ns, AGENT_BIN, 'status', '--json', '--etcd-endpoints', cluster.etcdEndpoint, '--etcd-prefix', '/weft/primary', '--iface', 'eth0'];
      const result = spawnSync('ip', args, { encoding: 'utf8' });
      return { code: result.status, json: JSON.parse(result.stdout) as { healthy: boolean; peers: unknown[]; ipv6: { lease: { subnet: string }; peers: Array<{ publicIP: string; problems: string[] }> } } };
    };
    const healthy = status();
    expect(healthy.code).toBe(0);
    expect(healthy.json.peers).toHaveLength(2);
    expect(healthy.json.ipv6.peers.map((p) => p.publicIP).sort()).toEqual(cluster.hosts.filter((h) => h !== host).map((h) => h.ipv6).sort());
    await cluster.stopAgent(host);
    const neigh = (JSON.parse(inNs(host.ns, 'ip', ['-j', '-6', 'neigh', 'show', 'dev', 'flannel-v6.1'])) as Array<{ dst: string }>)[0]!;
    inNs(host.ns, 'ip', ['-6', 'neigh', 'del', neigh.dst, 'dev', 'flannel-v6.1']);
    const broken = status();
    expect(broken.code).toBe(1);
    expect(broken.json.ipv6.peers.flatMap((p) => p.problems)).toEqual(['neighbour entry missing or wrong']);
    cluster.startAgent(host);
    await waitFor(() => status().code === 0, 10_000, () => 'not repaired after restart');
  });

  it('repairs a deleted IPv6 route, and keeps both devices and subnets across a restart', async () => {
    const host = cluster.hosts[0]!;
    const victim = routes(host, '-6')[0]!;
    inNs(host.ns, 'ip', ['-6', 'route', 'del', victim.dst, 'proto', '87']);
    await waitFor(() => routes(host, '-6').some((r) => r.dst === victim.dst), 10_000, () => 'IPv6 route not repaired');

    const before = await cluster.readSubnetEnv(host);
    const macBefore = inNs(host.ns, 'cat', ['/sys/class/net/flannel-v6.1/address']);
    const reuses = async (): Promise<number> => (await cluster.agentLog(host)).split('reusing existing lease').length;
    const reusedBefore = await reuses();
    await cluster.stopAgent(host);
    cluster.startAgent(host);
    await waitFor(async () => (await reuses()) > reusedBefore, 10_000, () => 'agent did not come back');
    expect(await cluster.readSubnetEnv(host)).toEqual(before);
    expect(inNs(host.ns, 'cat', ['/sys/class/net/flannel-v6.1/address'])).toBe(macBefore);
    expect(unreachablePairs(cluster, pods, pods, 'ipv6')).toEqual([]);
  });
});

describeAsRoot('dual-stack host-gw across 3 hosts', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3], { ipv6: true });
    const config = { Network: '10.161.0.0/16', EnableIPv6: true, IPv6Network: 'fd61::/48', Backend: { Type: 'host-gw' } };
    pods = await startNetwork(cluster, config, () => ({ ipv4: 2, ipv6: 2 }), ['--ip-masq']);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('masquerades pod traffic leaving the IPv6 network behind the host, and not traffic inside it', async () => {
    const outside = cluster.addOutsideHost();
    const host = cluster.hosts[0]!;
    await waitFor(() => inNs(host.ns, 'ip6tables-save', ['-t', 'nat']).includes('MASQUERADE'), 10_000, () => 'no ip6tables masquerade rules');
    // FLANNEL_IPMASQ=true keeps the bridge plugin from masquerading: weft's chain does it alone.
    const nat = inNs(host.ns, 'ip6tables-save', ['-t', 'nat']);
    expect(nat).toMatch(/-A WEFT-MASQ-\S+ -s fd61::\/48 ! -d ff00::\/8 .*-j MASQUERADE/);
    expect(nat).not.toContain('CNI-');
    expect(await cluster.tcpSource(pods[0]!, { ns: outside.ns, ip: outside.ipv6! })).toBe(host.ipv6);
    expect(await cluster.tcpSource(pods[0]!, { ns: pods[1]!.ns, ip: pods[1]!.ipv6! })).toBe(pods[0]!.ipv6);
  });

  it('keeps ip6tables forward rules for the IPv6 network beside the iptables ones', async () => {
    const host = cluster.hosts[0]!;
    await waitFor(() => inNs(host.ns, 'ip6tables-save', ['-t', 'filter']).includes('-s fd61::/48'), 10_000, () => 'no ip6tables rules');
    const saved = inNs(host.ns, 'ip6tables-save', ['-t', 'filter']);
    expect(saved).toMatch(/-A FORWARD -m comment --comment "weft forward" -j WEFT-FWD-[0-9A-F]{8}-48/);
    expect(saved).toContain('-d fd61::/48 -m comment --comment "weft forward" -j ACCEPT');
    expect(inNs(host.ns, 'iptables-save', ['-t', 'filter'])).toContain('-s 10.161.0.0/16');
  });

  it('routes each IPv6 peer subnet via its PublicIPv6, and every pod pair pings over both families', () => {
    for (const host of cluster.hosts) {
      const gateways = routes(host, '-6').map((r) => [r.gateway, r.dev]);
      const expected = cluster.hosts.filter((p) => p !== host).map((p) => [p.ipv6, 'eth0']);
      expect(gateways).toEqual(expect.arrayContaining(expected));
    }
    expect(unreachablePairs(cluster, pods, pods, 'ip')).toEqual([]);
    expect(unreachablePairs(cluster, pods, pods, 'ipv6')).toEqual([]);
  });
});
