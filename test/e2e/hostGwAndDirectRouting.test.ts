import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster, type Pod } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(180_000);

interface Route {
  dst: string;
  gateway?: string;
  dev: string;
}

function weftRoutes(cluster: NetnsCluster, host: Host): Route[] {
  return cluster.ipJson(host, ['route', 'show', 'proto', '87']) as Route[];
}

async function bringUp(cluster: NetnsCluster, config: object, expectedRoutes: (host: Host) => number): Promise<{ pods: Pod[]; subnets: Map<Host, string> }> {
  await cluster.writeNetworkConfig('/weft/primary', config);
  for (const host of cluster.hosts) cluster.startAgent(host);
  const pods: Pod[] = [];
  const subnets = new Map<Host, string>();
  for (const host of cluster.hosts) {
    const env = await cluster.waitForSubnetEnv(host);
    subnets.set(host, env.get('FLANNEL_SUBNET')!.replace(/\.1\//, '.0/'));
    pods.push(await cluster.addPod(host));
  }
  await waitFor(() => cluster.hosts.every((h) => weftRoutes(cluster, h).length === expectedRoutes(h)), 10_000, () => 'routes not programmed');
  return { pods, subnets };
}

describeAsRoot('host-gw backend across 3 hosts', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];
  let subnets: Map<Host, string>;
  beforeAll(async () => {
    cluster = await NetnsCluster.create([3]);
    ({ pods, subnets } = await bringUp(cluster, { Network: '10.80.0.0/16', Backend: { Type: 'host-gw' } }, () => 2));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('lets every pod reach every other pod', async () => {
    for (const a of pods) for (const b of pods) if (a !== b) expect([a.ip, b.ip, cluster.ping(a, b.ip)]).toEqual([a.ip, b.ip, true]);
    expect(await cluster.tcpCheck(pods[1]!, pods[0]!)).toBe(true);
  });

  it('routes each peer subnet via the peer PublicIP on eth0, with no vxlan device', () => {
    for (const host of cluster.hosts) {
      const expected = cluster.hosts.filter((p) => p !== host).map((p) => ({ dst: subnets.get(p), gateway: p.ip, dev: 'eth0' }));
      expect(weftRoutes(cluster, host).map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev }))).toEqual(
        expect.arrayContaining(expected),
      );
      expect((cluster.ipJson(host, ['link']) as Array<{ ifname: string }>).some((l) => l.ifname.startsWith('flannel.'))).toBe(false);
    }
  });

  it('writes the external MTU to subnet.env', async () => {
    expect((await cluster.readSubnetEnv(cluster.hosts[0]!))!.get('FLANNEL_MTU')).toBe('1500');
  });

  it('rejects gateways that are no host (underlay broadcast or network address, our own address): logged once, never tried', async () => {
    const host = cluster.hosts[0]!;
    const octet = cluster.segments[0]!.octet;
    const hostile: Record<string, string> = {
      '10.80.250.0-24': `192.168.${octet}.255`,
      '10.80.251.0-24': `192.168.${octet}.0`,
      '10.80.252.0-24': host.ip,
    };
    const routesBefore = JSON.stringify(weftRoutes(cluster, host));
    const client = cluster.etcd.client();
    for (const [key, publicIP] of Object.entries(hostile)) {
      await client.put(`/weft/primary/subnets/${key}`).value(JSON.stringify({ PublicIP: publicIP, BackendType: 'host-gw', BackendData: null }));
    }
    client.close();
    const rejected = (log: string, key: string) => log.split('\n').filter((l) => l.includes('ignoring invalid lease') && l.includes(`"key":"${key}"`));
    await waitFor(async () => {
      const log = await cluster.agentLog(host);
      return Object.keys(hostile).every((key) => rejected(log, key).length === 1);
    }, 15_000);
    // Several resync-free seconds: before, the kernel refused such a nexthop on every pass.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const log = await cluster.agentLog(host);
    for (const key of Object.keys(hostile)) expect([key, rejected(log, key).length]).toEqual([key, 1]);
    expect(log).not.toContain('kernel operation failed');
    expect(JSON.stringify(weftRoutes(cluster, host))).toBe(routesBefore);
    expect(cluster.ping(pods[0]!, pods[1]!.ip)).toBe(true);
  });
});

describeAsRoot('DirectRouting across two underlay segments joined by a router', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];
  let subnets: Map<Host, string>;
  beforeAll(async () => {
    // Hosts 1 and 2 share a segment; host 3 sits behind the router on another.
    cluster = await NetnsCluster.create([2, 1]);
    ({ pods, subnets } = await bringUp(cluster, { Network: '10.90.0.0/16', Backend: { Type: 'vxlan', DirectRouting: true } }, () => 2));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('routes same-segment peers directly and the far peer over VXLAN', () => {
    const [h1, h2, h3] = cluster.hosts as [Host, Host, Host];
    const r1 = weftRoutes(cluster, h1);
    expect(r1.find((r) => r.dst === subnets.get(h2))).toMatchObject({ gateway: h2.ip, dev: 'eth0' });
    expect(r1.find((r) => r.dst === subnets.get(h3))).toMatchObject({ gateway: subnets.get(h3)!.split('/')[0], dev: 'flannel.1' });
    const r3 = weftRoutes(cluster, h3);
    for (const near of [h1, h2]) expect(r3.find((r) => r.dst === subnets.get(near))).toMatchObject({ dev: 'flannel.1' });
  });

  it('carries traffic both ways', async () => {
    for (const a of pods) for (const b of pods) if (a !== b) expect([a.ip, b.ip, cluster.ping(a, b.ip)]).toEqual([a.ip, b.ip, true]);
    expect(await cluster.tcpCheck(pods[0]!, pods[2]!)).toBe(true);
  });
});

describeAsRoot('host-gw with a peer off the L2 segment', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];
  let subnets: Map<Host, string>;
  beforeAll(async () => {
    cluster = await NetnsCluster.create([2, 1]);
    // Hosts 1 and 2 route to each other; host 3 can only route to nobody.
    ({ pods, subnets } = await bringUp(cluster, { Network: '10.91.0.0/16', Backend: { Type: 'host-gw' } }, (h) => (h === cluster.hosts[2] ? 0 : 1)));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('routes same-segment peers and reports, rather than routes, the far one', async () => {
    const [h1, h2, h3] = cluster.hosts as [Host, Host, Host];
    expect(weftRoutes(cluster, h1)).toEqual([expect.objectContaining({ dst: subnets.get(h2), gateway: h2.ip })]);
    expect(weftRoutes(cluster, h3)).toEqual([]);
    expect(cluster.ping(pods[0]!, pods[1]!.ip)).toBe(true);
    const log = await cluster.agentLog(h1);
    expect(log).toContain('peer not routed');
    expect(log).toContain(`PublicIP ${h3.ip} is not`);
  });
});
