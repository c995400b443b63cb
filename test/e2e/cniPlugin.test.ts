import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { CNI_PATH, CNI_PLUGIN, type Host, NetnsCluster, inNs, run } from '../helpers/netnsCluster.js';

jest.setTimeout(120_000);

interface AddResult {
  cniVersion: string;
  ips: Array<{ address: string; gateway: string }>;
}

/** weft's CNI plugin executable driven the way a container runtime drives it. No agent runs here. */
describeAsRoot('CNI plugin (type flannel)', () => {
  let cluster: NetnsCluster;
  let host: Host;

  beforeAll(async () => {
    cluster = await NetnsCluster.create([1]);
    host = cluster.hosts[0]!;
    writeFileSync(cluster.subnetFile(host, 'primary'), 'FLANNEL_NETWORK=10.140.0.0/16\nFLANNEL_SUBNET=10.140.7.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n');
    writeFileSync(cluster.subnetFile(host, 'secondary'), 'FLANNEL_NETWORK=10.150.0.0/16\nFLANNEL_SUBNET=10.150.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  function pod(name: string): string {
    const ns = `${cluster.tag}-${name}`;
    run('ip', ['netns', 'add', ns]);
    return ns;
  }

  function link(ns: string, ifname: string): { mtu: number; addr_info: Array<{ family: string; local: string; prefixlen: number }> } {
    return (JSON.parse(inNs(ns, 'ip', ['-j', 'addr', 'show', 'dev', ifname])) as Array<{ mtu: number; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>)[0]!;
  }

  it('ADD gives the pod an address from the host subnet, the MTU from subnet.env and a route to the network', () => {
    const ns = pod('a');
    const result = JSON.parse(cluster.cni(host, 'ADD', ns)) as AddResult;
    expect(result.cniVersion).toBe('1.0.0');
    expect(result.ips[0]!.address).toMatch(/^10\.140\.7\.\d+\/24$/);
    expect(result.ips[0]!.gateway).toBe('10.140.7.1');
    const eth0 = link(ns, 'eth0');
    expect(eth0.mtu).toBe(1400);
    expect(eth0.addr_info.find((a) => a.family === 'inet')!.local).toBe(result.ips[0]!.address.split('/')[0]);
    expect(inNs(ns, 'ip', ['route'])).toContain('10.140.0.0/16 via 10.140.7.1 dev eth0');
    // FLANNEL_IPMASQ=true: the agent masquerades, so the bridge plugin must not.
    expect(inNs(host.ns, 'iptables-save', ['-t', 'nat'])).not.toContain('10.140.7.');
    expect(cluster.ping({ ns } as never, '10.140.7.1')).toBe(true);
  });

  it("hands the runtime's runtimeConfig to the delegate: a static IP and MAC reach host-local and the bridge", () => {
    const ns = pod('r');
    const config = {
      ...cluster.cniConfig(host),
      capabilities: { ips: true, mac: true },
      runtimeConfig: { ips: ['10.140.7.77/24'], mac: '0a:58:0a:8c:07:4d' },
    };
    const result = JSON.parse(cluster.cni(host, 'ADD', ns, 'primary', 'cni0', 'eth0', config)) as AddResult;
    expect(result.ips[0]!.address).toBe('10.140.7.77/24');
    const eth0 = JSON.parse(inNs(ns, 'ip', ['-j', 'link', 'show', 'dev', 'eth0'])) as Array<{ address: string }>;
    expect(eth0[0]!.address).toBe('0a:58:0a:8c:07:4d');
    cluster.cni(host, 'DEL', ns, 'primary', 'cni0', 'eth0', config);
  });

  it('CHECK passes for an attached pod', () => {
    const ns = pod('c');
    const result = JSON.parse(cluster.cni(host, 'ADD', ns)) as AddResult;
    const config = { ...cluster.cniConfig(host), prevResult: result };
    let failure = '';
    try {
      cluster.cni(host, 'CHECK', ns, 'primary', 'cni0', 'eth0', config);
    } catch (err) {
      failure = String((err as { stdout?: string }).stdout);
    }
    expect(failure).toBe('');
  });

  it('DEL removes the pod interface and its stored config, and is idempotent', () => {
    const ns = pod('d');
    cluster.cni(host, 'ADD', ns);
    const stored = join(host.dir, 'cni-primary', `${ns}-primary`);
    expect(existsSync(stored)).toBe(true);
    cluster.cni(host, 'DEL', ns);
    expect(inNs(ns, 'ip', ['-j', 'link'])).not.toContain('"eth0"');
    expect(existsSync(stored)).toBe(false);
    expect(cluster.cni(host, 'DEL', ns)).toBe('');
  });

  it('answers VERSION', () => {
    const out = execFileSync(CNI_PLUGIN, [], { input: '{}', encoding: 'utf8', env: { ...process.env, CNI_COMMAND: 'VERSION' } });
    expect(JSON.parse(out)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  });

  it('reports a missing subnet.env as a CNI error naming the file', () => {
    const ns = pod('m');
    const config = { ...cluster.cniConfig(host), subnetFile: '/nonexistent/weft.env' };
    const result = spawnSync('ip', ['netns', 'exec', host.ns, CNI_PLUGIN], {
      input: JSON.stringify(config),
      encoding: 'utf8',
      env: { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: ns, CNI_NETNS: `/var/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH },
    });
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: 'cannot read subnet file /nonexistent/weft.env: no such file or directory; is the weft agent running?',
    });
  });

  it('attaches a second interface from a secondary network (own subnetFile, dataDir and bridge)', () => {
    const ns = pod('s');
    cluster.cni(host, 'ADD', ns);
    const second = JSON.parse(cluster.cni(host, 'ADD', ns, 'secondary', 'cni1', 'net1')) as AddResult;
    expect(second.ips[0]!.address).toMatch(/^10\.150\.9\.\d+\/24$/);
    expect(link(ns, 'net1').mtu).toBe(1450);
    expect(link(ns, 'eth0').addr_info.find((a) => a.family === 'inet')!.local).toMatch(/^10\.140\.7\./);
    expect(inNs(host.ns, 'ip', ['-j', 'link', 'show', 'cni1'])).toContain('cni1');
    mkdirSync(join(host.dir, 'cni-secondary'), { recursive: true });
    expect(existsSync(join(host.dir, 'cni-secondary', `${ns}-secondary`))).toBe(true);
  });
});
