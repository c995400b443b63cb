import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unreachablePairs, weftRoutes } from '../helpers/dualStackCluster.js';
import { FakeKubeApi } from '../helpers/fakeKubeApi.js';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster, type Pod, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

function routeCount(host: Host, family: '-4' | '-6'): number {
  return weftRoutes(host, family).length;
}

/** Dual-stack in Kubernetes mode: spec.podCIDRs of both families, Flannel's v6 annotations. */
describeAsRoot('dual-stack vxlan in Kubernetes API mode across 3 hosts', () => {
  let cluster: NetnsCluster;
  let api: FakeKubeApi;
  const pods: Pod[] = [];
  const nodeName = (host: Host): string => `node-${host.index}`;

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3], { ipv6: true });
    api = await FakeKubeApi.start({ host: cluster.rootAddress, bookmarkIntervalMs: 2_000 });
    const kubeconfig = join(cluster.dir, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeconfig());
    const conf = join(cluster.dir, 'net-conf.json');
    await writeFile(conf, JSON.stringify({ Network: '10.245.0.0/16', EnableIPv6: true, IPv6Network: 'fd45::/48', Backend: { Type: 'vxlan' } }));
    for (const host of cluster.hosts) {
      api.createNode(nodeName(host), { podCIDR: `10.245.${host.index}.0/24`, podCIDRs: [`10.245.${host.index}.0/24`, `fd45:0:0:${host.index}::/64`] });
    }
    for (const host of cluster.hosts) {
      cluster.startAgent(host, 'primary', ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', conf], { NODE_NAME: nodeName(host) });
    }
    for (const host of cluster.hosts) pods.push(await cluster.addPod(host));
    await waitFor(() => cluster.hosts.every((h) => routeCount(h, '-4') === 2 && routeCount(h, '-6') === 2), 15_000, () => 'routes not programmed');
  });
  afterAll(async () => {
    await cluster?.destroy();
    await api?.stop();
  });

  it('leases both podCIDRs, publishes the IPv6 annotations, and every pod pair pings over both families', async () => {
    for (const host of cluster.hosts) {
      const env = (await cluster.readSubnetEnv(host))!;
      expect(env.get('FLANNEL_IPV6_SUBNET')).toBe(`fd45:0:0:${host.index}::1/64`);
      const annotations = api.annotations(nodeName(host));
      expect(annotations['flannel.alpha.coreos.com/public-ipv6']).toBe(host.ipv6);
      const mac = inNs(host.ns, 'cat', ['/sys/class/net/flannel-v6.1/address']).trim();
      expect(annotations['flannel.alpha.coreos.com/backend-v6-data']).toBe(`{"VNI":1,"VtepMAC":"${mac}"}`);
    }
    expect(unreachablePairs(cluster, pods, pods, 'ip')).toEqual([]);
    expect(unreachablePairs(cluster, pods, pods, 'ipv6')).toEqual([]);
  });
});
