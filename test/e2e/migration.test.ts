import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeKubeApi } from '../helpers/fakeKubeApi.js';
import { flannelServiceAccountRules } from '../helpers/kubeManifests.js';
import { type FlannelLease, flannelEtcdLease, flannelNodeAnnotations, flannelStart } from '../helpers/flannelHost.js';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { AGENT_BIN, type Host, NetnsCluster, type Pod, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(240_000);

const NET = { network: '10.90.0.0/16', vni: 1, ipMasq: true };
/** 10 pings a second for 12 s, each way, while the agent is swapped. */
const PINGS = 120;

interface RouteJson {
  dst: string;
  protocol?: string;
  nhid?: number;
}

/**
 * Live migration, as docs/migrating-from-flannel.md describes it: a host's Flannel is replaced by
 * weft (and weft by Flannel again) while its pods talk to a pod on a host that keeps running
 * Flannel. The Flannel side is built from Flannel's source (test/helpers/flannelHost.ts). The
 * hosts' FORWARD policy is DROP, so forwarding depends on the accept rules at every instant.
 */
function migration(mode: 'etcd' | 'kube'): void {
  describeAsRoot(`live migration between Flannel and weft (${mode} mode)`, () => {
    let cluster: NetnsCluster;
    let api: FakeKubeApi | undefined;
    let leases: FlannelLease[];
    let pods: Pod[];
    let host: Host;
    let deviceBefore: { ifindex: number; address: string };
    const weftArgs: string[] = ['--ip-masq', '--iptables-resync', '1'];
    let weftEnv: Record<string, string> = {};

    const device = (h: Host) => (cluster.ipJson(h, ['link', 'show', 'dev', 'flannel.1']) as Array<{ ifindex: number; address: string }>)[0]!;
    const routeTo = (h: Host, dst: string) => (cluster.ipJson(h, ['-d', 'route', 'show', dst]) as RouteJson[])[0];
    const save = (h: Host) => inNs(h.ns, 'iptables-save', []);

    /** Pings both ways during `swap`; every ping must come back. */
    async function withPings(swap: () => Promise<void>): Promise<Array<{ sent: number; received: number }>> {
      const pings = [cluster.pingInBackground(pods[0]!, pods[1]!.ip, 0.1, { count: PINGS }), cluster.pingInBackground(pods[1]!, pods[0]!.ip, 0.1, { count: PINGS })];
      await sleep(1_000);
      await swap();
      return Promise.all(pings);
    }

    async function register(index: number): Promise<void> {
      if (mode === 'etcd') await flannelEtcdLease(cluster, '/weft/primary', leases[index]!, NET.vni);
      else flannelNodeAnnotations(api!, `node-${index}`, leases[index]!, NET.vni);
    }

    beforeAll(async () => {
      cluster = await NetnsCluster.create([2]);
      host = cluster.hosts[0]!;
      leases = cluster.hosts.map((h, i) => ({ subnet: `10.90.${i + 1}.0/24`, publicIP: h.ip, vtepMac: `0e:90:00:00:00:0${i + 1}` }));
      if (mode === 'etcd') {
        await cluster.writeNetworkConfig('/weft/primary', { Network: NET.network, Backend: { Type: 'vxlan' } });
      } else {
        api = await FakeKubeApi.start({ host: cluster.rootAddress, rules: flannelServiceAccountRules(), bookmarkIntervalMs: 2_000 });
        const kubeconfig = join(cluster.dir, 'kubeconfig');
        const netConf = join(cluster.dir, 'net-conf.json');
        await writeFile(kubeconfig, api.kubeconfig());
        await writeFile(netConf, JSON.stringify({ Network: NET.network, Backend: { Type: 'vxlan' } }));
        cluster.hosts.forEach((_, i) => api!.createNode(`node-${i}`, { podCIDR: leases[i]!.subnet }));
        api.createPod('kube-flannel', 'kube-flannel-ds-0', 'node-0');
        weftArgs.push('--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', netConf);
        // Flannel's DaemonSet names the pod, not the node; weft finds the node as Flannel does.
        weftEnv = { POD_NAME: 'kube-flannel-ds-0', POD_NAMESPACE: 'kube-flannel' };
      }
      for (const [i, h] of cluster.hosts.entries()) {
        inNs(h.ns, 'iptables', ['-P', 'FORWARD', 'DROP']);
        await register(i);
        await flannelStart(h, NET, leases[i]!, leases.filter((_, j) => j !== i), cluster.subnetFile(h));
      }
      pods = [];
      for (const h of cluster.hosts) pods.push(await cluster.addPod(h));
      expect(cluster.ping(pods[0]!, pods[1]!.ip)).toBe(true);
      deviceBefore = device(host);
    });
    afterAll(async () => {
      await cluster?.destroy();
      await api?.stop();
    });

    it('replaces Flannel with weft without losing a packet, keeping subnet, device and MAC', async () => {
      const peer = leases[1]!.subnet;
      expect(routeTo(host, peer)?.protocol).toBe('boot');
      const pings = await withPings(async () => {
        cluster.startAgent(host, 'primary', weftArgs, weftEnv);
        await waitFor(
          () => routeTo(host, peer)?.protocol === '87' && !save(host).includes('FLANNEL-') && save(host).includes(':WEFT-FWD-'),
          8_000,
          () => `route ${JSON.stringify(routeTo(host, peer))}\n${save(host)}`,
        );
      });
      expect(pings.map((p) => p.sent >= 100 && p.received === p.sent)).toEqual([true, true]);
      expect(device(host)).toEqual(deviceBefore);
      expect((await cluster.readSubnetEnv(host))!.get('FLANNEL_SUBNET')).toBe('10.90.1.1/24');
      if (mode === 'kube') {
        expect(JSON.parse(api!.annotations('node-0')['flannel.alpha.coreos.com/backend-data']!)).toEqual({ VNI: 1, VtepMAC: leases[0]!.vtepMac });
      } else {
        const client = cluster.etcd.client();
        const value = await client.get('/weft/primary/subnets/10.90.1.0-24').string();
        client.close();
        expect(JSON.parse(value!)).toMatchObject({ PublicIP: host.ip, BackendData: { VNI: 1, VtepMAC: leases[0]!.vtepMac } });
      }
      process.stderr.write(`migration ${mode} Flannel -> weft: ${JSON.stringify(pings)}\n`);
    });

    it('goes back from weft to Flannel without losing a packet: Flannel reuses the device and replaces the routes', async () => {
      const peer = leases[1]!.subnet;
      const pings = await withPings(async () => {
        await cluster.stopAgent(host);
        await register(0);
        await flannelStart(host, NET, leases[0]!, [leases[1]!], cluster.subnetFile(host));
        // The documented last steps, once Flannel runs: weft's chains and nexthops go.
        inNs(host.ns, AGENT_BIN, ['cleanup']);
        inNs(host.ns, 'ip', ['nexthop', 'flush', 'protocol', '87']);
      });
      expect(pings.map((p) => p.sent >= 100 && p.received === p.sent)).toEqual([true, true]);
      expect(routeTo(host, peer)).toMatchObject({ protocol: 'boot' });
      expect(routeTo(host, peer)?.nhid).toBeUndefined();
      expect(device(host)).toEqual(deviceBefore);
      expect(save(host)).toContain(':FLANNEL-FWD');
      expect(save(host)).not.toContain('WEFT-');
      process.stderr.write(`migration ${mode} weft -> Flannel: ${JSON.stringify(pings)}\n`);
    });
  });
}

migration('etcd');
migration('kube');
