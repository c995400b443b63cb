import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { AGENT_BIN, type Host, NetnsCluster, type Pod, inNs, run } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(300_000);

const HEALTH_PORT = 9474;
const PASSWORD = 'sekrit-Pa55word';

interface Route {
  dst: string;
}

/** Masquerade and forward rules, health, metrics, outages, signals and hostile leases. */
describeAsRoot('operating weft', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];
  let outside: { ns: string; ip: string };

  const url = (host: Host, path: string) => `http://${host.ip}:${HEALTH_PORT}${path}`;
  const weftRoutes = (host: Host) => cluster.ipJson(host, ['route', 'show', 'proto', '87']) as Route[];

  async function get(host: Host, path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(url(host, path));
    return { status: res.status, body: await res.text() };
  }

  async function metric(host: Host, name: string): Promise<number> {
    const { body } = await get(host, '/metrics');
    const line = body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(' ').pop()) : NaN;
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create([2]);
    outside = cluster.addOutsideHost();
    // The hosts lease below 10.130.200.0, clear of the keys the tests below write: a random pick
    // of 10.130.251.0/24 once let a hostile lease overwrite host 1's own, and its route went.
    await cluster.writeNetworkConfig('/weft/primary', {
      Network: '10.130.0.0/16',
      SubnetMin: '10.130.1.0',
      SubnetMax: '10.130.199.0',
      Backend: { Type: 'vxlan' },
    });
    for (const host of cluster.hosts) {
      cluster.startAgent(host, 'primary', [
        '--ip-masq',
        '--iptables-resync', '2',
        '--healthz-ip', host.ip,
        '--healthz-port', String(HEALTH_PORT),
      ]);
    }
    pods = [];
    // Pods get a default route through their node from the CNI config, as in Kubernetes;
    // "outside" is reached that way.
    for (const host of cluster.hosts) pods.push(await cluster.addPod(host));
    await waitFor(() => cluster.hosts.every((h) => weftRoutes(h).length === 1), 10_000, () => 'routes not programmed');
    await waitFor(async () => (await get(cluster.hosts[0]!, '/readyz').catch(() => ({ status: 0 }))).status === 200, 10_000);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('masquerades pods leaving the pod network, and only those', async () => {
    expect(await cluster.tcpSource(pods[0]!, outside)).toBe(cluster.hosts[0]!.ip);
    expect(await cluster.tcpSource(pods[0]!, pods[1]!)).toBe(pods[0]!.ip);
    expect((await cluster.readSubnetEnv(cluster.hosts[0]!))!.get('FLANNEL_IPMASQ')).toBe('true');
  });

  it('restores its iptables chains within the resync period after they are flushed', async () => {
    const host = cluster.hosts[0]!;
    const save = () => inNs(host.ns, 'iptables-save', []);
    const masqChain = /:(WEFT-MASQ-\S+)/.exec(save())![1]!;
    const fwdChain = /:(WEFT-FWD-\S+)/.exec(save())![1]!;
    const rulesIn = (chain: string) => save().split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
    expect(rulesIn(masqChain)).toBe(6);
    expect(rulesIn(fwdChain)).toBe(2);
    const repairsBefore = await metric(host, 'weft_drift_repairs_total');
    inNs(host.ns, 'iptables', ['-t', 'nat', '-F', masqChain]);
    inNs(host.ns, 'iptables', ['-F', fwdChain]);
    await waitFor(() => rulesIn(masqChain) === 6 && rulesIn(fwdChain) === 2, 3_000, () => 'chains not restored');
    expect(await cluster.tcpSource(pods[0]!, outside)).toBe(host.ip);
    expect(await metric(host, 'weft_drift_repairs_total')).toBeGreaterThan(repairsBefore);
  });

  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    const host = cluster.hosts[0]!;
    expect(await get(host, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    const ready = await get(host, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({
      ready: true,
      checks: { lease: { ok: true }, subnetFile: { ok: true }, reconciled: { ok: true }, datastore: { ok: true } },
    });
    const { body } = await get(host, '/metrics');
    // Prometheus text format: name, optional labels, a value as Go's ParseFloat reads it (NaN and
    // Inf in any case), an optional timestamp.
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|[+-]?inf|nan)( -?[0-9]+)?$/i;
    for (const line of body.split('\n')) {
      if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      expect(line).toMatch(sample);
    }
    expect('weft_x{a="b"} 1 2 3').not.toMatch(sample);
    expect('weft_x 1abc').not.toMatch(sample);
    expect(body).toContain('weft_peers{backend="vxlan",family="ipv4"} 1');
    expect(await metric(host, 'weft_reconcile_duration_seconds_count')).toBeGreaterThan(0);
    expect(await metric(host, 'weft_lease_expiry_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 + 23 * 3600);
    expect(body).toContain('weft_kernel_operations_total{result="applied",family="ipv4"}');
    expect((await get(host, '/nope')).status).toBe(404);
  });

  it('ignores every hostile lease: nothing routed, one log line each, counted in metrics', async () => {
    const host = cluster.hosts[0]!;
    const own = (await cluster.readSubnetEnv(host))!.get('FLANNEL_SUBNET')!.replace(/\.1\//, '.0-');
    const before = await metric(host, 'weft_invalid_leases_total');
    const routesBefore = JSON.stringify(weftRoutes(host));
    const lease = (publicIP: string, extra: object = {}) =>
      JSON.stringify({ PublicIP: publicIP, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:66:66:66:66:66', ...extra } });
    const hostile: Record<string, string> = {
      // a peer claiming our subnet (dual-stack spelling of our own key)
      [`${own}&fd00::-64`]: lease('192.168.250.9'),
      // outside Network, everything, and the underlay's own subnet
      '10.131.5.0-24': lease('192.168.250.10'),
      '0.0.0.0-0': lease('192.168.250.11'),
      [`192.168.${cluster.segments[0]!.octet}.0-24`]: lease('192.168.250.12'),
      // broadcast endpoint, multicast MAC, other VNI
      '10.130.250.0-24': lease('255.255.255.255'),
      '10.130.251.0-24': lease('192.168.250.13', { VtepMAC: '01:00:5e:00:00:01' }),
      '10.130.252.0-24': lease('192.168.250.14', { VNI: 7 }),
      // no host on the underlay: its broadcast and network addresses, this host, a pod address
      '10.130.253.0-24': lease(`192.168.${cluster.segments[0]!.octet}.255`),
      '10.130.254.0-24': lease(`192.168.${cluster.segments[0]!.octet}.0`),
      '10.130.249.0-24': lease(host.ip),
      '10.130.248.0-24': lease('10.130.7.7'),
    };
    const client = cluster.etcd.client();
    for (const [key, value] of Object.entries(hostile)) await client.put(`/weft/primary/subnets/${key}`).value(value);
    client.close();
    const count = Object.keys(hostile).length;
    await waitFor(async () => (await metric(host, 'weft_invalid_leases_total')) - before === count, 5_000, () => 'invalid leases not all counted');
    await sleep(300);
    expect(JSON.stringify(weftRoutes(host))).toBe(routesBefore);
    const log = await cluster.agentLog(host);
    for (const key of Object.keys(hostile)) {
      expect(log.split('\n').filter((l) => l.includes('ignoring invalid lease') && l.includes(`"key":${JSON.stringify(key)}`))).toHaveLength(1);
    }
    // The other host sees the second claim on host 1's subnet as a conflict, and keeps routing
    // that subnet to host 1: traffic still flows both ways.
    const other = cluster.hosts[1]!;
    expect(await cluster.agentLog(other)).toContain('is already claimed by');
    expect(cluster.ping(pods[0]!, pods[1]!.ip)).toBe(true);
    expect(cluster.ping(pods[1]!, pods[0]!.ip)).toBe(true);
  });

  it('keeps the data plane through a 60 s etcd outage, reports it, and recovers without a restart', async () => {
    const host = cluster.hosts[0]!;
    const agent = host.agents.get('primary')!;
    const pinged = cluster.pingInBackground(pods[0]!, pods[1]!.ip, 0.2, { seconds: 75 });

    await cluster.etcd.pause();
    const downAt = Date.now();
    await waitFor(async () => (await get(host, '/readyz')).status === 503, 30_000, () => 'readiness never turned false');
    const notReady = JSON.parse((await get(host, '/readyz')).body) as { checks: { datastore: { ok: boolean } } };
    expect(notReady.checks.datastore.ok).toBe(false);
    await sleep(Math.max(0, 60_000 - (Date.now() - downAt)));
    expect(weftRoutes(host)).toHaveLength(1);
    await cluster.etcd.resume();
    await waitFor(async () => (await get(host, '/readyz')).status === 200, 30_000, () => 'readiness never came back');

    // The watch works again: a new peer appears without a restart.
    const client = cluster.etcd.client();
    await client.put('/weft/primary/subnets/10.130.200.0-24').value(JSON.stringify({ PublicIP: '192.168.250.99', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:77:77:77:77:77' } }));
    client.close();
    await waitFor(() => weftRoutes(host).length === 2, 10_000, () => 'new peer not programmed after the outage');
    const result = await pinged;
    expect(result.sent).toBeGreaterThan(300);
    expect(result.received).toBe(result.sent);
    expect(agent.child.exitCode).toBeNull();
    expect(await metric(host, 'weft_datastore_errors_total')).toBeGreaterThan(0);
  });

  it('never logs the etcd password', async () => {
    const host = cluster.hosts[1]!;
    cluster.startAgent(host, 'auth', ['--etcd-prefix', '/weft/auth', '--etcd-username', 'root', '--etcd-password', PASSWORD, '-v', '1']);
    await sleep(3_000);
    await cluster.stopAgent(host, 'auth', 'SIGKILL');
    const log = await cluster.agentLog(host, 'auth');
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toContain(PASSWORD);
  });

  it('stops on SIGTERM with exit 0 and leaves kernel state in place', async () => {
    const host = cluster.hosts[1]!;
    const routes = JSON.stringify(weftRoutes(host));
    expect(await cluster.stopAgent(host, 'primary', 'SIGTERM')).toBe(0);
    expect(JSON.stringify(weftRoutes(host))).toBe(routes);
    expect(cluster.ping(pods[1]!, pods[0]!.ip)).toBe(true);
    expect(run('ip', ['netns', 'exec', host.ns, 'iptables-save']).includes('WEFT-MASQ')).toBe(true);
  });

  it('removes its iptables chains on `weft cleanup`, and nothing else', () => {
    const host = cluster.hosts[1]!;
    const routes = JSON.stringify(weftRoutes(host));
    const output = run('ip', ['netns', 'exec', host.ns, AGENT_BIN, 'cleanup']);
    expect(output).toMatch(/removed weft iptables rules via iptables-nft-restore/);
    expect(run('ip', ['netns', 'exec', host.ns, 'iptables-save'])).not.toContain('WEFT-');
    expect(JSON.stringify(weftRoutes(host))).toBe(routes);
    expect(run('ip', ['netns', 'exec', host.ns, AGENT_BIN, 'cleanup'])).toContain('no weft iptables rules found');
  });
});
