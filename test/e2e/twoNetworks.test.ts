import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster, type Pod, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(180_000);

interface Route {
  dst: string;
  dev: string;
  gateway?: string;
}

/** Two weft networks on the same hosts, as Multus runs a secondary network beside the primary. */
describeAsRoot('two weft instances per host (the Multus case)', () => {
  let cluster: NetnsCluster;
  const primary: Pod[] = [];
  const secondary: Pod[] = [];

  function routesFor(host: Host, prefix: string): Route[] {
    return (cluster.ipJson(host, ['route', 'show', 'proto', '87']) as Route[]).filter((r) => r.dst.startsWith(prefix));
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3]);
    await cluster.writeNetworkConfig('/weft/primary', { Network: '10.110.0.0/16', Backend: { Type: 'vxlan', VNI: 1 } });
    await cluster.writeNetworkConfig('/weft/secondary', { Network: '10.120.0.0/16', Backend: { Type: 'vxlan', VNI: 2 } });
    for (const host of cluster.hosts) {
      cluster.startAgent(host, 'primary');
      cluster.startAgent(host, 'secondary', ['--etcd-prefix', '/weft/secondary']);
    }
    const pods = await cluster.addDualHomedPods('primary', 'secondary');
    primary.push(...pods.first);
    secondary.push(...pods.second);
    await waitFor(
      () => cluster.hosts.every((h) => routesFor(h, '10.110.').length === 2 && routesFor(h, '10.120.').length === 2),
      10_000,
      () => 'routes not programmed',
    );
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('gives each network its own device, VNI and subnet file', async () => {
    for (const host of cluster.hosts) {
      for (const vni of [1, 2]) {
        const [link] = cluster.ipJson(host, ['-d', 'link', 'show', 'dev', `flannel.${vni}`]) as Array<{ linkinfo: { info_data: { id: number } } }>;
        expect(link!.linkinfo.info_data.id).toBe(vni);
      }
      expect((await cluster.readSubnetEnv(host, 'primary'))!.get('FLANNEL_NETWORK')).toBe('10.110.0.0/16');
      expect((await cluster.readSubnetEnv(host, 'secondary'))!.get('FLANNEL_NETWORK')).toBe('10.120.0.0/16');
      expect(routesFor(host, '10.110.').every((r) => r.dev === 'flannel.1')).toBe(true);
      expect(routesFor(host, '10.120.').every((r) => r.dev === 'flannel.2')).toBe(true);
    }
  });

  it('carries traffic on both networks at once', async () => {
    const results = await Promise.all([
      cluster.pingInBackground(primary[0]!, primary[2]!.ip, 0.1, { count: 20 }),
      cluster.pingInBackground(secondary[0]!, secondary[2]!.ip, 0.1, { count: 20 }),
    ]);
    for (const r of results) expect(r).toEqual({ sent: 20, received: 20 });
  });

  it('leaves the other network alone when one changes', async () => {
    const host = cluster.hosts[0]!;
    const before = JSON.stringify(routesFor(host, '10.110.'));
    const departing = cluster.hosts[2]!;
    const env = await cluster.readSubnetEnv(departing, 'secondary');
    await cluster.stopAgent(departing, 'secondary');
    const client = cluster.etcd.client();
    await client.delete().key(`/weft/secondary/subnets/${env!.get('FLANNEL_SUBNET')!.replace(/\.1\//, '.0-')}`);
    client.close();
    await waitFor(() => routesFor(host, '10.120.').length === 1, 5_000);
    // A drift repair on the secondary must not touch the primary either.
    inNs(host.ns, 'ip', ['route', 'del', routesFor(host, '10.120.')[0]!.dst]);
    await waitFor(() => routesFor(host, '10.120.').length === 1, 2_000);
    expect(JSON.stringify(routesFor(host, '10.110.'))).toBe(before);
    expect(cluster.ping(primary[0]!, primary[2]!.ip)).toBe(true);
    expect(cluster.ping(secondary[0]!, secondary[1]!.ip)).toBe(true);
  });
});
