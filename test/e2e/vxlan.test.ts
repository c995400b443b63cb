import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { AGENT_BIN, type Host, NetnsCluster, type Pod, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(180_000);

interface Route {
  dst: string;
  gateway?: string;
  dev: string;
  flags?: string[];
  protocol?: string;
}

describeAsRoot('vxlan backend across 3 hosts', () => {
  let cluster: NetnsCluster;
  const pods: Pod[] = [];
  const subnets = new Map<Host, string>();

  function routes(host: Host): Route[] {
    return cluster.ipJson(host, ['route', 'show', 'proto', '87']) as Route[];
  }

  function peerState(host: Host, peer: Host) {
    const subnet = subnets.get(peer)!;
    const gateway = subnet.split('/')[0]!;
    const route = routes(host).find((r) => r.dst === subnet);
    const neigh = (cluster.ipJson(host, ['neigh', 'show', 'dev', 'flannel.1']) as Array<{ dst: string; lladdr?: string; state?: string[] }>).find(
      (n) => n.dst === gateway,
    );
    const fdb = (JSON.parse(inNs(host.ns, 'bridge', ['-j', 'fdb', 'show', 'dev', 'flannel.1'])) as Array<{ mac: string; dst?: string }>).filter(
      (f) => f.dst === peer.ip,
    );
    return { subnet, gateway, route, neigh, fdb };
  }

  function pingsAll(): boolean {
    return pods.every((a) => pods.every((b) => a === b || cluster.ping(a, b.ip, 1, 1)));
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3]);
    await cluster.writeNetworkConfig('/weft/primary', { Network: '10.70.0.0/16', Backend: { Type: 'vxlan' } });
    for (const host of cluster.hosts) cluster.startAgent(host);
    for (const host of cluster.hosts) {
      const env = await cluster.waitForSubnetEnv(host);
      subnets.set(host, env.get('FLANNEL_SUBNET')!.replace(/\.1\//, '.0/'));
      pods.push(await cluster.addPod(host));
    }
    await waitFor(() => cluster.hosts.every((h) => routes(h).length === 2), 10_000, () => 'routes not programmed');
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('lets every pod reach every other pod (ping and TCP)', async () => {
    for (const a of pods) for (const b of pods) if (a !== b) expect([a.ip, b.ip, cluster.ping(a, b.ip)]).toEqual([a.ip, b.ip, true]);
    expect(await cluster.tcpCheck(pods[0]!, pods[2]!)).toBe(true);
    expect(await cluster.tcpCheck(pods[2]!, pods[1]!)).toBe(true);
  });

  it('creates flannel.1 with the configured VNI, port, MTU, local address and /32 address', () => {
    for (const host of cluster.hosts) {
      const [link] = cluster.ipJson(host, ['-d', 'addr', 'show', 'dev', 'flannel.1']) as Array<{
        mtu: number;
        flags: string[];
        linkinfo: { info_kind: string; info_data: { id: number; port: number; local: string; link: string; learning: boolean } };
        addr_info: Array<{ family: string; local: string; prefixlen: number }>;
      }>;
      expect(link!.linkinfo.info_kind).toBe('vxlan');
      expect(link!.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: host.ip, link: 'eth0', learning: false });
      expect(link!.mtu).toBe(1450);
      expect(link!.flags).toContain('UP');
      expect(link!.addr_info.filter((a) => a.family === 'inet')).toEqual([
        expect.objectContaining({ local: subnets.get(host)!.split('/')[0], prefixlen: 32 }),
      ]);
    }
  });

  it('programs ARP, FDB and an onlink route per peer, as docs/architecture.md says', async () => {
    const client = cluster.etcd.client();
    for (const host of cluster.hosts) {
      for (const peer of cluster.hosts) {
        if (peer === host) continue;
        const { subnet, gateway, route, neigh, fdb } = peerState(host, peer);
        const lease = (await client.get(`/weft/primary/subnets/${subnet.replace('/', '-')}`).json()) as { BackendData: { VtepMAC: string } };
        const mac = lease.BackendData.VtepMAC;
        expect(route).toMatchObject({ dst: subnet, gateway, dev: 'flannel.1', flags: ['onlink'] });
        expect(neigh).toMatchObject({ dst: gateway, lladdr: mac, state: ['PERMANENT'] });
        expect(fdb).toEqual([expect.objectContaining({ mac, dst: peer.ip })]);
      }
    }
    client.close();
  });

  describe('drift repair without restarting the agent', () => {
    const host = () => cluster.hosts[0]!;
    const peer = () => cluster.hosts[1]!;

    async function expectRepaired(what: string, sabotage: () => void, repaired: () => boolean): Promise<void> {
      sabotage();
      const started = Date.now();
      // Reading entries of a device that is still being recreated fails; that is "not yet".
      const settled = (): boolean => {
        try {
          return repaired();
        } catch {
          return false;
        }
      };
      await waitFor(settled, 2_000, () => `${what} not restored within 2 s`);
      await waitFor(() => cluster.ping(pods[0]!, pods[1]!.ip, 1, 1), 2_000, () => `no connectivity after ${what} repair`);
      process.stderr.write(`drift: ${what} restored in ${Date.now() - started} ms\n`);
    }

    it('restores a deleted route', async () => {
      const { subnet } = peerState(host(), peer());
      await expectRepaired('route', () => inNs(host().ns, 'ip', ['route', 'del', subnet]), () => peerState(host(), peer()).route !== undefined);
    });

    it('restores a deleted nexthop object (and the route that used it)', async () => {
      const route = peerState(host(), peer()).route as (Route & { nhid?: number }) | undefined;
      expect(route?.nhid).toBeDefined();
      await expectRepaired(
        'nexthop',
        () => inNs(host().ns, 'ip', ['nexthop', 'del', 'id', String(route!.nhid)]),
        () => (peerState(host(), peer()).route as (Route & { nhid?: number }) | undefined)?.nhid === route!.nhid,
      );
    });

    it('restores a deleted FDB entry', async () => {
      const [entry] = peerState(host(), peer()).fdb;
      await expectRepaired(
        'fdb entry',
        () => inNs(host().ns, 'bridge', ['fdb', 'del', entry!.mac, 'dev', 'flannel.1', 'dst', peer().ip, 'self']),
        () => peerState(host(), peer()).fdb.length === 1,
      );
    });

    it('restores a deleted ARP entry', async () => {
      const { gateway } = peerState(host(), peer());
      await expectRepaired(
        'arp entry',
        () => inNs(host().ns, 'ip', ['neigh', 'del', gateway, 'dev', 'flannel.1']),
        () => peerState(host(), peer()).neigh?.state?.includes('PERMANENT') === true,
      );
    });

    it('recreates a deleted vxlan device with the same MAC and all entries', async () => {
      const before = (cluster.ipJson(host(), ['link', 'show', 'dev', 'flannel.1']) as Array<{ address: string }>)[0]!.address;
      await expectRepaired(
        'vxlan device',
        () => inNs(host().ns, 'ip', ['link', 'del', 'flannel.1']),
        () => {
          const state = peerState(host(), peer());
          return state.route !== undefined && state.fdb.length === 1 && state.neigh !== undefined;
        },
      );
      const after = (cluster.ipJson(host(), ['link', 'show', 'dev', 'flannel.1']) as Array<{ address: string }>)[0]!.address;
      expect(after).toBe(before);
      expect(pingsAll()).toBe(true);
    });

    it('leaves routes it does not own alone while repairing its own', async () => {
      // Foreign: inside the pod network on our device but not weft's protocol, and weft's
      // protocol but outside the pod network (another weft instance's, say).
      inNs(host().ns, 'ip', ['route', 'add', '10.70.250.0/24', 'dev', 'flannel.1']);
      inNs(host().ns, 'ip', ['route', 'add', '172.31.250.0/24', 'via', cluster.hosts[2]!.ip, 'proto', '87']);
      const { subnet } = peerState(host(), peer());
      await expectRepaired('route beside foreign routes', () => inNs(host().ns, 'ip', ['route', 'del', subnet]), () => peerState(host(), peer()).route !== undefined);
      const all = cluster.ipJson(host(), ['route']) as Route[];
      expect(all.find((r) => r.dst === '10.70.250.0/24')).toMatchObject({ dev: 'flannel.1' });
      expect(all.find((r) => r.dst === '172.31.250.0/24')).toMatchObject({ gateway: cluster.hosts[2]!.ip });
      inNs(host().ns, 'ip', ['route', 'del', '10.70.250.0/24']);
      inNs(host().ns, 'ip', ['route', 'del', '172.31.250.0/24']);
    });
  });

  it('keeps traffic flowing (0 lost pings at 10/s) while an agent is killed and restarted', async () => {
    const [a, b] = [pods[0]!, pods[1]!];
    const done = cluster.pingInBackground(a, b.ip, 0.1, { count: 50 });
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.stopAgent(cluster.hosts[1]!, 'primary', 'SIGKILL');
    // The log file is appended to: only what the restarted agent writes counts.
    const before = (await cluster.agentLog(cluster.hosts[1]!)).length;
    const restartLog = async () => (await cluster.agentLog(cluster.hosts[1]!)).slice(before);
    await new Promise((r) => setTimeout(r, 300));
    cluster.startAgent(cluster.hosts[1]!);
    expect(await done).toEqual({ sent: 50, received: 50 });
    // The restarted agent adopted the existing state rather than rebuilding it.
    await waitFor(async () => /acquired|reusing/.test(await restartLog()), 10_000);
    expect(await restartLog()).toMatch(/reusing existing lease/);
  });

  it("removes a departed host's entries from every other host", async () => {
    const gone = cluster.hosts[2]!;
    const { subnet } = peerState(cluster.hosts[0]!, gone);
    await cluster.stopAgent(gone);
    const client = cluster.etcd.client();
    await client.delete().key(`/weft/primary/subnets/${subnet.replace('/', '-')}`);
    client.close();
    for (const host of cluster.hosts.slice(0, 2)) {
      await waitFor(
        () => {
          const state = peerState(host, gone);
          return state.route === undefined && state.fdb.length === 0 && state.neigh?.state?.includes('PERMANENT') !== true;
        },
        5_000,
        () => `entries for ${subnet} still on ${host.ns}`,
      );
    }
    expect(cluster.ping(pods[0]!, pods[1]!.ip)).toBe(true);
  });
});

describeAsRoot('weft status', () => {
  let cluster: NetnsCluster;
  beforeAll(async () => {
    cluster = await NetnsCluster.create([3]);
    await cluster.writeNetworkConfig('/weft/primary', { Network: '10.71.0.0/16', Backend: { Type: 'vxlan' } });
    for (const host of cluster.hosts) cluster.startAgent(host);
    for (const host of cluster.hosts) await cluster.waitForSubnetEnv(host);
    await waitFor(() => cluster.hosts.every((h) => (cluster.ipJson(h, ['route', 'show', 'proto', '87']) as Route[]).length === 2), 10_000);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  function status(host: Host, json = false): { code: number; output: string } {
    const args = ['netns', 'exec', host.ns, AGENT_BIN, 'status', '--etcd-endpoints', cluster.etcdEndpoint, '--etcd-prefix', '/weft/primary', '--iface', 'eth0', ...(json ? ['--json'] : [])];
    const result = spawnSync('ip', args, { encoding: 'utf8' });
    return { code: result.status ?? -1, output: result.stdout };
  }

  it('shows every peer as matching on a healthy cluster', () => {
    const { code, output } = status(cluster.hosts[0]!);
    expect(code).toBe(0);
    expect(output).toContain('all peers match the kernel');
    const json = JSON.parse(status(cluster.hosts[0]!, true).output) as { healthy: boolean; peers: Array<{ publicIP: string; problems: string[] }> };
    expect(json.healthy).toBe(true);
    expect(json.peers.map((p) => p.publicIP).sort()).toEqual([cluster.hosts[1]!.ip, cluster.hosts[2]!.ip].sort());
    expect(json.peers.every((p) => p.problems.length === 0)).toBe(true);
  });

  it('flags a hand-deleted route with a non-zero exit', async () => {
    const host = cluster.hosts[0]!;
    // Stop the agent first, or it would repair the route before status looks.
    await cluster.stopAgent(host);
    const [route] = cluster.ipJson(host, ['route', 'show', 'proto', '87']) as Route[];
    inNs(host.ns, 'ip', ['route', 'del', route!.dst]);
    const { code, output } = status(host);
    expect(code).toBe(1);
    expect(output).toMatch(new RegExp(`${route!.dst.replace(/\./g, '\\.')}.*route missing`));
    expect(output).toContain('PROBLEMS FOUND');
  });
});
